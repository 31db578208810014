"""The contract of the templates, as data: the functions (what each may do, what each is given,
its event sources, routes and timeouts), the queues, secrets, HTTP APIs, alarms, parameters and
outputs. The checks read only these tables.

Adding a function = one FunctionSpec row in FUNCTIONS with exactly the permissions it needs
(read them from the code it runs); a function missing from FUNCTIONS fails every template. Its
log group (<Name>LogGroup, from <Name>Function), its secret's read and variable, kms:Decrypt
under HasAccountsSecretKmsKey (when it reads a secret), the VPC actions under FixedEgress (when
it runs in the VPC), its alarms, dashboard, routes, URL outputs and `make build` package
follow from the row; so do the checks of its queue (QUEUES: FIFO or standard, its DLQ, their
alarms and outputs), of a table stream it reads (StreamSourceSpec: the table's stream view,
the event source's settings and filters, its on-failure queue, that queue's alarm and output),
of its queries (table_queries, index_queries: see INDEX_ARN), of its schedule (SCHEDULES) and of
the JWT authorizer its routes are behind and the scopes they require (FunctionSpec.authorizer:
AUTHORIZERS, and the Cognito user pool, app client and groups of USER_POOLS whose tokens it
accepts).

Resources are written in canonical form (model.canon): "X.Arn" for !GetAtt X.Arn, "X" for
!Ref X.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple


# One Secrets Manager secret per role (least privilege), each holding the part of the accounts
# document its readers need (`gatewayctl accounts push` writes all three from one validated
# document). The stack creates <Id> under the condition Create<Id> when the parameter <Id>Arn
# is empty (otherwise that existing secret is used), and outputs its ARN as <Id>Id.
@dataclass(frozen=True)
class SecretSpec:
    sections: tuple[str, ...]  # top-level keys of the generated placeholder document
    env: str  # the variable naming it in its readers (the functions' config.rs)


SECRETS: dict[str, SecretSpec] = {
    "WebhookCredentialsSecret": SecretSpec(("wechat", "weibo"), "WEBHOOK_SECRET_ID"),  # webhooks' keys
    "DeliveryCredentialsSecret": SecretSpec(("wechat", "weibo"), "DELIVERY_SECRET_ID"),  # platform API credentials
    "ApiClientsSecret": SecretSpec(("api_clients",), "API_CLIENTS_SECRET_ID"),  # the reply API's clients
    "WebhookTargetsSecret": SecretSpec(("api_clients",), "WEBHOOK_TARGETS_SECRET_ID"),  # the clients' webhook targets
}


def secret_refs(lid: str) -> set[str]:
    """A reference to a secret: the stack's, or the one given as its parameter."""
    return {lid, f"{lid}Arn"}


# The table, per function: {action: partition-key patterns} (the dynamodb:LeadingKeys of a
# ForAllValues:StringLike condition on every statement granting the action; the union over
# the function's statements must be exactly this). Item actions only: ForAllValues is true
# for a request without partition keys (Scan), so no Scan or Query is ever granted with it.
# Partition keys (shared/gateway-aws): CONV#<conversation key> (conversations, their messages
# and tags), REPLY#<reply id> (delivery records), TOKEN#wechat#<account> (token cache),
# CONFIG (the rules document), APIREQ#... (reply-api idempotency records), STATS#<channel>:
# <account> (daily statistics), STREAM#<event id> (a counted stream record's marker, with
# expires_at), ACCOUNTS (the registry of the accounts with conversations), AGENTS (the desk's
# agent profiles, SK <agent id>), CANNED (the desk's canned responses), POLL#weibo#<account>
# (weibo-poller's since_id cursors, SK the timeline).
CONV, REPLY, TOKEN, CONFIG, APIREQ = "CONV#*", "REPLY#*", "TOKEN#*", "CONFIG", "APIREQ#*"
UPLOAD = "UPLOAD#*"  # the media ids of the agents' files (reply-sender)
# The lookup from a WeChat template message's msgid to its reply, TPLMSG#wechat#<account>#<msgid>:
# written by reply-sender with the msgid, read by the router on the finish report.
TPLMSG = "TPLMSG#*"
# A CRM's name for a WeChat customer, CRM#wechat#<account>#<unionid>: set, read back and deleted
# by reply-api (its /contacts routes), read by desk-api for a page of conversations.
CRM = "CRM#*"
# Template messages' daily quota per WeChat account, TPLQUOTA#wechat#<account> (SK DAY#<date>):
# read and counted by reply-sender.
TPLQUOTA = "TPLQUOTA#*"
STATS, STREAM_MARKER, ACCOUNTS = "STATS#*", "STREAM#*", "ACCOUNTS"
AGENTS, CANNED = "AGENTS", "CANNED"
POLL_WEIBO = "POLL#weibo#*"

# Query, separately (FunctionSpec.table_queries, index_queries; check table-queries):
# - on the base table (resource exactly the table's ARN, which no index query matches) under
#   ForAnyValue:StringLike dynamodb:LeadingKeys, the partitions it queries. A Query names
#   exactly one partition key, so ForAnyValue and ForAllValues agree on every Query DynamoDB
#   accepts; where they differ, a request naming none, ForAnyValue denies and ForAllValues
#   allows. (AWS's DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained
#   access control": dynamodb:LeadingKeys is the first key attribute of a table, its partition
#   key; the guide's example grants Query under LeadingKeys and leaves out Scan "because Scan
#   returns all items regardless of the leading keys".)
# - on a global secondary index: on exactly that index's ARN (<table ARN>/index/<name>, never
#   index/* nor another index), with NO LeadingKeys condition. The same guide defines
#   dynamodb:LeadingKeys as the table's partition key and says nothing of the value an index
#   query gives it (an index's partition key is another attribute): a ForAllValues condition
#   there may be vacuous, and a ForAnyValue one may deny the code's own query. So the grant
#   is what it is, the index, and the spec says which: the function may read every item the
#   index holds (GSI1, projection ALL: conversations, INBOX#..., and delivery records,
#   DELIVERY#...), and the checks make sure it is that index only.
INDEX_ARN = "GatewayTable.Arn/index/{}"

# Lambda creates the network interfaces of a function in a VPC with the function's role
# (the EC2 actions of AWSLambdaVPCAccessExecutionRole; AWS requires Resource "*").
ENI_ACTIONS = frozenset({
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
})


def _poll(queue: str) -> dict[str, set[str]]:
    """What an SQS event source uses, polling with the function's role."""
    actions = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    return {action: {f"{queue}.Arn"} for action in actions}


def _consume(queue: str) -> dict[str, set[str]]:
    # The FIFO consumers also get ChangeMessageVisibility (reply-sender's retry backoff).
    return {**_poll(queue), "sqs:ChangeMessageVisibility": {f"{queue}.Arn"}}


# A DynamoDB stream event source reads the stream with the function's role (the actions
# Lambda's documentation lists for it), on the table's stream only. (IAM's reference gives
# dynamodb:ListStreams no resource type: on the stream's ARN it lists no other table's streams.)
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")


def _read_stream(table: str) -> dict[str, set[str]]:
    return {action: {f"{table}.StreamArn"} for action in STREAM_READ_ACTIONS}


# A function's event source on a table's stream (the table must have a stream of view_type).
# Partial batch failures (ReportBatchItemFailures: a failed record is retried, with the records
# after it on its shard), halved batches on a function error, bounded retries and record age
# (the defaults, -1, would retry a poison record until it leaves the stream, 24 hours, holding
# its shard), and what is given up lands on the on-failure destination: a standard queue of
# the stack (Lambda sends there with the function's role), alarmed and kept 14 days. The
# filter lets only the items the function reads invoke it.
@dataclass(frozen=True)
class StreamSourceSpec:
    table: str
    view_type: str  # StreamSpecification.StreamViewType the code needs
    starting_position: str
    batch_size: int
    max_retry_attempts: int  # 0..10000, never -1
    max_record_age_secs: int  # 60..86400 (the stream keeps records 24 hours), never -1
    on_failure: str  # logical id of the SQS queue of DestinationConfig.OnFailure
    filters: tuple[dict, ...]  # exactly the FilterCriteria patterns (as JSON; a record matching any invokes it)


# Lambda's bounds of MaximumRecordAgeInSeconds for a DynamoDB stream (its records live 24 h).
STREAM_RECORD_AGE_RANGE = (60, 86400)
# Readers of one table's stream at most: DynamoDB throttles a shard read by more than two
# processes at once (each event source mapping is one).
STREAM_MAX_READERS = 2


