#!/usr/bin/env python3
"""Invariants of the deployment templates, checked on BOTH the SAM template and the
CloudFormation template synthesized by the CDK app.

    python3 infra/tests/test_invariants.py --sam infra/sam/template.yaml \
        --cdk <cdk.out>/ChannelGateway.template.json

Every invariant is a named check run on each template ("sam", "cdk", and "sam-cfn" = the SAM
template expanded by the SAM translator, when given with --sam-cfn); every check also
has a negative self-test: a deliberately broken copy of each template must make that check
fail, so a check cannot silently pass. The last line is "N passed, M failed"; the exit code
is non-zero on any failure.

With --prebuilt-dir DIR (stand-in zips in the layout `make build` writes), also checks
`make -n build` (--make-build), the SAM template for those zips (--sam-prebuilt, from
infra/sam/prebuilt_template.py) and `cdk synth -c prebuilt=DIR` (--cdk-prebuilt): each must be
the default template with only the functions' code changed, to exactly their own zips.

Only the standard library plus cfn-lint's YAML decoder (cfnlint.decode, which understands
!Ref/!GetAtt/... short forms) are used.

When a function is added: add it to FUNCTIONS below with exactly the permissions it needs
(read them from the code it runs); a function missing from FUNCTIONS fails every template.
Grants that only exist under a template condition (kms:Decrypt with AccountsSecretKmsKeyArn,
the VPC network-interface actions with EnableFixedEgress) are declared per condition and
must be granted under that condition only.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import itertools
import json
import os
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

# ---------------------------------------------------------------------------------------
# The contract: functions, what each may do, what each is given.
# Resources are written in the canonical form produced by canon(): "X.Arn" for
# !GetAtt X.Arn, "X" for !Ref X, and "${...}" substitutions resolved the same way.
# ---------------------------------------------------------------------------------------

# One Secrets Manager secret per role (least privilege), each holding the part of the accounts
# document its readers need (`gatewayctl accounts push` writes all three from one validated
# document). Each is created by the stack under its condition, or given as a parameter, so a
# reference to it is either of the two.
@dataclass(frozen=True)
class SecretSpec:
    parameter: str  # full ARN of an existing secret; empty = the stack creates one
    condition: str  # the stack creates the secret under this condition (parameter empty)
    output: str  # stack output with the secret's ARN
    sections: tuple[str, ...]  # top-level keys of the generated placeholder document
    readers: frozenset[str]  # the only functions that may read it
    env: str  # the variable naming it in its readers (the functions' config.rs)

    def refs(self, logical_id: str) -> set[str]:
        return {logical_id, self.parameter}


SECRETS: dict[str, SecretSpec] = {
    # Signature and decryption keys of the webhooks.
    "WebhookCredentialsSecret": SecretSpec(
        "WebhookCredentialsSecretArn", "CreateWebhookCredentialsSecret", "WebhookCredentialsSecretId",
        ("wechat", "weibo"), frozenset({"WeChatWebhookFunction", "WeiboWebhookFunction"}),
        "WEBHOOK_SECRET_ID",
    ),
    # Platform API credentials of reply-sender.
    "DeliveryCredentialsSecret": SecretSpec(
        "DeliveryCredentialsSecretArn", "CreateDeliveryCredentialsSecret", "DeliveryCredentialsSecretId",
        ("wechat", "weibo"), frozenset({"ReplySenderFunction"}),
        "DELIVERY_SECRET_ID",
    ),
    # The reply API's clients.
    "ApiClientsSecret": SecretSpec(
        "ApiClientsSecretArn", "CreateApiClientsSecret", "ApiClientsSecretId",
        ("api_clients",), frozenset({"ReplyApiFunction"}),
        "API_CLIENTS_SECRET_ID",
    ),
}
WEBHOOK_SECRET = SECRETS["WebhookCredentialsSecret"].refs("WebhookCredentialsSecret")
DELIVERY_SECRET = SECRETS["DeliveryCredentialsSecret"].refs("DeliveryCredentialsSecret")
API_CLIENTS_SECRET = SECRETS["ApiClientsSecret"].refs("ApiClientsSecret")

WEBHOOK_PERMISSIONS = {
    "sqs:SendMessage": {"InboundQueue.Arn"},
    "secretsmanager:GetSecretValue": WEBHOOK_SECRET,
}
# Every function that reads a secret: kms:Decrypt on its customer managed key, only when
# AccountsSecretKmsKeyArn is set (and only via Secrets Manager).
KMS_CONDITIONAL = {"HasAccountsSecretKmsKey": {"kms:Decrypt": {"AccountsSecretKmsKeyArn"}}}

# The table, per function: {action: partition-key patterns} (the dynamodb:LeadingKeys of a
# ForAllValues:StringLike condition on every statement granting the action; the union over
# the function's statements must be exactly this). Item actions only: ForAllValues is true
# for a request without partition keys (Scan), so no Scan/Query may ever be granted with it.
# Partition keys (shared/gateway-aws): CONV#<conversation key> (conversations, their messages
# and tags), REPLY#<reply id> (delivery records), TOKEN#wechat#<account> (token cache),
# CONFIG (the rules document), APIREQ#... (reply-api idempotency records).
CONV, REPLY, TOKEN, CONFIG, APIREQ = "CONV#*", "REPLY#*", "TOKEN#*", "CONFIG", "APIREQ#*"

# wechat-webhook's passive reply mode (functions/wechat-webhook/src/handler.rs) reads the rules
# document the router uses (DynamoDbRulesStore::get: GetItem of PK=CONFIG, SK=RULES), and
# nothing else of the table.
WECHAT_WEBHOOK_TABLE = {"dynamodb:GetItem": {CONFIG}}

# The router, from the code it runs (functions/message-router/src/handler.rs; gateway-aws
# dynamodb/conversations.rs DynamoDbConversationStore::{load, commit_inbound}, dynamodb/rules.rs
# DynamoDbRulesStore::get, sqs/inbound.rs, sqs/replies.rs):
ROUTER_PERMISSIONS = {
    # The event source mapping polls with the function's role.
    "sqs:ReceiveMessage": {"InboundQueue.Arn"},
    "sqs:DeleteMessage": {"InboundQueue.Arn"},
    "sqs:GetQueueAttributes": {"InboundQueue.Arn"},
    "sqs:ChangeMessageVisibility": {"InboundQueue.Arn"},
    # Poison records are moved to the DLQ explicitly; auto-replies are queued on the outbound
    # queue (gateway-aws SqsReplyQueue::enqueue).
    "sqs:SendMessage": {"InboundDeadLetterQueue.Arn", "OutboundQueue.Arn"},
}
# load and the rules (GetItem); commit_inbound's TransactWriteItems, which has no IAM action:
# it is authorized per item, and its items are Puts (message, conversation, new TAG# items)
# and Deletes (TAG# items of removed tags), all in the conversation's partition. No Update or
# ConditionCheck item, no Query, no index: base table only. No secret.
ROUTER_TABLE = {
    "dynamodb:GetItem": {CONV, CONFIG},
    "dynamodb:PutItem": {CONV},
    "dynamodb:DeleteItem": {CONV},
}

# reply-sender, from the code it runs (shared/gateway-aws: dynamodb/deliveries.rs,
# dynamodb/tokens.rs, dynamodb/conversations.rs, sqs/reply_dead_letters.rs, sqs/inbound.rs,
# sqs/retry_backoff.rs, secrets.rs):
REPLY_SENDER_PERMISSIONS = {
    # Event source mapping (Receive/Delete/GetQueueAttributes) and the retry backoff
    # (SqsRetryScheduler: ChangeMessageVisibility on the received record).
    "sqs:ReceiveMessage": {"OutboundQueue.Arn"},
    "sqs:DeleteMessage": {"OutboundQueue.Arn"},
    "sqs:GetQueueAttributes": {"OutboundQueue.Arn"},
    "sqs:ChangeMessageVisibility": {"OutboundQueue.Arn"},
    # Undecodable records (SqsDeadLetterSink) and commands refused for good
    # (SqsReplyDeadLetters) go to the outbound DLQ.
    "sqs:SendMessage": {"OutboundDeadLetterQueue.Arn"},
    "secretsmanager:GetSecretValue": DELIVERY_SECRET,
}
# Delivery ledger: get (GetItem), claim/mark_failed (PutItem), release (DeleteItem),
# mark_sent (UpdateItem), commit_delivered/commit_undeliverable (TransactWriteItems of Update
# and Put items). Token cache: GetItem, UpdateItem (lease, store, invalidate). Conversations:
# load (GetItem) and their outbound messages. No Query, no ConditionCheck item, base table only.
REPLY_SENDER_TABLE = {
    action: {CONV, REPLY, TOKEN}
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
}
# Lambda creates the network interfaces of a function in a VPC with the function's role
# (the EC2 actions of AWSLambdaVPCAccessExecutionRole; AWS requires Resource "*").
ENI_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
REPLY_SENDER_CONDITIONAL = {
    **KMS_CONDITIONAL,
    "FixedEgress": {action: {"*"} for action in ENI_ACTIONS},
}

# reply-api (functions/reply-api/src/handler.rs): queue the agent's reply
# (SqsReplyQueue), its clients from the ApiClients secret.
REPLY_API_PERMISSIONS = {
    "sqs:SendMessage": {"OutboundQueue.Arn"},
    "secretsmanager:GetSecretValue": API_CLIENTS_SECRET,
}
# The conversation exists (CONV#) and the delivery state (REPLY#): read only. Its idempotency
# records (APIREQ#): read a retried request's, write a new one's.
REPLY_API_TABLE = {
    "dynamodb:GetItem": {CONV, REPLY, APIREQ},
    "dynamodb:PutItem": {APIREQ},
}

WEBHOOK_ENV = {
    "QUEUE_URL": {"InboundQueue"},
    "WEBHOOK_SECRET_ID": WEBHOOK_SECRET,
    "ACCOUNTS_CACHE_SECS": {"60"},
    "MAX_CLOCK_SKEW_SECS": {"300"},
    "MAX_BODY_BYTES": {"65536"},
}
# wechat-webhook's passive reply mode (functions/wechat-webhook/src/config.rs): the rules pushed to the table,
# cached as long as the router caches them, the wait for them bounded (the code's defaults).
WECHAT_WEBHOOK_ENV = {
    **WEBHOOK_ENV,
    "TABLE_NAME": {"GatewayTable"},
    "RULES_CACHE_SECS": {"30"},
    "PASSIVE_RULES_TIMEOUT_MS": {"1000"},
}

# Config::from_lookup (functions/reply-sender/src/config.rs): every variable
# it reads, set explicitly (the code's defaults, except PLATFORM_TIMEOUT_SECS: see
# check_reply_sender_timings).
FORTY_EIGHT_HOURS = "172800"
REPLY_SENDER_ENV = {
    "TABLE_NAME": {"GatewayTable"},
    "OUTBOUND_QUEUE_URL": {"OutboundQueue"},
    "OUTBOUND_DEAD_LETTER_QUEUE_URL": {"OutboundDeadLetterQueue"},
    "DELIVERY_SECRET_ID": DELIVERY_SECRET,
    "ACCOUNTS_CACHE_SECS": {"60"},
    "WECHAT_API_BASE_URL": {"https://api.weixin.qq.com"},
    "WEIBO_API_BASE_URL": {"https://m.api.weibo.com"},
    "WECHAT_TOKEN_API": {"stable"},
    "PLATFORM_TIMEOUT_SECS": {"5"},
    "AWS_OPERATION_TIMEOUT_MS": {"4000"},
    "TOKEN_REFRESH_AHEAD_SECS": {"300"},
    "TOKEN_LEASE_SECS": {"20"},
    "TOKEN_WAIT_MS": {"3000"},
    "DELIVERY_CLAIM_TIMEOUT_SECS": {"180"},
    "DELIVERY_RECORD_TTL_DAYS": {"30"},
    "MESSAGE_TTL_DAYS": {"90"},
    "RETRY_BASE_SECS": {"10"},
    "RETRY_MAX_SECS": {"300"},
    # Deliveries of one command before a transient failure dead-letters it with the reason
    # (below the outbound queue's maxReceiveCount: see check_reply_sender_attempts).
    "REPLY_MAX_ATTEMPTS": {"4"},
    # Reply windows and quotas (ReplyPolicy::default in gateway-core delivery/window.rs).
    "WECHAT_MESSAGE_WINDOW_SECS": {FORTY_EIGHT_HOURS},
    "WECHAT_MESSAGE_QUOTA": {"5"},
    "WECHAT_EVENT_WINDOW_SECS": {"60"},
    "WECHAT_EVENT_QUOTA": {"3"},
    "WEIBO_MESSAGE_WINDOW_SECS": {FORTY_EIGHT_HOURS},
    "WEIBO_MESSAGE_QUOTA": {"unlimited"},
    "WEIBO_EVENT_WINDOW_SECS": {FORTY_EIGHT_HOURS},
    "WEIBO_EVENT_QUOTA": {"unlimited"},
    "WEIBO_MENTION_WINDOW_SECS": {FORTY_EIGHT_HOURS},
    "WEIBO_MENTION_QUOTA": {"1"},
}
# Config::from_lookup (functions/reply-api/src/config.rs).
REPLY_API_ENV = {
    "OUTBOUND_QUEUE_URL": {"OutboundQueue"},
    "TABLE_NAME": {"GatewayTable"},
    "API_CLIENTS_SECRET_ID": API_CLIENTS_SECRET,
    "ACCOUNTS_CACHE_SECS": {"60"},
    "REPLY_API_MAX_CLOCK_SKEW_SECS": {"300"},
    "REPLY_API_ACCEPT_V1": {"true"},
    "ACCOUNTS_MAX_STALE_SECS": {"900"},
    "MAX_BODY_BYTES": {"65536"},
}

# reply-sender starts a record only when the worst case of one delivery is left of the
# invocation: worst_case_record in functions/reply-sender/src/config.rs, 9 AWS calls at
# AWS_OPERATION_TIMEOUT_MS plus 4 platform calls at PLATFORM_TIMEOUT_SECS, plus MARGIN_SLACK.
REPLY_SENDER_AWS_CALLS, REPLY_SENDER_PLATFORM_CALLS, REPLY_SENDER_SLACK_SECS = 9, 4, 2
# ... and its Timeout fits two such worst cases, so a batch makes progress.
REPLY_SENDER_WORST_CASES_PER_INVOCATION = 2
# SQS's largest visibility timeout (what ChangeMessageVisibility accepts).
SQS_MAX_VISIBILITY_SECS = 43200


@dataclass(frozen=True)
class FunctionSpec:
    binary: str
    kind: str  # "webhook" (platform HTTP push, 5-second window), "api" (HTTP API) or "consumer" (SQS)
    timeout_secs: int
    permissions: dict[str, set[str]]
    # {condition: {action: resources}}: granted only under that template condition.
    conditional_permissions: dict[str, dict[str, set[str]]]
    env: dict[str, set[str]]
    # {DynamoDB action: partition-key patterns} on GatewayTable (see ROUTER_TABLE).
    table: dict[str, set[str]] = field(default_factory=dict)
    routes: tuple[tuple[str, str], ...] = ()
    api: str | None = None  # logical id of the HTTP API of its routes (see HTTP_APIS)
    integration_timeout_ms: int | None = None  # of its routes
    consumes: str | None = None  # logical id of the queue of its event source
    latency_alarm_ms: int | None = None  # p99 Duration alarm threshold
    in_vpc_with_fixed_egress: bool = False
    # (parameter, its default): ReservedConcurrentExecutions, and the bound of its event
    # source's ScalingConfig.MaximumConcurrency (SQS consumers).
    reserved_concurrency: tuple[str, int] | None = None

    @property
    def all_permissions(self) -> dict[str, set[str]]:
        """permissions plus the table actions (on the table, under their LeadingKeys)."""
        return {**self.permissions, **{action: {"GatewayTable.Arn"} for action in self.table}}


def _logs(prefix: str) -> dict[str, set[str]]:
    # Writing its own log group (the stream suffix ":*" is part of the log group's Arn).
    return {
        "logs:CreateLogStream": {f"{prefix}LogGroup.Arn"},
        "logs:PutLogEvents": {f"{prefix}LogGroup.Arn"},
    }


FUNCTIONS: dict[str, FunctionSpec] = {
    "WeChatWebhookFunction": FunctionSpec(
        binary="wechat-webhook",
        timeout_secs=4,
        kind="webhook",
        permissions={**_logs("WeChatWebhook"), **WEBHOOK_PERMISSIONS},
        conditional_permissions=KMS_CONDITIONAL,
        env=WECHAT_WEBHOOK_ENV,
        table=WECHAT_WEBHOOK_TABLE,
        routes=(("GET", "/wechat/{account}"), ("POST", "/wechat/{account}")),
        api="HttpApi",
        integration_timeout_ms=5000,
        latency_alarm_ms=3000,
    ),
    "WeiboWebhookFunction": FunctionSpec(
        binary="weibo-webhook",
        timeout_secs=4,
        kind="webhook",
        permissions={**_logs("WeiboWebhook"), **WEBHOOK_PERMISSIONS},
        conditional_permissions=KMS_CONDITIONAL,
        env=WEBHOOK_ENV,
        routes=(("GET", "/weibo/{account}"), ("POST", "/weibo/{account}")),
        api="HttpApi",
        integration_timeout_ms=5000,
        latency_alarm_ms=3000,
    ),
    "MessageRouterFunction": FunctionSpec(
        binary="message-router",
        timeout_secs=30,
        kind="consumer",
        permissions={**_logs("MessageRouter"), **ROUTER_PERMISSIONS},
        conditional_permissions={},
        table=ROUTER_TABLE,
        env={
            "TABLE_NAME": {"GatewayTable"},
            "DEAD_LETTER_QUEUE_URL": {"InboundDeadLetterQueue"},
            "OUTBOUND_QUEUE_URL": {"OutboundQueue"},
            "MESSAGE_TTL_DAYS": {"90"},
            "RULES_CACHE_SECS": {"30"},
        },
        consumes="InboundQueue",
        reserved_concurrency=("MessageRouterReservedConcurrency", 10),
    ),
    "ReplySenderFunction": FunctionSpec(
        binary="reply-sender",
        timeout_secs=120,
        kind="consumer",
        permissions={**_logs("ReplySender"), **REPLY_SENDER_PERMISSIONS},
        conditional_permissions=REPLY_SENDER_CONDITIONAL,
        env=REPLY_SENDER_ENV,
        table=REPLY_SENDER_TABLE,
        consumes="OutboundQueue",
        in_vpc_with_fixed_egress=True,
        reserved_concurrency=("ReplySenderReservedConcurrency", 5),
    ),
    "ReplyApiFunction": FunctionSpec(
        binary="reply-api",
        timeout_secs=6,
        kind="api",
        permissions={**_logs("ReplyApi"), **REPLY_API_PERMISSIONS},
        conditional_permissions=KMS_CONDITIONAL,
        env=REPLY_API_ENV,
        table=REPLY_API_TABLE,
        # The code also answers GET /replies/{reply_id} (functions/reply-api/src/handler.rs `route`).
        routes=(("POST", "/replies"), ("GET", "/replies/{reply_id}")),
        api="ReplyHttpApi",
        integration_timeout_ms=8000,
        latency_alarm_ms=3000,
    ),
}

# The HTTP APIs: the webhooks' and the reply API's, separate so that a flood on one cannot use
# up the other's throttling. {logical id: (rate limit parameter and default, burst limit
# parameter and default)}: the stage's DefaultRouteSettings and the RouteSettings of every one
# of its routes (exactly its functions' routes) are these parameters.
HTTP_APIS: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {
    "HttpApi": (("WebhookRouteRateLimit", 500), ("WebhookRouteBurstLimit", 1000)),
    "ReplyHttpApi": (("ReplyApiRouteRateLimit", 50), ("ReplyApiRouteBurstLimit", 100)),
}

# Alarms on metrics the functions emit (EMF, namespace ChannelGateway) with NO dimensions (one
# aggregate each): Sum >= 1 over 5 minutes.
APP_ALARM_METRICS = ("AccountsRefreshFailed", "AccountsUnavailable", "DeliveryUncertain")
# 5xx of each HTTP API (dimension ApiId): Sum >= 5 over 5 minutes.
HTTP_API_5XX_THRESHOLD = 5

# Log levels the LogLevel parameter may take: never "trace" (raw events and tokens).
# Not "error" either: the metric lines carry level WARN (Lambda's log-level filtering would drop
# them below it; see shared/gateway-lambda/src/metrics.rs).
LOG_LEVELS = {"debug", "info", "warn"}

# Dashboard metrics that must not be plotted: UnansweredConversations is a +1/-1 flow metric,
# not a level (a proper gauge comes later).
DASHBOARD_FORBIDDEN = ("UnansweredConversations",)

# FIFO queues and their settings (both are high-throughput FIFO with explicit deduplication ids),
# with their visibility timeouts: 6 x the Timeout of their consumer (30 s router, 120 s sender).
FIFO_QUEUES = {"InboundQueue": 180, "OutboundQueue": 720}

# Actions for which AWS accepts only Resource "*", per function. (X-Ray, if tracing is ever
# enabled, needs xray:PutTraceSegments/PutTelemetryRecords.)
STAR_RESOURCE_EXCEPTIONS: dict[str, set[str]] = {"ReplySenderFunction": ENI_ACTIONS}

SECRETISH_ENV = re.compile(r"SECRET|TOKEN|KEY|PASSWORD", re.IGNORECASE)
# Names that look secret but are settings, with the only literal values they may take.
NON_SECRET_ENV = {
    "TOKEN_REFRESH_AHEAD_SECS": re.compile(r"^[0-9]+$"),
    "TOKEN_LEASE_SECS": re.compile(r"^[0-9]+$"),
    "TOKEN_WAIT_MS": re.compile(r"^[0-9]+$"),
    "WECHAT_TOKEN_API": re.compile(r"^(stable|classic)$"),
}

# Optional custom domain: one regional API Gateway domain (TLS 1.2) for both HTTP APIs, one
# base path (API mapping key) each, its alias record in Route 53 when a hosted zone is given.
# None of it exists while CustomDomainName is empty (the default).
CUSTOM_DOMAIN_PARAMETERS = ("CustomDomainName", "CustomDomainCertificateArn", "CustomDomainHostedZoneId")
DOMAIN_MAPPINGS = {"webhooks": "HttpApi", "reply-api": "ReplyHttpApi"}  # mapping key -> HTTP API
DOMAIN_TYPES = ("AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping", "AWS::Route53::RecordSet")
# Stable URLs on the domain: {output: (HTTP API, path after its base path)}; plus the target.
CUSTOM_DOMAIN_URLS = {
    "CustomDomainWeChatWebhookUrl": ("HttpApi", "/wechat/{account}"),
    "CustomDomainWeiboWebhookUrl": ("HttpApi", "/weibo/{account}"),
    "CustomDomainReplyApiUrl": ("ReplyHttpApi", "/replies"),
}
CUSTOM_DOMAIN_OUTPUTS = {*CUSTOM_DOMAIN_URLS, "CustomDomainTarget"}
SAMPLE_CERTIFICATE = "arn:aws:acm:ap-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
# Parameter values under which the templates' conditions are evaluated, and how many of each
# DOMAIN_TYPES must then exist (DomainName, ApiMapping, RecordSet).
DOMAIN_CASES: dict[str, tuple[dict[str, str], tuple[int, int, int]]] = {
    "no custom domain (defaults)": ({}, (0, 0, 0)),
    "custom domain, DNS elsewhere": (
        {"CustomDomainName": "gateway.example.com", "CustomDomainCertificateArn": SAMPLE_CERTIFICATE}, (1, 2, 0)),
    "custom domain and hosted zone": (
        {"CustomDomainName": "gateway.example.com", "CustomDomainCertificateArn": SAMPLE_CERTIFICATE,
         "CustomDomainHostedZoneId": "Z0123456789ABCDEFGHIJ"}, (1, 2, 1)),
}
# Parameter values the template's Rules must refuse before any change is made.
DOMAIN_REFUSED = {
    "a custom domain without a certificate": {"CustomDomainName": "gateway.example.com"},
    "a hosted zone without a custom domain": {"CustomDomainHostedZoneId": "Z0123456789ABCDEFGHIJ"},
}

EXPECTED_PARAMETERS = {
    "StageName",
    "LogLevel",
    "LogRetentionDays",
    "AccountsSecretKmsKeyArn",
    "AlarmEmail",
    "EnableFixedEgress",
    *(spec.parameter for spec in SECRETS.values()),
    *(f.reserved_concurrency[0] for f in FUNCTIONS.values() if f.reserved_concurrency),
    *(param for limits in HTTP_APIS.values() for param, _ in limits),
    *CUSTOM_DOMAIN_PARAMETERS,
}
EXPECTED_OUTPUTS = {
    "WeChatWebhookUrl",
    "WeiboWebhookUrl",
    "HttpApiId",
    "InboundQueueUrl",
    "InboundDeadLetterQueueUrl",
    "ReplyApiUrl",
    "OutboundQueueUrl",
    "OutboundDeadLetterQueueUrl",
    "ReplyHttpApiId",
    "TableName",
    *(spec.output for spec in SECRETS.values()),
    "AlarmTopicArn",
    "DashboardUrl",
    "FixedEgressIp",
    *CUSTOM_DOMAIN_OUTPUTS,
}

# ---------------------------------------------------------------------------------------
# Intrinsic functions -> canonical strings.
# ---------------------------------------------------------------------------------------
NO_VALUE = "<novalue>"


def canon(value: Any) -> set[str]:
    """All the values an expression can take, as canonical strings (Fn::If -> both)."""
    if isinstance(value, bool):
        return {str(value).lower()}
    if isinstance(value, (int, float)):
        return {str(value)}
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref":
            return {NO_VALUE} if arg == "AWS::NoValue" else {str(arg)}
        if fn == "Fn::GetAtt":
            if isinstance(arg, str):
                return {arg}
            return {".".join(str(a) for a in arg)}
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in variables:
                    return sorted(canon(variables[name]))[0]
                return name

            return {re.sub(r"\$\{([^}!]+)\}", sub, text)}
        if fn == "Fn::Join":
            sep, parts = arg
            alternatives = [sorted(canon(p)) for p in parts]
            return {sep.join(combo) for combo in itertools.product(*alternatives)}
        if fn == "Fn::If":
            out = set()
            for branch in arg[1:]:
                out |= canon(branch)
            out.discard(NO_VALUE)
            return out or {NO_VALUE}
        return {f"<{fn}>"}
    return {f"<{type(value).__name__}>"}


def is_literal(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def ref_target(value: Any) -> str | None:
    """Logical id referenced by {Ref: X} or {Fn::GetAtt: [X, ...]}."""
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref":
            return str(arg)
        if fn == "Fn::GetAtt":
            return (arg.split(".")[0] if isinstance(arg, str) else str(arg[0]))
    return None


def expand_if(items: list[Any]) -> list[Any]:
    """A list whose elements may be Fn::If: every element either branch can produce."""
    return [item for item, _ in expand_if_conditions(items, None)]


def expand_if_conditions(items: list[Any], condition: str | None) -> list[tuple[Any, str | None]]:
    """Like expand_if, with the condition under which each element exists: the Fn::If's
    condition for its first branch, "!<condition>" for its second (None = always)."""
    out: list[tuple[Any, str | None]] = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            name, *branches = item["Fn::If"]
            for branch, cond in zip(branches, (name, f"!{name}")):
                if isinstance(branch, dict) and branch.get("Ref") == "AWS::NoValue":
                    continue
                # Nested conditions: the innermost one names the grant (one level is used).
                out.append((branch, cond if condition is None else f"{condition}&{cond}"))
        else:
            out.append((item, condition))
    return out


# ---------------------------------------------------------------------------------------
# A flavour-independent view of a template.
# ---------------------------------------------------------------------------------------
@dataclass
class Function:
    logical_id: str
    props: dict[str, Any]
    metadata: dict[str, Any]
    role_id: str | None


@dataclass
class EventSource:
    function: str
    queue: str | None
    props: dict[str, Any]


@dataclass
class Model:
    flavour: str  # "sam" (SAM source), "sam-cfn" (SAM translated) or "cdk" (CDK synthesized)
    template: dict[str, Any]
    functions: dict[str, Function] = field(default_factory=dict)
    event_sources: list[EventSource] = field(default_factory=list)
    routes: dict[tuple[str, str], str | None] = field(default_factory=dict)
    route_timeouts: dict[tuple[str, str], Any] = field(default_factory=dict)  # integration ms
    route_apis: dict[tuple[str, str], str | None] = field(default_factory=dict)  # HTTP API id
    # HTTP API id -> its stage's {"DefaultRouteSettings": ..., "RouteSettings": ...}.
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.get("Resources", {})

    def of_type(self, *types: str) -> dict[str, Any]:
        return {k: v for k, v in self.resources.items() if v.get("Type") in types}


def merge_globals(props: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    for key, value in props.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_globals(value, out[key])
        else:
            out[key] = copy.deepcopy(value)
    return out


def build_model(flavour: str, template: dict[str, Any]) -> Model:
    model = Model(flavour, template)
    globals_fn = template.get("Globals", {}).get("Function", {})
    for lid, res in model.resources.items():
        rtype = res.get("Type")
        if rtype not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        props = res.get("Properties", {}) or {}
        if rtype == "AWS::Serverless::Function":
            props = merge_globals(props, globals_fn)
        model.functions[lid] = Function(lid, props, res.get("Metadata", {}) or {}, ref_target(props.get("Role")))
        # SAM events.
        for name, event in (props.get("Events") or {}).items():
            etype, eprops = event.get("Type"), event.get("Properties", {}) or {}
            if etype == "SQS":
                model.event_sources.append(EventSource(lid, ref_target(eprops.get("Queue")), eprops))
            elif etype == "HttpApi":
                key = (str(eprops.get("Method", "")).upper(), str(eprops.get("Path", "")))
                model.routes[key] = lid
                model.route_timeouts[key] = eprops.get("TimeoutInMillis")
                model.route_apis[key] = ref_target(eprops.get("ApiId"))
    # SAM: stage settings are properties of the AWS::Serverless::HttpApi.
    for lid, res in model.of_type("AWS::Serverless::HttpApi").items():
        model.stages[lid] = res.get("Properties", {}) or {}
    # Plain CloudFormation: AWS::ApiGatewayV2::Stage.
    for res in model.of_type("AWS::ApiGatewayV2::Stage").values():
        p = res.get("Properties", {}) or {}
        model.stages[ref_target(p.get("ApiId")) or "?"] = p
    # Plain CloudFormation: event source mappings.
    for res in model.of_type("AWS::Lambda::EventSourceMapping").values():
        p = res.get("Properties", {})
        model.event_sources.append(EventSource(ref_target(p.get("FunctionName")) or "?", ref_target(p.get("EventSourceArn")), p))
    # Plain CloudFormation: HTTP API routes -> integrations -> functions.
    integrations = model.of_type("AWS::ApiGatewayV2::Integration")
    for res in model.of_type("AWS::ApiGatewayV2::Route").values():
        p = res.get("Properties", {})
        method, _, path = str(p.get("RouteKey", "")).partition(" ")
        target_fn, timeout = None, None
        for target in canon(p.get("Target")):
            integration = integrations.get(target.removeprefix("integrations/"))
            if integration:
                target_fn = ref_target(integration["Properties"].get("IntegrationUri"))
                timeout = integration["Properties"].get("TimeoutInMillis")
        model.routes[(method.upper(), path)] = target_fn
        model.route_timeouts[(method.upper(), path)] = timeout
        model.route_apis[(method.upper(), path)] = ref_target(p.get("ApiId"))
    # Plain CloudFormation from the SAM translator: routes live in the API's OpenAPI body.
    for api_id, res in model.of_type("AWS::ApiGatewayV2::Api").items():
        body = (res.get("Properties") or {}).get("Body") or {}
        for path, methods in (body.get("paths") or {}).items():
            for method, op in methods.items():
                integration = op.get("x-amazon-apigateway-integration") or {}
                target_fn = None
                for u in canon(integration.get("uri")):
                    found = re.search(r"functions/([A-Za-z0-9]+)\.Arn/invocations", u)
                    target_fn = found.group(1) if found else target_fn
                model.routes[(method.upper(), path)] = target_fn
                model.route_timeouts[(method.upper(), path)] = integration.get("timeoutInMillis")
                model.route_apis[(method.upper(), path)] = api_id
    return model


Grant = tuple[str, str, str | None]  # (action, canonical resource, condition or None)


def canon_iam_condition(condition: Any) -> str | None:
    """A statement's IAM Condition as canonical JSON ({operator: {key: sorted values}}, a
    single value and a one-element list alike); None without one."""
    if not condition:
        return None
    if not isinstance(condition, dict):
        return json.dumps(sorted(canon(condition)))
    out: dict[str, dict[str, list[str]]] = {}
    for operator, keys in condition.items():
        if not isinstance(keys, dict):
            out[operator] = {"<not a map>": sorted(canon(keys))}
            continue
        out[operator] = {}
        for key, values in keys.items():
            found: set[str] = set()
            for v in expand_if(as_list(values)):
                found |= canon(v)
            out[operator][key] = sorted(found)
    return json.dumps(out, sort_keys=True)


def role_grants_conditional(model: Model, role_id: str) -> tuple[list[Grant], list[str]]:
    """(action, canonical resource, condition) the role allows, and structural problems. The
    condition is the template condition the grant depends on (None = always granted)."""
    grants, problems = role_grants_detailed(model, role_id)
    return [(a, r, c) for a, r, c, _ in grants], problems


def role_grants_detailed(model: Model, role_id: str) -> tuple[list[tuple[str, str, str | None, str | None]], list[str]]:
    """Like role_grants_conditional, with each grant's IAM Condition (canon_iam_condition)."""
    problems: list[str] = []
    role = model.resources.get(role_id)
    if not role or role.get("Type") != "AWS::IAM::Role":
        return [], [f"role {role_id} is not an AWS::IAM::Role of the template"]
    rprops = role.get("Properties", {})
    if rprops.get("ManagedPolicyArns"):
        problems.append(f"role {role_id} has managed policies {rprops['ManagedPolicyArns']} (grant inline, exactly)")
    documents = [
        (p.get("PolicyDocument", {}), cond) for p, cond in expand_if_conditions(as_list(rprops.get("Policies")), None)
    ]
    for res in model.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").values():
        attached = {ref_target(r) for r in as_list(res["Properties"].get("Roles"))}
        if role_id in attached:
            documents.append((res["Properties"].get("PolicyDocument", {}), res.get("Condition")))
    grants: list[tuple[str, str, str | None, str | None]] = []
    for doc, doc_cond in documents:
        for st, cond in expand_if_conditions(as_list(doc.get("Statement")), doc_cond):
            if st.get("Effect") != "Allow":
                continue
            if "NotAction" in st or "NotResource" in st:
                problems.append(f"role {role_id}: NotAction/NotResource in statement {st.get('Sid')}")
                continue
            resources: set[str] = set()
            for r in expand_if(as_list(st.get("Resource"))):
                resources |= canon(r)
            resources.discard(NO_VALUE)
            iam_condition = canon_iam_condition(st.get("Condition"))
            for action in expand_if(as_list(st.get("Action"))):
                for a in canon(action):
                    for r in sorted(resources) or ["<none>"]:
                        grants.append((a, r, cond, iam_condition))
    return grants, problems


