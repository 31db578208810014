"""Negative self-tests of Weibo listening (see mutations.py, checks_listening.py): weibo-poller
(its schedule, timeout and concurrency, its table partition, queue and secret, its environment,
fixed egress, alarms and dashboard), reply-sender's Weibo open API host for public replies;
SAM == CDK; the prebuilt templates."""

from __future__ import annotations

from .mutations_async import Row
from .ops import TABLE_ARN, Copy, add, allow, drop, drop_schedule, drop_stmt, put, remove, replace, reschedule, retarget_schedule, stmts

POLLER, ROLE, ENV = "WeiboPollerFunction", "WeiboPollerRole", "env:WeiboPollerFunction"
POLL = (POLLER, "Poll")  # the schedule: SAM's event, the rule <Function><Event>
CURSORS, PUBLISH, SECRET = "stmt:WeiboPollerRole:PollCursors", "stmt:WeiboPollerRole:PublishInbound", "stmt:WeiboPollerRole:ReadDeliveryCredentials"
LEADING = "Condition.ForAllValues:StringLike.dynamodb:LeadingKeys"
ALARM = "PollFailuresAlarm"
SENDER_ENV = "env:ReplySenderFunction"

LISTENING_MUTATIONS: list[Row] = [
    # --- the function: declared the same in both templates -------------------------------------------
    ("functions-declared equivalence", "no weibo-poller", drop(f"Resources.{POLLER}")),
    ("functions-runtime", "weibo-poller on x86_64", put(f"{POLLER}.Architectures", ["x86_64"])),
    # --- its schedule: every minute, enabled, permitted, and the run over before the next -------------
    ("schedules", "no poll schedule (nothing is ever read)", drop_schedule(*POLL)),
    ("schedules", "the poll schedule invokes the router instead", retarget_schedule(*POLL, "MessageRouterFunction")),
    ("schedules", "polled every hour", reschedule(*POLL, expression="rate(1 hour)")),
    ("schedules", "the poll schedule disabled", reschedule(*POLL, enabled=False)),
    ("schedule-timeout-under-period functions-runtime", "weibo-poller's Timeout 60 s (a run may overlap the next)", put(f"{POLLER}.Timeout", 60)),
    ("schedule-timeout-under-period functions-runtime", "weibo-poller's Timeout 90 s", put(f"{POLLER}.Timeout", 90)),
    ("schedule-timeout-under-period", "sla-monitor's Timeout 60 s (its gauges every minute)", put("SlaMonitorFunction.Timeout", 60)),
    ("schedule-timeout-under-period consumer-concurrency", "weibo-poller without reserved concurrency (runs in parallel)",
     drop(f"{POLLER}.ReservedConcurrentExecutions")),
    ("schedule-timeout-under-period consumer-concurrency", "weibo-poller's reserved concurrency 2", put(f"{POLLER}.ReservedConcurrentExecutions", 2)),
    # --- its grants: its cursors, the inbound queue, the delivery credentials; nothing more -------------
    ("table-leading-keys iam-least-privilege", "weibo-poller may delete items", add(f"{CURSORS}.Action", "dynamodb:DeleteItem")),
    ("table-leading-keys", "weibo-poller's cursors in any partition (no LeadingKeys)", drop(f"{CURSORS}.Condition")),
    ("table-leading-keys", "weibo-poller may write conversations (CONV#*)", put(f"{CURSORS}.{LEADING}", ["POLL#weibo#*", "CONV#*"])),
    ("table-leading-keys", "weibo-poller's cursors under any POLL# (every channel's)", put(f"{CURSORS}.{LEADING}", ["POLL#*"])),
    ("table-leading-keys iam-grants-needed", "weibo-poller cannot read its cursors", remove(f"{CURSORS}.Action", "dynamodb:GetItem")),
    ("table-leading-keys iam-grants-needed", "weibo-poller cannot advance its cursors (no UpdateItem)", remove(f"{CURSORS}.Action", "dynamodb:UpdateItem")),
    ("iam-least-privilege", "weibo-poller may query the table", add(stmts(ROLE), allow("dynamodb:Query", TABLE_ARN))),
    ("iam-grants-needed", "weibo-poller cannot queue what it read", drop_stmt(ROLE, "PublishInbound")),
    ("iam-least-privilege", "weibo-poller queues on the outbound queue too", add(f"{PUBLISH}.Resource", {"Fn::GetAtt": ["OutboundQueue", "Arn"]})),
    ("iam-least-privilege", "weibo-poller may receive from the inbound queue", add(f"{PUBLISH}.Action", "sqs:ReceiveMessage")),
    ("iam-no-wildcards iam-least-privilege", "weibo-poller may send to any queue", put(f"{PUBLISH}.Resource", "*")),
    ("secrets-per-role iam-least-privilege", "weibo-poller reads the webhook credentials secret instead",
     put(f"{SECRET}.Resource", Copy("stmt:WeChatWebhookRole:ReadWebhookCredentials.Resource"))),
    ("secrets-per-role iam-grants-needed", "weibo-poller cannot read the accounts' tokens", drop_stmt(ROLE, "ReadDeliveryCredentials")),
    # --- its environment: the contract of its config --------------------------------------------------
    ("secrets-per-role functions-env-contract", "weibo-poller names its secret ACCOUNTS_SECRET_ID (its config reads DELIVERY_SECRET_ID)",
     (put(f"{ENV}.ACCOUNTS_SECRET_ID", Copy(f"{ENV}.DELIVERY_SECRET_ID")), drop(f"{ENV}.DELIVERY_SECRET_ID"))),
    ("functions-env-contract", "weibo-poller writes the outbound queue", put(f"{ENV}.QUEUE_URL", {"Ref": "OutboundQueue"})),
    ("functions-env-contract", "weibo-poller's biz API on the open API host", put(f"{ENV}.WEIBO_BIZ_API_BASE_URL", "https://api.weibo.com")),
    ("functions-env-contract", "weibo-poller reads 50 pages a run", put(f"{ENV}.POLL_MAX_PAGES", "50")),
    ("functions-env-contract", "weibo-poller without POLL_MAX_PAGES", drop(f"{ENV}.POLL_MAX_PAGES")),
    ("functions-env-contract", "reply-sender without WEIBO_OPEN_API_BASE_URL (no public replies)", drop(f"{SENDER_ENV}.WEIBO_OPEN_API_BASE_URL")),
    ("functions-env-contract", "reply-sender's public replies to the direct-message host",
     put(f"{SENDER_ENV}.WEIBO_OPEN_API_BASE_URL", "https://m.api.weibo.com")),
    # --- fixed egress ---------------------------------------------------------------------------------
    ("platform-callers-fixed-egress", "weibo-poller outside the VPC (its calls not from the fixed address)", drop(f"{POLLER}.VpcConfig")),
    ("platform-callers-fixed-egress iam-grants-needed", "weibo-poller's VPC policy removed", drop(f"{ROLE}.Policies.1")),
    # --- alarms and dashboard -------------------------------------------------------------------------
    ("alarms persistent-failure-alarms", "no PollFailures alarm", drop(f"Resources.{ALARM}")),
    ("persistent-failure-alarms", "PollFailures alarmed on the first failed minute", (put(f"{ALARM}.EvaluationPeriods", 1), put(f"{ALARM}.DatapointsToAlarm", 1))),
    ("persistent-failure-alarms", "PollFailures alarmed on any 1 of 5 minutes", put(f"{ALARM}.DatapointsToAlarm", 1)),
    ("persistent-failure-alarms alarms", "PollFailures alarmed over 5-minute periods", put(f"{ALARM}.Period", 300)),
    ("persistent-failure-alarms alarms", "a quiet minute breaches the PollFailures alarm", put(f"{ALARM}.TreatMissingData", "breaching")),
    ("persistent-failure-alarms alarms", "the PollFailures alarm on one account only",
     put(f"{ALARM}.Dimensions", [{"Name": "Account", "Value": "main"}])),
    ("persistent-failure-alarms", "the PollFailures alarm's recovery not notified", drop(f"{ALARM}.OKActions")),
    ("alarms", "no weibo-poller throttles alarm", drop("Resources.WeiboPollerThrottlesAlarm")),
    ("dashboard", "no weibo-poller on the dashboard", replace("Dashboard.DashboardBody", "WeiboPollerFunction", "ReplySenderFunction")),
    ("dashboard", "items read plotted by account only, not by timeline",
     replace("Dashboard.DashboardBody", 'Channel,Account,Timeline} MetricName=\\"PolledItems', 'Channel,Account} MetricName=\\"PolledItems')),
    ("dashboard", "no rate-limited polls line", replace("Dashboard.DashboardBody", "PollRateLimited", "PollLimited")),
    # --- SAM == CDK: changes to the CDK template alone --------------------------------------------------
    ("equivalence", "polled every 2 minutes in one template", reschedule(*POLL, expression="rate(2 minutes)")),
    ("equivalence", "weibo-poller's Timeout 40 s in one template", put(f"{POLLER}.Timeout", 40)),
    ("equivalence", "another POLL_MAX_PAGES in one template", put(f"{ENV}.POLL_MAX_PAGES", "3")),
    ("equivalence", "PollFailures alarmed after 3 minutes in one template", (put(f"{ALARM}.EvaluationPeriods", 3), put(f"{ALARM}.DatapointsToAlarm", 3))),
    ("equivalence", "another Weibo listening widget", replace("Dashboard.DashboardBody", "Weibo items read", "Weibo items")),
    # --- build once, deploy many --------------------------------------------------------------------------
    ("sam-prebuilt", "weibo-poller deployed with reply-sender's zip", put(f"{POLLER}.CodeUri", Copy("ReplySenderFunction.CodeUri"))),
    ("cdk-prebuilt", "weibo-poller deployed with reply-sender's zip",
     (put(f"Resources.{POLLER}.Metadata.aws:asset:path", Copy("Resources.ReplySenderFunction.Metadata.aws:asset:path")),
      put(f"{POLLER}.Code", Copy("ReplySenderFunction.Code")))),
]