@dataclass(frozen=True)
class FunctionSpec:
    binary: str
    # "webhook" (platform HTTP push, 5-second window), "api" (HTTP API), "consumer" (an SQS
    # queue; and streams), "stream" (a table's stream only) or "scheduled" (its schedule only).
    kind: str
    timeout_secs: int
    # {action: resources} beyond its log group, its secret and the table (derived below).
    permissions: dict[str, set[str]]
    # {variable: values} beyond its secret's variable.
    env: dict[str, set[str]]
    secret: str | None = None  # the one secret of SECRETS it reads
    table: dict[str, set[str]] = field(default_factory=dict)  # {DynamoDB action: partition keys}
    routes: tuple[tuple[str, str], ...] = ()
    api: str | None = None  # logical id of the HTTP API of its routes (see HTTP_APIS)
    integration_timeout_ms: int | None = None  # of its routes
    url_output: tuple[str, str] | None = None  # (output, path on its API): its URL, also on the custom domain
    consumes: str | None = None  # logical id of the queue of its event source (see QUEUES)
    latency_alarm_ms: int | None = None  # p99 Duration alarm threshold
    in_vpc_with_fixed_egress: bool = False
    # (parameter, its default): ReservedConcurrentExecutions, and the bound of its event
    # source's ScalingConfig.MaximumConcurrency (SQS consumers); or a number, written as is
    # (weibo-poller: 1, one run at a time).
    reserved_concurrency: tuple[str, int] | int | None = None
    stream: StreamSourceSpec | None = None  # its event source on a table's stream
    table_queries: set[str] = field(default_factory=set)  # partition keys it queries on the base table
    index_queries: tuple[str, ...] = ()  # the global secondary indexes it queries
    schedule: str | None = None  # the EventBridge schedule expression that invokes it
    # The JWT authorizer (AUTHORIZERS) every one of its routes is behind; None: its routes have
    # none (the webhooks and reply-api authenticate each request by its signature).
    authorizer: str | None = None

    def all_permissions(self, lid: str) -> dict[str, set[str]]:
        """Granted unconditionally: writing its own log group (the stream suffix ":*" is part of
        the log group's Arn), permissions, its secret, the table actions (under LeadingKeys),
        Query on the table and on its indexes (see INDEX_ARN)."""
        log_group = {f"{lid.removesuffix('Function')}LogGroup.Arn"}
        out = {"logs:CreateLogStream": log_group, "logs:PutLogEvents": log_group, **self.permissions}
        if self.secret:
            out["secretsmanager:GetSecretValue"] = secret_refs(self.secret)
        out.update({action: {"GatewayTable.Arn"} for action in self.table})
        queried = {"GatewayTable.Arn"} if self.table_queries else set()
        queried |= {INDEX_ARN.format(index) for index in self.index_queries}
        return {**out, "dynamodb:Query": queried} if queried else out

    @property
    def conditional_permissions(self) -> dict[str, dict[str, set[str]]]:
        """{template condition: {action: resources}}, granted only under that condition: a reader
        of a secret decrypts with its customer managed key when AccountsSecretKmsKeyArn is set;
        a function in the VPC manages its network interfaces with EnableFixedEgress."""
        out: dict[str, dict[str, set[str]]] = {}
        if self.secret:
            out["HasAccountsSecretKmsKey"] = {"kms:Decrypt": {"AccountsSecretKmsKeyArn"}}
        if self.in_vpc_with_fixed_egress:
            out["FixedEgress"] = {action: {"*"} for action in ENI_ACTIONS}
        return out

    @property
    def all_env(self) -> dict[str, set[str]]:
        return {**self.env, self.secret_variable: secret_refs(self.secret)} if self.secret else self.env

    @property
    def secret_variable(self) -> str:
        """The variable naming its secret (its SecretSpec.env)."""
        return SECRETS[self.secret].env if self.secret else ""

    @property
    def star_resource_actions(self) -> frozenset[str]:
        """Actions for which AWS accepts only Resource "*". (X-Ray, if tracing is ever enabled,
        needs xray:PutTraceSegments/PutTelemetryRecords.)"""
        return ENI_ACTIONS if self.in_vpc_with_fixed_egress else frozenset()


def variables(*groups: str) -> dict[str, set[str]]:
    """{variable: {canonical value}} from "NAME=value NAME=value" (a logical id: its Ref)."""
    return {name: {value} for group in groups for name, value in (item.split("=", 1) for item in group.split())}


