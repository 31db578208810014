"""The named checks of the stack's asynchronous side beyond the FIFO queues (checks.py): the
table's stream and the event sources that read it, the schedules, the standard queues,
TLS-only queues, the SNS topics."""

from __future__ import annotations

import json
import re
from typing import Any

from .checks import check, differ
from .model import Model, as_list, canon, get, ref_target, refs, values_of
from .spec import (DLQ_RETENTION_SECS, FUNCTIONS, QUEUES, SCHEDULES, STANDARD_MAX_RECEIVE_COUNT, STREAM_MAX_READERS,
                   STREAM_RECORD_AGE_RANGE, TOPICS, visibility_secs)

# What a FIFO queue has and a standard queue must not (the producers of a standard queue set
# no group or deduplication id).
FIFO_ONLY = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")


def _patterns(props: dict[str, Any]) -> list[Any]:
    """The event source's filter patterns, parsed (a string that is no JSON stays a string)."""
    out = []
    for f in values_of(get(props, "FilterCriteria/Filters")):
        pattern = f.get("Pattern") if isinstance(f, dict) else f
        try:
            out.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
        except ValueError:
            out.append(pattern)
    return out


@check("table-stream")
def check_table_stream(m: Model) -> list[str]:
    """A table a function's stream event source reads has a stream of the view its code needs
    (StreamSpecification.StreamViewType of its StreamSourceSpec), read by at most
    STREAM_MAX_READERS event sources; a table nobody reads has none."""
    wanted: dict[str, set[str]] = {}
    for spec in FUNCTIONS.values():
        if spec.stream:
            wanted.setdefault(spec.stream.table, set()).add(spec.stream.view_type)
    problems = []
    for lid in m.of_type("AWS::DynamoDB::Table"):
        view = get(m.props(lid), "StreamSpecification/StreamViewType")
        want = wanted.get(lid, set())
        if len(want) > 1:
            problems.append(f"table {lid}: its readers need different stream views {sorted(want)}")
        elif want and view not in want:
            problems.append(f"table {lid}: StreamSpecification.StreamViewType {view!r}, want {sorted(want)[0]}")
        elif not want and view is not None:
            problems.append(f"table {lid} has a stream ({view}) no function reads")
        readers = sorted(e.function for e in m.event_sources if e.stream == f"{lid}.StreamArn")
        if len(readers) > STREAM_MAX_READERS:
            problems.append(f"table {lid}: its stream read by {len(readers)} event sources {readers} (DynamoDB throttles beyond {STREAM_MAX_READERS})")
    return problems + [f"table {t} missing" for t in wanted if t not in m.of_type("AWS::DynamoDB::Table")]


@check("stream-event-sources")
def check_stream_event_sources(m: Model) -> list[str]:
    """Each function with a StreamSourceSpec has exactly one enabled event source on its
    table's stream, with the spec's StartingPosition and BatchSize, ReportBatchItemFailures,
    BisectBatchOnFunctionError, MaximumRetryAttempts and MaximumRecordAgeInSeconds bounded (the
    spec's values; never -1), its on-failure destination the spec's queue (standard, encrypted,
    kept 14 days, no redrive of its own) and exactly the spec's filter; no other function reads
    a stream."""
    problems = []
    for lid, spec in ((lid, spec) for lid, spec in FUNCTIONS.items() if spec.stream):
        s = spec.stream
        low, high = STREAM_RECORD_AGE_RANGE
        if not (0 <= s.max_retry_attempts <= 10000 and low <= s.max_record_age_secs <= high):
            problems.append(f"{lid}: the spec's retries {s.max_retry_attempts} / record age {s.max_record_age_secs} s are not bounded")
        sources = [e for e in m.event_sources if e.function == lid and e.stream is not None]
        if len(sources) != 1:
            problems.append(f"{lid}: {len(sources)} stream event sources, want 1 (on {s.table}'s stream)")
            continue
        es = sources[0]
        if es.stream != f"{s.table}.StreamArn":
            problems.append(f"{lid}: stream event source on {es.stream}, want {s.table}.StreamArn")
        problems += differ(f"{lid} stream event source", es.props, {
            "StartingPosition": s.starting_position, "BatchSize": s.batch_size, "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": s.max_retry_attempts, "MaximumRecordAgeInSeconds": s.max_record_age_secs,
            "DestinationConfig/OnFailure/Destination": {f"{s.on_failure}.Arn"}})
        if "ReportBatchItemFailures" not in as_list(es.props.get("FunctionResponseTypes")):
            problems.append(f"{lid}: stream event source without ReportBatchItemFailures (one failed record retries the whole batch)")
        if es.props.get("Enabled") is False:
            problems.append(f"{lid}: stream event source disabled")
        patterns, wanted = _patterns(es.props), list(s.filters)
        if len(patterns) != len(wanted) or any(p not in wanted for p in patterns) or any(w not in patterns for w in wanted):
            problems.append(f"{lid}: stream filter patterns {patterns}, want exactly {json.dumps(wanted)}")
        queue = m.resources.get(s.on_failure)
        if queue is None or queue.get("Type") != "AWS::SQS::Queue":
            problems.append(f"{lid}: on-failure queue {s.on_failure} is not a queue of the stack")
            continue
        q = queue.get("Properties") or {}
        if q.get("FifoQueue") or q.get("RedrivePolicy") or q.get("MessageRetentionPeriod") != DLQ_RETENTION_SECS:
            problems.append(f"{s.on_failure}: want a standard queue without redrive, kept {DLQ_RETENTION_SECS} s (got {q})")
    readers = {lid for lid, spec in FUNCTIONS.items() if spec.stream}
    return problems + [f"unexpected stream event source for {es.function} on {es.stream}"
                       for es in m.event_sources if es.stream is not None and es.function not in readers]