def role_grants(model: Model, role_id: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(action, canonical resource) pairs the role allows (under any condition), and problems."""
    grants, problems = role_grants_conditional(model, role_id)
    return [(a, r) for a, r, _ in grants], problems


# ---------------------------------------------------------------------------------------
# The checks. Each returns a list of problems (empty = the invariant holds).
# ---------------------------------------------------------------------------------------
def check_functions_known(m: Model) -> list[str]:
    problems = [f"function {f} is not in FUNCTIONS (declare its permissions)" for f in m.functions if f not in FUNCTIONS]
    problems += [f"function {f} missing" for f in FUNCTIONS if f not in m.functions]
    return problems


def check_iam_least_privilege(m: Model) -> list[str]:
    problems = []
    for lid, fn in m.functions.items():
        spec = FUNCTIONS.get(lid)
        if spec is None:
            continue
        if fn.role_id is None:
            problems.append(f"{lid} has no explicit Role (an implicit role gets managed policies)")
            continue
        grants, structural = role_grants_detailed(m, fn.role_id)
        problems += structural
        for action, resource, cond, _ in grants:
            if resource in spec.all_permissions.get(action, set()):
                continue
            if resource in spec.conditional_permissions.get(cond or "", {}).get(action, set()):
                continue
            wanted = [c for c, perms in spec.conditional_permissions.items() if resource in perms.get(action, set())]
            if wanted:
                problems.append(f"{lid}: {action} on {resource} granted {'always' if cond is None else f'under {cond}'}, only allowed under {wanted[0]}")
            else:
                problems.append(f"{lid}: {action} on {resource} is not something the function uses")
    return problems


def check_iam_grants_needed(m: Model) -> list[str]:
    problems = []
    for lid, fn in m.functions.items():
        spec = FUNCTIONS.get(lid)
        if spec is None or fn.role_id is None:
            continue
        grants = set(role_grants_conditional(m, fn.role_id)[0])
        for action, resources in spec.all_permissions.items():
            for resource in resources:
                if (action, resource, None) not in grants:
                    problems.append(f"{lid}: needs {action} on {resource} (unconditionally)")
        for cond, perms in spec.conditional_permissions.items():
            for action, resources in perms.items():
                for resource in resources:
                    if (action, resource, cond) not in grants:
                        problems.append(f"{lid}: needs {action} on {resource} under condition {cond}")
    return problems


def _leading_keys(iam_condition: str | None) -> set[str] | None:
    """The partition-key patterns of a canonical IAM condition that is exactly
    ForAllValues:StringLike on dynamodb:LeadingKeys; None for anything else (or none)."""
    if iam_condition is None:
        return None
    cond = json.loads(iam_condition)
    if set(cond) != {"ForAllValues:StringLike"} or set(cond["ForAllValues:StringLike"]) != {"dynamodb:LeadingKeys"}:
        return None
    return set(cond["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])


def check_table_leading_keys(m: Model) -> list[str]:
    """Every DynamoDB grant carries a dynamodb:LeadingKeys condition (ForAllValues:StringLike)
    within the function's partition keys for that action, and the function's statements
    together give each action exactly those keys (FunctionSpec.table)."""
    problems = []
    for lid, fn in m.functions.items():
        spec = FUNCTIONS.get(lid)
        if spec is None or fn.role_id is None:
            continue
        given: dict[str, set[str]] = {}
        for action, resource, _, iam_condition in role_grants_detailed(m, fn.role_id)[0]:
            if not action.startswith("dynamodb:"):
                continue
            keys = _leading_keys(iam_condition)
            if keys is None:
                problems.append(f"{lid}: {action} on {resource} without exactly a ForAllValues:StringLike dynamodb:LeadingKeys condition ({iam_condition})")
                continue
            wider = keys - spec.table.get(action, set())
            if wider:
                problems.append(f"{lid}: {action} on partition keys {sorted(wider)} it does not use (allowed: {sorted(spec.table.get(action, set()))})")
            given.setdefault(action, set()).update(keys)
        for action, keys in spec.table.items():
            missing = keys - given.get(action, set())
            if missing:
                problems.append(f"{lid}: needs {action} on partition keys {sorted(missing)}")
    return problems


def check_secrets_per_role(m: Model) -> list[str]:
    """One secret per role (SECRETS): created retained, with a generated placeholder of the
    role's sections, only when its parameter is empty; read (GetSecretValue, its SecretSpec.env variable)
    by exactly its readers; its ARN an output. Any other secret of the stack is an error."""
    problems = []
    secrets = m.of_type("AWS::SecretsManager::Secret")
    problems += [f"secret {lid} is not one of the role secrets {sorted(SECRETS)}" for lid in secrets if lid not in SECRETS]
    conditions = m.template.get("Conditions") or {}
    outputs = m.template.get("Outputs") or {}
    for lid, spec in SECRETS.items():
        res = secrets.get(lid)
        if res is None:
            problems.append(f"secret {lid} missing")
            continue
        if res.get("Condition") != spec.condition:
            problems.append(f"secret {lid} created under {res.get('Condition')!r}, want {spec.condition}")
        if json.dumps(conditions.get(spec.condition), sort_keys=True) != json.dumps({"Fn::Equals": [{"Ref": spec.parameter}, ""]}, sort_keys=True):
            problems.append(f"condition {spec.condition} is not {spec.parameter} == ''")
        if res.get("DeletionPolicy") != "Retain" or res.get("UpdateReplacePolicy") != "Retain":
            problems.append(f"secret {lid} is not retained on stack deletion/replacement")
        gen = res.get("Properties", {}).get("GenerateSecretString") or {}
        try:
            template = json.loads(gen.get("SecretStringTemplate", ""))
        except ValueError:
            template = None
        if not isinstance(template, dict) or sorted(template) != sorted(spec.sections) or any(template.values()):
            problems.append(f"secret {lid}: placeholder document {gen.get('SecretStringTemplate')!r}, want empty sections {list(spec.sections)}")
        if not str(gen.get("GenerateStringKey", "")).startswith("_"):
            problems.append(f"secret {lid}: generated key {gen.get('GenerateStringKey')!r} does not start with '_' (the functions would refuse it)")
        out = outputs.get(spec.output)
        if out is None or canon(out.get("Value")) != spec.refs(lid):
            problems.append(f"output {spec.output} is not the ARN of {lid} (or {spec.parameter})")
        readers = set()
        for fid, fn in m.functions.items():
            grants = role_grants(m, fn.role_id)[0] if fn.role_id else []
            if any(a == "secretsmanager:GetSecretValue" and r in spec.refs(lid) for a, r in grants):
                readers.add(fid)
            variables = (fn.props.get("Environment") or {}).get("Variables") or {}
            named = [v for v in variables if v.endswith("SECRET_ID") and canon(variables[v]) == spec.refs(lid)]
            if (fid in spec.readers) != (named == [spec.env]):
                problems.append(f"{fid}: names {lid} in {named}{', want ' + spec.env if fid in spec.readers else ', must not'}")
        if readers != spec.readers:
            problems.append(f"secret {lid} read by {sorted(readers)}, want exactly {sorted(spec.readers)}")
    return problems


def _param(m: Model, name: str) -> dict[str, Any]:
    return (m.template.get("Parameters") or {}).get(name) or {}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_consumer_concurrency(m: Model) -> list[str]:
    """The queue consumers: ReservedConcurrentExecutions from their parameter (a Number, >= 2,
    with the spec's default), and their event source's ScalingConfig.MaximumConcurrency never
    above it (the same parameter, or a literal 2..the parameter's MinValue)."""
    problems = []
    for lid, spec in FUNCTIONS.items():
        fn = m.functions.get(lid)
        if spec.reserved_concurrency is None or fn is None:
            continue
        name, default = spec.reserved_concurrency
        p = _param(m, name)
        low = _number(p.get("MinValue"))
        if p.get("Type") != "Number" or _number(p.get("Default")) != default or low is None or low < 2:
            problems.append(f"parameter {name}: want Number, Default {default}, MinValue >= 2 (got {p})")
            low = 2
        if ref_target(fn.props.get("ReservedConcurrentExecutions")) != name:
            problems.append(f"{lid}.ReservedConcurrentExecutions = {fn.props.get('ReservedConcurrentExecutions')!r}, want Ref {name}")
        for es in (e for e in m.event_sources if e.function == lid):
            most = (es.props.get("ScalingConfig") or {}).get("MaximumConcurrency")
            if ref_target(most) == name or (isinstance(most, int) and 2 <= most <= low):
                continue
            problems.append(f"{lid}: event source MaximumConcurrency {most!r} is not <= its reserved concurrency ({name})")
    return problems


def check_http_api_throttling(m: Model) -> list[str]:
    """Each HTTP API (HTTP_APIS) has a stage whose DefaultRouteSettings and RouteSettings of
    exactly its routes throttle with its rate/burst parameters (Numbers with the spec's
    defaults)."""
    problems = []
    for api, ((rate, rate_default), (burst, burst_default)) in HTTP_APIS.items():
        for name, default in ((rate, rate_default), (burst, burst_default)):
            p = _param(m, name)
            if p.get("Type") != "Number" or _number(p.get("Default")) != default:
                problems.append(f"parameter {name}: want Number with Default {default} (got {p})")
        stage = m.stages.get(api)
        if stage is None:
            problems.append(f"HTTP API {api} has no stage")
            continue
        want = {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}

        def throttled(settings: Any, where: str) -> None:
            settings = settings if isinstance(settings, dict) else {}
            for key, param in want.items():
                if ref_target(settings.get(key)) != param:
                    problems.append(f"{api} {where}.{key} = {settings.get(key)!r}, want Ref {param}")

        throttled(stage.get("DefaultRouteSettings"), "DefaultRouteSettings")
        routes = {f"{method} {path}" for (method, path), a in m.route_apis.items() if a == api}
        settings = stage.get("RouteSettings") or {}
        if set(settings) != routes or not routes:
            problems.append(f"{api} RouteSettings for {sorted(settings)}, want its routes {sorted(routes)}")
        for route_key in sorted(routes & set(settings)):
            throttled(settings[route_key], f"RouteSettings[{route_key}]")
    return problems


def check_log_level(m: Model) -> list[str]:
    """LogLevel never allows "trace" (raw events and tokens in the logs): its AllowedValues and
    the LogLevels mapping are exactly LOG_LEVELS."""
    p = _param(m, "LogLevel")
    allowed = {str(v) for v in as_list(p.get("AllowedValues"))}
    mapping = (m.template.get("Mappings") or {}).get("LogLevels") or {}
    problems = []
    if allowed != LOG_LEVELS or p.get("Default") not in LOG_LEVELS:
        problems.append(f"LogLevel AllowedValues {sorted(allowed)} / Default {p.get('Default')!r}, want {sorted(LOG_LEVELS)}")
    if set(mapping) != LOG_LEVELS or "TRACE" in json.dumps(mapping).upper():
        problems.append(f"LogLevels mapping {sorted(mapping)}, want {sorted(LOG_LEVELS)} and no TRACE")
    return problems


def check_log_groups_retained(m: Model) -> list[str]:
    problems = []
    groups = m.of_type("AWS::Logs::LogGroup")
    if not groups:
        return ["no log group"]
    for lid, res in groups.items():
        name = " ".join(sorted(canon(res.get("Properties", {}).get("LogGroupName"))))
        if not re.fullmatch(r"/aws/(lambda|apigateway)/AWS::StackName/[a-z-]+", name):
            problems.append(f"log group {lid}: name {name!r} is not /aws/lambda|apigateway/<stack>/<name>")
        if res.get("DeletionPolicy") != "Retain" or res.get("UpdateReplacePolicy") != "Retain":
            problems.append(f"log group {lid}: DeletionPolicy {res.get('DeletionPolicy')!r} / UpdateReplacePolicy {res.get('UpdateReplacePolicy')!r}, want Retain/Retain")
    return problems


def check_iam_no_wildcards(m: Model) -> list[str]:
    problems = []
    role_ids = {fn.role_id: lid for lid, fn in m.functions.items() if fn.role_id}
    for role_id, lid in role_ids.items():
        grants, _ = role_grants(m, role_id)
        for action, resource in grants:
            if "*" in action:
                problems.append(f"{lid}: wildcard action {action}")
            if "*" in resource and action not in STAR_RESOURCE_EXCEPTIONS.get(lid, set()):
                problems.append(f"{lid}: wildcard resource {resource} for {action}")
    # Any other role or policy of the stack: no Allow of "*" actions on "*".
    for lid, res in m.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").items():
        for st in expand_if(as_list(res["Properties"].get("PolicyDocument", {}).get("Statement"))):
            if st.get("Effect") == "Allow" and any("*" in a for x in as_list(st.get("Action")) for a in canon(x)):
                problems.append(f"{lid}: wildcard action in {st.get('Sid')}")
    return problems


def queue_arn_target(value: Any) -> str | None:
    return ref_target(value)


def check_queues_have_dlq(m: Model) -> list[str]:
    problems = []
    queues = m.of_type("AWS::SQS::Queue")
    dlqs = set()
    for res in queues.values():
        redrive = res.get("Properties", {}).get("RedrivePolicy")
        if isinstance(redrive, dict):
            dlqs.add(queue_arn_target(redrive.get("deadLetterTargetArn")))
    for lid, res in queues.items():
        if lid in dlqs:
            continue
        p = res.get("Properties", {})
        redrive = p.get("RedrivePolicy")
        if not isinstance(redrive, dict):
            problems.append(f"queue {lid} has no RedrivePolicy (and is no DLQ)")
            continue
        target = queue_arn_target(redrive.get("deadLetterTargetArn"))
        if target not in queues:
            problems.append(f"queue {lid}: dead-letter target {target} is not a queue of the stack")
            continue
        count = redrive.get("maxReceiveCount")
        if not isinstance(count, int) or not 1 <= count <= 10:
            problems.append(f"queue {lid}: maxReceiveCount {count!r} (want 1..10, 5 by design)")
        dlq = queues[target].get("Properties", {})
        if bool(p.get("FifoQueue")) != bool(dlq.get("FifoQueue")):
            problems.append(f"queue {lid}: FIFO={bool(p.get('FifoQueue'))} but its DLQ {target} FIFO={bool(dlq.get('FifoQueue'))}")
        src_ret, dlq_ret = p.get("MessageRetentionPeriod", 345600), dlq.get("MessageRetentionPeriod", 345600)
        if isinstance(src_ret, int) and isinstance(dlq_ret, int) and dlq_ret < src_ret:
            problems.append(f"queue {lid}: DLQ {target} keeps messages {dlq_ret}s < source {src_ret}s")
    for lid, res in queues.items():
        p = res.get("Properties", {})
        if not (p.get("SqsManagedSseEnabled") or p.get("KmsMasterKeyId")):
            problems.append(f"queue {lid}: no server-side encryption")
    return problems


def check_fifo_queues(m: Model) -> list[str]:
    problems = []
    want = {
        "FifoQueue": True,
        # The producers set MessageDeduplicationId (platform message id, reply idempotency key).
        "ContentBasedDeduplication": False,
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }
    for lid in FIFO_QUEUES:
        q = m.resources.get(lid, {}).get("Properties")
        if q is None:
            problems.append(f"{lid} missing")
            continue
        for key, value in want.items():
            if q.get(key) != value:
                problems.append(f"{lid}.{key} = {q.get(key)!r}, want {value!r}")
        retention = q.get("MessageRetentionPeriod", 345600)
        if not isinstance(retention, int) or retention < 4 * 86400:
            problems.append(f"{lid} retention {retention!r} < 4 days")
        if q.get("VisibilityTimeout") != FIFO_QUEUES[lid]:
            problems.append(f"{lid}.VisibilityTimeout {q.get('VisibilityTimeout')!r}, want {FIFO_QUEUES[lid]}")
    return problems


def check_event_source(m: Model) -> list[str]:
    problems = []
    consumers = {lid: spec for lid, spec in FUNCTIONS.items() if spec.kind == "consumer"}
    for lid, spec in consumers.items():
        sources = [e for e in m.event_sources if e.function == lid]
        if len(sources) != 1:
            problems.append(f"{lid}: {len(sources)} event sources, want 1 (on {spec.consumes})")
            continue
        es = sources[0]
        if es.queue != spec.consumes:
            problems.append(f"{lid}: event source on {es.queue}, want {spec.consumes}")
        batch = es.props.get("BatchSize", 10)
        if not isinstance(batch, int) or batch > 10 or batch < 1:
            problems.append(f"{lid}: BatchSize {batch!r} (FIFO allows at most 10)")
        if "ReportBatchItemFailures" not in as_list(es.props.get("FunctionResponseTypes")):
            problems.append(f"{lid}: FunctionResponseTypes lacks ReportBatchItemFailures")
        if es.props.get("MaximumBatchingWindowInSeconds"):
            problems.append(f"{lid}: MaximumBatchingWindowInSeconds is not supported on FIFO queues")
        if es.props.get("Enabled") is False:
            problems.append(f"{lid}: event source disabled")
    for es in m.event_sources:
        if es.function not in consumers:
            problems.append(f"unexpected event source for {es.function}")
    return problems


def check_visibility_timeout(m: Model) -> list[str]:
    problems = []
    for es in m.event_sources:
        fn = m.functions.get(es.function)
        queue = m.resources.get(es.queue or "", {}).get("Properties")
        if fn is None or queue is None:
            problems.append(f"event source {es.function} -> {es.queue}: function or queue not found")
            continue
        timeout = fn.props.get("Timeout", 3)
        visibility = queue.get("VisibilityTimeout", 30)
        if not isinstance(timeout, int) or not isinstance(visibility, int) or visibility < 6 * timeout:
            problems.append(f"{es.queue}.VisibilityTimeout {visibility!r} < 6 x {es.function}.Timeout {timeout!r}")
    return problems


def check_webhook_timeouts(m: Model) -> list[str]:
    problems = []
    for lid, spec in FUNCTIONS.items():
        fn = m.functions.get(lid)
        if spec.kind != "webhook" or fn is None:
            continue
        timeout = fn.props.get("Timeout", 3)
        if not isinstance(timeout, int) or timeout >= 5:
            problems.append(f"{lid}: Timeout {timeout!r} s, must be < 5 s (platforms give up after 5 s)")
    return problems


def check_integration_timeouts(m: Model) -> list[str]:
    """Every route's integration timeout: set, above its function's Timeout (API Gateway would
    answer 503 while the function still runs), within the platform window for webhooks."""
    problems = []
    for lid, spec in FUNCTIONS.items():
        fn = m.functions.get(lid)
        if fn is None:
            continue
        timeout = fn.props.get("Timeout", 3)
        for route in spec.routes:
            if route not in m.route_timeouts:
                continue  # reported by api-routes
            ms = m.route_timeouts[route]
            if ms != spec.integration_timeout_ms:
                problems.append(f"route {route[0]} {route[1]}: integration timeout {ms!r} ms, want {spec.integration_timeout_ms}")
                continue
            if not isinstance(timeout, int) or ms <= timeout * 1000 or ms > 30000:
                problems.append(f"route {route[0]} {route[1]}: integration timeout {ms} ms not in ({lid}.Timeout {timeout!r} s, 30 s]")
            if spec.kind == "webhook" and ms > 5000:
                problems.append(f"route {route[0]} {route[1]}: integration timeout {ms} ms beyond the platforms' 5 s")
    return problems


def check_table(m: Model) -> list[str]:
    problems = []
    tables = m.of_type("AWS::DynamoDB::Table")
    if not tables:
        return ["no DynamoDB table"]
    for lid, res in tables.items():
        p = res.get("Properties", {})
        if (p.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"table {lid}: point-in-time recovery is off")
        ttl = p.get("TimeToLiveSpecification") or {}
        if ttl.get("AttributeName") != "expires_at" or ttl.get("Enabled") is not True:
            problems.append(f"table {lid}: TTL is not enabled on expires_at ({ttl})")
    return problems


def check_table_shape(m: Model) -> list[str]:
    problems = []
    res = m.resources.get("GatewayTable")
    if not res:
        return ["GatewayTable missing"]
    p = res.get("Properties", {})
    if p.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append("GatewayTable is not PAY_PER_REQUEST")
    keys = [(k["AttributeName"], k["KeyType"]) for k in p.get("KeySchema", [])]
    if keys != [("PK", "HASH"), ("SK", "RANGE")]:
        problems.append(f"GatewayTable key {keys}")
    attrs = {a["AttributeName"]: a["AttributeType"] for a in p.get("AttributeDefinitions", [])}
    for name in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"):
        if attrs.get(name) != "S":
            problems.append(f"GatewayTable attribute {name} is not S")
    gsis = {g["IndexName"]: g for g in p.get("GlobalSecondaryIndexes", [])}
    for name in ("GSI1", "GSI2"):
        g = gsis.get(name)
        if g is None:
            problems.append(f"GatewayTable index {name} missing")
            continue
        gkeys = [(k["AttributeName"], k["KeyType"]) for k in g.get("KeySchema", [])]
        if gkeys != [(f"{name}PK", "HASH"), (f"{name}SK", "RANGE")]:
            problems.append(f"index {name} key {gkeys}")
        if (g.get("Projection") or {}).get("ProjectionType") != "ALL":
            problems.append(f"index {name} projection is not ALL")
    if res.get("DeletionPolicy") != "Retain" or res.get("UpdateReplacePolicy") != "Retain":
        problems.append("GatewayTable is not retained on stack deletion/replacement")
    return problems


def _walk(value: Any, path: str = ""):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def check_no_plaintext_secrets(m: Model) -> list[str]:
    problems = []
    for path, value in _walk(m.template.get("Resources", {})):
        if isinstance(value, dict) and "SecretString" in value:
            s = value["SecretString"]
            if is_literal(s) or (isinstance(s, dict) and "Fn::Sub" in s):
                problems.append(f"literal SecretString at Resources{path}")
    for lid, res in m.of_type("AWS::SecretsManager::Secret").items():
        p = res.get("Properties", {})
        if "GenerateSecretString" not in p and "SecretString" not in p:
            problems.append(f"secret {lid} has neither GenerateSecretString nor a reference")
    for lid, fn in m.functions.items():
        variables = (fn.props.get("Environment") or {}).get("Variables") or {}
        for name, value in variables.items():
            if not (SECRETISH_ENV.search(name) and is_literal(value) and str(value) != ""):
                continue
            setting = NON_SECRET_ENV.get(name)
            if setting is None:
                problems.append(f"{lid}: env {name} has a literal value")
            elif not setting.match(str(value)):
                problems.append(f"{lid}: env {name} = {value!r} is not a value of that setting (a secret?)")
    for name, param in (m.template.get("Parameters") or {}).items():
        if SECRETISH_ENV.search(name) and not name.endswith("Arn") and param.get("Default") not in (None, ""):
            problems.append(f"parameter {name} has a default value")
    return problems


def check_log_retention(m: Model) -> list[str]:
    problems = []
    for lid, res in m.of_type("AWS::Logs::LogGroup").items():
        if res.get("Properties", {}).get("RetentionInDays") is None:
            problems.append(f"log group {lid} has no RetentionInDays")
    return problems


def check_function_logging(m: Model) -> list[str]:
    problems = []
    groups = m.of_type("AWS::Logs::LogGroup")
    for lid, fn in m.functions.items():
        cfg = fn.props.get("LoggingConfig") or {}
        if cfg.get("LogFormat") != "JSON":
            problems.append(f"{lid}: LogFormat is not JSON")
        if ref_target(cfg.get("LogGroup")) not in groups:
            problems.append(f"{lid}: does not log to a log group of the stack (no retention otherwise)")
        if "ApplicationLogLevel" not in cfg:
            problems.append(f"{lid}: no ApplicationLogLevel (LogLevel parameter)")
    return problems


def check_api_routes(m: Model) -> list[str]:
    problems = []
    for lid, spec in FUNCTIONS.items():
        for route in spec.routes:
            if route not in m.routes:
                problems.append(f"route {route[0]} {route[1]} missing")
            elif m.routes[route] != lid:
                problems.append(f"route {route[0]} {route[1]} goes to {m.routes[route]}, want {lid}")
            elif m.route_apis.get(route) != spec.api:
                problems.append(f"route {route[0]} {route[1]} is on HTTP API {m.route_apis.get(route)}, want {spec.api}")
    expected = {r for spec in FUNCTIONS.values() for r in spec.routes}
    for route in m.routes:
        if route not in expected:
            problems.append(f"unexpected route {route[0]} {route[1]}")
    return problems


def check_function_runtime(m: Model) -> list[str]:
    problems = []
    for lid, fn in m.functions.items():
        p = fn.props
        if p.get("Runtime") != "provided.al2023":
            problems.append(f"{lid}: Runtime {p.get('Runtime')!r}")
        if as_list(p.get("Architectures")) != ["arm64"]:
            problems.append(f"{lid}: Architectures {p.get('Architectures')!r}")
        if p.get("Handler") != "bootstrap":
            problems.append(f"{lid}: Handler {p.get('Handler')!r}")
        if p.get("MemorySize") != 256:
            problems.append(f"{lid}: MemorySize {p.get('MemorySize')!r}")
        if lid in FUNCTIONS and p.get("Timeout") != FUNCTIONS[lid].timeout_secs:
            problems.append(f"{lid}: Timeout {p.get('Timeout')!r}, want {FUNCTIONS[lid].timeout_secs}")
        if m.flavour == "sam":
            spec = FUNCTIONS.get(lid)
            if fn.metadata.get("BuildMethod") != "rust-cargolambda":
                problems.append(f"{lid}: Metadata.BuildMethod is not rust-cargolambda")
            binary = (fn.metadata.get("BuildProperties") or {}).get("Binary")
            if spec and binary != spec.binary:
                problems.append(f"{lid}: BuildProperties.Binary {binary!r}, want {spec.binary!r}")
            if p.get("CodeUri") != "../..":
                problems.append(f"{lid}: CodeUri {p.get('CodeUri')!r}, want the workspace root ../..")
    return problems


def check_function_env(m: Model) -> list[str]:
    problems = []
    for lid, fn in m.functions.items():
        spec = FUNCTIONS.get(lid)
        if spec is None:
            continue
        variables = (fn.props.get("Environment") or {}).get("Variables") or {}
        for name in sorted(set(variables) | set(spec.env)):
            if name not in variables:
                problems.append(f"{lid}: env {name} missing")
            elif name not in spec.env:
                problems.append(f"{lid}: unexpected env {name}")
            elif canon(variables[name]) != spec.env[name]:
                problems.append(f"{lid}: env {name} = {sorted(canon(variables[name]))}, want {sorted(spec.env[name])}")
    return problems


def _alarms(m: Model) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in m.of_type("AWS::CloudWatch::Alarm").values()]


def _has_alarm(
    m: Model, namespace: str, metric: str, dims: dict[str, str], threshold: float, stat: str,
    op: str = "GreaterThanThreshold", period: int | None = None,
) -> bool:
    """An alarm on exactly this metric and these dimensions ({name: referenced logical id}),
    notifying AlarmTopic."""
    for a in _alarms(m):
        found = {d["Name"]: ref_target(d["Value"]) for d in a.get("Dimensions", [])}
        if (
            a.get("Namespace") == namespace
            and a.get("MetricName") == metric
            and found == dims
            and float(a.get("Threshold", -1)) == threshold
            and (a.get("Statistic") == stat or a.get("ExtendedStatistic") == stat)
            and a.get("ComparisonOperator") == op
            and (period is None or a.get("Period") == period)
            and any(ref_target(x) == "AlarmTopic" for x in as_list(a.get("AlarmActions")))
        ):
            return True
    return False


def check_alarms(m: Model) -> list[str]:
    problems = []
    if "AlarmTopic" not in m.of_type("AWS::SNS::Topic"):
        problems.append("AlarmTopic missing")
    wanted: list[tuple[str, str, dict[str, str], float, str, str, int | None]] = [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "InboundDeadLetterQueue"}, 0, "Maximum", "GreaterThanThreshold", None),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": "InboundQueue"}, 60, "Maximum", "GreaterThanThreshold", None),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "OutboundDeadLetterQueue"}, 0, "Maximum", "GreaterThanThreshold", None),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": "OutboundQueue"}, 600, "Maximum", "GreaterThanThreshold", None),
    ]
    for lid, spec in FUNCTIONS.items():
        wanted.append(("AWS/Lambda", "Errors", {"FunctionName": lid}, 0, "Sum", "GreaterThanThreshold", None))
        wanted.append(("AWS/Lambda", "Throttles", {"FunctionName": lid}, 0, "Sum", "GreaterThanThreshold", None))
        if spec.latency_alarm_ms is not None:
            wanted.append(("AWS/Lambda", "Duration", {"FunctionName": lid}, spec.latency_alarm_ms, "p99", "GreaterThanThreshold", None))
    # The functions' own metrics, no dimensions: any occurrence in 5 minutes.
    for metric in APP_ALARM_METRICS:
        wanted.append(("ChannelGateway", metric, {}, 1, "Sum", "GreaterThanOrEqualToThreshold", 300))
    for api in HTTP_APIS:
        wanted.append(("AWS/ApiGateway", "5xx", {"ApiId": api}, HTTP_API_5XX_THRESHOLD, "Sum", "GreaterThanOrEqualToThreshold", 300))
    for namespace, metric, dims, threshold, stat, op, period in wanted:
        if not _has_alarm(m, namespace, metric, dims, threshold, stat, op, period):
            problems.append(f"no alarm {namespace} {metric} {dims} {stat} {op} {threshold} (period {period}) -> AlarmTopic")
    for lid, res in m.of_type("AWS::CloudWatch::Alarm").items():
        if res.get("Properties", {}).get("TreatMissingData") != "notBreaching":
            problems.append(f"alarm {lid}: TreatMissingData {res.get('Properties', {}).get('TreatMissingData')!r}, want notBreaching")
    return problems