# Stream filter patterns (Lambda event filtering on the stream record: its keys, eventName,
# the new image). Conversation items: PK CONV#..., SK META. Inbound messages stored: PK
# CONV#..., SK MSG#..., inserted, direction "in" (gateway-aws dynamodb/conversations.rs).
CONVERSATION_ITEMS = {"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "CONV#"}]}, "SK": {"S": ["META"]}}}}
INBOUND_MESSAGES = {"eventName": ["INSERT"], "dynamodb": {
    "Keys": {"PK": {"S": [{"prefix": "CONV#"}]}, "SK": {"S": [{"prefix": "MSG#"}]}}, "NewImage": {"direction": {"S": ["in"]}}}}
# Delivery records in a final state (PK REPLY#..., SK DELIVERY; gateway-aws
# dynamodb/deliveries.rs): the reply.delivered and reply.undeliverable events (docs/events.md).
FINAL_DELIVERY_RECORDS = {"dynamodb": {
    "Keys": {"PK": {"S": [{"prefix": "REPLY#"}]}, "SK": {"S": ["DELIVERY"]}},
    "NewImage": {"state": {"S": ["delivered", "undeliverable", "failed"]}}}}

WEBHOOK_ENV = variables("QUEUE_URL=InboundQueue ACCOUNTS_CACHE_SECS=60 MAX_CLOCK_SKEW_SECS=300 MAX_BODY_BYTES=65536")
# Reply windows and quotas (ReplyPolicy::default in gateway-core delivery/window.rs; 172800 s =
# 48 h): reply-sender's, and desk-api's with the same values (it refuses a reply outside its
# window up front, as reply-sender would mark it undeliverable; check reply-windows-agree).
REPLY_WINDOW_ENV = variables(
    "WECHAT_MESSAGE_WINDOW_SECS=172800 WECHAT_MESSAGE_QUOTA=5 WECHAT_EVENT_WINDOW_SECS=60 WECHAT_EVENT_QUOTA=3",
    "WEIBO_MESSAGE_WINDOW_SECS=172800 WEIBO_MESSAGE_QUOTA=unlimited WEIBO_EVENT_WINDOW_SECS=172800 WEIBO_EVENT_QUOTA=unlimited",
    "WEIBO_MENTION_WINDOW_SECS=172800 WEIBO_MENTION_QUOTA=1",
)
REPLY_WINDOW_VARIABLE = re.compile(r"^(WECHAT|WEIBO)_[A-Z]+_(WINDOW_SECS|QUOTA)$")

# Media (checks_media.py): the media bucket and the object key prefixes the functions may use
# (canonical: "MediaBucket.Arn/media/*" for !Sub "${MediaBucket.Arn}/media/*"). media/: the
# customers' media, written by media-fetcher (gateway-core media/key.rs: media/<channel>/
# <account>/<conversation>/<message id>/<kind>); uploads/: the files agents send, written by
# desk-api. s3:GetObject also authorizes HeadObject (a retry finding its object stored) and is
# what a presigned GET URL needs of its signer.
MEDIA_BUCKET, MEDIA_BUCKET_POLICY = "MediaBucket", "MediaBucketPolicy"
MEDIA_OBJECTS, UPLOAD_OBJECTS = f"{MEDIA_BUCKET}.Arn/media/*", f"{MEDIA_BUCKET}.Arn/uploads/*"
# The message retention: MESSAGE_TTL_DAYS of every function that sets it is this parameter
# (Number, its default, its MinValue: 0 = forever), and the media bucket's objects expire after
# as many days, by a lifecycle rule that exists only under MEDIA_EXPIRE_CONDITION (the parameter
# is not 0: S3 refuses ExpirationInDays 0, and 0 means keep). Incomplete multipart uploads are
# aborted after MEDIA_ABORT_UPLOADS_DAYS, always.
MESSAGE_TTL_PARAMETER = ("MessageTtlDays", 90, 0)
MEDIA_EXPIRE_CONDITION, MEDIA_ABORT_UPLOADS_DAYS = "ExpireMessages", 1
# Lambda's largest synchronous request (the Invoke API: 6 MB, 6,291,456 bytes), which an API
# Gateway request to desk-api must fit in whole: the body base64-encoded (API Gateway encodes a
# binary body; the desk's JSON carries the file base64-encoded), with its headers and request
# context (allowed for generously: a JWT, the authorizer's claims).
LAMBDA_SYNC_PAYLOAD_BYTES, DESK_UPLOAD_ENVELOPE_BYTES = 6 * 1024 * 1024, 64 * 1024
REPLY_WINDOW_READERS = ("ReplySenderFunction", "DeskApiFunction")

FUNCTIONS: dict[str, FunctionSpec] = {
    "WeChatWebhookFunction": FunctionSpec(
        binary="wechat-webhook", kind="webhook", timeout_secs=4, secret="WebhookCredentialsSecret",
        permissions={"sqs:SendMessage": {"InboundQueue.Arn"}},
        # Passive reply mode (functions/wechat-webhook/src/handler.rs, config.rs): the rules
        # document the router uses (DynamoDbRulesStore::get: GetItem of PK=CONFIG, SK=RULES),
        # nothing else of the table, cached as long as the router caches them, the wait for them
        # bounded (the code's defaults).
        table={"dynamodb:GetItem": {CONFIG}},
        env={**WEBHOOK_ENV, **variables("TABLE_NAME=GatewayTable RULES_CACHE_SECS=30 PASSIVE_RULES_TIMEOUT_MS=1000")},
        routes=(("GET", "/wechat/{account}"), ("POST", "/wechat/{account}")), api="HttpApi",
        integration_timeout_ms=5000, url_output=("WeChatWebhookUrl", "/wechat/{account}"), latency_alarm_ms=3000,
    ),
    "WeiboWebhookFunction": FunctionSpec(
        binary="weibo-webhook", kind="webhook", timeout_secs=4, secret="WebhookCredentialsSecret",
        permissions={"sqs:SendMessage": {"InboundQueue.Arn"}},
        env=WEBHOOK_ENV,
        routes=(("GET", "/weibo/{account}"), ("POST", "/weibo/{account}")), api="HttpApi",
        integration_timeout_ms=5000, url_output=("WeiboWebhookUrl", "/weibo/{account}"), latency_alarm_ms=3000,
    ),
    # The router, from the code it runs (functions/message-router/src/handler.rs; gateway-aws
    # dynamodb/conversations.rs DynamoDbConversationStore::{load, commit_inbound}, dynamodb/rules.rs
    # DynamoDbRulesStore::get, sqs/inbound.rs, sqs/replies.rs). No secret.
    "MessageRouterFunction": FunctionSpec(
        binary="message-router", kind="consumer", timeout_secs=30,
        # Poison records are moved to the DLQ explicitly; auto-replies are queued on the outbound
        # queue (gateway-aws SqsReplyQueue::enqueue).
        # and the fetches of a message's media on the media queue (gateway-aws SqsMediaQueue: one
        # SendMessageBatch, authorized by sqs:SendMessage).
        permissions={**_consume("InboundQueue"),
                     "sqs:SendMessage": {"InboundDeadLetterQueue.Arn", "OutboundQueue.Arn", "MediaQueue.Arn"}},
        # load and the rules (GetItem); commit_inbound's TransactWriteItems, which has no IAM
        # action: it is authorized per item, and its items are Puts (message, conversation, new
        # TAG# items) and Deletes (TAG# items of removed tags), all in the conversation's
        # partition. No Update or ConditionCheck item, no Query, no index: base table only.
        # A template message's finish report (gateway-aws DynamoDbTemplateSends::settle): the
        # msgid's lookup and the delivery record (GetItem), then one TransactWriteItems of Update
        # items, the record and the reply's thread item (UpdateItem on REPLY#, CONV#).
        table={"dynamodb:GetItem": {CONV, CONFIG, TPLMSG, REPLY}, "dynamodb:PutItem": {CONV},
               "dynamodb:DeleteItem": {CONV}, "dynamodb:UpdateItem": {CONV, REPLY}},
        env=variables("TABLE_NAME=GatewayTable DEAD_LETTER_QUEUE_URL=InboundDeadLetterQueue OUTBOUND_QUEUE_URL=OutboundQueue",
                      "MEDIA_QUEUE_URL=MediaQueue MESSAGE_TTL_DAYS=MessageTtlDays RULES_CACHE_SECS=30",
                      # A cached customer profile this old is fetched again (docs/profiles.md).
                      "PROFILE_REFRESH_SECS=604800"),
        consumes="InboundQueue", reserved_concurrency=("MessageRouterReservedConcurrency", 10),
    ),
    # reply-sender, from the code it runs (shared/gateway-aws: dynamodb/deliveries.rs,
    # dynamodb/tokens.rs, dynamodb/conversations.rs, sqs/reply_dead_letters.rs, sqs/inbound.rs,
    # sqs/retry_backoff.rs, secrets.rs).
    "ReplySenderFunction": FunctionSpec(
        binary="reply-sender", kind="consumer", timeout_secs=180, secret="DeliveryCredentialsSecret",
        # Undecodable records (SqsDeadLetterSink) and commands refused for good
        # (SqsReplyDeadLetters) go to the outbound DLQ.
        permissions={**_consume("OutboundQueue"), "sqs:SendMessage": {"OutboundDeadLetterQueue.Arn"},
                     # The agents' files a media reply names (gateway-core delivery/uploads.rs).
                     "s3:GetObject": {UPLOAD_OBJECTS}},
        # Delivery ledger: get (GetItem), claim/mark_failed (PutItem), release (DeleteItem),
        # mark_sent (UpdateItem), commit_delivered/commit_undeliverable (TransactWriteItems of
        # Update and Put items). Token cache: GetItem, UpdateItem (lease, store, invalidate).
        # Conversations: load (GetItem) and their outbound messages. No Query, no ConditionCheck
        # item, base table only.
        # The media ids of the agents' files (DynamoDbUploadedIds: GetItem, PutItem, UPLOAD#...).
        # A template message's msgid lookup (mark_template_sent: a Put item, TPLMSG#...).
        # Template messages' daily quota (TPLQUOTA#...): the day's GetItem before a send, the
        # sent count (an Update item of the delivered transaction) and the 45009 marker
        # (UpdateItem).
        table={a: {CONV, REPLY, TOKEN} | ({UPLOAD} if a in ("dynamodb:GetItem", "dynamodb:PutItem") else set())
               | ({TPLMSG} if a == "dynamodb:PutItem" else set())
               | ({TPLQUOTA} if a in ("dynamodb:GetItem", "dynamodb:UpdateItem") else set())
               for a in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")},
        # Config::from_lookup (functions/reply-sender/src/config.rs): every variable it reads,
        # set explicitly (the code's defaults, except PLATFORM_TIMEOUT_SECS: see
        # reply-sender-timings).
        env={**variables(
            "TABLE_NAME=GatewayTable OUTBOUND_QUEUE_URL=OutboundQueue OUTBOUND_DEAD_LETTER_QUEUE_URL=OutboundDeadLetterQueue",
            f"MEDIA_BUCKET={MEDIA_BUCKET}",
            "ACCOUNTS_CACHE_SECS=60 WECHAT_API_BASE_URL=https://api.weixin.qq.com WEIBO_API_BASE_URL=https://m.api.weibo.com",
            # Public replies (issue 19, public_comment): Weibo's open API, comments/reply and
            # comments/create (not the direct-message host above).
            "WEIBO_OPEN_API_BASE_URL=https://api.weibo.com",
            "WECHAT_TOKEN_API=stable PLATFORM_TIMEOUT_SECS=5 AWS_OPERATION_TIMEOUT_MS=4000",
            "TOKEN_REFRESH_AHEAD_SECS=300 TOKEN_LEASE_SECS=20 TOKEN_WAIT_MS=3000",
            "DELIVERY_CLAIM_TIMEOUT_SECS=240 DELIVERY_RECORD_TTL_DAYS=30 MESSAGE_TTL_DAYS=MessageTtlDays RETRY_BASE_SECS=10 RETRY_MAX_SECS=300",
            # Deliveries of one command before a transient failure dead-letters it with the
            # reason (below the outbound queue's maxReceiveCount: reply-sender-attempts-below-redrive).
            "REPLY_MAX_ATTEMPTS=4",
        ), **REPLY_WINDOW_ENV},
        consumes="OutboundQueue", in_vpc_with_fixed_egress=True, reserved_concurrency=("ReplySenderReservedConcurrency", 5),
    ),
    # media-fetcher (issue 18: functions/media-fetcher, running gateway-core media/
    # fetch_and_record; gateway-aws dynamodb/tokens.rs, secrets.rs; the variables below are the
    # contract its config reads): consumes the media queue, downloads each object from the
    # platform (WeChat with the access-token broker reply-sender uses, Weibo's media host) into
    # the media bucket under media/, records it on the message.
    "MediaFetcherFunction": FunctionSpec(
        binary="media-fetcher", kind="consumer", timeout_secs=180, secret="DeliveryCredentialsSecret",
        # The retry backoff (ChangeMessageVisibility); undecodable commands, media refused for
        # good and commands retried out go to the media DLQ, with the reason. The object: put,
        # and head (a retry finding it stored; authorized by s3:GetObject), under media/ only.
        # Profile commands (docs/profiles.md): a new profile's notice on the inbound FIFO queue
        # (SqsProfileNotices, SendMessage), for the router's profile rules.
        permissions={**_consume("MediaQueue"), "sqs:SendMessage": {"MediaDeadLetterQueue.Arn", "InboundQueue.Arn"},
                     "s3:GetObject": {MEDIA_OBJECTS}, "s3:PutObject": {MEDIA_OBJECTS}},
        # The message's `media` map and the conversation's `profile` (UpdateItem, CONV#...); the
        # token cache and lease (GetItem, UpdateItem, TOKEN#...), as reply-sender uses them. No
        # Put, no Delete, no Query.
        table={"dynamodb:GetItem": {TOKEN}, "dynamodb:UpdateItem": {CONV, TOKEN}},
        env=variables(
            "TABLE_NAME=GatewayTable MEDIA_QUEUE_URL=MediaQueue MEDIA_DEAD_LETTER_QUEUE_URL=MediaDeadLetterQueue",
            f"MEDIA_BUCKET={MEDIA_BUCKET} ACCOUNTS_CACHE_SECS=60 WECHAT_API_BASE_URL=https://api.weixin.qq.com",
            "WEIBO_MEDIA_BASE_URL=https://upload.api.weibo.com WECHAT_TOKEN_API=stable PLATFORM_TIMEOUT_SECS=15",
            "AWS_OPERATION_TIMEOUT_MS=4000 TOKEN_REFRESH_AHEAD_SECS=300 TOKEN_LEASE_SECS=30 TOKEN_WAIT_MS=3000",
            # Attempts of one command before a transient failure dead-letters it with the reason
            # (below the media queue's maxReceiveCount: media-attempts-below-redrive).
            "MEDIA_MAX_ATTEMPTS=4 RETRY_BASE_SECS=10 RETRY_MAX_SECS=300",
            # Profiles: Weibo's users/show on the open API; notices to the router.
            "WEIBO_OPEN_API_BASE_URL=https://api.weibo.com INBOUND_QUEUE_URL=InboundQueue",
        ),
        consumes="MediaQueue", in_vpc_with_fixed_egress=True, reserved_concurrency=("MediaFetcherReservedConcurrency", 5),
    ),
    # webhook-sender (issue 20: functions/webhook-sender, running gateway-core webhook_target::
    # process; gateway-platforms webhook_target.rs, gateway-aws sqs/webhooks.rs; docs/webhooks.md):
    # consumes the webhook queue the bus rule fills, POSTs each event, signed, to the API clients
    # subscribed to it (their webhook targets from its own secret), fanning an event for several
    # clients out on the same queue. No table, no platform credential, outside the VPC (it calls
    # the clients' endpoints, not the platforms).
    "WebhookSenderFunction": FunctionSpec(
        binary="webhook-sender", kind="consumer", timeout_secs=60, secret="WebhookTargetsSecret",
        # The retry backoff (ChangeMessageVisibility); the fan-out (SendMessageBatch on its own
        # queue); deliveries refused for good or retried out go to its DLQ, with the reason.
        permissions={**_consume("WebhookQueue"), "sqs:SendMessage": {"WebhookQueue.Arn", "WebhookDeadLetterQueue.Arn"}},
        env=variables(
            "WEBHOOK_QUEUE_URL=WebhookQueue WEBHOOK_DEAD_LETTER_QUEUE_URL=WebhookDeadLetterQueue ACCOUNTS_CACHE_SECS=60",
            "WEBHOOK_TIMEOUT_SECS=5 AWS_OPERATION_TIMEOUT_MS=4000",
            # Attempts of one delivery before a transient failure dead-letters it with the reason
            # (below the webhook queue's maxReceiveCount).
            "WEBHOOK_MAX_ATTEMPTS=6 RETRY_BASE_SECS=10 RETRY_MAX_SECS=600",
        ),
        # Bounded: a slow or failing receiver cannot take the concurrency the customers'
        # messages need.
        consumes="WebhookQueue", reserved_concurrency=("WebhookSenderReservedConcurrency", 5),
    ),
    # reply-api (functions/reply-api/src/handler.rs, config.rs): queues the agent's reply
    # (SqsReplyQueue), its clients from the ApiClients secret. The conversation exists (CONV#)
    # and the delivery state (REPLY#): read only. Its idempotency records (APIREQ#): read a
    # retried request's, write a new one's. The CRM's names for WeChat customers (CRM#): put,
    # delete, read back (BatchGetItem; DynamoDbCrmContacts).
    "ReplyApiFunction": FunctionSpec(
        binary="reply-api", kind="api", timeout_secs=6, secret="ApiClientsSecret",
        permissions={"sqs:SendMessage": {"OutboundQueue.Arn"}},
        table={"dynamodb:GetItem": {CONV, REPLY, APIREQ}, "dynamodb:PutItem": {APIREQ, CRM},
               "dynamodb:DeleteItem": {CRM}, "dynamodb:BatchGetItem": {CRM}},
        env=variables("OUTBOUND_QUEUE_URL=OutboundQueue TABLE_NAME=GatewayTable ACCOUNTS_CACHE_SECS=60 REPLY_API_MAX_CLOCK_SKEW_SECS=300",
                      "REPLY_API_ACCEPT_V1=true ACCOUNTS_MAX_STALE_SECS=900 MAX_BODY_BYTES=65536"),
        # The code also answers GET /replies/{reply_id} and the contacts (handler.rs `route`).
        routes=(("POST", "/replies"), ("GET", "/replies/{reply_id}"),
                ("PUT", "/contacts/{channel}/{account}/{unionid}"),
                ("GET", "/contacts/{channel}/{account}/{unionid}"),
                ("DELETE", "/contacts/{channel}/{account}/{unionid}")), api="ReplyHttpApi",
        integration_timeout_ms=8000, url_output=("ReplyApiUrl", "/replies"), latency_alarm_ms=3000,
    ),
    # sla-monitor (functions/sla-monitor/src/{main,config,handler}.rs; gateway-core sla/;
    # gateway-aws dynamodb/sla_records.rs, dynamodb/inboxes.rs, sqs/timers.rs, sns.rs,
    # dynamodb/rules.rs): the table's stream (conversation changes: timers and alerts; a new
    # conversation registers its account), the timers queue (timers that come up) and, every
    # minute, the schedule (the inbox gauges). No secret.
    "SlaMonitorFunction": FunctionSpec(
        binary="sla-monitor", kind="consumer", timeout_secs=30,
        # Polls the timers queue (no ChangeMessageVisibility: a failed timer comes back after the
        # visibility timeout); schedules and chains timers on it (SqsTimers::schedule); publishes
        # escalations and breaches (SnsAlerts::publish); its stream event source reads the
        # stream and sends what it gives up on to StreamFailuresQueue.
        permissions={**_poll("TimersQueue"), **_read_stream("GatewayTable"),
                     "sqs:SendMessage": {"TimersQueue.Arn", "StreamFailuresQueue.Arn"}, "sns:Publish": {"AlertsTopic"}},
        # load and the rules (GetItem; CONFIG: DynamoDbRulesStore::get), record_breach
        # (UpdateItem), replace's TransactWriteItems (authorized per item: the conversation's
        # Put, the Put and Delete items of its TAG# rows, all in the conversation's partition);
        # Inboxes::register (PutItem of PK=ACCOUNTS, SK=<channel>#<account>). No
        # ConditionCheck item.
        table={"dynamodb:GetItem": {CONV, CONFIG}, "dynamodb:UpdateItem": {CONV}, "dynamodb:PutItem": {CONV, ACCOUNTS},
               "dynamodb:DeleteItem": {CONV}},
        # Inboxes::accounts (Query PK = ACCOUNTS) and Inboxes::gauge (Query GSI1, GSI1PK =
        # INBOX#<channel>#<account>#open, the waiting entries: a count, then the oldest).
        table_queries={ACCOUNTS}, index_queries=("GSI1",),
        # Config::from_lookup (functions/sla-monitor/src/config.rs): every variable, the code's defaults.
        env=variables("TABLE_NAME=GatewayTable TIMERS_QUEUE_URL=TimersQueue ALERTS_TOPIC_ARN=AlertsTopic",
                      "SLA_BREACH_GRACE_SECS=10 RULES_CACHE_SECS=30"),
        consumes="TimersQueue",
        # Conversation items only (gateway-lambda stream_batch.rs is_conversation: SK META,
        # PK CONV#...); old and new images (conversation_change reads both).
        stream=StreamSourceSpec(
            table="GatewayTable", view_type="NEW_AND_OLD_IMAGES", starting_position="TRIM_HORIZON", batch_size=10,
            max_retry_attempts=10, max_record_age_secs=21600, on_failure="StreamFailuresQueue",
            filters=(CONVERSATION_ITEMS,),
        ),
        # handler.rs `parse`: an event whose source is aws.events is the schedule (Batch::Schedule).
        schedule="rate(1 minute)",
    ),
    # weibo-poller (issue 19: functions/weibo-poller; gateway-platforms' Weibo timelines,
    # gateway-aws' cursor store and inbound publisher; the variables below are the contract its
    # config reads): every minute, the comment and mention timelines of each Weibo account whose
    # `listening` is set, from its since_id cursors, queued on the inbound queue as the webhooks
    # queue theirs. Nothing else: no queue consumed, no conversation read.
    "WeiboPollerFunction": FunctionSpec(
        binary="weibo-poller", kind="scheduled", timeout_secs=50, secret="DeliveryCredentialsSecret",
        # SendMessageBatch on the inbound FIFO queue (authorized by sqs:SendMessage).
        permissions={"sqs:SendMessage": {"InboundQueue.Arn"}},
        # Its cursor items only (GetItem, PutItem, conditional UpdateItem; PK POLL#weibo#<account>).
        table={"dynamodb:GetItem": {POLL_WEIBO}, "dynamodb:PutItem": {POLL_WEIBO}, "dynamodb:UpdateItem": {POLL_WEIBO}},
        env=variables("TABLE_NAME=GatewayTable QUEUE_URL=InboundQueue ACCOUNTS_CACHE_SECS=60",
                      "WEIBO_OPEN_API_BASE_URL=https://api.weibo.com WEIBO_BIZ_API_BASE_URL=https://c.api.weibo.com",
                      "PLATFORM_TIMEOUT_SECS=5 POLL_MAX_PAGES=5"),
        # Calls Weibo's APIs: from the fixed address when EnableFixedEgress, as the other callers.
        in_vpc_with_fixed_egress=True,
        # One run at a time (overlapping runs would read the same pages twice); its Timeout below
        # the schedule's period (schedule-timeout-under-period), so the next run finds it done.
        reserved_concurrency=1,
        schedule="rate(1 minute)",
    ),
    # stats-aggregator (functions/stats-aggregator/src/{main,config,handler}.rs; gateway-core
    # stats/; gateway-aws dynamodb/stats.rs, dynamodb/rules.rs): the second reader of the
    # table's stream. No queue, no secret.
    # It also publishes each change's events (docs/events.md; gateway-aws eventbridge.rs,
    # dynamodb/published_changes.rs): PutEvents on the deployment's bus only (the only function
    # that may), and the marker of a change's events (GetItem and PutItem of PK=STREAM#<event id>).
    "StatsAggregatorFunction": FunctionSpec(
        binary="stats-aggregator", kind="stream", timeout_secs=30,
        permissions={**_read_stream("GatewayTable"), "sqs:SendMessage": {"StreamFailuresQueue.Arn"},
                     "events:PutEvents": {"EventBus.Arn"}},
        # The accounts' time zones (DynamoDbRulesStore::get: GetItem of CONFIG); DynamoDbStats::
        # apply's TransactWriteItems, authorized per item: the Put of the change's marker
        # (PK=STREAM#<event id>, on condition attribute_not_exists) and an Update (ADD) of each
        # daily record it touches (PK=STATS#<channel>:<account>). Reads no conversation, no
        # Query (the report's `days` query is gatewayctl's, not the aggregator's).
        table={"dynamodb:GetItem": {CONFIG, STREAM_MARKER}, "dynamodb:PutItem": {STREAM_MARKER}, "dynamodb:UpdateItem": {STATS}},
        # Config::from_lookup (functions/stats-aggregator/src/config.rs): every variable, the code's default.
        env=variables("TABLE_NAME=GatewayTable EVENT_BUS_NAME=EventBus RULES_CACHE_SECS=30"),
        # handler.rs `delta_of`: conversation items (SK META, every change, both images) and
        # inbound messages (SK MSG#..., direction in, inserts only); nothing else invokes it.
        stream=StreamSourceSpec(
            table="GatewayTable", view_type="NEW_AND_OLD_IMAGES", starting_position="TRIM_HORIZON", batch_size=10,
            max_retry_attempts=10, max_record_age_secs=21600, on_failure="StreamFailuresQueue",
            filters=(CONVERSATION_ITEMS, INBOUND_MESSAGES, FINAL_DELIVERY_RECORDS),
        ),
    ),
    # desk-api (functions/desk-api: src/config.rs, src/main.rs; gateway-aws dynamodb/desk.rs,
    # dynamodb/conversations.rs, dynamodb/rules.rs, dynamodb/stats.rs, sqs/replies.rs): the
    # agents' and supervisors' desk, on the reply HTTP API behind the Cognito JWT authorizer. It
    # queues an agent's reply on the outbound queue (as reply-api). The table: a conversation and
    # the agents' profiles (GetItem); the rules document (DynamoDbRulesStore::get: GetItem of
    # PK=CONFIG, SK=RULES; a resolution removes the tags the rules' `lifecycle` names);
    # DynamoDbDesk::commit_change's TransactWriteItems, authorized per item: Put items only (the
    # conversation on its version, its audit entry, a note) and the Put and Delete items of its
    # TAG# rows, all in the conversation's partition; no Update and no ConditionCheck item, so
    # neither UpdateItem nor ConditionCheckItem (the checks refuse either). The agents' profiles
    # and canned responses: PutItem, DeleteItem. Query: a thread's messages and audit trail, the
    # agents, the canned responses, the daily statistics, the account registry on the table;
    # the inboxes (GSI1) and the teams' queues and tags (GSI2). No Scan, no KMS for the table,
    # the queue and the bucket (AWS managed keys; the pool's keys are public). Media: presigned
    # GET URLs of the media bucket's media/ and uploads/ (s3:GetObject, all a URL needs of its
    # signer), an agent's file stored under uploads/ (s3:PutObject) and sent to WeChat's
    # media/upload API with the access-token broker (the delivery credentials secret, the token
    # cache and lease: GetItem, UpdateItem of TOKEN#...), from the fixed egress address.
    "DeskApiFunction": FunctionSpec(
        binary="desk-api", kind="api", timeout_secs=6, secret="DeliveryCredentialsSecret",
        permissions={"sqs:SendMessage": {"OutboundQueue.Arn"}, "s3:GetObject": {MEDIA_OBJECTS, UPLOAD_OBJECTS},
                     "s3:PutObject": {UPLOAD_OBJECTS}},
        table={"dynamodb:GetItem": {CONV, AGENTS, CONFIG, TOKEN}, "dynamodb:PutItem": {CONV, AGENTS, CANNED},
               "dynamodb:DeleteItem": {CONV, AGENTS, CANNED}, "dynamodb:UpdateItem": {TOKEN},
               # The CRM's names joined to a page of conversations (CRM#; DynamoDbCrmContacts).
               "dynamodb:BatchGetItem": {CRM}},
        table_queries={CONV, AGENTS, CANNED, STATS, ACCOUNTS}, index_queries=("GSI1", "GSI2"),
        # Config::from_lookup: the pool and its app client, every setting with the code's default
        # written down (the rules cached as long as the others cache them); DESK_TOKEN_ISSUER and
        # DESK_JWKS_URL are left to their defaults (from the pool id and AWS_REGION), so never set.
        # Media: the bucket, the presigned URLs' lifetime, the largest upload (desk-upload-fits-
        # lambda), and the token broker's settings with reply-sender's timings.
        env={**variables("TABLE_NAME=GatewayTable OUTBOUND_QUEUE_URL=OutboundQueue DESK_USER_POOL_ID=DeskUserPool",
                         "DESK_CLIENT_ID=DeskUserPoolClient DESK_JWKS_CACHE_SECS=3600 DESK_MAX_BODY_BYTES=16384",
                         "RULES_CACHE_SECS=30",
                         f"MEDIA_BUCKET={MEDIA_BUCKET} MEDIA_URL_TTL_SECS=600 DESK_MAX_UPLOAD_BYTES=4194304",
                         "WECHAT_API_BASE_URL=https://api.weixin.qq.com WECHAT_TOKEN_API=stable PLATFORM_TIMEOUT_SECS=5",
                         "TOKEN_REFRESH_AHEAD_SECS=300 TOKEN_LEASE_SECS=20 TOKEN_WAIT_MS=3000"), **REPLY_WINDOW_ENV},
        routes=(("GET", "/me"), ("GET", "/agents"), ("PUT", "/agents/{agent_id}"), ("DELETE", "/agents/{agent_id}"),
                ("GET", "/conversations"), ("GET", "/conversations/counts"), ("POST", "/conversations/next"),
                ("GET", "/conversations/{key}"), ("PATCH", "/conversations/{key}"), ("GET", "/conversations/{key}/messages"),
                ("POST", "/conversations/{key}/replies"), ("POST", "/conversations/{key}/notes"),
                ("GET", "/conversations/{key}/audit"), ("GET", "/canned-responses"), ("POST", "/canned-responses"),
                ("PUT", "/canned-responses/{id}"), ("DELETE", "/canned-responses/{id}"), ("GET", "/stats"),
                ("POST", "/media")),
        api="ReplyHttpApi", integration_timeout_ms=8000, url_output=("DeskApiUrl", ""), latency_alarm_ms=3000,
        authorizer="DeskAuthorizer", in_vpc_with_fixed_egress=True,
    ),
}


def secret_readers(secret: str) -> set[str]:
    return {lid for lid, spec in FUNCTIONS.items() if spec.secret == secret}


# The queues of the event sources, each with its DLQ (depth alarmed); visibility timeout 6 x
# the Timeout of its consumer (the FunctionSpec whose `consumes` it is). FIFO: high-throughput,
# explicit deduplication ids. Standard (fifo=False): what FIFO queues cannot do, delay one
# message; redrive after STANDARD_MAX_RECEIVE_COUNT receives, no queue-level delay.
@dataclass(frozen=True)
class QueueSpec:
    dlq: str
    age_alarm_secs: int | None  # alarm on ApproximateAgeOfOldestMessage above this (None: none)
    fifo: bool = True
    # A standard queue's redrive (None: STANDARD_MAX_RECEIVE_COUNT); a consumer that dead-letters
    # itself after an attempt limit keeps the redrive above it (media-attempts-below-redrive).
    max_receive_count: int | None = None


QUEUES: dict[str, QueueSpec] = {
    "InboundQueue": QueueSpec("InboundDeadLetterQueue", 60),
    "OutboundQueue": QueueSpec("OutboundDeadLetterQueue", 600),
    # sla-monitor's timers, each a message delayed until it comes due (at most 15 minutes,
    # chained beyond). No age alarm: timers wait on purpose; one that keeps failing ends in the
    # DLQ, whose depth is alarmed.
    "TimersQueue": QueueSpec("TimersDeadLetterQueue", None, fifo=False),
    # media-fetcher's fetch commands: standard (each object on its own; no order between them,
    # and a FIFO group would hold a conversation's later media behind one slow download). Its
    # redrive a backstop above MEDIA_MAX_ATTEMPTS.
    "MediaQueue": QueueSpec("MediaDeadLetterQueue", 600, fifo=False, max_receive_count=10),
    # webhook-sender's deliveries: standard (each on its own; a receiver's retries hold back no
    # other delivery). Its redrive a backstop above WEBHOOK_MAX_ATTEMPTS.
    "WebhookQueue": QueueSpec("WebhookDeadLetterQueue", 1800, fifo=False, max_receive_count=10),
}
STANDARD_MAX_RECEIVE_COUNT = 5
DLQ_RETENTION_SECS = 1209600  # 14 days, SQS's maximum: of the standard DLQs and the on-failure queues


def consumer_of(queue: str) -> str:
    (lid,) = [lid for lid, spec in FUNCTIONS.items() if spec.consumes == queue]
    return lid


def visibility_secs(queue: str) -> int:
    return 6 * FUNCTIONS[consumer_of(queue)].timeout_secs


# The functions EventBridge invokes on a schedule: {function: schedule expression}. Each by
# exactly one enabled rule of the stack targeting it, with the Lambda permission for
# events.amazonaws.com from that rule (SAM's Schedule event creates both); no other rule.
SCHEDULES = {lid: spec.schedule for lid, spec in FUNCTIONS.items() if spec.schedule}

# The stream event sources' on-failure queues (standard, 14 days, depth alarmed like a DLQ).
FAILURE_QUEUES = tuple(dict.fromkeys(f.stream.on_failure for f in FUNCTIONS.values() if f.stream))
ALL_QUEUES = (*QUEUES, *(q.dlq for q in QUEUES.values()), *FAILURE_QUEUES)

# reply-sender starts a record only when the worst case of one delivery is left of the
# invocation: worst_case_record in functions/reply-sender/src/config.rs, 13 AWS calls at
# AWS_OPERATION_TIMEOUT_MS plus 5 platform calls at PLATFORM_TIMEOUT_SECS, plus MARGIN_SLACK;
# its Timeout fits two such worst cases, so a batch makes progress.
REPLY_SENDER_AWS_CALLS, REPLY_SENDER_PLATFORM_CALLS, REPLY_SENDER_SLACK_SECS = 13, 5, 2
REPLY_SENDER_WORST_CASES_PER_INVOCATION = 2
# media-fetcher starts a command only when the worst case of one is left of the invocation:
# worst_case_record in functions/media-fetcher/src/config.rs, 12 AWS calls at
# AWS_OPERATION_TIMEOUT_MS plus 6 platform calls at PLATFORM_TIMEOUT_SECS, plus MARGIN_SLACK.
MEDIA_FETCHER_AWS_CALLS, MEDIA_FETCHER_PLATFORM_CALLS, MEDIA_FETCHER_SLACK_SECS = 12, 6, 2
# Receives an unsettled reply may need after the sender's last allowed attempt.
UNSETTLED_RECEIVES = 2
SQS_MAX_VISIBILITY_SECS = 43200  # what ChangeMessageVisibility accepts

# The HTTP APIs: the webhooks' and the reply API's, separate so that a flood on one cannot use
# up the other's throttling. {logical id: (rate limit parameter and default, burst limit
# parameter and default)}: the stage's DefaultRouteSettings and the RouteSettings of every one
# of its routes (exactly its functions' routes) are these parameters.
HTTP_APIS: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {
    "HttpApi": (("WebhookRouteRateLimit", 500), ("WebhookRouteBurstLimit", 1000)),
    "ReplyHttpApi": (("ReplyApiRouteRateLimit", 50), ("ReplyApiRouteBurstLimit", 100)),
}


# Amazon Cognito user pools (the desk's sign-in): {logical id: its spec}. The only pools, app
# clients and groups of the stack. A pool: only administrators create users (no self sign-up);
# its password policy at least as strict as the spec's; deletion protection ACTIVE, and the
# pool and its groups retained on stack deletion and replacement (agents' accounts survive a
# stack mistake). Its one app client: public (no secret), exactly the spec's auth flows,
# PreventUserExistenceErrors ENABLED, access tokens valid exactly the spec's minutes, token
# revocation on. Its ARN is no output: the pool id <pool>Id and the client id <client>Id are.
@dataclass(frozen=True)
class UserPoolSpec:
    client: str  # logical id of its app client
    groups: dict[str, str]  # {logical id: group name}
    auth_flows: frozenset[str]  # the client's ExplicitAuthFlows, exactly
    access_token_minutes: int
    min_password_length: int
    max_temporary_password_days: int


# The client's flows: SRP (the desk, in the browser), refresh tokens, and USER_PASSWORD_AUTH for
# the command-line login (the password goes to Cognito over TLS: a shell script cannot do the SRP
# exchange). Never ADMIN_USER_PASSWORD_AUTH (IAM credentials), CUSTOM_AUTH or USER_AUTH.
USER_POOLS: dict[str, UserPoolSpec] = {
    "DeskUserPool": UserPoolSpec(
        client="DeskUserPoolClient",
        groups={"DeskAgentsGroup": "agents", "DeskSupervisorsGroup": "supervisors", "DeskAdminsGroup": "admins"},
        auth_flows=frozenset({"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"}),
        access_token_minutes=60, min_password_length=12, max_temporary_password_days=7,
    ),
}
# Cognito's units of the token validities (TokenValidityUnits; default: hours for the access
# and ID tokens).
TOKEN_UNIT_MINUTES = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 1440}


# JWT authorizers of the HTTP APIs: {name: AuthorizerSpec}. On its HTTP API only, type JWT,
# identity source exactly the Authorization header, issuer exactly its pool's
# (https://cognito-idp.<region>.amazonaws.com/<pool id>), audience exactly the pool's app client
# (API Gateway checks an access token's client_id against it: Cognito's access tokens have no
# aud). Exactly the routes of the functions whose FunctionSpec.authorizer names it are behind it;
# every other route has no authorizer (and no scopes).
class AuthorizerSpec(NamedTuple):
    api: str  # logical id of its HTTP API
    pool: str  # the user pool (USER_POOLS) whose tokens it accepts
    # The AuthorizationScopes of every route behind it, exactly: API Gateway lets a token through
    # only if its scope (or scp) claim holds at least one of them, so one more scope widens the
    # route and none lets any JWT of the pool and client through.
    scopes: tuple[str, ...]


# The scope of every access token of a user pool's API sign-in (InitiateAuth: USER_SRP_AUTH,
# USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH; Cognito Developer Guide, "Using the Amazon Cognito
# user pools API and user pool endpoints"). Cognito's ID tokens carry no scope claim, and their
# aud is the app client's id, the authorizer's audience: only a required scope keeps them out
# of the desk's routes at the gateway, as desk-api keeps them out by their token_use (API
# Gateway Developer Guide, "Control access to HTTP APIs with JWT authorizers": no standard
# mechanism tells access tokens from ID tokens; require scopes).
COGNITO_SIGNIN_SCOPE = "aws.cognito.signin.user.admin"
AUTHORIZERS: dict[str, AuthorizerSpec] = {
    "DeskAuthorizer": AuthorizerSpec("ReplyHttpApi", "DeskUserPool", (COGNITO_SIGNIN_SCOPE,)),
}
JWT_IDENTITY_SOURCE = ("$request.header.Authorization",)


def issuer_of(pool: str) -> str:
    """The canonical issuer of a user pool's tokens (model.canon of the templates' Sub/Join)."""
    return f"https://cognito-idp.AWS::Region.amazonaws.com/{pool}"

# Alarms on metrics the functions emit (EMF, namespace ChannelGateway) with NO dimensions (one
# aggregate each): Sum >= 1 over 5 minutes. 5xx of each HTTP API (dimension ApiId): Sum >= 5.
# SlaBreaches: sla-monitor emits it per breach recorded (handler.rs `report`), also as the
# aggregate.
# EventsPublishFailed: stats-aggregator, per failed PutEvents (handler/publish.rs).
APP_ALARM_METRICS = ("AccountsRefreshFailed", "AccountsUnavailable", "DeliveryUncertain", "SlaBreaches", "EventsPublishFailed")
HTTP_API_5XX_THRESHOLD = 5
# Alarms on a level (a gauge the functions emit, namespace ChannelGateway, no dimensions: the
# aggregate), Maximum over 5 minutes above a parameter: {metric: (parameter, its default,
# its MinValue)}. OldestWaitingSeconds: the longest any customer of any account has waited
# unanswered, measured every minute by sla-monitor (handler.rs `gauges`).
LEVEL_ALARMS: dict[str, tuple[str, int, int]] = {"OldestWaitingSeconds": ("OldestWaitAlarmSeconds", 1800, 60)}
# Alarms on a failure that must persist (a metric the functions emit, namespace ChannelGateway,
# no dimensions, Sum >= 1 in each of several consecutive one-minute periods: one failed cycle
# is a blip, consecutive ones a stopped feed): {metric: consecutive minutes}. PollFailures:
# weibo-poller emits it per timeline poll that failed (functions/weibo-poller; check
# persistent-failure-alarms: Period 60, EvaluationPeriods = DatapointsToAlarm = the minutes,
# missing data not breaching).
PERSISTENT_FAILURE_ALARMS: dict[str, int] = {"PollFailures": 5}

# (namespace, metric, {dimension: referenced logical id}, threshold (a number, or the
# parameter it is), statistic, operator, period)
Alarm = tuple[str, str, dict[str, str], "float | str", str, str, "int | None"]


def wanted_alarms() -> list[Alarm]:
    gt, ge = "GreaterThanThreshold", "GreaterThanOrEqualToThreshold"
    out: list[Alarm] = []
    for queue, q in QUEUES.items():
        out.append(("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": q.dlq}, 0, "Maximum", gt, None))
        if q.age_alarm_secs is not None:
            out.append(("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": queue}, q.age_alarm_secs, "Maximum", gt, None))
    out += [("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": q}, 0, "Maximum", gt, None) for q in FAILURE_QUEUES]
    for lid, spec in FUNCTIONS.items():
        out += [("AWS/Lambda", metric, {"FunctionName": lid}, 0, "Sum", gt, None) for metric in ("Errors", "Throttles")]
        if spec.latency_alarm_ms is not None:
            out.append(("AWS/Lambda", "Duration", {"FunctionName": lid}, spec.latency_alarm_ms, "p99", gt, None))
    out += [("ChannelGateway", metric, {}, 1, "Sum", ge, 300) for metric in APP_ALARM_METRICS]
    out += [("AWS/ApiGateway", "5xx", {"ApiId": api}, HTTP_API_5XX_THRESHOLD, "Sum", ge, 300) for api in HTTP_APIS]
    out += [("ChannelGateway", metric, {}, parameter, "Maximum", gt, 300) for metric, (parameter, _, _) in LEVEL_ALARMS.items()]
    out += [("ChannelGateway", metric, {}, 1, "Sum", ge, 60) for metric in PERSISTENT_FAILURE_ALARMS]
    return out