@check("schedules")
def check_schedules(m: Model) -> list[str]:
    """Each function of SCHEDULES is invoked by exactly one enabled EventBridge rule of the stack
    with its schedule expression, targeting that function, which EventBridge may invoke from
    that rule (a Lambda permission for events.amazonaws.com, SourceArn the rule); no other
    scheduled rule in the stack."""
    problems = []
    for lid, expression in SCHEDULES.items():
        rules = [s for s in m.schedules if s.function == lid]
        if len(rules) != 1:
            problems.append(f"{lid}: {len(rules)} schedules, want one ({expression})")
            continue
        rule = rules[0]
        if rule.expression != expression:
            problems.append(f"{lid}: schedule {rule.rule} is {rule.expression!r}, want {expression!r}")
        if not rule.enabled:
            problems.append(f"{lid}: schedule {rule.rule} is disabled")
        if not rule.permitted:
            problems.append(f"{lid}: no permission for events.amazonaws.com to invoke it from {rule.rule}")
    return problems + [f"unexpected schedule {s.rule} ({s.expression}) on {s.function}" for s in m.schedules if s.function not in SCHEDULES]


@check("standard-queues")
def check_standard_queues(m: Model) -> list[str]:
    """The standard queues of QUEUES (fifo=False): not FIFO (nothing of it), no queue-level
    delay (each message sets its own), visibility timeout 6 x their consumer's Timeout, kept 4
    days or more, redriven after their QueueSpec.max_receive_count (by default
    STANDARD_MAX_RECEIVE_COUNT) receives to a standard DLQ kept 14 days."""
    problems = []
    for lid, spec in QUEUES.items():
        q = m.resources.get(lid, {}).get("Properties")
        if q is None:
            problems.append(f"{lid} missing")
            continue
        if spec.fifo:  # fifo-queues
            continue
        problems += [f"{lid}.{key} = {q[key]!r}: a standard queue (FIFO queues cannot delay one message)" for key in FIFO_ONLY if key in q]
        if q.get("DelaySeconds", 0) != 0:
            problems.append(f"{lid}.DelaySeconds {q.get('DelaySeconds')!r}: every message would wait that long more")
        receives = spec.max_receive_count or STANDARD_MAX_RECEIVE_COUNT
        problems += differ(lid, q, {"VisibilityTimeout": visibility_secs(lid), "RedrivePolicy/maxReceiveCount": receives,
                                    "RedrivePolicy/deadLetterTargetArn": {f"{spec.dlq}.Arn"}})
        retention = q.get("MessageRetentionPeriod", 345600)
        if not isinstance(retention, int) or retention < 4 * 86400:
            problems.append(f"{lid} retention {retention!r} < 4 days")
        dlq = m.resources.get(spec.dlq, {}).get("Properties")
        if dlq is None:
            problems.append(f"{spec.dlq} missing")
        elif any(key in dlq for key in FIFO_ONLY) or dlq.get("MessageRetentionPeriod") != DLQ_RETENTION_SECS:
            problems.append(f"{spec.dlq}: want a standard queue kept {DLQ_RETENTION_SECS} s (got {dlq})")
    return problems


