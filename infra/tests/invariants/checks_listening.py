"""The named checks of Weibo listening (issue 19; weibo-poller's row in FUNCTIONS and
PERSISTENT_FAILURE_ALARMS of spec.py): a scheduled function ends before its schedule invokes it
again, and a failure that persists for several consecutive minutes is alarmed (see checks.py for
the others: the poller's grants, environment, secret, fixed egress, schedule and concurrency
follow from its row)."""

from __future__ import annotations

import re

from .checks import check
from .model import Model, as_list, get, number, ref_target
from .spec import FUNCTIONS, PERSISTENT_FAILURE_ALARMS, SCHEDULES

# EventBridge's rate expressions: rate(<value> <unit>), unit singular for 1, plural otherwise.
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_secs(expression: object) -> int | None:
    """The period of a rate(...) schedule expression in seconds (None: not a rate expression)."""
    match = _RATE.match(str(expression))
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECS[match.group(2).removesuffix("s")]


@check("schedule-timeout-under-period")
def check_schedule_timeout(m: Model) -> list[str]:
    """Each function of SCHEDULES times out before its schedule's next invocation (Timeout below
    the period of every rate(...) rule invoking it), so that a run never overlaps the next one;
    a scheduled-only function (kind "scheduled") has reserved concurrency 1, so that a run which
    somehow did outlast its period makes the next invocation a throttle (alarmed), not a second
    reader of the same pages."""
    problems = []
    for lid in SCHEDULES:
        fn = m.functions.get(lid)
        if fn is None:
            continue  # functions-declared reports it
        timeout = fn.props.get("Timeout", 3)
        for s in (s for s in m.schedules if s.function == lid):
            period = rate_secs(s.expression)
            if period is None:
                problems.append(f"{lid}: schedule {s.rule} {s.expression!r} is not a rate(...) expression")
            elif not isinstance(timeout, int) or timeout >= period:
                problems.append(f"{lid}: Timeout {timeout!r} s is not below its schedule's period ({s.expression}: {period} s)")
        if FUNCTIONS[lid].kind == "scheduled" and fn.props.get("ReservedConcurrentExecutions") != 1:
            problems.append(f"{lid}: ReservedConcurrentExecutions {fn.props.get('ReservedConcurrentExecutions')!r}, want 1 (one run at a time)")
    return problems


@check("persistent-failure-alarms")
def check_persistent_failure_alarms(m: Model) -> list[str]:
    """Each metric of PERSISTENT_FAILURE_ALARMS (namespace ChannelGateway, no dimensions) has an
    alarm that fires when it is >= 1 (Sum) in each of that many consecutive one-minute periods
    (Period 60, EvaluationPeriods and DatapointsToAlarm both that many), treats missing data as
    not breaching (a minute without failures emits nothing) and notifies AlarmTopic (alarm and
    recovery)."""
    problems = []
    alarms = [r.get("Properties") or {} for r in m.of_type("AWS::CloudWatch::Alarm").values()]
    for metric, minutes in PERSISTENT_FAILURE_ALARMS.items():
        found = [a for a in alarms if a.get("Namespace") == "ChannelGateway" and a.get("MetricName") == metric]
        if len(found) != 1:
            problems.append(f"{len(found)} alarms on ChannelGateway {metric}, want 1")
            continue
        a = found[0]
        want = {"Statistic": "Sum", "Period": 60, "EvaluationPeriods": minutes, "DatapointsToAlarm": minutes,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}
        problems += [f"{metric} alarm: {key} {a.get(key)!r}, want {value!r}" for key, value in want.items() if a.get(key) != value]
        if number(a.get("Threshold")) != 1:
            problems.append(f"{metric} alarm: Threshold {a.get('Threshold')!r}, want 1")
        if a.get("Dimensions"):
            problems.append(f"{metric} alarm: dimensions {a.get('Dimensions')!r}, want none (the aggregate of every account)")
        for key in ("AlarmActions", "OKActions"):
            if not any(ref_target(x) == "AlarmTopic" for x in as_list(get(a, key))):
                problems.append(f"{metric} alarm: {key} do not notify AlarmTopic")
    return problems