# media-fetcher's EMF metrics (Count, dimension Channel): one per command's outcome.
MEDIA_METRICS = ("MediaStored", "MediaUnavailable", "MediaTooLarge", "MediaRetried", "MediaDeadLettered")
# webhook-sender's EMF metrics (Count, dimension Client, and the aggregate): one per delivery
# attempt's outcome (functions/webhook-sender/src/handler.rs).
WEBHOOK_METRICS = ("WebhookDelivered", "WebhookRetried", "WebhookDeadLettered")
# weibo-poller's EMF metrics (Count): items read (by Channel, Account and Timeline), timeline
# polls that failed and polls refused for the rate limit (by Account).
POLL_SEARCHES = (("ChannelGateway,Channel,Account,Timeline", "PolledItems"), ("ChannelGateway,Account", "PollFailures"),
                 ("ChannelGateway,Account", "PollRateLimited"))

# What the dashboard must show (besides every function and queue): the router's metrics, the
# alarmed application metrics, reply-sender's EMF metrics (functions/reply-sender/src/handler.rs
# `report`, `handle_record`; reply-api emits none) with their dimension sets, sla-monitor's
# (functions/sla-monitor/src/handler.rs `report`: SlaBreaches by channel and account,
# AutoResolved; `gauges`: UnansweredNow, OldestWaitingSeconds) and the age of the stream's
# records (IteratorAge).
DASHBOARD_NEEDED = (
    *MEDIA_METRICS, "InboundMessages", "DuplicateMessages", "RuleHits", "AutoReplies", "Escalations", "FirstResponseTime",
    "ChannelGateway,Channel,Account", *APP_ALARM_METRICS, "ApproximateNumberOfMessagesVisible", "Errors", "Duration",
    "RepliesDelivered", "ChannelGateway,Channel,Origin", "ReplyDeliveryLatencyMs", "RepliesUndeliverable",
    "ChannelGateway,Channel,Reason", "RepliesDeadLettered", "ChannelGateway,Channel,Code", "ReplyRetries",
    "ReplyDuplicates", "ReplyCommandsUndecodable", "AutoResolved", "IteratorAge", *LEVEL_ALARMS, "UnansweredNow",
    *(metric for _, metric in POLL_SEARCHES), *PERSISTENT_FAILURE_ALARMS,
)
# SEARCH expressions the dashboard must plot, (dimension set, metric): the inbox gauges per
# account (sla-monitor emits them with exactly Channel and Account, and as the aggregate).
DASHBOARD_SEARCHES = (("ChannelGateway,Channel,Account", "UnansweredNow"), ("ChannelGateway,Channel,Account", "OldestWaitingSeconds"),
                      *(("ChannelGateway,Channel", metric) for metric in MEDIA_METRICS), *POLL_SEARCHES,
                      *(("ChannelGateway,Client", metric) for metric in WEBHOOK_METRICS))