def check_dashboard(m: Model) -> list[str]:
    dashboards = m.of_type("AWS::CloudWatch::Dashboard")
    if not dashboards:
        return ["no dashboard"]
    problems = []
    for lid, res in dashboards.items():
        # The body (Fn::Sub in SAM, Fn::Join in CDK) must be JSON once the references resolve.
        for body in canon(res.get("Properties", {}).get("DashboardBody")):
            try:
                json.loads(body)
            except ValueError as e:
                problems.append(f"dashboard {lid}: body is not valid JSON ({e})")
    text = json.dumps(dashboards)
    needed = [
        "InboundMessages",
        "DuplicateMessages",
        "RuleHits",
        "AutoReplies",
        "Escalations",
        "FirstResponseTime",
        "ChannelGateway,Channel,Account",
        # The alarmed application metrics.
        *APP_ALARM_METRICS,
        "ApproximateNumberOfMessagesVisible",
        "InboundDeadLetterQueue",
        "Errors",
        "Duration",
        # reply-sender's EMF metrics (functions/reply-sender/src/handler.rs `report`, `handle_record`); reply-api
        # emits none.
        "RepliesDelivered",
        "ChannelGateway,Channel,Origin",
        "ReplyDeliveryLatencyMs",
        "RepliesUndeliverable",
        "ChannelGateway,Channel,Reason",
        "RepliesDeadLettered",
        "ChannelGateway,Channel,Code",
        "ReplyRetries",
        "ReplyDuplicates",
        "ReplyCommandsUndecodable",
        "OutboundQueue",
        "OutboundDeadLetterQueue",
    ]
    functions = [lid for lid in FUNCTIONS if lid not in text]
    problems += [f"dashboard does not show {lid}" for lid in functions]
    problems += [f"dashboard shows {n} (not a level: no widget until a proper gauge)" for n in DASHBOARD_FORBIDDEN if n in text]
    return problems + [f"dashboard does not show {n}" for n in needed if n not in text]


