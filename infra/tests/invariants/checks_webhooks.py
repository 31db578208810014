"""The named checks of events out (issue 20; webhook-sender's row in FUNCTIONS, WebhookQueue in
QUEUES and WebhookTargetsSecret in SECRETS of spec.py give its grants, environment, queue, DLQ,
alarms and secret): the deployment's event bus, the one rule putting the gateway's events on the
webhook queue, and the queue policy letting EventBridge send there for that rule only."""

from __future__ import annotations

from typing import Any

from .checks import check
from .model import Model, as_list, canon, get, ref_target, refs, values_of

BUS, RULE, QUEUE, DLQ = "EventBus", "WebhookRule", "WebhookQueue", "WebhookDeadLetterQueue"
EVENT_SOURCE = "channel-gateway"  # the `source` of every event the gateway publishes (docs/events.md)


def _allows(m: Model, queue: str) -> list[dict[str, Any]]:
    """The Allow statements of the queue policies covering `queue` that name it (or "*")."""
    return [st for res in m.of_type("AWS::SQS::QueuePolicy").values() if queue in refs(get(res, "Properties/Queues"))
            for st in values_of(get(res, "Properties/PolicyDocument/Statement")) if isinstance(st, dict) and st.get("Effect") == "Allow"
            and set().union(*(canon(r) for r in as_list(st.get("Resource")) or ["*"])) & {f"{queue}.Arn", "*"}]


@check("event-bus-output")
def check_event_bus(m: Model) -> list[str]:
    """Exactly one event bus, EventBus, named <stack>-events, and its name as the output
    EventBusName."""
    problems = []
    buses = m.of_type("AWS::Events::EventBus")
    if list(buses) != [BUS]:
        problems.append(f"event buses {sorted(buses)}, want [{BUS}]")
    elif canon(get(buses[BUS], "Properties/Name")) != {"AWS::StackName-events"}:
        problems.append(f"{BUS}.Name {get(buses[BUS], 'Properties/Name')!r}, want <stack>-events")
    if ref_target(get(m.template, "Outputs/EventBusName/Value")) != BUS:
        problems.append(f"output EventBusName is not Ref {BUS}")
    return problems


@check("webhook-rule")
def check_webhook_rule(m: Model) -> list[str]:
    """WebhookRule, on EventBus, enabled, matching exactly the gateway's events (source
    channel-gateway, nothing narrower or wider), has exactly one target, the webhook queue (the
    whole event: no input path or transformer, webhook-sender reads the envelope); no other rule
    targets the webhook queue or its DLQ."""
    problems = []
    rules = m.of_type("AWS::Events::Rule")
    rule = get(rules.get(RULE, {}), "Properties", {})
    if not rule:
        return [f"no rule {RULE}"]
    if ref_target(rule.get("EventBusName")) != BUS:
        problems.append(f"{RULE} is not on {BUS} (EventBusName {rule.get('EventBusName')!r})")
    if rule.get("State", "ENABLED") != "ENABLED":
        problems.append(f"{RULE} is {rule.get('State')}")
    if rule.get("EventPattern") != {"source": [EVENT_SOURCE]}:
        problems.append(f"{RULE}.EventPattern {rule.get('EventPattern')!r}, want {{'source': ['{EVENT_SOURCE}']}}")
    targets = as_list(rule.get("Targets"))
    if len(targets) != 1 or canon(get(targets[0], "Arn")) != {f"{QUEUE}.Arn"}:
        problems.append(f"{RULE}: targets {targets!r}, want exactly {QUEUE}")
    elif any(key in targets[0] for key in ("InputPath", "InputTransformer", "Input")):
        problems.append(f"{RULE}: its target reshapes the event ({sorted(targets[0])})")
    for lid, res in rules.items():
        if lid != RULE and any(canon(get(t, "Arn")) & {f"{QUEUE}.Arn", f"{DLQ}.Arn"} for t in as_list(get(res, "Properties/Targets"))):
            problems.append(f"rule {lid} also targets the webhook queues")
    return problems


@check("webhook-queue-policy")
def check_webhook_queue_policy(m: Model) -> list[str]:
    """The webhook queue's policy allows exactly one thing: events.amazonaws.com may
    sqs:SendMessage to it when the source is WebhookRule (aws:SourceArn, ArnEquals); its DLQ's
    allows nothing (webhook-sender's fan-out and dead letters are granted by its role)."""
    problems = []
    allows = _allows(m, QUEUE)
    want = {"Principal": {"Service": "events.amazonaws.com"}, "Action": ["sqs:SendMessage"], "Resource": [f"{QUEUE}.Arn"],
            "Condition": {"ArnEquals": {"aws:SourceArn": [f"{RULE}.Arn"]}}}
    got = [{"Principal": st.get("Principal"), "Action": as_list(st.get("Action")),
            "Resource": sorted(set().union(*(canon(r) for r in as_list(st.get("Resource")))) if st.get("Resource") else set()),
            "Condition": {op: {k: sorted(canon(v)) for k, v in (cond or {}).items()} for op, cond in (st.get("Condition") or {}).items()}}
           for st in allows]
    if got != [want]:
        problems.append(f"{QUEUE}: policy Allow statements {got}, want exactly [{want}]")
    if any(st.get("NotPrincipal") or st.get("NotAction") or st.get("NotResource") for st in allows):
        problems.append(f"{QUEUE}: NotPrincipal/NotAction/NotResource in its policy")
    if _allows(m, DLQ):
        problems.append(f"{DLQ}: its policy allows {_allows(m, DLQ)}")
    return problems