# Not plotted: UnansweredConversations, the router's +1/-1 flow metric, is no level (its sum
# per period says nothing of how many wait); UnansweredNow is the level that replaces it.
DASHBOARD_FORBIDDEN = ("UnansweredConversations",)

# Log levels the LogLevel parameter may take: never "trace" (raw events and tokens).
# Not "error" either: the metric lines carry level WARN (Lambda's log-level filtering would drop
# them below it; see shared/gateway-lambda/src/metrics.rs).
LOG_LEVELS = {"debug", "info", "warn"}

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
# Stable URLs on the domain: CustomDomain<output> for each function's URL output; plus the target.
CUSTOM_DOMAIN_URLS = {f"CustomDomain{s.url_output[0]}": (s.api, s.url_output[1]) for s in FUNCTIONS.values() if s.url_output}
CUSTOM_DOMAIN_OUTPUTS = {*CUSTOM_DOMAIN_URLS, "CustomDomainTarget"}
SAMPLE_CERTIFICATE = "arn:aws:acm:ap-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
_DOMAIN = {"CustomDomainName": "gateway.example.com", "CustomDomainCertificateArn": SAMPLE_CERTIFICATE}
# Parameter values under which the templates' conditions are evaluated, and how many of each
# DOMAIN_TYPES must then exist (DomainName, ApiMapping, RecordSet).
DOMAIN_CASES: dict[str, tuple[dict[str, str], tuple[int, int, int]]] = {
    "no custom domain (defaults)": ({}, (0, 0, 0)),
    "custom domain, DNS elsewhere": (_DOMAIN, (1, 2, 0)),
    "custom domain and hosted zone": ({**_DOMAIN, "CustomDomainHostedZoneId": "Z0123456789ABCDEFGHIJ"}, (1, 2, 1)),
}
# Parameter values the template's Rules must refuse before any change is made.
DOMAIN_REFUSED = {
    "a custom domain without a certificate": {"CustomDomainName": "gateway.example.com"},
    "a hosted zone without a custom domain": {"CustomDomainHostedZoneId": "Z0123456789ABCDEFGHIJ"},
}