def check_parameters_outputs(m: Model) -> list[str]:
    problems = []
    params = set(m.template.get("Parameters") or {}) - {"BootstrapVersion"}
    outputs = set(m.template.get("Outputs") or {})
    problems += [f"parameter {p} missing" for p in sorted(EXPECTED_PARAMETERS - params)]
    problems += [f"unexpected parameter {p}" for p in sorted(params - EXPECTED_PARAMETERS)]
    problems += [f"output {o} missing" for o in sorted(EXPECTED_OUTPUTS - outputs)]
    for name, out in (m.template.get("Outputs") or {}).items():
        value = " ".join(sorted(canon(out.get("Value"))))
        if name == "WeChatWebhookUrl" and not re.fullmatch(r"https://HttpApi\.execute-api\.\S+/StageName/wechat/\{account\}", value):
            problems.append(f"WeChatWebhookUrl = {value} (want the webhook HTTP API's)")
        if name == "WeiboWebhookUrl" and not re.fullmatch(r"https://HttpApi\.execute-api\.\S+/StageName/weibo/\{account\}", value):
            problems.append(f"WeiboWebhookUrl = {value} (want the webhook HTTP API's)")
        if name == "ReplyApiUrl" and not re.fullmatch(r"https://ReplyHttpApi\.execute-api\.\S+/StageName/replies", value):
            problems.append(f"ReplyApiUrl = {value} (want the reply HTTP API's)")
        if name == "HttpApiId" and value != "HttpApi":
            problems.append(f"HttpApiId = {value}")
        if name == "ReplyHttpApiId" and value != "ReplyHttpApi":
            problems.append(f"ReplyHttpApiId = {value}")
        if name == "OutboundQueueUrl" and value != "OutboundQueue":
            problems.append(f"OutboundQueueUrl = {value}")
        if name == "OutboundDeadLetterQueueUrl" and value != "OutboundDeadLetterQueue":
            problems.append(f"OutboundDeadLetterQueueUrl = {value}")
    return problems


