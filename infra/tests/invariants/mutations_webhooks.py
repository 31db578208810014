"""Negative self-tests of events out (see mutations.py, checks_webhooks.py): the event bus, the
rule to the webhook queue and the queue's policy, webhook-sender (its grants, secret,
environment, event source, alarms, dashboard, outputs); SAM == CDK."""

from __future__ import annotations

from typing import Any

from .model import as_list
from .mutations_async import Row
from .ops import Copy, Op, add, drop, drop_policies_of, drop_stmt, put, remove, replace

SENDER, ROLE, ENV = "WebhookSenderFunction", "WebhookSenderRole", "env:WebhookSenderFunction"
CONSUME, DEAD, SECRET = "stmt:WebhookSenderRole:ConsumeWebhooks", "stmt:WebhookSenderRole:DeadLetterWebhooks", "stmt:WebhookSenderRole:ReadWebhookTargets"
RULE = "WebhookRule"


def queue_allow(change) -> Op:
    """Applies change(statement) to the Allow statement of the webhook queue's policy (its logical
    id differs between the flavours)."""
    def op(t: dict[str, Any], flavour: str) -> None:
        for res in t["Resources"].values():
            if res["Type"] == "AWS::SQS::QueuePolicy" and {"Ref": "WebhookQueue"} in as_list(res["Properties"].get("Queues")):
                for st in res["Properties"]["PolicyDocument"]["Statement"]:
                    if isinstance(st, dict) and st.get("Effect") == "Allow":
                        change(st)
    return op


def _set(key: str, value: Any):
    return lambda st: st.__setitem__(key, value)


WEBHOOK_MUTATIONS: list[Row] = [
    # --- its concurrency: bounded, its pollers no more than that ---------------------------------
    ("consumer-concurrency", "webhook-sender without reserved concurrency", drop(f"{SENDER}.ReservedConcurrentExecutions")),
    ("consumer-concurrency", "webhook-sender's event source without ScalingConfig", drop("esm:WebhookSenderFunction:Webhooks.ScalingConfig")),
    ("consumer-concurrency", "WebhookSenderReservedConcurrency defaults to 50", put("Parameters.WebhookSenderReservedConcurrency.Default", 50)),
    # --- the bus and the rule -------------------------------------------------------------------------
    ("event-bus-output", "no event bus", drop("Resources.EventBus")),
    ("event-bus-output", "the bus named after nothing", put("EventBus.Name", "events")),
    ("event-bus-output", "no EventBusName output", drop("Outputs.EventBusName")),
    ("webhook-rule", "no webhook rule (no event is ever delivered)", drop(f"Resources.{RULE}")),
    ("webhook-rule", "the rule on the default bus", put(f"{RULE}.EventBusName", "default")),
    ("webhook-rule", "the rule disabled", put(f"{RULE}.State", "DISABLED")),
    ("webhook-rule", "the rule matches every source", put(f"{RULE}.EventPattern", {"source": [{"prefix": ""}]})),
    ("webhook-rule", "the rule matches escalations only", put(f"{RULE}.EventPattern", {"source": ["channel-gateway"], "detail-type": ["conversation.escalated"]})),
    ("webhook-rule", "the rule targets the DLQ", put(f"{RULE}.Targets.0.Arn", {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]})),
    ("webhook-rule", "the rule sends only the detail", put(f"{RULE}.Targets.0.InputPath", "$.detail")),
    ("webhook-rule", "the rule has a second target", add(f"{RULE}.Targets", {"Id": "media", "Arn": {"Fn::GetAtt": ["MediaQueue", "Arn"]}})),
    # --- the queue policy -----------------------------------------------------------------------------
    ("webhook-queue-policy", "anyone may send to the webhook queue", queue_allow(_set("Principal", "*"))),
    ("webhook-queue-policy", "EventBridge may send from any rule", queue_allow(lambda st: st.pop("Condition"))),
    ("webhook-queue-policy", "EventBridge may also receive", queue_allow(_set("Action", ["sqs:SendMessage", "sqs:ReceiveMessage"]))),
    ("webhook-queue-policy", "the allow names another rule",
     queue_allow(_set("Condition", {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["SlaMonitorFunctionSchedule", "Arn"]}}}))),
    ("webhook-queue-policy queues-tls-only", "no policy on the webhook queue (EventBridge cannot send; plain HTTP accepted)",
     drop_policies_of("AWS::SQS::QueuePolicy", "Queues", "WebhookQueue")),
    # --- webhook-sender's grants ----------------------------------------------------------------------
    ("iam-grants-needed", "webhook-sender cannot dead-letter", drop_stmt(ROLE, "DeadLetterWebhooks")),
    ("iam-grants-needed", "webhook-sender cannot fan out", remove(f"{CONSUME}.Action", "sqs:SendMessage")),
    ("iam-grants-needed", "webhook-sender cannot back off", remove(f"{CONSUME}.Action", "sqs:ChangeMessageVisibility")),
    ("iam-least-privilege", "webhook-sender may purge its queue", add(f"{CONSUME}.Action", "sqs:PurgeQueue")),
    ("iam-least-privilege", "webhook-sender may send to the inbound queue", add(f"{DEAD}.Resource", {"Fn::GetAtt": ["InboundQueue", "Arn"]})),
    ("secrets-per-role iam-least-privilege", "webhook-sender reads the reply API's secret instead",
     put(f"{SECRET}.Resource", Copy("stmt:ReplyApiRole:ReadApiClients.Resource"))),
    ("secrets-per-role iam-grants-needed", "webhook-sender cannot read its targets", drop_stmt(ROLE, "ReadWebhookTargets")),
    # --- its environment and event source -------------------------------------------------------------
    ("functions-env-contract", "webhook-sender without its attempt limit", drop(f"{ENV}.WEBHOOK_MAX_ATTEMPTS")),
    ("functions-env-contract", "webhook-sender waits 30 s per POST", put(f"{ENV}.WEBHOOK_TIMEOUT_SECS", "30")),
    ("functions-env-contract", "webhook-sender dead-letters to its own queue", put(f"{ENV}.WEBHOOK_DEAD_LETTER_QUEUE_URL", {"Ref": "WebhookQueue"})),
    ("consumer-event-sources", "webhook-sender without partial batch failures", drop("esm:WebhookSenderFunction:Webhooks.FunctionResponseTypes")),
    # --- alarms, dashboard, outputs -------------------------------------------------------------------
    ("alarms", "no webhook DLQ depth alarm", drop("Resources.WebhookDeadLetterQueueDepthAlarm")),
    ("alarms", "no webhook-sender errors alarm", drop("Resources.WebhookSenderErrorsAlarm")),
    ("dashboard", "no webhook-sender on the dashboard", replace("Dashboard.DashboardBody", "WebhookSenderFunction", "ReplySenderFunction")),
    # --- SAM == CDK: changes to the CDK template alone ------------------------------------------------
    ("equivalence", "another attempt limit in one template", put(f"{ENV}.WEBHOOK_MAX_ATTEMPTS", "5")),
    ("equivalence", "another rule target id in one template", put(f"{RULE}.Targets.0.Id", "queue")),
    ("webhook-queue-policy", "EventBridge may send to the DLQ too",
     queue_allow(_set("Resource", [{"Fn::GetAtt": ["WebhookQueue", "Arn"]}, {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}]))),
]