# The SNS topics: {logical id: the parameter of its optional e-mail subscription}. AlarmTopic:
# the alarms (infrastructure); AlertsTopic: the contact centre's alerts (sla-monitor's
# escalations and breaches). Each TLS-only; its e-mail subscription <parameter>Subscription
# exists only under Has<parameter> (the parameter not empty, its default); its ARN is the
# output <topic>Arn.
TOPICS = {"AlarmTopic": "AlarmEmail", "AlertsTopic": "AlertsEmail"}

# The web desk (desk/dist, a single-page app) on S3 and CloudFront (checks_site.py): its files
# in a private bucket that only its distribution reads, through Origin Access Control (never a
# legacy origin access identity), the bucket policy's read restricted to that distribution
# (AWS:SourceArn) and to TLS; the distribution HTTPS-only for viewers, the response headers
# policy on every behaviour, three viewer-request CloudFront Functions (cloudfront-js-2.0) and
# no Lambda: no role, no custom resource, no Lambda@Edge.
DESK_BUCKET, DESK_BUCKET_POLICY, DESK_OAC = "DeskBucket", "DeskBucketPolicy", "DeskOriginAccessControl"
DESK_DISTRIBUTION, DESK_HEADERS_POLICY = "DeskDistribution", "DeskResponseHeadersPolicy"
DESK_PRICE_CLASS = ("DeskPriceClass", "PriceClass_All")  # the parameter of its PriceClass, its default
# The distribution's ARN as the bucket policy's AWS:SourceArn names it (canonical).
DESK_DISTRIBUTION_ARN = f"arn:AWS::Partition:cloudfront::AWS::AccountId:distribution/{DESK_DISTRIBUTION}"
# CloudFront's managed policies (the same ids in every account).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # forwards Authorization when caching is disabled
ALL_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"})