def check_fixed_egress(m: Model) -> list[str]:
    problems = []
    conditions = m.template.get("Conditions") or {}
    if "FixedEgress" not in conditions:
        return ["condition FixedEgress missing"]
    wanted = {"AWS::EC2::VPC", "AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::Subnet", "AWS::EC2::InternetGateway"}
    present = set()
    for lid, res in m.resources.items():
        if res.get("Type", "").startswith("AWS::EC2::"):
            present.add(res["Type"])
            if res.get("Condition") != "FixedEgress":
                problems.append(f"{lid} is created even when EnableFixedEgress is false")
    problems += [f"no {t}" for t in sorted(wanted - present)]
    # Exactly one NAT gateway and one Elastic IP (one fixed address, not one per zone).
    for rtype in ("AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        if len(m.of_type(rtype)) > 1:
            problems.append(f"{len(m.of_type(rtype))} x {rtype}, want exactly one")
    out = (m.template.get("Outputs") or {}).get("FixedEgressIp")
    if not out or out.get("Condition") != "FixedEgress" or ref_target(out.get("Value")) not in m.of_type("AWS::EC2::EIP"):
        problems.append("output FixedEgressIp is not the EIP under condition FixedEgress")
    return problems


class Unresolvable(Exception):
    """An expression that depends on more than the parameters' values."""


# Pseudo parameters, for conditions that use them (CDK's CDKMetadataAvailable: the region).
PSEUDO_PARAMETERS = {"AWS::Region": "ap-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
# What the CDK adds to every template by itself (not part of the gateway).
CDK_OWN = {"CDKMetadataAvailable", "CheckBootstrapVersion", "BootstrapVersion", "CDKMetadata"}


def _param_value(t: dict[str, Any], name: str, values: dict[str, str]) -> str:
    if name in values:
        return values[name]
    if name in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[name]
    param = (t.get("Parameters") or {}).get(name)
    if param is None or "Default" not in param:
        raise Unresolvable(f"Ref {name}")
    return str(param["Default"])


def _eval_value(t: dict[str, Any], value: Any, values: dict[str, str]) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return _param_value(t, value["Ref"], values)
    raise Unresolvable(json.dumps(value))


def eval_condition(t: dict[str, Any], expr: Any, values: dict[str, str], depth: int = 0) -> bool:
    """A condition expression (Fn::Equals/Not/And/Or, Condition) under parameter values
    (the others at their defaults)."""
    if depth > 20 or not (isinstance(expr, dict) and len(expr) == 1):
        raise Unresolvable(json.dumps(expr))
    (fn, arg), = expr.items()
    if fn == "Condition":
        conditions = t.get("Conditions") or {}
        if arg not in conditions:
            raise Unresolvable(f"condition {arg} is not defined")
        return eval_condition(t, conditions[arg], values, depth + 1)
    if fn == "Fn::Equals":
        return _eval_value(t, arg[0], values) == _eval_value(t, arg[1], values)
    if fn == "Fn::Not":
        return not eval_condition(t, arg[0], values, depth + 1)
    if fn == "Fn::And":
        return all(eval_condition(t, a, values, depth + 1) for a in arg)
    if fn == "Fn::Or":
        return any(eval_condition(t, a, values, depth + 1) for a in arg)
    raise Unresolvable(fn)


def existing(t: dict[str, Any], values: dict[str, str]) -> tuple[set[str], set[str]]:
    """(resources, outputs) the template creates under these parameter values."""
    def exists(entry: dict[str, Any]) -> bool:
        name = entry.get("Condition")
        return name is None or eval_condition(t, {"Condition": name}, values)

    resources = {lid for lid, r in (t.get("Resources") or {}).items() if exists(r)}
    outputs = {name for name, o in (t.get("Outputs") or {}).items() if exists(o)}
    return resources, outputs


def refused_by_rules(t: dict[str, Any], values: dict[str, str]) -> list[str]:
    """The template's Rules that refuse these parameter values (rules that depend on more
    than parameters, such as CDK's bootstrap version check, are left out)."""
    refused = []
    for name, rule in (t.get("Rules") or {}).items():
        try:
            if "RuleCondition" in rule and not eval_condition(t, rule["RuleCondition"], values):
                continue
            if not all(eval_condition(t, a.get("Assert"), values) for a in rule.get("Assertions") or []):
                refused.append(name)
        except Unresolvable:
            continue
    return refused


def _stage_api(m: Model, stage: Any) -> str | None:
    """The HTTP API whose stage an ApiMapping's Stage names: SAM's `!Ref HttpApi.Stage`, or
    a Ref to an AWS::ApiGatewayV2::Stage resource."""
    target = ref_target(stage)
    if target is None:
        return None
    if target.endswith(".Stage") and m.resources.get(target.removesuffix(".Stage"), {}).get("Type") == "AWS::Serverless::HttpApi":
        return target.removesuffix(".Stage")
    res = m.resources.get(target) or {}
    if res.get("Type") == "AWS::ApiGatewayV2::Stage":
        return ref_target((res.get("Properties") or {}).get("ApiId"))
    return None


def check_custom_domain(m: Model) -> list[str]:
    problems = []
    params = m.template.get("Parameters") or {}
    for name in CUSTOM_DOMAIN_PARAMETERS:
        if str((params.get(name) or {}).get("Default")) != "":
            problems.append(f"parameter {name} must default to empty (no custom domain)")
    # What exists in each case, by evaluating the conditions.
    for case, (values, counts) in DOMAIN_CASES.items():
        for name, value in values.items():
            pattern = (params.get(name) or {}).get("AllowedPattern")
            if pattern is not None and not (re.fullmatch(pattern, value) and re.fullmatch(pattern, "")):
                problems.append(f"parameter {name}: AllowedPattern refuses {value!r} or the empty default")
        try:
            resources, outputs = existing(m.template, values)
        except Unresolvable as e:
            problems.append(f"{case}: cannot evaluate the conditions ({e})")
            continue
        for rtype, want in zip(DOMAIN_TYPES, counts):
            have = sorted(lid for lid in resources if m.resources[lid].get("Type") == rtype)
            if len(have) != want:
                problems.append(f"{case}: {len(have)} x {rtype} {have}, want {want}")
        want_outputs = CUSTOM_DOMAIN_OUTPUTS if counts[0] else set()
        if outputs & CUSTOM_DOMAIN_OUTPUTS != want_outputs:
            problems.append(f"{case}: custom domain outputs {sorted(outputs & CUSTOM_DOMAIN_OUTPUTS)}, want {sorted(want_outputs)}")
        if refused_by_rules(m.template, values):
            problems.append(f"{case}: refused by the rules {refused_by_rules(m.template, values)}")
    for case, values in DOMAIN_REFUSED.items():
        if not refused_by_rules(m.template, values):
            problems.append(f"the template's Rules accept {case}")
    # The resources, whatever their conditions.
    domains = m.of_type("AWS::ApiGatewayV2::DomainName")
    if len(domains) != 1:
        return problems + [f"{len(domains)} x AWS::ApiGatewayV2::DomainName, want one"]
    (domain, res), = domains.items()
    p = res.get("Properties") or {}
    if canon(p.get("DomainName")) != {"CustomDomainName"}:
        problems.append(f"{domain}.DomainName = {sorted(canon(p.get('DomainName')))}, want CustomDomainName")
    configs = as_list(p.get("DomainNameConfigurations"))
    if len(configs) != 1:
        problems.append(f"{domain}: {len(configs)} DomainNameConfigurations, want one")
    for c in configs:
        if c.get("EndpointType") != "REGIONAL":
            problems.append(f"{domain}: EndpointType {c.get('EndpointType')!r}, want REGIONAL")
        if c.get("SecurityPolicy") != "TLS_1_2":
            problems.append(f"{domain}: SecurityPolicy {c.get('SecurityPolicy')!r}, want TLS_1_2")
        if canon(c.get("CertificateArn")) != {"CustomDomainCertificateArn"}:
            problems.append(f"{domain}: CertificateArn {sorted(canon(c.get('CertificateArn')))}, want CustomDomainCertificateArn")
    mapped: dict[str, str | None] = {}
    for lid, res in m.of_type("AWS::ApiGatewayV2::ApiMapping").items():
        mp = res.get("Properties") or {}
        key, api, stage_api = mp.get("ApiMappingKey"), ref_target(mp.get("ApiId")), _stage_api(m, mp.get("Stage"))
        if key in mapped:
            problems.append(f"{lid}: mapping key {key!r} mapped twice")
        mapped[str(key)] = api
        if ref_target(mp.get("DomainName")) != domain:
            problems.append(f"{lid}: DomainName is not the {domain} resource")
        if key in DOMAIN_MAPPINGS and api != DOMAIN_MAPPINGS[key]:
            problems.append(f"{lid}: /{key} goes to {api}, want {DOMAIN_MAPPINGS[key]}")
        if stage_api != api:
            problems.append(f"{lid}: Stage is the stage of {stage_api}, not of its API {api}")
    if set(mapped) != set(DOMAIN_MAPPINGS):
        problems.append(f"API mapping keys {sorted(mapped)}, want {sorted(DOMAIN_MAPPINGS)}")
    for lid, res in m.of_type("AWS::Route53::RecordSet").items():
        rp = res.get("Properties") or {}
        alias = rp.get("AliasTarget") or {}
        if rp.get("Type") != "A" or canon(rp.get("Name")) != {"CustomDomainName"}:
            problems.append(f"{lid}: want an A record named CustomDomainName")
        if canon(rp.get("HostedZoneId")) != {"CustomDomainHostedZoneId"}:
            problems.append(f"{lid}: HostedZoneId is not CustomDomainHostedZoneId")
        if canon(alias.get("DNSName")) != {f"{domain}.RegionalDomainName"} or canon(alias.get("HostedZoneId")) != {f"{domain}.RegionalHostedZoneId"}:
            problems.append(f"{lid}: AliasTarget is not {domain}'s regional domain name and hosted zone")
    # The stable URLs: the domain, the base path of the right API, the API's path.
    key_of = {api: key for key, api in DOMAIN_MAPPINGS.items()}
    outs = m.template.get("Outputs") or {}
    for name, (api, path) in CUSTOM_DOMAIN_URLS.items():
        value = " ".join(sorted(canon((outs.get(name) or {}).get("Value"))))
        if value != f"https://{domain}/{key_of[api]}{path}":
            problems.append(f"{name} = {value!r}, want https://{domain}/{key_of[api]}{path}")
    target = " ".join(sorted(canon((outs.get("CustomDomainTarget") or {}).get("Value"))))
    if target != f"{domain}.RegionalDomainName":
        problems.append(f"CustomDomainTarget = {target!r}, want {domain}.RegionalDomainName")
    return problems


def _refs(values: Any) -> set[str | None]:
    return {ref_target(v) for v in as_list(values)}


def _routes_to(m: Model, route_table: str, target_key: str) -> str | None:
    """The target (NatGatewayId/GatewayId) of route_table's 0.0.0.0/0 route."""
    for res in m.of_type("AWS::EC2::Route").values():
        p = res.get("Properties", {})
        if ref_target(p.get("RouteTableId")) == route_table and p.get("DestinationCidrBlock") == "0.0.0.0/0":
            return ref_target(p.get(target_key))
    return None


def _route_table_of(m: Model, subnet: str) -> str | None:
    for res in m.of_type("AWS::EC2::SubnetRouteTableAssociation").values():
        p = res.get("Properties", {})
        if ref_target(p.get("SubnetId")) == subnet:
            return ref_target(p.get("RouteTableId"))
    return None


def check_reply_sender_egress(m: Model) -> list[str]:
    """With EnableFixedEgress, the functions that call the platform APIs run in the private
    subnets, whose only way out is the NAT gateway with the stack's Elastic IP (the address
    WeChat allow-lists); without it (and for every other function), no VPC."""
    problems = []
    private_subnets = {"EgressPrivateSubnetA", "EgressPrivateSubnetB"}
    for lid, fn in m.functions.items():
        spec = FUNCTIONS.get(lid)
        vpc = fn.props.get("VpcConfig")
        if spec is None or not spec.in_vpc_with_fixed_egress:
            if vpc is not None:
                problems.append(f"{lid} has a VpcConfig (only the platform API callers run in the VPC)")
            continue
        branches = (vpc or {}).get("Fn::If") if isinstance(vpc, dict) else None
        if not (isinstance(branches, list) and len(branches) == 3 and branches[0] == "FixedEgress"):
            problems.append(f"{lid}.VpcConfig is not Fn::If [FixedEgress, <private subnets>, AWS::NoValue]: {vpc!r}")
            continue
        on, off = branches[1], branches[2]
        if off != {"Ref": "AWS::NoValue"}:
            problems.append(f"{lid}.VpcConfig without fixed egress is {off!r}, want AWS::NoValue")
        if not isinstance(on, dict) or _refs(on.get("SubnetIds")) != private_subnets:
            problems.append(f"{lid}.VpcConfig subnets {on.get('SubnetIds') if isinstance(on, dict) else on!r}, want {sorted(private_subnets)}")
        if not isinstance(on, dict) or _refs(on.get("SecurityGroupIds")) != {"EgressSecurityGroup"}:
            problems.append(f"{lid}.VpcConfig security groups are not [EgressSecurityGroup]")
        if fn.role_id:
            grants = set(role_grants_conditional(m, fn.role_id)[0])
            missing = sorted(a for a in ENI_ACTIONS if (a, "*", "FixedEgress") not in grants)
            if missing:
                problems.append(f"{lid}: role lacks {missing} under FixedEgress (Lambda cannot attach it to the VPC)")
    # The private subnets leave through the NAT gateway, which uses the Elastic IP and sits in
    # a public subnet routed to the internet gateway.
    nats = m.of_type("AWS::EC2::NatGateway")
    for subnet in sorted(private_subnets):
        table = _route_table_of(m, subnet)
        nat = _routes_to(m, table, "NatGatewayId") if table else None
        if nat not in nats:
            problems.append(f"{subnet}: default route is not a NAT gateway of the stack (route table {table})")
            continue
        p = nats[nat].get("Properties", {})
        if ref_target(p.get("AllocationId")) != "EgressIp":
            problems.append(f"{nat} does not use the Elastic IP EgressIp")
        public = ref_target(p.get("SubnetId"))
        public_table = _route_table_of(m, public) if public else None
        if not public_table or _routes_to(m, public_table, "GatewayId") not in m.of_type("AWS::EC2::InternetGateway"):
            problems.append(f"{nat} is not in a subnet routed to the internet gateway")
    sg = m.resources.get("EgressSecurityGroup", {}).get("Properties", {})
    if not any(r.get("IpProtocol") == "tcp" and r.get("FromPort") == 443 and r.get("ToPort") == 443 for r in sg.get("SecurityGroupEgress", [])):
        problems.append("EgressSecurityGroup does not allow HTTPS out")
    return problems


def _env_int(fn: Function, name: str) -> int | None:
    value = ((fn.props.get("Environment") or {}).get("Variables") or {}).get(name)
    try:
        return int(str(value))
    except ValueError:
        return None


def check_reply_sender_timings(m: Model) -> list[str]:
    """reply-sender's settings against its Timeout, with the code's worst case of one delivery
    (9 AWS calls + 4 platform calls, each at its timeout): the Timeout fits two of them and the
    outbound queue's visibility timeout is at least 6 x it; a `calling` claim outlives any
    running attempt and the worst delivery; the token lease outlives the longest refresh; the
    backoff fits SQS's visibility limit."""
    fn = m.functions.get("ReplySenderFunction")
    if fn is None:
        return ["ReplySenderFunction missing"]
    problems = []
    timeout = fn.props.get("Timeout", 3)
    platform = _env_int(fn, "PLATFORM_TIMEOUT_SECS")
    claim = _env_int(fn, "DELIVERY_CLAIM_TIMEOUT_SECS")
    base, cap = _env_int(fn, "RETRY_BASE_SECS"), _env_int(fn, "RETRY_MAX_SECS")
    wait_ms = _env_int(fn, "TOKEN_WAIT_MS")
    if not isinstance(timeout, int):
        return [f"reply-sender Timeout {timeout!r} is not a number"]
    queue_id = FUNCTIONS["ReplySenderFunction"].consumes or ""
    visibility = m.resources.get(queue_id, {}).get("Properties", {}).get("VisibilityTimeout", 30)
    if not isinstance(visibility, int) or visibility < 6 * timeout:
        problems.append(f"{queue_id}.VisibilityTimeout {visibility!r} < 6 x reply-sender's Timeout {timeout}")
    aws_ms = _env_int(fn, "AWS_OPERATION_TIMEOUT_MS")
    lease = _env_int(fn, "TOKEN_LEASE_SECS")
    if platform is None or aws_ms is None:
        problems.append("PLATFORM_TIMEOUT_SECS and AWS_OPERATION_TIMEOUT_MS must be set")
        return problems
    worst = REPLY_SENDER_AWS_CALLS * aws_ms / 1000 + REPLY_SENDER_PLATFORM_CALLS * platform
    margin = worst + REPLY_SENDER_SLACK_SECS
    if timeout < REPLY_SENDER_WORST_CASES_PER_INVOCATION * margin:
        problems.append(f"reply-sender Timeout {timeout} s < {REPLY_SENDER_WORST_CASES_PER_INVOCATION} x the {margin:g} s a delivery may take")
    if claim is None or claim <= max(timeout, worst):
        problems.append(f"DELIVERY_CLAIM_TIMEOUT_SECS {claim!r} <= Timeout {timeout} or the worst delivery {worst:g} s: a running attempt would be taken for dead")
    if lease is None or lease <= aws_ms / 1000 + platform:
        problems.append(f"TOKEN_LEASE_SECS {lease!r} <= the longest token refresh ({aws_ms / 1000 + platform:g} s): two instances could refresh at once")
    if base is None or cap is None or not 0 < base <= cap <= SQS_MAX_VISIBILITY_SECS:
        problems.append(f"RETRY_BASE_SECS {base!r} / RETRY_MAX_SECS {cap!r}: want 0 < base <= max <= {SQS_MAX_VISIBILITY_SECS}")
    if wait_ms is None or wait_ms >= (timeout - margin) * 1000:
        problems.append(f"TOKEN_WAIT_MS {wait_ms!r} does not fit in one invocation")
    return problems


# Receives an unsettled reply may need after the sender's last allowed attempt.
UNSETTLED_RECEIVES = 2


def check_reply_sender_attempts(m: Model) -> list[str]:
    """REPLY_MAX_ATTEMPTS + UNSETTLED_RECEIVES <= maxReceiveCount of the queue reply-sender
    consumes: the sender dead-letters a command whose last allowed attempt fails transiently
    itself, with the code and the reason, and marks its delivery record failed; the queue's
    redrive, which moves the raw command without either, stays a backstop that never comes
    first. A reply left unsettled by its last attempt (claimed, the `sent` write lost) needs
    two more receives: one that waits out the claim, one that settles it."""
    fn = m.functions.get("ReplySenderFunction")
    if fn is None:
        return ["ReplySenderFunction missing"]
    queue_id = FUNCTIONS["ReplySenderFunction"].consumes or ""
    queue = m.resources.get(queue_id, {}).get("Properties")
    if queue is None:
        return [f"{queue_id} missing"]
    redrive = queue.get("RedrivePolicy")
    count = redrive.get("maxReceiveCount") if isinstance(redrive, dict) else None
    attempts = _env_int(fn, "REPLY_MAX_ATTEMPTS")
    if not isinstance(count, int):
        return [f"{queue_id}: no maxReceiveCount to compare REPLY_MAX_ATTEMPTS with"]
    if attempts is None or attempts < 1:
        return [f"REPLY_MAX_ATTEMPTS {attempts!r}: want an integer >= 1"]
    if attempts + UNSETTLED_RECEIVES > count:
        return [
            f"REPLY_MAX_ATTEMPTS {attempts} + {UNSETTLED_RECEIVES} > {queue_id} maxReceiveCount {count}: "
            "the queue's redrive would move commands to the DLQ without a reason before the sender "
            "gives up on them or settles them"
        ]
    return []


CHECKS: dict[str, Callable[[Model], list[str]]] = {
    "functions-declared": check_functions_known,
    "iam-least-privilege": check_iam_least_privilege,
    "table-leading-keys": check_table_leading_keys,
    "secrets-per-role": check_secrets_per_role,
    "consumer-concurrency": check_consumer_concurrency,
    "http-api-throttling": check_http_api_throttling,
    "log-level-no-trace": check_log_level,
    "log-groups-retained": check_log_groups_retained,
    "iam-grants-needed": check_iam_grants_needed,
    "iam-no-wildcards": check_iam_no_wildcards,
    "queues-have-dlq": check_queues_have_dlq,
    "fifo-queues": check_fifo_queues,
    "consumer-event-sources": check_event_source,
    "visibility-timeout-6x": check_visibility_timeout,
    "webhook-timeout-under-5s": check_webhook_timeouts,
    "integration-timeouts": check_integration_timeouts,
    "table-pitr-ttl": check_table,
    "table-shape": check_table_shape,
    "no-plaintext-secrets": check_no_plaintext_secrets,
    "log-groups-retention": check_log_retention,
    "functions-json-logs": check_function_logging,
    "api-routes": check_api_routes,
    "functions-runtime": check_function_runtime,
    "functions-env-contract": check_function_env,
    "alarms": check_alarms,
    "dashboard": check_dashboard,
    "parameters-outputs": check_parameters_outputs,
    "fixed-egress-conditional": check_fixed_egress,
    "reply-sender-fixed-egress": check_reply_sender_egress,
    "reply-sender-timings": check_reply_sender_timings,
    "reply-sender-attempts-below-redrive": check_reply_sender_attempts,
    "custom-domain": check_custom_domain,
}


# ---------------------------------------------------------------------------------------
# Cross-template equivalence: the two deployments must behave the same.
# ---------------------------------------------------------------------------------------
def _canon_tree(value: Any) -> Any:
    """A value with every intrinsic function replaced by its sorted canonical strings."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If"):
            return sorted(canon(value))
        return {k: _canon_tree(v) for k, v in value.items() if k != "Tags"}
    if isinstance(value, list):
        return [_canon_tree(v) for v in value]
    return value


def _dashboard_bodies(m: Model) -> list[Any]:
    out = []
    for res in m.of_type("AWS::CloudWatch::Dashboard").values():
        for body in canon(res.get("Properties", {}).get("DashboardBody")):
            try:
                out.append(json.loads(body))
            except ValueError:
                out.append(body)
    return out


def _domain_view(m: Model) -> dict[str, Any]:
    """The custom domain resources, canonical, with each mapping's Stage as its API's."""
    out = {}
    for lid, res in m.resources.items():
        if res.get("Type") not in DOMAIN_TYPES:
            continue
        view = copy.deepcopy({k: res.get(k) for k in ("Type", "Properties", "Condition", "DeletionPolicy", "UpdateReplacePolicy")})
        if view["Type"] == "AWS::ApiGatewayV2::ApiMapping":
            view["Properties"]["Stage"] = f"the stage of {_stage_api(m, (res.get('Properties') or {}).get('Stage'))}"
        out[lid] = _canon_tree(view)
    return out


def equivalence(sam: Model, cdk: Model) -> list[str]:
    problems = []
    norm = lambda d: json.dumps(d, sort_keys=True)  # noqa: E731
    sp, cp = sam.template.get("Parameters") or {}, cdk.template.get("Parameters") or {}
    for name in EXPECTED_PARAMETERS:
        a, b = sp.get(name, {}), cp.get(name, {})
        for key in ("Type", "Default", "AllowedValues", "AllowedPattern", "MinValue", "MaxValue"):
            va, vb = a.get(key), b.get(key)
            if isinstance(va, list):
                va = [str(x) for x in va]
            if isinstance(vb, list):
                vb = [str(x) for x in vb]
            if va is not None and vb is not None:
                va, vb = str(va), str(vb)
            if va != vb:
                problems.append(f"parameter {name}.{key}: sam {va!r} != cdk {vb!r}")
    for lid in FUNCTIONS:
        fa, fb = sam.functions.get(lid), cdk.functions.get(lid)
        if not fa or not fb:
            continue
        for key in ("Timeout", "MemorySize", "Runtime", "Architectures", "Handler", "ReservedConcurrentExecutions"):
            if fa.props.get(key) != fb.props.get(key):
                problems.append(f"{lid}.{key}: sam {fa.props.get(key)!r} != cdk {fb.props.get(key)!r}")
        for key in ("VpcConfig", "Environment"):
            if norm(_canon_tree(fa.props.get(key))) != norm(_canon_tree(fb.props.get(key))):
                problems.append(f"{lid}.{key}: sam {_canon_tree(fa.props.get(key))!r} != cdk {_canon_tree(fb.props.get(key))!r}")
        # (action, resource, template condition, IAM condition)
        ga = set(role_grants_detailed(sam, fa.role_id)[0]) if fa.role_id else set()
        gb = set(role_grants_detailed(cdk, fb.role_id)[0]) if fb.role_id else set()
        if ga != gb:
            problems.append(f"{lid}: permissions differ: sam-only {sorted(ga - gb, key=str)}, cdk-only {sorted(gb - ga, key=str)}")
    esm_keys = ("BatchSize", "FunctionResponseTypes", "Enabled", "MaximumBatchingWindowInSeconds", "ScalingConfig")
    esa = sorted((e.function, e.queue, norm({k: e.props.get(k) for k in esm_keys})) for e in sam.event_sources)
    esb = sorted((e.function, e.queue, norm({k: e.props.get(k) for k in esm_keys})) for e in cdk.event_sources)
    if esa != esb:
        problems.append(f"event sources differ: sam {esa} != cdk {esb}")
    if sam.routes != cdk.routes or sam.route_timeouts != cdk.route_timeouts or sam.route_apis != cdk.route_apis:
        problems.append(f"routes differ: sam {sam.routes} {sam.route_timeouts} {sam.route_apis} != cdk {cdk.routes} {cdk.route_timeouts} {cdk.route_apis}")
    throttling = lambda m: {  # noqa: E731
        api: norm(_canon_tree({k: stage.get(k) for k in ("DefaultRouteSettings", "RouteSettings")})) for api, stage in m.stages.items()
    }
    if throttling(sam) != throttling(cdk):
        problems.append(f"HTTP API throttling differs: sam {throttling(sam)} != cdk {throttling(cdk)}")
    # Secrets and log groups: properties and deletion/replacement policies.
    for rtype in ("AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"):
        ra, rb = sam.of_type(rtype), cdk.of_type(rtype)
        if set(ra) != set(rb):
            problems.append(f"{rtype} differ: sam-only {sorted(set(ra) - set(rb))}, cdk-only {sorted(set(rb) - set(ra))}")
        for lid in sorted(set(ra) & set(rb)):
            pa, pb = (
                _canon_tree({k: r[lid].get(k) for k in ("Properties", "Condition", "DeletionPolicy", "UpdateReplacePolicy")})
                for r in (ra, rb)
            )
            if norm(pa) != norm(pb):
                problems.append(f"{lid} differs: sam {pa} != cdk {pb}")
    ma, mb = (sam.template.get("Mappings") or {}).get("LogLevels"), (cdk.template.get("Mappings") or {}).get("LogLevels")
    if norm(ma) != norm(mb):
        problems.append(f"LogLevels mapping differs: sam {ma} != cdk {mb}")
    for q in ("InboundQueue", "InboundDeadLetterQueue", "OutboundQueue", "OutboundDeadLetterQueue"):
        pa = sam.resources.get(q, {}).get("Properties", {})
        pb = cdk.resources.get(q, {}).get("Properties", {})
        for key in sorted(set(pa) | set(pb)):
            if key == "Tags":
                continue
            if json.dumps(pa.get(key), sort_keys=True) != json.dumps(pb.get(key), sort_keys=True):
                problems.append(f"{q}.{key}: sam {pa.get(key)!r} != cdk {pb.get(key)!r}")
    ta = {k: v for k, v in sam.resources.get("GatewayTable", {}).get("Properties", {}).items() if k != "Tags"}
    tb = {k: v for k, v in cdk.resources.get("GatewayTable", {}).get("Properties", {}).items() if k != "Tags"}
    if norm(ta) != norm(tb):
        problems.append("GatewayTable properties differ")
    alarms_a = sam.of_type("AWS::CloudWatch::Alarm")
    alarms_b = cdk.of_type("AWS::CloudWatch::Alarm")
    if set(alarms_a) != set(alarms_b):
        problems.append(f"alarms differ: sam-only {sorted(set(alarms_a) - set(alarms_b))}, cdk-only {sorted(set(alarms_b) - set(alarms_a))}")
    for lid in sorted(set(alarms_a) & set(alarms_b)):
        pa, pb = _canon_tree(alarms_a[lid].get("Properties")), _canon_tree(alarms_b[lid].get("Properties"))
        if norm(pa) != norm(pb):
            problems.append(f"alarm {lid} differs: sam {pa} != cdk {pb}")
    if _dashboard_bodies(sam) != _dashboard_bodies(cdk):
        problems.append("dashboard bodies differ (widgets, order or references)")
    # Conditions, rules (CDK adds its own bootstrap version check) and the custom domain:
    # the same resources, and the same ones exist for each DOMAIN_CASES.
    ca, cb = sam.template.get("Conditions") or {}, cdk.template.get("Conditions") or {}
    for name in sorted((set(ca) | set(cb)) - CDK_OWN):
        if norm(ca.get(name)) != norm(cb.get(name)):
            problems.append(f"condition {name}: sam {ca.get(name)} != cdk {cb.get(name)}")
    ra, rb = ({k: v for k, v in (m.template.get("Rules") or {}).items() if k not in CDK_OWN} for m in (sam, cdk))
    if norm(ra) != norm(rb):
        problems.append(f"rules differ: sam {sorted(ra)} != cdk {sorted(rb)} (or their contents)")
    da, db = _domain_view(sam), _domain_view(cdk)
    if da != db:
        problems.append(f"custom domain resources differ: sam {da} != cdk {db}")
    for case, (values, _) in DOMAIN_CASES.items():
        try:
            (res_a, out_a), (res_b, out_b) = existing(sam.template, values), existing(cdk.template, values)
        except Unresolvable as e:
            problems.append(f"{case}: cannot evaluate the conditions ({e})")
            continue
        dom_a, dom_b = ({lid for lid in r if m.resources[lid].get("Type") in DOMAIN_TYPES} for r, m in ((res_a, sam), (res_b, cdk)))
        if dom_a != dom_b or out_a != out_b:
            problems.append(f"{case}: sam creates {sorted(dom_a)} and outputs {sorted(out_a - out_b)}, cdk {sorted(dom_b)} and {sorted(out_b - out_a)}")
    oa, ob = sam.template.get("Outputs") or {}, cdk.template.get("Outputs") or {}
    if set(oa) != set(ob):
        problems.append("outputs differ")
    for name in sorted(set(oa) & set(ob)):
        va, vb = canon(oa[name].get("Value")), canon(ob[name].get("Value"))
        if va != vb or oa[name].get("Condition") != ob[name].get("Condition"):
            problems.append(f"output {name}: sam {sorted(va)} != cdk {sorted(vb)}")
    return problems


# ---------------------------------------------------------------------------------------
# Negative self-tests: for every check, a broken copy of each template that must fail it.
# ---------------------------------------------------------------------------------------
def _fn_props(t: dict[str, Any], lid: str) -> dict[str, Any]:
    return t["Resources"][lid]["Properties"]


def _role_statements(t: dict[str, Any], role: str) -> list[Any]:
    return t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def _esm(t: dict[str, Any], flavour: str, function: str = "MessageRouterFunction", event: str = "Inbound") -> dict[str, Any]:
    if flavour == "sam":
        return _fn_props(t, function)["Events"][event]["Properties"]
    return t["Resources"][f"{function}{event}"]["Properties"]


def _reply_sender_esm(t: dict[str, Any], flavour: str) -> dict[str, Any]:
    return _esm(t, flavour, "ReplySenderFunction", "Outbound")


def _drop_statement(t: dict[str, Any], role: str, sid: str) -> None:
    statements = _role_statements(t, role)
    statements[:] = [s for s in statements if not (isinstance(s, dict) and s.get("Sid") == sid)]


def _statement(t: dict[str, Any], role: str, sid: str) -> dict[str, Any]:
    (found,) = [s for s in _role_statements(t, role) if isinstance(s, dict) and s.get("Sid") == sid]
    return found


def _drop_action(t: dict[str, Any], role: str, sid: str, action: str) -> None:
    for st in _role_statements(t, role):
        if isinstance(st, dict) and st.get("Sid") == sid:
            st["Action"] = [a for a in as_list(st["Action"]) if a != action]


def _set_route_timeout(t: dict[str, Any], flavour: str, method: str, path: str, ms: int) -> None:
    if flavour == "sam":
        for res in t["Resources"].values():
            for event in (res.get("Properties", {}).get("Events") or {}).values():
                p = event["Properties"]
                if p.get("Method") == method and p.get("Path") == path:
                    p["TimeoutInMillis"] = ms
        return
    routes = [r for r in t["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == f"{method} {path}"]
    for route in routes:
        for target in canon(route["Properties"]["Target"]):
            t["Resources"][target.removeprefix("integrations/")]["Properties"]["TimeoutInMillis"] = ms
    for res in t["Resources"].values():
        if res["Type"] == "AWS::ApiGatewayV2::Api":
            op = res["Properties"].get("Body", {}).get("paths", {}).get(path, {}).get(method.lower())
            if op:
                op["x-amazon-apigateway-integration"]["timeoutInMillis"] = ms


def _replace_in_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_in_strings(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace_in_strings(v, old, new) for k, v in value.items()}
    return value


def _rename_in_dashboard(t: dict[str, Any], old: str, new: str) -> None:
    p = t["Resources"]["Dashboard"]["Properties"]
    p["DashboardBody"] = _replace_in_strings(p["DashboardBody"], old, new)


def _env(t: dict[str, Any], function: str) -> dict[str, Any]:
    return _fn_props(t, function)["Environment"]["Variables"]


def _drop_route(t: dict[str, Any], flavour: str, method: str, path: str) -> None:
    if flavour == "sam":
        for res in t["Resources"].values():
            events = res.get("Properties", {}).get("Events") or {}
            for name in [n for n, e in events.items() if e["Properties"].get("Method") == method and e["Properties"].get("Path") == path]:
                del events[name]
        return
    for lid in [k for k, r in t["Resources"].items() if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == f"{method} {path}"]:
        del t["Resources"][lid]
    for res in t["Resources"].values():
        if res["Type"] == "AWS::ApiGatewayV2::Api":
            res["Properties"].get("Body", {}).get("paths", {}).get(path, {}).pop(method.lower(), None)


def _stage(t: dict[str, Any], flavour: str, api: str) -> dict[str, Any]:
    """The stage settings of an HTTP API: the Serverless::HttpApi (SAM) or its Stage."""
    if flavour == "sam":
        return _fn_props(t, api)
    (stage,) = [
        r["Properties"] for r in t["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Stage" and r["Properties"].get("ApiId") == {"Ref": api}
    ]
    return stage


def _move_route(t: dict[str, Any], flavour: str, method: str, path: str, api: str) -> None:
    """Puts the route METHOD path on HTTP API `api` instead of its own."""
    if flavour == "sam":
        for res in t["Resources"].values():
            for event in (res.get("Properties", {}).get("Events") or {}).values():
                p = event["Properties"]
                if p.get("Method") == method and p.get("Path") == path:
                    p["ApiId"] = {"Ref": api}
        return
    for res in t["Resources"].values():
        if res["Type"] == "AWS::ApiGatewayV2::Route" and res["Properties"]["RouteKey"] == f"{method} {path}":
            res["Properties"]["ApiId"] = {"Ref": api}
    apis = {k: r for k, r in t["Resources"].items() if r["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in r["Properties"]}
    for lid, res in apis.items():
        op = res["Properties"]["Body"].get("paths", {}).get(path, {}).pop(method.lower(), None)
        if op is not None and lid != api:
            apis[api]["Properties"]["Body"]["paths"].setdefault(path, {})[method.lower()] = op


def _drop_resource_of_type(t: dict[str, Any], rtype: str, name_part: str) -> None:
    for lid in [k for k, r in t["Resources"].items() if r["Type"] == rtype and name_part in k]:
        del t["Resources"][lid]


def _add_to_dashboard(t: dict[str, Any], metric: str) -> None:
    """A line for `metric` in the accounts/uncertain-deliveries widget (SAM and CDK bodies)."""
    last_line = '"delivery uncertain"}]'
    _rename_in_dashboard(t, last_line, f'{last_line},["ChannelGateway","{metric}",{{"stat":"Sum"}}]')


def _set_param_default(t: dict[str, Any], name: str, value: Any) -> None:
    t["Parameters"][name]["Default"] = value


def _domain_config(t: dict[str, Any]) -> dict[str, Any]:
    return _fn_props(t, "CustomDomain")["DomainNameConfigurations"][0]


def _map_to(t: dict[str, Any], mapping: str, like: str, keys: tuple[str, ...] = ("ApiId", "Stage")) -> None:
    """Gives ApiMapping `mapping` the keys of ApiMapping `like` (its API and/or its stage)."""
    for key in keys:
        _fn_props(t, mapping)[key] = copy.deepcopy(_fn_props(t, like)[key])


Mutation = Callable[[dict[str, Any], str], None]
BREAKAGES: dict[str, tuple[str, Mutation]] = {
    "functions-declared": (
        "an undeclared function",
        lambda t, f: t["Resources"].__setitem__("StrayFunction", copy.deepcopy(t["Resources"]["WeiboWebhookFunction"])),
    ),
    "iam-least-privilege": (
        "the router may also scan the table",
        lambda t, f: _role_statements(t, "MessageRouterRole").append(
            {"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": {"Fn::GetAtt": ["GatewayTable", "Arn"]}}
        ),
    ),
    "iam-grants-needed": (
        "the webhook cannot enqueue",
        lambda t, f: _role_statements(t, "WeChatWebhookRole").__setitem__(
            slice(None), [s for s in _role_statements(t, "WeChatWebhookRole") if s.get("Sid") != "Enqueue"]
        ),
    ),
    "iam-no-wildcards": (
        "sqs:* on *",
        lambda t, f: _role_statements(t, "WeiboWebhookRole").append({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}),
    ),
    "queues-have-dlq": (
        "the inbound queue has no redrive policy",
        lambda t, f: _fn_props(t, "InboundQueue").pop("RedrivePolicy"),
    ),
    "fifo-queues": (
        "content-based deduplication on",
        lambda t, f: _fn_props(t, "InboundQueue").__setitem__("ContentBasedDeduplication", True),
    ),
    "consumer-event-sources": (
        "BatchSize 11 and no ReportBatchItemFailures",
        lambda t, f: (_esm(t, f).__setitem__("BatchSize", 11), _esm(t, f).pop("FunctionResponseTypes")),
    ),
    "visibility-timeout-6x": (
        "visibility timeout 60 s for a 30 s router",
        lambda t, f: _fn_props(t, "InboundQueue").__setitem__("VisibilityTimeout", 60),
    ),
    "webhook-timeout-under-5s": (
        "webhook timeout 6 s",
        lambda t, f: _fn_props(t, "WeChatWebhookFunction").__setitem__("Timeout", 6),
    ),
    "integration-timeouts": (
        "reply-api's POST /replies integration timeout 3 s (its Timeout is 6 s)",
        lambda t, f: _set_route_timeout(t, f, "POST", "/replies", 3000),
    ),
    "table-pitr-ttl": (
        "no PITR",
        lambda t, f: _fn_props(t, "GatewayTable").pop("PointInTimeRecoverySpecification"),
    ),
    "table-shape": (
        "GSI2 dropped",
        lambda t, f: _fn_props(t, "GatewayTable").__setitem__(
            "GlobalSecondaryIndexes", _fn_props(t, "GatewayTable")["GlobalSecondaryIndexes"][:1]
        ),
    ),
    "no-plaintext-secrets": (
        "an app secret in an env var",
        lambda t, f: _fn_props(t, "WeChatWebhookFunction")["Environment"]["Variables"].__setitem__("WECHAT_APP_SECRET", "0123456789abcdef"),
    ),
    "log-groups-retention": (
        "a log group without retention",
        lambda t, f: _fn_props(t, "MessageRouterLogGroup").pop("RetentionInDays"),
    ),
    "functions-json-logs": (
        "text logs",
        lambda t, f: _fn_props(t, "MessageRouterFunction")["LoggingConfig"].__setitem__("LogFormat", "Text"),
    ),
    "api-routes": (
        "POST /weibo/{account} dropped",
        lambda t, f: _drop_route(t, f, "POST", "/weibo/{account}"),
    ),
    "functions-runtime": (
        "x86_64",
        lambda t, f: _fn_props(t, "MessageRouterFunction").__setitem__("Architectures", ["x86_64"]),
    ),
    "functions-env-contract": (
        "QUEUE_URL missing",
        lambda t, f: _fn_props(t, "WeiboWebhookFunction")["Environment"]["Variables"].pop("QUEUE_URL"),
    ),
    "alarms": (
        "no DLQ alarm",
        lambda t, f: t["Resources"].pop("InboundDeadLetterQueueDepthAlarm"),
    ),
    "dashboard": (
        "dashboard removed",
        lambda t, f: t["Resources"].pop("Dashboard"),
    ),
    "parameters-outputs": (
        "WeiboWebhookUrl output removed",
        lambda t, f: t["Outputs"].pop("WeiboWebhookUrl"),
    ),
    "fixed-egress-conditional": (
        "the NAT gateway always created",
        lambda t, f: t["Resources"]["EgressNatGateway"].pop("Condition"),
    ),
    "reply-sender-fixed-egress": (
        "reply-sender outside the VPC",
        lambda t, f: _fn_props(t, "ReplySenderFunction").pop("VpcConfig"),
    ),
    "reply-sender-timings": (
        "PLATFORM_TIMEOUT_SECS 10 (beyond the 5 s safety margin)",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("PLATFORM_TIMEOUT_SECS", "10"),
    ),
    "reply-sender-attempts-below-redrive": (
        "REPLY_MAX_ATTEMPTS 9 (one receive short of settling under maxReceiveCount 10)",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("REPLY_MAX_ATTEMPTS", "9"),
    ),
    "table-leading-keys": (
        "the router's conversation reads and writes without a LeadingKeys condition",
        lambda t, f: _statement(t, "MessageRouterRole", "Conversations").pop("Condition"),
    ),
    "secrets-per-role": (
        "weibo-webhook reads the delivery credentials secret instead of its own",
        lambda t, f: _statement(t, "WeiboWebhookRole", "ReadWebhookCredentials").__setitem__(
            "Resource", copy.deepcopy(_statement(t, "ReplySenderRole", "ReadDeliveryCredentials")["Resource"])
        ),
    ),
    "consumer-concurrency": (
        "the router without reserved concurrency",
        lambda t, f: _fn_props(t, "MessageRouterFunction").pop("ReservedConcurrentExecutions"),
    ),
    "http-api-throttling": (
        "the reply API's stage without DefaultRouteSettings",
        lambda t, f: _stage(t, f, "ReplyHttpApi").pop("DefaultRouteSettings"),
    ),
    "log-level-no-trace": (
        "LogLevel allows trace again (parameter and mapping)",
        lambda t, f: (
            t["Parameters"]["LogLevel"]["AllowedValues"].insert(0, "trace"),
            t["Mappings"]["LogLevels"].__setitem__("trace", {"Lambda": "TRACE"}),
        ),
    ),
    "custom-domain": (
        "TLS 1.0 allowed on the custom domain",
        lambda t, f: _domain_config(t).__setitem__("SecurityPolicy", "TLS_1_0"),
    ),
    "log-groups-retained": (
        "reply-sender's log group deleted with the stack",
        lambda t, f: t["Resources"]["ReplySenderLogGroup"].__setitem__("DeletionPolicy", "Delete"),
    ),
}
# A second breakage for the checks that guard several things.
EXTRA_BREAKAGES: list[tuple[str, str, Mutation]] = [
    (
        "no-plaintext-secrets",
        "a literal SecretString",
        lambda t, f: t["Resources"].__setitem__(
            "LeakySecret",
            {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": '{"wechat":{"a":{"token":"x"}}}'}},
        ),
    ),
    (
        "iam-least-privilege",
        "a managed policy on the router's role",
        lambda t, f: t["Resources"]["MessageRouterRole"]["Properties"].__setitem__(
            "ManagedPolicyArns", ["arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]
        ),
    ),
    (
        "queues-have-dlq",
        "a standard (non-FIFO) DLQ for the FIFO queue",
        lambda t, f: _fn_props(t, "InboundDeadLetterQueue").pop("FifoQueue"),
    ),
    (
        "table-pitr-ttl",
        "TTL on another attribute",
        lambda t, f: _fn_props(t, "GatewayTable")["TimeToLiveSpecification"].__setitem__("AttributeName", "ttl"),
    ),
    (
        "api-routes",
        "GET /wechat/{account} dropped",
        lambda t, f: _drop_route(t, f, "GET", "/wechat/{account}"),
    ),
    # --- the router's table access: exactly what its code calls -------------------------------
    (
        "iam-least-privilege",
        "the router may also update items (no Update item in its transactions)",
        lambda t, f: _role_statements(t, "MessageRouterRole").append(
            {"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": {"Fn::GetAtt": ["GatewayTable", "Arn"]}}
        ),
    ),
    (
        "iam-least-privilege",
        "the router may also query GSI1",
        lambda t, f: _role_statements(t, "MessageRouterRole").append(
            {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["GatewayTable", "Arn"]}, "/index/GSI1"]]}}
        ),
    ),
    (
        "iam-least-privilege",
        "the router may also use ConditionCheck items",
        lambda t, f: _statement(t, "MessageRouterRole", "Conversations").__setitem__(
            "Action", as_list(_statement(t, "MessageRouterRole", "Conversations")["Action"]) + ["dynamodb:ConditionCheckItem"]
        ),
    ),
    (
        "iam-grants-needed",
        "the router cannot delete the TAG# items of removed tags",
        lambda t, f: _drop_action(t, "MessageRouterRole", "Conversations", "dynamodb:DeleteItem"),
    ),
    # --- wechat-webhook's passive reply mode: the rules item only ------------------------------
    (
        "table-leading-keys",
        "wechat-webhook may read any item of the table (no LeadingKeys condition)",
        lambda t, f: _statement(t, "WeChatWebhookRole", "ReadRules").pop("Condition"),
    ),
    (
        "table-leading-keys",
        "wechat-webhook may read conversations too (LeadingKeys widened)",
        lambda t, f: _statement(t, "WeChatWebhookRole", "ReadRules").__setitem__(
            "Condition", {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONFIG", "CONV#*"]}}
        ),
    ),
    (
        "iam-least-privilege",
        "wechat-webhook may also write the rules item",
        lambda t, f: _statement(t, "WeChatWebhookRole", "ReadRules").__setitem__(
            "Action", ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        ),
    ),
    (
        "iam-least-privilege",
        "weibo-webhook (no passive mode) may read the rules item",
        lambda t, f: _role_statements(t, "WeiboWebhookRole").append(
            copy.deepcopy(_statement(t, "WeChatWebhookRole", "ReadRules"))
        ),
    ),
    (
        "iam-grants-needed",
        "wechat-webhook cannot read the rules",
        lambda t, f: _drop_statement(t, "WeChatWebhookRole", "ReadRules"),
    ),
    (
        "functions-env-contract",
        "wechat-webhook without TABLE_NAME (passive replies from the bundled rules only)",
        lambda t, f: _env(t, "WeChatWebhookFunction").pop("TABLE_NAME"),
    ),
    (
        "functions-env-contract",
        "wechat-webhook's passive rules budget 4000 ms",
        lambda t, f: _env(t, "WeChatWebhookFunction").__setitem__("PASSIVE_RULES_TIMEOUT_MS", "4000"),
    ),
    (
        "functions-env-contract",
        "weibo-webhook given TABLE_NAME",
        lambda t, f: _env(t, "WeiboWebhookFunction").__setitem__("TABLE_NAME", {"Ref": "GatewayTable"}),
    ),
    # --- the outbound path (router's new permission, reply-sender, reply-api) -----------------
    (
        "iam-least-privilege",
        "reply-sender may also query GSI1",
        lambda t, f: _role_statements(t, "ReplySenderRole").append(
            {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["GatewayTable", "Arn"]}, "/index/GSI1"]]}}
        ),
    ),
    (
        "iam-least-privilege",
        "reply-api may also delete items",
        lambda t, f: _role_statements(t, "ReplyApiRole").append(
            {"Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": {"Fn::GetAtt": ["GatewayTable", "Arn"]}}
        ),
    ),
    (
        "iam-least-privilege",
        "the router may also write to the outbound DLQ",
        lambda t, f: _role_statements(t, "MessageRouterRole").append(
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["OutboundDeadLetterQueue", "Arn"]}}
        ),
    ),
    (
        "iam-least-privilege",
        "reply-sender's network-interface actions granted even without fixed egress",
        lambda t, f: t["Resources"]["ReplySenderRole"]["Properties"]["Policies"].__setitem__(
            1, t["Resources"]["ReplySenderRole"]["Properties"]["Policies"][1]["Fn::If"][1]
        ),
    ),
    (
        "iam-grants-needed",
        "the router cannot queue auto-replies",
        lambda t, f: _drop_statement(t, "MessageRouterRole", "QueueAutoReplies"),
    ),
    (
        "iam-grants-needed",
        "reply-sender cannot set the retry backoff (ChangeMessageVisibility)",
        lambda t, f: _drop_action(t, "ReplySenderRole", "ConsumeOutbound", "sqs:ChangeMessageVisibility"),
    ),
    (
        "iam-grants-needed",
        "reply-sender cannot dead-letter replies",
        lambda t, f: _drop_statement(t, "ReplySenderRole", "DeadLetterReplies"),
    ),
    (
        "iam-grants-needed",
        "reply-api cannot read its ApiClients secret",
        lambda t, f: _drop_statement(t, "ReplyApiRole", "ReadApiClients"),
    ),
    (
        "iam-grants-needed",
        "reply-sender's VPC policy removed",
        lambda t, f: t["Resources"]["ReplySenderRole"]["Properties"]["Policies"].pop(1),
    ),
    (
        "queues-have-dlq",
        "the outbound queue has no redrive policy",
        lambda t, f: _fn_props(t, "OutboundQueue").pop("RedrivePolicy"),
    ),
    (
        "queues-have-dlq",
        "the outbound DLQ without encryption",
        lambda t, f: _fn_props(t, "OutboundDeadLetterQueue").pop("SqsManagedSseEnabled"),
    ),
    (
        "fifo-queues",
        "the outbound queue's throughput limit per queue",
        lambda t, f: _fn_props(t, "OutboundQueue").__setitem__("FifoThroughputLimit", "perQueue"),
    ),
    (
        "consumer-event-sources",
        "reply-sender's BatchSize 11",
        lambda t, f: _reply_sender_esm(t, f).__setitem__("BatchSize", 11),
    ),
    (
        "consumer-event-sources",
        "reply-sender without ReportBatchItemFailures",
        lambda t, f: _reply_sender_esm(t, f).pop("FunctionResponseTypes"),
    ),
    (
        "visibility-timeout-6x",
        "outbound visibility timeout 600 s for a 120 s reply-sender",
        lambda t, f: _fn_props(t, "OutboundQueue").__setitem__("VisibilityTimeout", 600),
    ),
    (
        "no-plaintext-secrets",
        "a WeChat access token in reply-sender's env",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("WECHAT_ACCESS_TOKEN", "76_abcdefABCDEF0123456789"),
    ),
    (
        "no-plaintext-secrets",
        "a token-looking value in TOKEN_LEASE_SECS",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("TOKEN_LEASE_SECS", "76_abcdefABCDEF"),
    ),
    (
        "functions-env-contract",
        "the router without OUTBOUND_QUEUE_URL (its cold start fails)",
        lambda t, f: _env(t, "MessageRouterFunction").pop("OUTBOUND_QUEUE_URL"),
    ),
    (
        "functions-env-contract",
        "reply-sender dead-letters to the outbound queue itself",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("OUTBOUND_DEAD_LETTER_QUEUE_URL", {"Ref": "OutboundQueue"}),
    ),
    (
        "functions-env-contract",
        "reply-sender without WEIBO_MENTION_QUOTA",
        lambda t, f: _env(t, "ReplySenderFunction").pop("WEIBO_MENTION_QUOTA"),
    ),
    (
        "api-routes",
        "POST /replies dropped",
        lambda t, f: _drop_route(t, f, "POST", "/replies"),
    ),
    (
        "api-routes",
        "GET /replies/{reply_id} dropped",
        lambda t, f: _drop_route(t, f, "GET", "/replies/{reply_id}"),
    ),
    (
        "integration-timeouts",
        "a webhook route with a 10 s integration timeout",
        lambda t, f: _set_route_timeout(t, f, "POST", "/wechat/{account}", 10000),
    ),
    (
        "alarms",
        "no outbound DLQ alarm",
        lambda t, f: t["Resources"].pop("OutboundDeadLetterQueueDepthAlarm"),
    ),
    (
        "alarms",
        "no reply-api latency alarm",
        lambda t, f: t["Resources"].pop("ReplyApiLatencyAlarm"),
    ),
    (
        "alarms",
        "no reply-sender errors alarm",
        lambda t, f: t["Resources"].pop("ReplySenderErrorsAlarm"),
    ),
    (
        "dashboard",
        "no delivered-replies metric",
        lambda t, f: _rename_in_dashboard(t, "RepliesDelivered", "Replies"),
    ),
    (
        "dashboard",
        "no outbound dead-letter queue",
        lambda t, f: _rename_in_dashboard(t, "OutboundDeadLetterQueue", "InboundDeadLetterQueue"),
    ),
    (
        "parameters-outputs",
        "ReplyApiUrl output removed",
        lambda t, f: t["Outputs"].pop("ReplyApiUrl"),
    ),
    (
        "reply-sender-fixed-egress",
        "reply-sender in the VPC even without fixed egress",
        lambda t, f: _fn_props(t, "ReplySenderFunction").__setitem__(
            "VpcConfig", _fn_props(t, "ReplySenderFunction")["VpcConfig"]["Fn::If"][1]
        ),
    ),
    (
        "reply-sender-fixed-egress",
        "the private subnets routed to the internet gateway (no fixed address)",
        lambda t, f: _fn_props(t, "EgressPrivateDefaultRoute").update(
            {"GatewayId": {"Ref": "EgressInternetGateway"}, "NatGatewayId": None}
        ),
    ),
    (
        "reply-sender-fixed-egress",
        "a webhook in the VPC",
        lambda t, f: _fn_props(t, "WeChatWebhookFunction").__setitem__(
            "VpcConfig", copy.deepcopy(_fn_props(t, "ReplySenderFunction")["VpcConfig"])
        ),
    ),
    (
        "reply-sender-timings",
        "DELIVERY_CLAIM_TIMEOUT_SECS 100 (below the 120 s Timeout)",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("DELIVERY_CLAIM_TIMEOUT_SECS", "100"),
    ),
    (
        "reply-sender-attempts-below-redrive",
        "the outbound queue's maxReceiveCount lowered to 5 (REPLY_MAX_ATTEMPTS 4 leaves one receive to settle)",
        lambda t, f: _fn_props(t, "OutboundQueue")["RedrivePolicy"].__setitem__("maxReceiveCount", 5),
    ),
    (
        "reply-sender-attempts-below-redrive",
        "REPLY_MAX_ATTEMPTS removed (the code's default is not checked against the queue)",
        lambda t, f: _env(t, "ReplySenderFunction").pop("REPLY_MAX_ATTEMPTS"),
    ),
    # --- secrets per role -----------------------------------------------------------------------
    (
        "secrets-per-role",
        "message-router reads the webhook credentials secret",
        lambda t, f: _role_statements(t, "MessageRouterRole").append(
            copy.deepcopy(_statement(t, "WeChatWebhookRole", "ReadWebhookCredentials"))
        ),
    ),
    (
        "iam-least-privilege",
        "message-router reads the webhook credentials secret",
        lambda t, f: _role_statements(t, "MessageRouterRole").append(
            copy.deepcopy(_statement(t, "WeChatWebhookRole", "ReadWebhookCredentials"))
        ),
    ),
    (
        "iam-least-privilege",
        "reply-sender may also read the ApiClients secret",
        lambda t, f: _role_statements(t, "ReplySenderRole").append(copy.deepcopy(_statement(t, "ReplyApiRole", "ReadApiClients"))),
    ),
    (
        "secrets-per-role",
        "reply-api's API_CLIENTS_SECRET_ID is the webhook credentials secret",
        lambda t, f: _env(t, "ReplyApiFunction").__setitem__("API_CLIENTS_SECRET_ID", copy.deepcopy(_env(t, "WeChatWebhookFunction")["WEBHOOK_SECRET_ID"])),
    ),
    (
        "functions-env-contract",
        "reply-api's API_CLIENTS_SECRET_ID is the webhook credentials secret",
        lambda t, f: _env(t, "ReplyApiFunction").__setitem__("API_CLIENTS_SECRET_ID", copy.deepcopy(_env(t, "WeChatWebhookFunction")["WEBHOOK_SECRET_ID"])),
    ),
    (
        "secrets-per-role",
        "message-router given DELIVERY_SECRET_ID",
        lambda t, f: _env(t, "MessageRouterFunction").__setitem__("DELIVERY_SECRET_ID", copy.deepcopy(_env(t, "ReplySenderFunction")["DELIVERY_SECRET_ID"])),
    ),
    (
        "secrets-per-role",
        "the ApiClients secret deleted with the stack",
        lambda t, f: t["Resources"]["ApiClientsSecret"].__setitem__("DeletionPolicy", "Delete"),
    ),
    (
        "secrets-per-role",
        "a shared AccountsSecret left over",
        lambda t, f: t["Resources"].__setitem__("AccountsSecret", copy.deepcopy(t["Resources"]["WebhookCredentialsSecret"])),
    ),
    (
        "secrets-per-role",
        "the delivery secret's placeholder document holds api_clients",
        lambda t, f: _fn_props(t, "DeliveryCredentialsSecret")["GenerateSecretString"].__setitem__("SecretStringTemplate", '{"api_clients":{}}'),
    ),
    (
        "secrets-per-role",
        "the webhook secret created even when its ARN is given",
        lambda t, f: t["Resources"]["WebhookCredentialsSecret"].pop("Condition"),
    ),
    (
        "secrets-per-role",
        "ApiClientsSecretId output names the webhook secret",
        lambda t, f: t["Outputs"]["ApiClientsSecretId"].__setitem__("Value", copy.deepcopy(t["Outputs"]["WebhookCredentialsSecretId"]["Value"])),
    ),
    (
        "parameters-outputs",
        "DeliveryCredentialsSecretId output removed",
        lambda t, f: t["Outputs"].pop("DeliveryCredentialsSecretId"),
    ),
    # --- the table by partition key (dynamodb:LeadingKeys) -------------------------------------
    (
        "table-leading-keys",
        "reply-api may write conversations and delivery records (PutItem in its read statement)",
        lambda t, f: _statement(t, "ReplyApiRole", "ReadConversationsAndDeliveries").__setitem__("Action", ["dynamodb:GetItem", "dynamodb:PutItem"]),
    ),
    (
        "table-leading-keys",
        "reply-api's reads widened to TOKEN#* (cached access tokens)",
        lambda t, f: _statement(t, "ReplyApiRole", "ReadConversationsAndDeliveries")["Condition"]["ForAllValues:StringLike"].__setitem__(
            "dynamodb:LeadingKeys", ["CONV#*", "REPLY#*", "TOKEN#*"]
        ),
    ),
    (
        "table-leading-keys",
        "reply-sender without TOKEN#* (token cache)",
        lambda t, f: _statement(t, "ReplySenderRole", "DeliveriesTokensConversations")["Condition"]["ForAllValues:StringLike"].__setitem__(
            "dynamodb:LeadingKeys", ["CONV#*", "REPLY#*"]
        ),
    ),
    (
        "table-leading-keys",
        "the router cannot read the rules (CONFIG statement dropped)",
        lambda t, f: _drop_statement(t, "MessageRouterRole", "ReadRules"),
    ),
    (
        "table-leading-keys",
        "reply-api's idempotency records with ForAllValues:StringEquals (APIREQ#* literally)",
        lambda t, f: _statement(t, "ReplyApiRole", "IdempotencyRecords").__setitem__(
            "Condition", {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["APIREQ#*"]}}
        ),
    ),
    (
        "iam-least-privilege",
        "reply-api may also update its idempotency records",
        lambda t, f: _statement(t, "ReplyApiRole", "IdempotencyRecords").__setitem__(
            "Action", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
        ),
    ),
    (
        "iam-grants-needed",
        "reply-api cannot write its idempotency records",
        lambda t, f: _drop_statement(t, "ReplyApiRole", "IdempotencyRecords"),
    ),
    # --- reserved concurrency of the queue consumers ----------------------------------------
    (
        "consumer-concurrency",
        "reply-sender's event source MaximumConcurrency 50 (above its reserved 5)",
        lambda t, f: _reply_sender_esm(t, f).__setitem__("ScalingConfig", {"MaximumConcurrency": 50}),
    ),
    (
        "consumer-concurrency",
        "the router's event source without ScalingConfig",
        lambda t, f: _esm(t, f).pop("ScalingConfig"),
    ),
    (
        "consumer-concurrency",
        "ReplySenderReservedConcurrency MinValue 1 (MaximumConcurrency needs 2)",
        lambda t, f: t["Parameters"]["ReplySenderReservedConcurrency"].__setitem__("MinValue", 1),
    ),
    (
        "consumer-concurrency",
        "reply-sender's reserved concurrency a literal 100, not its parameter",
        lambda t, f: _fn_props(t, "ReplySenderFunction").__setitem__("ReservedConcurrentExecutions", 100),
    ),
    # --- two HTTP APIs, throttled per route -------------------------------------------------
    (
        "api-routes",
        "POST /replies on the webhook API",
        lambda t, f: _move_route(t, f, "POST", "/replies", "HttpApi"),
    ),
    (
        "http-api-throttling",
        "POST /replies on the webhook API",
        lambda t, f: _move_route(t, f, "POST", "/replies", "HttpApi"),
    ),
    (
        "http-api-throttling",
        "POST /wechat/{account} without its route throttling",
        lambda t, f: _stage(t, f, "HttpApi")["RouteSettings"].pop("POST /wechat/{account}"),
    ),
    (
        "http-api-throttling",
        "GET /replies/{reply_id} throttled at a literal 10000 rps",
        lambda t, f: _stage(t, f, "ReplyHttpApi")["RouteSettings"]["GET /replies/{reply_id}"].__setitem__("ThrottlingRateLimit", 10000),
    ),
    (
        "http-api-throttling",
        "WebhookRouteBurstLimit default 5",
        lambda t, f: _set_param_default(t, "WebhookRouteBurstLimit", 5),
    ),
    (
        "parameters-outputs",
        "ReplyApiUrl on the webhook API",
        lambda t, f: t["Outputs"]["ReplyApiUrl"].__setitem__("Value", _replace_in_strings(t["Outputs"]["ReplyApiUrl"]["Value"], "ReplyHttpApi", "HttpApi")),
    ),
    (
        "parameters-outputs",
        "ReplyHttpApiId output removed",
        lambda t, f: t["Outputs"].pop("ReplyHttpApiId"),
    ),
    # --- reply-sender's timeout -------------------------------------------------------------
    (
        "functions-runtime",
        "reply-sender Timeout 100 s (the documented 120 s)",
        lambda t, f: _fn_props(t, "ReplySenderFunction").__setitem__("Timeout", 100),
    ),
    (
        "fifo-queues",
        "outbound visibility timeout 800 s (the documented 720 s)",
        lambda t, f: _fn_props(t, "OutboundQueue").__setitem__("VisibilityTimeout", 400),
    ),
    (
        "log-groups-retained",
        "a log group without a fixed name",
        lambda t, f: _fn_props(t, "ReplyApiAccessLogGroup").pop("LogGroupName"),
    ),
    (
        "parameters-outputs",
        "WeChatWebhookUrl on the reply API",
        lambda t, f: t["Outputs"]["WeChatWebhookUrl"].__setitem__("Value", _replace_in_strings(t["Outputs"]["WeChatWebhookUrl"]["Value"], "HttpApi", "ReplyHttpApi")),
    ),
    (
        "reply-sender-timings",
        "reply-sender Timeout 100 s (below two 58 s worst cases)",
        lambda t, f: _fn_props(t, "ReplySenderFunction").__setitem__("Timeout", 100),
    ),
    (
        "reply-sender-timings",
        "TOKEN_LEASE_SECS 9 (not above a 4 s AWS call + a 5 s platform call)",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("TOKEN_LEASE_SECS", "9"),
    ),
    (
        "reply-sender-timings",
        "AWS_OPERATION_TIMEOUT_MS 8000 (the worst case no longer fits twice)",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("AWS_OPERATION_TIMEOUT_MS", "8000"),
    ),
    (
        "reply-sender-timings",
        "outbound visibility timeout 600 s for the 120 s reply-sender",
        lambda t, f: _fn_props(t, "OutboundQueue").__setitem__("VisibilityTimeout", 600),
    ),
    (
        "reply-sender-timings",
        "reply-sender without PLATFORM_TIMEOUT_SECS",
        lambda t, f: _env(t, "ReplySenderFunction").pop("PLATFORM_TIMEOUT_SECS"),
    ),
    (
        "functions-env-contract",
        "reply-sender without PLATFORM_TIMEOUT_SECS",
        lambda t, f: _env(t, "ReplySenderFunction").pop("PLATFORM_TIMEOUT_SECS"),
    ),
    # --- alarms -----------------------------------------------------------------------------
    (
        "alarms",
        "no DeliveryUncertain alarm",
        lambda t, f: t["Resources"].pop("DeliveryUncertainAlarm"),
    ),
    (
        "alarms",
        "the AccountsUnavailable alarm on a dimension the metric does not have",
        lambda t, f: _fn_props(t, "AccountsUnavailableAlarm").__setitem__(
            "Dimensions", [{"Name": "FunctionName", "Value": {"Ref": "WeChatWebhookFunction"}}]
        ),
    ),
    (
        "alarms",
        "the AccountsRefreshFailed alarm over 1 minute",
        lambda t, f: _fn_props(t, "AccountsRefreshFailedAlarm").__setitem__("Period", 60),
    ),
    (
        "alarms",
        "the AccountsRefreshFailed alarm treats missing data as breaching",
        lambda t, f: _fn_props(t, "AccountsRefreshFailedAlarm").__setitem__("TreatMissingData", "breaching"),
    ),
    (
        "alarms",
        "no 5xx alarm on the reply API",
        lambda t, f: t["Resources"].pop("ReplyHttpApi5xxAlarm"),
    ),
    (
        "alarms",
        "the webhook API's 5xx alarm watches the reply API",
        lambda t, f: _fn_props(t, "HttpApi5xxAlarm")["Dimensions"][0].__setitem__("Value", {"Ref": "ReplyHttpApi"}),
    ),
    # --- log level, log groups, NAT gateway, dashboard ----------------------------------------
    (
        "log-level-no-trace",
        "the LogLevels mapping keeps trace",
        lambda t, f: t["Mappings"]["LogLevels"].__setitem__("trace", {"Lambda": "TRACE"}),
    ),
    (
        "log-groups-retained",
        "the reply API's access log group not retained on replacement",
        lambda t, f: t["Resources"]["ReplyApiAccessLogGroup"].pop("UpdateReplacePolicy"),
    ),
    (
        "fixed-egress-conditional",
        "a second NAT gateway and Elastic IP (one per zone)",
        lambda t, f: t["Resources"].update(
            {"EgressNatGatewayB": copy.deepcopy(t["Resources"]["EgressNatGateway"]), "EgressIpB": copy.deepcopy(t["Resources"]["EgressIp"])}
        ),
    ),
    (
        "dashboard",
        "UnansweredConversations plotted again",
        lambda t, f: _add_to_dashboard(t, "UnansweredConversations"),
    ),
    (
        "dashboard",
        "no DeliveryUncertain line",
        lambda t, f: _rename_in_dashboard(t, "DeliveryUncertain", "Delivery"),
    ),
    (
        "reply-sender-attempts-below-redrive",
        "REPLY_MAX_ATTEMPTS 0",
        lambda t, f: _env(t, "ReplySenderFunction").__setitem__("REPLY_MAX_ATTEMPTS", "0"),
    ),
    (
        "functions-env-contract",
        "reply-sender without REPLY_MAX_ATTEMPTS",
        lambda t, f: _env(t, "ReplySenderFunction").pop("REPLY_MAX_ATTEMPTS"),
    ),
]


EXTRA_BREAKAGES += [
    # --- optional custom domain -------------------------------------------------------------
    (
        "custom-domain",
        "/webhooks mapped to the reply API (its API and stage)",
        lambda t, f: _map_to(t, "WebhookApiMapping", "ReplyApiMapping"),
    ),
    (
        "custom-domain",
        "the reply API's mapping on the webhook API's stage",
        lambda t, f: _map_to(t, "ReplyApiMapping", "WebhookApiMapping", ("Stage",)),
    ),
    (
        "custom-domain",
        "both base paths swapped",
        lambda t, f: (
            _fn_props(t, "WebhookApiMapping").__setitem__("ApiMappingKey", "reply-api"),
            _fn_props(t, "ReplyApiMapping").__setitem__("ApiMappingKey", "webhooks"),
        ),
    ),
    (
        "custom-domain",
        "an EDGE endpoint",
        lambda t, f: _domain_config(t).__setitem__("EndpointType", "EDGE"),
    ),
    (
        "custom-domain",
        "no security policy (the default would be up to API Gateway)",
        lambda t, f: _domain_config(t).pop("SecurityPolicy"),
    ),
    (
        "custom-domain",
        "the webhook mapping created without a custom domain",
        lambda t, f: t["Resources"]["WebhookApiMapping"].pop("Condition"),
    ),
    (
        "custom-domain",
        "HasCustomDomain inverted (the domain without CustomDomainName)",
        lambda t, f: t["Conditions"].__setitem__("HasCustomDomain", {"Fn::Equals": [{"Ref": "CustomDomainName"}, ""]}),
    ),
    (
        "custom-domain",
        "the alias record created without a hosted zone id",
        lambda t, f: t["Resources"]["CustomDomainRecord"].__setitem__("Condition", "HasCustomDomain"),
    ),
    (
        "custom-domain",
        "the alias record pointing at the domain's own name",
        lambda t, f: _fn_props(t, "CustomDomainRecord")["AliasTarget"].__setitem__("DNSName", {"Ref": "CustomDomainName"}),
    ),
    (
        "custom-domain",
        "no rule requiring the certificate",
        lambda t, f: t["Rules"].pop("CustomDomainNeedsCertificate"),
    ),
    (
        "custom-domain",
        "the stable WeChat URL on the reply API's base path",
        lambda t, f: t["Outputs"]["CustomDomainWeChatWebhookUrl"].__setitem__(
            "Value", _replace_in_strings(t["Outputs"]["CustomDomainWeChatWebhookUrl"]["Value"], "/webhooks/", "/reply-api/")
        ),
    ),
    (
        "custom-domain",
        "the stable reply API URL output without its condition",
        lambda t, f: t["Outputs"]["CustomDomainReplyApiUrl"].pop("Condition"),
    ),
    (
        "custom-domain",
        "CustomDomainName defaulting to a domain",
        lambda t, f: _set_param_default(t, "CustomDomainName", "gateway.example.com"),
    ),
    (
        "parameters-outputs",
        "CustomDomainTarget output removed",
        lambda t, f: t["Outputs"].pop("CustomDomainTarget"),
    ),
]


# Changes to the CDK template alone that the SAM/CDK equivalence must notice.
EQUIVALENCE_BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("a different LogLevel default", lambda t: _set_param_default(t, "LogLevel", "debug")),
    ("reply-sender outside the VPC in one of them", lambda t: _fn_props(t, "ReplySenderFunction").pop("VpcConfig")),
    ("a different reply-sender setting", lambda t: _env(t, "ReplySenderFunction").__setitem__("RETRY_MAX_SECS", "600")),
    ("a different reply-sender attempt limit", lambda t: _env(t, "ReplySenderFunction").__setitem__("REPLY_MAX_ATTEMPTS", "3")),
    ("a different outbound maxReceiveCount", lambda t: _fn_props(t, "OutboundQueue")["RedrivePolicy"].__setitem__("maxReceiveCount", 6)),
    ("a different outbound visibility timeout", lambda t: _fn_props(t, "OutboundQueue").__setitem__("VisibilityTimeout", 300)),
    ("a different reply-api integration timeout", lambda t: _set_route_timeout(t, "cdk", "GET", "/replies/{reply_id}", 9000)),
    ("a different dashboard widget", lambda t: _rename_in_dashboard(t, "Replies delivered by channel", "Replies")),
    ("a different alarm threshold", lambda t: _fn_props(t, "OutboundQueueAgeAlarm").__setitem__("Threshold", 900)),
    ("a reply-sender grant under another condition", lambda t: t["Resources"]["ReplySenderRole"]["Properties"]["Policies"][1]["Fn::If"].__setitem__(0, "IsProduction")),
    ("a different passive rules budget", lambda t: _env(t, "WeChatWebhookFunction").__setitem__("PASSIVE_RULES_TIMEOUT_MS", "800")),
    ("a different rules cache in wechat-webhook", lambda t: _env(t, "WeChatWebhookFunction").__setitem__("RULES_CACHE_SECS", "60")),
    ("wechat-webhook's rules read without its LeadingKeys condition", lambda t: _statement(t, "WeChatWebhookRole", "ReadRules").pop("Condition")),
    ("reply-sender's LeadingKeys without TOKEN#*", lambda t: _statement(t, "ReplySenderRole", "DeliveriesTokensConversations")["Condition"]["ForAllValues:StringLike"].__setitem__("dynamodb:LeadingKeys", ["CONV#*", "REPLY#*"])),
    ("reply-api reading the webhook credentials secret", lambda t: _env(t, "ReplyApiFunction").__setitem__("API_CLIENTS_SECRET_ID", copy.deepcopy(_env(t, "WeChatWebhookFunction")["WEBHOOK_SECRET_ID"]))),
    ("a different ApiClients placeholder", lambda t: _fn_props(t, "ApiClientsSecret")["GenerateSecretString"].__setitem__("SecretStringTemplate", "{}")),
    ("a different reserved concurrency default", lambda t: _set_param_default(t, "ReplySenderReservedConcurrency", 7)),
    ("reply-sender without reserved concurrency", lambda t: _fn_props(t, "ReplySenderFunction").pop("ReservedConcurrentExecutions")),
    ("a different event source MaximumConcurrency", lambda t: _reply_sender_esm(t, "cdk").__setitem__("ScalingConfig", {"MaximumConcurrency": 3})),
    ("a different route throttling", lambda t: _stage(t, "cdk", "HttpApi")["RouteSettings"]["POST /wechat/{account}"].__setitem__("ThrottlingRateLimit", 100)),
    ("POST /replies on the webhook API", lambda t: _move_route(t, "cdk", "POST", "/replies", "HttpApi")),
    ("a log group deleted with the stack", lambda t: t["Resources"]["MessageRouterLogGroup"].__setitem__("DeletionPolicy", "Delete")),
    ("trace back in the LogLevels mapping", lambda t: t["Mappings"]["LogLevels"].__setitem__("trace", {"Lambda": "TRACE"})),
    ("a different 5xx alarm threshold", lambda t: _fn_props(t, "ReplyHttpApi5xxAlarm").__setitem__("Threshold", 10)),
    ("a different reply-sender timeout", lambda t: _fn_props(t, "ReplySenderFunction").__setitem__("Timeout", 45)),
    ("a different base path of the reply API", lambda t: _fn_props(t, "ReplyApiMapping").__setitem__("ApiMappingKey", "replies")),
    ("a different custom domain security policy", lambda t: _domain_config(t).__setitem__("SecurityPolicy", "TLS_1_0")),
    ("a different HasCustomDomain condition", lambda t: t["Conditions"].__setitem__("HasCustomDomain", {"Fn::Not": [{"Fn::Equals": [{"Ref": "CustomDomainName"}, "none"]}]})),
    ("the alias record under HasCustomDomain only", lambda t: t["Resources"]["CustomDomainRecord"].__setitem__("Condition", "HasCustomDomain")),
    ("a stable URL output without its condition", lambda t: t["Outputs"]["CustomDomainWeiboWebhookUrl"].pop("Condition")),
    ("a different CustomDomainHostedZoneId pattern", lambda t: t["Parameters"]["CustomDomainHostedZoneId"].__setitem__("AllowedPattern", ".*")),
    ("no hosted-zone rule", lambda t: t["Rules"].pop("CustomDomainHostedZoneNeedsDomain")),
]


# ---------------------------------------------------------------------------------------
# Build once, deploy many: `make build` (its dry run), the zips it writes, and the templates
# that deploy them as they are (infra/sam/prebuilt_template.py, `cdk synth -c prebuilt=DIR`).
# Each must be the default template with only the functions' code changed.
# ---------------------------------------------------------------------------------------
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _diff_paths(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ (at most a few paths per branch)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}/{key} ({'only in the prebuilt one' if key not in a else 'missing'})")
            else:
                out += _diff_paths(a[key], b[key], f"{path}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in _diff_paths(x, y, f"{path}/{i}")]
    return [] if a == b else [path or "/"]


def _zip_of(zip_dir: str, lid: str) -> str:
    return os.path.abspath(os.path.join(zip_dir, FUNCTIONS[lid].binary, "bootstrap.zip"))


def _without_sam_code(t: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(t)
    for res in t.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            res.get("Properties", {}).pop("CodeUri", None)
            metadata = res.get("Metadata") or {}
            for key in ("BuildMethod", "BuildProperties"):
                metadata.pop(key, None)
            if not metadata:
                res.pop("Metadata", None)
    return t


def check_sam_prebuilt(source: dict[str, Any], prebuilt: dict[str, Any], prebuilt_path: str, zip_dir: str) -> list[str]:
    """The SAM template for prebuilt zips: each function's CodeUri (relative to the template)
    is its own zip, nothing is left for `sam build`, and nothing else differs."""
    problems = []
    base = os.path.dirname(os.path.abspath(prebuilt_path))
    for lid in FUNCTIONS:
        res = prebuilt.get("Resources", {}).get(lid)
        if not res:
            problems.append(f"{lid} missing")
            continue
        uri, want = res.get("Properties", {}).get("CodeUri"), _zip_of(zip_dir, lid)
        if not isinstance(uri, str) or os.path.abspath(os.path.join(base, uri)) != want:
            problems.append(f"{lid}: CodeUri {uri!r} is not {want}")
        elif not os.path.isfile(want):
            problems.append(f"{lid}: {want} does not exist")
        if "BuildMethod" in (res.get("Metadata") or {}):
            problems.append(f"{lid}: Metadata.BuildMethod left: `sam build` would compile it")
    problems += [f"differs from the SAM template at {p}" for p in _diff_paths(_without_sam_code(source), _without_sam_code(prebuilt))[:10]]
    return problems


def _without_cdk_code(t: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(t)
    t.get("Resources", {}).pop("CDKMetadata", None)  # the CDK's own analytics string
    for res in t.get("Resources", {}).values():
        if res.get("Type") == "AWS::Lambda::Function":
            res.get("Properties", {}).pop("Code", None)
            metadata = res.get("Metadata") or {}
            for key in [k for k in metadata if k.startswith("aws:asset:")]:
                del metadata[key]
    return t


def check_cdk_prebuilt(cdk: dict[str, Any], prebuilt: dict[str, Any], prebuilt_path: str, zip_dir: str) -> list[str]:
    """`cdk synth -c prebuilt=DIR`: each function's code asset, as staged in cdk.out, is
    byte for byte its own zip, and nothing else differs from the default synth."""
    problems = []
    out_dir = os.path.dirname(os.path.abspath(prebuilt_path))
    for lid in FUNCTIONS:
        res = prebuilt.get("Resources", {}).get(lid)
        if not res:
            problems.append(f"{lid} missing")
            continue
        metadata, want = res.get("Metadata") or {}, _zip_of(zip_dir, lid)
        asset = metadata.get("aws:asset:path")
        if metadata.get("aws:asset:property") != "Code" or not asset or "S3Key" not in (res.get("Properties", {}).get("Code") or {}):
            problems.append(f"{lid}: no code asset")
            continue
        staged = os.path.join(out_dir, asset)
        if not os.path.isfile(staged) or not os.path.isfile(want):
            problems.append(f"{lid}: code asset {asset} is not a file staged from {want}")
        elif _sha256(staged) != _sha256(want):
            problems.append(f"{lid}: code asset {asset} is not {want}")
    problems += [f"differs from the default synth at {p}" for p in _diff_paths(_without_cdk_code(cdk), _without_cdk_code(prebuilt))[:10]]
    return problems


def check_make_build(dry_run: str, zip_dir: str) -> list[str]:
    """`make -n build LAMBDA_DIR=zip_dir`: one release arm64 zip build of exactly the
    templates' functions into zip_dir, then tools/lambda_zips.py on the same functions."""
    functions = {spec.binary for spec in FUNCTIONS.values()}
    commands = []
    for line in dry_run.replace("\\\n", " ").splitlines():
        try:
            commands.append(shlex.split(line))
        except ValueError:  # not a command (e.g. a make warning with a stray quote)
            continue
    problems = []
    builds = [c for c in commands if "cargo" in c and c[c.index("cargo") + 1:c.index("cargo") + 3] == ["lambda", "build"]]
    if len(builds) != 1:
        return [f"{len(builds)} `cargo lambda build` commands, want one"]
    build = builds[0]
    for flag in ("--release", "--arm64"):
        if flag not in build:
            problems.append(f"cargo lambda build without {flag}")
    if "--output-format" not in build or build[build.index("--output-format") + 1] != "zip":
        problems.append("cargo lambda build without --output-format zip")
    if "--lambda-dir" not in build or os.path.abspath(build[build.index("--lambda-dir") + 1]) != os.path.abspath(zip_dir):
        problems.append(f"cargo lambda build does not write to {zip_dir}")
    packages = {build[i + 1] for i, arg in enumerate(build[:-1]) if arg in ("-p", "--package")}
    if packages != functions:
        problems.append(f"builds {sorted(packages)}, the templates deploy {sorted(functions)}")
    checks = [c for c in commands if any(arg.endswith("tools/lambda_zips.py") for arg in c)]
    if not checks:
        problems.append("the zips are not checked (tools/lambda_zips.py)")
    for c in checks:
        i = next(i for i, arg in enumerate(c) if arg.endswith("tools/lambda_zips.py"))
        if os.path.abspath(c[i + 1]) != os.path.abspath(zip_dir) or set(c[i + 2:]) != functions:
            problems.append(f"tools/lambda_zips.py checks {c[i + 1:]}, want {zip_dir} and {sorted(functions)}")
    return problems


def _swap(t: dict[str, Any], a: str, b: str, *keys: str) -> None:
    """Swaps the keys (path from the resource) of resources a and b."""
    *parents, last = keys
    ra, rb = t["Resources"][a], t["Resources"][b]
    for key in parents:
        ra, rb = ra[key], rb[key]
    ra[last], rb[last] = rb[last], ra[last]


PREBUILT_SAM_BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("wechat-webhook deployed with weibo-webhook's zip", lambda t: _swap(t, "WeChatWebhookFunction", "WeiboWebhookFunction", "Properties", "CodeUri")),
    ("reply-api still built from the workspace by sam build", lambda t: (
        _fn_props(t, "ReplyApiFunction").__setitem__("CodeUri", "../.."),
        t["Resources"]["ReplyApiFunction"].__setitem__("Metadata", {"BuildMethod": "rust-cargolambda"}),
    )),
    ("another setting changed with the code", lambda t: _fn_props(t, "MessageRouterFunction").__setitem__("Timeout", 60)),
]
PREBUILT_CDK_BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("reply-sender and reply-api deployed with each other's zip", lambda t: (
        _swap(t, "ReplySenderFunction", "ReplyApiFunction", "Metadata", "aws:asset:path"),
        _swap(t, "ReplySenderFunction", "ReplyApiFunction", "Properties", "Code"),
    )),
    ("another setting changed with the code", lambda t: _fn_props(t, "WeiboWebhookFunction").__setitem__("MemorySize", 512)),
    ("a function without a code asset", lambda t: t["Resources"]["MessageRouterFunction"]["Metadata"].pop("aws:asset:path")),
]
MAKE_BUILD_BREAKAGES: list[tuple[str, Callable[[str], str]]] = [
    ("reply-api not built", lambda text: re.sub(r"(-p|--package)[ =]reply-api\b", "", text)),
    ("an x86_64 build (no --arm64)", lambda text: text.replace("--arm64", "")),
    ("a debug build (no --release)", lambda text: text.replace("--release", "")),
    ("the zips not checked", lambda text: "\n".join(line for line in text.splitlines() if "lambda_zips.py" not in line)),
]