def _denies_plain(st: Any, action: str, target: str) -> bool:
    """A statement denying `action` on `target` (Ref or GetAtt) without TLS."""
    return (isinstance(st, dict) and st.get("Effect") == "Deny" and action in as_list(st.get("Action"))
            and str(get(st, "Condition/Bool/aws:SecureTransport")).lower() == "false"
            and target in {ref_target(r) for r in as_list(st.get("Resource"))})


@check("queues-tls-only")
def check_queues_tls_only(m: Model) -> list[str]:
    """Every queue of the stack is in a queue policy denying sqs:* without TLS."""
    problems = []
    for queue in m.of_type("AWS::SQS::Queue"):
        if not any(queue in refs(get(res, "Properties/Queues")) and any(
                _denies_plain(st, "sqs:*", queue) for st in values_of(get(res, "Properties/PolicyDocument/Statement")))
                for res in m.of_type("AWS::SQS::QueuePolicy").values()):
            problems.append(f"queue {queue}: no queue policy denying sqs:* without TLS")
    return problems


def _tls_only(m: Model, topic: str) -> bool:
    """A topic policy on `topic` denying sns:Publish without TLS."""
    for res in m.of_type("AWS::SNS::TopicPolicy").values():
        p = res.get("Properties") or {}
        if topic not in refs(p.get("Topics")):
            continue
        if any(_denies_plain(st, "sns:Publish", topic) for st in values_of(get(p, "PolicyDocument/Statement"))):
            return True
    return False


@check("sns-topics")
def check_sns_topics(m: Model) -> list[str]:
    """Exactly the topics of TOPICS, each TLS-only, with its optional e-mail subscription
    (<parameter>Subscription: protocol email to the parameter, only under Has<parameter>, the
    parameter != '', which defaults to '' and accepts an address) and its ARN output; the
    alarms notify AlarmTopic only, not the contact centre's alerts topic."""
    topics, conditions, outputs = m.of_type("AWS::SNS::Topic"), m.section("Conditions"), m.section("Outputs")
    problems = [f"unexpected SNS topic {t}" for t in topics if t not in TOPICS]
    for topic, parameter in TOPICS.items():
        if topic not in topics:
            problems.append(f"SNS topic {topic} missing")
            continue
        if not _tls_only(m, topic):
            problems.append(f"{topic}: no topic policy denying sns:Publish without TLS")
        p, condition, sub = m.param(parameter), f"Has{parameter}", m.resources.get(f"{parameter}Subscription") or {}
        pattern = p.get("AllowedPattern")
        if str(p.get("Default")) != "" or not pattern or not re.fullmatch(pattern, "") or not re.fullmatch(pattern, "ops@example.com"):
            problems.append(f"parameter {parameter}: want Default '' and a pattern accepting '' and an address (got {p})")
        if json.dumps(conditions.get(condition), sort_keys=True) != json.dumps({"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}, sort_keys=True):
            problems.append(f"condition {condition} is not {parameter} != ''")
        if sub.get("Type") != "AWS::SNS::Subscription" or sub.get("Condition") != condition:
            problems.append(f"{parameter}Subscription: want an AWS::SNS::Subscription under {condition} (got {sub.get('Type')} under {sub.get('Condition')})")
        problems += differ(f"{parameter}Subscription", sub.get("Properties"), {"Protocol": "email", "Endpoint": {parameter}, "TopicArn": {topic}})
        if canon((outputs.get(f"{topic}Arn") or {}).get("Value")) != {topic}:
            problems.append(f"output {topic}Arn is not the ARN of {topic}")
    for lid, res in m.of_type("AWS::CloudWatch::Alarm").items():
        actions = {t for key in ("AlarmActions", "OKActions", "InsufficientDataActions")
                   for x in as_list(get(res, f"Properties/{key}")) for t in canon(x)}
        if actions - {"AlarmTopic"}:
            problems.append(f"alarm {lid} notifies {sorted(actions - {'AlarmTopic'})} (alarms go to AlarmTopic only)")
    return problems