class DeskBehaviour(NamedTuple):
    origin: str  # "bucket" (the desk's bucket, through the OAC) or "api" (DESK_API_ORIGIN)
    cache_policy: str
    origin_request_policy: str | None
    function: str  # its viewer-request CloudFront Function
    methods: frozenset[str]


# The distribution's behaviours: {path pattern ("*": the default): its spec}, exactly these.
# "*": the app's files, its routes (a path without a dot) rewritten to /index.html by the
# function (no error-page rewrite, which would turn the API's 403/404 into the page too).
# /config.json: answered by its function. /api/*: the desk API, same origin (no CORS), /api
# removed by its function, nothing cached, every viewer header (Authorization) but Host.
DESK_BEHAVIOURS: dict[str, DeskBehaviour] = {
    "*": DeskBehaviour("bucket", CACHING_OPTIMIZED, None, "DeskSpaFunction", frozenset({"GET", "HEAD"})),
    "/config.json": DeskBehaviour("bucket", CACHING_DISABLED, None, "DeskConfigFunction", frozenset({"GET", "HEAD"})),
    "/api/*": DeskBehaviour("api", CACHING_DISABLED, ALL_VIEWER_EXCEPT_HOST_HEADER, "DeskApiPathFunction", ALL_METHODS),
}
# The desk API's origin: the reply HTTP API's execute-api host, its stage as the origin path.
DESK_API_ORIGIN = ("ReplyHttpApi.execute-api.AWS::Region.amazonaws.com", "/StageName")
COGNITO_ENDPOINT = "https://cognito-idp.AWS::Region.amazonaws.com/"
# /config.json, exactly (canonical: the region, the pool's and the client's Ref); the desk reads
# these keys. Served application/json, no-store.
DESK_CONFIG = {"api_url": "/api", "cognito": {"region": "AWS::Region", "user_pool_id": "DeskUserPool",
                                               "client_id": "DeskUserPoolClient", "endpoint": COGNITO_ENDPOINT}}