def zip_checker_self_tests() -> list[tuple[str, list[str]]]:
    """tools/lambda_zips.py accepts a function zip and refuses what Lambda could not run."""
    from lambda_zips import zip_problems
    from prebuilt_fixture import write_zip

    results = []
    with tempfile.TemporaryDirectory() as d:
        good = os.path.join(d, "good.zip")
        write_zip(good, "good")
        found = zip_problems(good)
        results.append(("lambda_zips accepts an executable arm64 bootstrap", found))
        bad: dict[str, Callable[[str], None]] = {
            "an x86_64 bootstrap": lambda p: write_zip(p, "x86", machine=62),
            "a bootstrap that is not executable": lambda p: write_zip(p, "mode", mode=0o644),
            "a zip with more than bootstrap": lambda p: write_zip(p, "extra", extra=True),
            "a file that is not a zip": lambda p: open(p, "w").write("not a zip"),
            "a missing zip": lambda p: None,
        }
        for i, (description, make) in enumerate(bad.items()):
            path = os.path.join(d, f"bad{i}.zip")
            make(path)
            results.append((f"lambda_zips refuses {description}", [] if zip_problems(path) else ["accepted"]))
    return results


# ---------------------------------------------------------------------------------------
# Loading and running.
# ---------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """cfn-lint's decoded nodes -> plain dict/list/str (deep-copyable, JSON-able)."""
    return json.loads(json.dumps(value))


