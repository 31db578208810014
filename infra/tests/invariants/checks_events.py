"""The named checks of events out (issue 20; docs/events.md): the deployment's event bus, and
who may publish on it (stats-aggregator's row in FUNCTIONS of spec.py holds its grant, its
EVENT_BUS_NAME and its stream filter of delivery records; APP_ALARM_METRICS its
EventsPublishFailed alarm; EXPECTED_OUTPUTS the bus's outputs)."""

from __future__ import annotations

import fnmatch

from .checks import check
from .model import Model, canon, role_grants

EVENT_BUS = "EventBus"
EVENT_BUS_NAME = "AWS::StackName-events"
# The one role that may put events, and where: stats-aggregator, on the deployment's bus.
PUBLISHERS = {"StatsAggregatorRole": {f"{EVENT_BUS}.Arn"}}


@check("event-bus")
def check_event_bus(m: Model) -> list[str]:
    """One custom event bus, EventBus, named <stack name>-events; events:PutEvents (or any
    action pattern covering it) is granted to stats-aggregator's role only, and only on that
    bus's ARN (never the default bus, never "*")."""
    problems = []
    buses = m.of_type("AWS::Events::EventBus")
    if list(buses) != [EVENT_BUS]:
        problems.append(f"event buses {sorted(buses)}, want exactly [{EVENT_BUS}]")
    else:
        name = canon((buses[EVENT_BUS].get("Properties") or {}).get("Name"))
        if name != {EVENT_BUS_NAME}:
            problems.append(f"{EVENT_BUS} Name {sorted(name)}, want {EVENT_BUS_NAME}")
    for role_id in m.of_type("AWS::IAM::Role"):
        grants, _ = role_grants(m, role_id)
        for g in grants:
            if not fnmatch.fnmatchcase("events:PutEvents", g.action):
                continue
            allowed = PUBLISHERS.get(role_id, set())
            if g.resource not in allowed:
                problems.append(f"{role_id} may {g.action} on {g.resource} (only {sorted(PUBLISHERS)} on {EVENT_BUS}.Arn)")
    for role_id, resources in PUBLISHERS.items():
        grants, _ = role_grants(m, role_id)
        if not any(g.action == "events:PutEvents" and g.resource in resources for g in grants):
            problems.append(f"{role_id} cannot events:PutEvents on {sorted(resources)}")
    return problems