DESK_CONFIG_HEADERS = {"content-type": "application/json", "cache-control": "no-store"}
# The response headers policy (every header with Override true).
DESK_HSTS_SECS = 63072000  # two years, includeSubDomains, preload
DESK_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https://MediaBucket.RegionalDomainName; "
            "media-src 'self' blob: https://MediaBucket.RegionalDomainName; "
            "connect-src 'self' https://cognito-idp.AWS::Region.amazonaws.com; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'; object-src 'none'")
DESK_OUTPUTS = {"DeskUrl": rf"https://{DESK_DISTRIBUTION}\.DomainName", "DeskBucketName": DESK_BUCKET,
                "DeskDistributionId": DESK_DISTRIBUTION}

EXPECTED_PARAMETERS = {
    "StageName", DESK_PRICE_CLASS[0], "LogLevel", "LogRetentionDays", "AccountsSecretKmsKeyArn", *TOPICS.values(), "EnableFixedEgress",
    *(parameter for parameter, _, _ in LEVEL_ALARMS.values()),
    *(f"{lid}Arn" for lid in SECRETS),
    *(f.reserved_concurrency[0] for f in FUNCTIONS.values() if isinstance(f.reserved_concurrency, tuple)),
    *(param for limits in HTTP_APIS.values() for param, _ in limits),
    *CUSTOM_DOMAIN_PARAMETERS, MESSAGE_TTL_PARAMETER[0],
}
# {output: regular expression its canonical value must match}; None: any value.
EXPECTED_OUTPUTS: dict[str, str | None] = {
    **{s.url_output[0]: rf"https://{s.api}\.execute-api\.\S+/StageName{re.escape(s.url_output[1])}"
       for s in FUNCTIONS.values() if s.url_output},
    **{f"{api}Id": api for api in HTTP_APIS},
    **{f"{queue}Url": queue for queue in ALL_QUEUES},
    "TableName": "GatewayTable",
    **{f"{lid}Id": None for lid in SECRETS},  # secrets-per-role checks their values
    **{f"{topic}Arn": topic for topic in TOPICS},
    **{f"{pool}Id": pool for pool in USER_POOLS},
    **{f"{spec.client}Id": spec.client for spec in USER_POOLS.values()},
    "DashboardUrl": None,
    "FixedEgressIp": None,  # fixed-egress-conditional
    **{name: None for name in CUSTOM_DOMAIN_OUTPUTS},  # custom-domain
    **DESK_OUTPUTS,
    "MediaBucketName": MEDIA_BUCKET,
    # The event bus of change events (docs/events.md).
    "EventBusName": "EventBus",
    "EventBusArn": r"EventBus\.Arn",
}