def load_sam(path: str) -> dict[str, Any]:
    from cfnlint.decode import decode

    template, matches = decode(path)
    if matches or template is None:
        raise SystemExit(f"cannot decode {path}: {matches}")
    return plain(template)


def load_cfn(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def record(self, name: str, problems: list[str]) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"       - {p}")
        else:
            self.passed += 1
            print(f"ok   {name}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sam", required=True, help="SAM template (YAML)")
    ap.add_argument("--cdk", required=True, help="template synthesized by the CDK app (JSON)")
    ap.add_argument("--sam-cfn", help="optional: the SAM template expanded to CloudFormation (sam_translate.py)")
    ap.add_argument("--prebuilt-dir", help="optional: zips as `make build` writes them, <dir>/<function>/bootstrap.zip")
    ap.add_argument("--sam-prebuilt", help="with --prebuilt-dir: infra/sam/prebuilt_template.py's template for them")
    ap.add_argument("--cdk-prebuilt", help="with --prebuilt-dir: the template of `cdk synth -c prebuilt=<dir>`")
    ap.add_argument("--make-build", help="with --prebuilt-dir: output of `make -n build LAMBDA_DIR=<dir>`")
    args = ap.parse_args(argv)

    templates = {"sam": load_sam(args.sam)}
    if args.sam_cfn:
        templates["sam-cfn"] = load_cfn(args.sam_cfn)
    templates["cdk"] = load_cfn(args.cdk)
    results = Results()

    models = {flavour: build_model(flavour, t) for flavour, t in templates.items()}
    for check_name, check in CHECKS.items():
        for flavour, model in models.items():
            results.record(f"{flavour}: {check_name}", check(model))
    results.record("sam == cdk: equivalent parameters, functions, permissions, queues, table, APIs, secrets, log groups, alarms, outputs",
                   equivalence(models["sam"], models["cdk"]))

    # Negative self-tests.
    missing = [name for name in CHECKS if name not in BREAKAGES]
    results.record("self-test: every check has a breakage", [f"no breakage for {n}" for n in missing])
    cases = [(name, desc, fn) for name, (desc, fn) in BREAKAGES.items()] + EXTRA_BREAKAGES
    for check_name, description, mutate in cases:
        for flavour, template in templates.items():
            broken = copy.deepcopy(template)
            try:
                mutate(broken, flavour)
            except (KeyError, IndexError, TypeError) as e:
                results.record(f"self-test {flavour}: {check_name} rejects {description}", [f"mutation failed: {e!r}"])
                continue
            problems = CHECKS[check_name](build_model(flavour, broken))
            results.record(
                f"self-test {flavour}: {check_name} rejects {description}",
                [] if problems else ["the broken template PASSED this check"],
            )
    for description, mutate in EQUIVALENCE_BREAKAGES:
        broken_cdk = copy.deepcopy(templates["cdk"])
        try:
            mutate(broken_cdk)
        except (KeyError, IndexError, TypeError) as e:
            results.record(f"self-test: equivalence rejects {description}", [f"mutation failed: {e!r}"])
            continue
        results.record(
            f"self-test: equivalence rejects {description}",
            [] if equivalence(models["sam"], build_model("cdk", broken_cdk)) else ["different templates PASSED equivalence"],
        )

    # Build once, deploy many.
    for description, problems in zip_checker_self_tests():
        results.record(f"self-test: {description}", problems)
    if args.prebuilt_dir and args.cdk_prebuilt:
        cdk_prebuilt = load_cfn(args.cdk_prebuilt)
        model = build_model("cdk", cdk_prebuilt)
        for check_name, check in CHECKS.items():
            results.record(f"cdk-prebuilt: {check_name}", check(model))
        results.record("sam == cdk-prebuilt: equivalent", equivalence(models["sam"], model))
        results.record("cdk-prebuilt: the default synth with each function's code its own zip",
                       check_cdk_prebuilt(templates["cdk"], cdk_prebuilt, args.cdk_prebuilt, args.prebuilt_dir))
        for description, mutate in PREBUILT_CDK_BREAKAGES:
            broken = copy.deepcopy(cdk_prebuilt)
            mutate(broken)
            failed = check_cdk_prebuilt(templates["cdk"], broken, args.cdk_prebuilt, args.prebuilt_dir)
            results.record(f"self-test cdk-prebuilt: rejects {description}", [] if failed else ["the broken template PASSED"])
    if args.prebuilt_dir and args.sam_prebuilt:
        sam_prebuilt = load_cfn(args.sam_prebuilt)
        results.record("sam-prebuilt: the SAM template with each function's CodeUri its own zip",
                       check_sam_prebuilt(templates["sam"], sam_prebuilt, args.sam_prebuilt, args.prebuilt_dir))
        for description, mutate in PREBUILT_SAM_BREAKAGES:
            broken = copy.deepcopy(sam_prebuilt)
            mutate(broken)
            failed = check_sam_prebuilt(templates["sam"], broken, args.sam_prebuilt, args.prebuilt_dir)
            results.record(f"self-test sam-prebuilt: rejects {description}", [] if failed else ["the broken template PASSED"])
    if args.prebuilt_dir and args.make_build:
        with open(args.make_build, encoding="utf-8") as f:
            dry_run = f.read()
        results.record("make build: release arm64 zips of exactly the templates' functions, checked",
                       check_make_build(dry_run, args.prebuilt_dir))
        for description, mutate in MAKE_BUILD_BREAKAGES:
            failed = check_make_build(mutate(dry_run), args.prebuilt_dir)
            results.record(f"self-test make build: rejects {description}", [] if failed else ["the broken dry run PASSED"])

    print(f"{results.passed} passed, {results.failed} failed")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
