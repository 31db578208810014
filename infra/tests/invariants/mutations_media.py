"""Negative self-tests of media (see mutations.py, checks_media.py): the media bucket (private,
TLS only, its lifecycle tied to MessageTtlDays), who may read and write its objects,
media-fetcher (its queue and dead-letter queue, event source, attempts, table partitions,
secret, fixed egress, alarms, dashboard), the router's fetch commands, desk-api's media grants,
its token broker and upload size, the outputs; SAM == CDK; the prebuilt templates."""

from __future__ import annotations

from .mutations_async import Row
from .ops import TABLE_ARN, Copy, add, allow, drop, drop_policies_of, drop_stmt, put, remove, replace, stmts

BUCKET, POLICY, FETCHER, DESK = "MediaBucket", "MediaBucketPolicy", "MediaFetcherRole", "DeskApiRole"
RULES = f"{BUCKET}.LifecycleConfiguration.Rules"
ABORT, EXPIRE = f"{RULES}.0", f"{RULES}.1.Fn::If.1"
TLS = f"{POLICY}.PolicyDocument.Statement.0"
FETCHER_ENV, DESK_ENV, ROUTER_ENV = "env:MediaFetcherFunction", "env:DeskApiFunction", "env:MessageRouterFunction"
STORE, READ, UPLOAD = "stmt:MediaFetcherRole:StoreMedia", "stmt:DeskApiRole:ReadMedia", "stmt:DeskApiRole:StoreUploads"
RECORD, FETCHER_TOKENS, DESK_TOKENS = "stmt:MediaFetcherRole:RecordMedia", "stmt:MediaFetcherRole:TokenCache", "stmt:DeskApiRole:TokenCache"
ESM = "esm:MediaFetcherFunction:Media"
LEADING = "Condition.ForAllValues:StringLike.dynamodb:LeadingKeys"


def objects(prefix: str) -> dict[str, str]:
    """The media bucket's objects under a prefix ("" = all of them)."""
    return {"Fn::Sub": f"${{MediaBucket.Arn}}/{prefix}*"}


MEDIA_MUTATIONS: list[Row] = [
    # --- the bucket: private ------------------------------------------------------------------------
    ("media-bucket-private desk-bucket-private", "public ACLs allowed (BlockPublicAcls false)",
     put(f"{BUCKET}.PublicAccessBlockConfiguration.BlockPublicAcls", False)),
    ("media-bucket-private desk-bucket-private", "public bucket policies honoured (RestrictPublicBuckets dropped)",
     drop(f"{BUCKET}.PublicAccessBlockConfiguration.RestrictPublicBuckets")),
    ("media-bucket-private desk-bucket-private", "no default encryption written down", drop(f"{BUCKET}.BucketEncryption")),
    ("media-bucket-private", "SSE-KMS with a customer managed key (a presigned URL's signer would need kms:Decrypt)",
     put(f"{BUCKET}.BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault",
         {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "AccountsSecretKmsKeyArn"}})),
    ("media-bucket-private desk-bucket-private", "ACLs on (ObjectWriter)", put(f"{BUCKET}.OwnershipControls.Rules.0.ObjectOwnership", "ObjectWriter")),
    ("media-bucket-private", "versioning on (old versions outlive their messages)", put(f"{BUCKET}.VersioningConfiguration", {"Status": "Enabled"})),
    ("media-bucket-private", "CORS for any origin", put(f"{BUCKET}.CorsConfiguration", {"CorsRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]})),
    ("media-bucket-private", "the bucket deleted with the stack (the evidence with it)", put(f"Resources.{BUCKET}.DeletionPolicy", "Delete")),
    ("media-bucket-private", "the bucket not kept when replaced", drop(f"Resources.{BUCKET}.UpdateReplacePolicy")),
    ("media-bucket-private media-bucket-lifecycle", "no media bucket", drop(f"Resources.{BUCKET}")),
    # --- its policy: TLS only, no Allow ---------------------------------------------------------------
    ("media-bucket-tls-only", "plain HTTP allowed (the TLS-only statement removed)", drop(TLS)),
    ("media-bucket-tls-only", "plain HTTP allowed on the objects (TLS-only on the bucket only)", put(f"{TLS}.Resource", {"Fn::GetAtt": [BUCKET, "Arn"]})),
    ("media-bucket-tls-only", "anyone may read the media (a public Allow)",
     add(f"{POLICY}.PolicyDocument.Statement", {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": objects("")})),
    ("media-bucket-tls-only", "no bucket policy (nothing refuses plain HTTP)", drop(f"Resources.{POLICY}")),
    # --- its lifecycle: objects expire with their messages --------------------------------------------
    ("media-bucket-lifecycle", "the expiration rule even with MessageTtlDays 0 (no condition)", put(f"{RULES}.1", Copy(EXPIRE))),
    ("media-bucket-lifecycle", "objects expire after a literal 90 days, not the parameter", put(f"{EXPIRE}.ExpirationInDays", 90)),
    ("media-bucket-lifecycle", "ExpireMessages inverted (objects kept exactly when messages expire)",
     put("Conditions.ExpireMessages", {"Fn::Equals": [{"Ref": "MessageTtlDays"}, "0"]})),
    ("media-bucket-lifecycle", "ExpireMessages false at the default (compared with 90)",
     put("Conditions.ExpireMessages", {"Fn::Not": [{"Fn::Equals": [{"Ref": "MessageTtlDays"}, "90"]}]})),
    ("media-bucket-lifecycle", "the expiration rule under another condition", put(f"{RULES}.1.Fn::If.0", "IsProduction")),
    ("media-bucket-lifecycle", "no expiration rule (media kept after their messages)", drop(f"{RULES}.1")),
    ("media-bucket-lifecycle", "only media/ expires (the agents' uploads kept forever)", put(f"{EXPIRE}.Prefix", "media/")),
    ("media-bucket-lifecycle", "the expiration rule disabled", put(f"{EXPIRE}.Status", "Disabled")),
    ("media-bucket-lifecycle", "a second expiring rule (30 days, whatever the parameter)",
     add(RULES, {"Id": "Stray", "Status": "Enabled", "ExpirationInDays": 30})),
    ("media-bucket-lifecycle", "incomplete uploads never aborted", drop(ABORT)),
    ("media-bucket-lifecycle", "incomplete uploads aborted after a week", put(f"{ABORT}.AbortIncompleteMultipartUpload.DaysAfterInitiation", 7)),
    ("media-bucket-lifecycle functions-env-contract", "the router's messages kept a literal 90 days", put(f"{ROUTER_ENV}.MESSAGE_TTL_DAYS", "90")),
    ("media-bucket-lifecycle functions-env-contract", "media-fetcher's MESSAGE_TTL_DAYS a literal 30", put(f"{FETCHER_ENV}.MESSAGE_TTL_DAYS", "30")),
    ("media-bucket-lifecycle", "MessageTtlDays cannot be 0 (MinValue 1)", put("Parameters.MessageTtlDays.MinValue", 1)),
    ("media-bucket-lifecycle", "MessageTtlDays defaults to 30", put("Parameters.MessageTtlDays.Default", 30)),
    # --- who may read and write its objects ----------------------------------------------------------
    ("media-s3-grants iam-no-wildcards iam-least-privilege", "media-fetcher may do anything to its objects (s3:*)", put(f"{STORE}.Action", "s3:*")),
    ("media-s3-grants iam-no-wildcards iam-least-privilege", "media-fetcher may write anywhere in the bucket", put(f"{STORE}.Resource", objects(""))),
    ("media-s3-grants iam-least-privilege", "media-fetcher may write the agents' uploads too", add(f"{STORE}.Resource", objects("uploads/"))),
    ("media-s3-grants iam-least-privilege", "media-fetcher may delete objects", add(f"{STORE}.Action", "s3:DeleteObject")),
    ("media-s3-grants iam-least-privilege", "media-fetcher may list the bucket",
     add(stmts(FETCHER), allow("s3:ListBucket", {"Fn::GetAtt": [BUCKET, "Arn"]}))),
    ("media-s3-grants iam-grants-needed", "media-fetcher cannot store what it downloads", drop_stmt(FETCHER, "StoreMedia")),
    ("media-s3-grants iam-grants-needed", "media-fetcher cannot tell a stored object (no GetObject: HeadObject)", remove(f"{STORE}.Action", "s3:GetObject")),
    ("media-s3-grants iam-least-privilege", "desk-api may overwrite the customers' media", put(f"{UPLOAD}.Resource", objects("media/"))),
    ("media-s3-grants iam-no-wildcards iam-least-privilege", "desk-api may read the whole bucket", put(f"{READ}.Resource", objects(""))),
    ("media-s3-grants iam-grants-needed", "desk-api cannot presign the agents' files (uploads/ unreadable)", put(f"{READ}.Resource", [objects("media/")])),
    ("media-s3-grants iam-grants-needed", "desk-api cannot store an agent's file", drop_stmt(DESK, "StoreUploads")),
    ("media-s3-grants iam-least-privilege", "the router may read the media (it never does)",
     add(stmts("MessageRouterRole"), allow("s3:GetObject", objects("media/")))),
    ("media-s3-grants iam-no-wildcards iam-least-privilege", "desk-api may read the desk's bucket",
     add(stmts(DESK), allow("s3:GetObject", {"Fn::Sub": "${DeskBucket.Arn}/*"}))),
    ("media-s3-grants", "desk-api's uploads only under a condition (a tag nobody sets)",
     put(f"{UPLOAD}.Condition", {"StringEquals": {"s3:RequestObjectTag/kind": "agent"}})),
    # --- media-fetcher's table partitions and token broker -------------------------------------------
    ("table-leading-keys iam-least-privilege", "media-fetcher may put items (it only updates the message)", add(f"{RECORD}.Action", "dynamodb:PutItem")),
    ("table-leading-keys", "media-fetcher's record writes in any partition (no LeadingKeys)", drop(f"{RECORD}.Condition")),
    ("table-leading-keys", "media-fetcher's token cache widened to delivery records (REPLY#*)", put(f"{FETCHER_TOKENS}.{LEADING}", ["TOKEN#*", "REPLY#*"])),
    ("table-leading-keys", "media-fetcher cannot read the token cache", drop_stmt(FETCHER, "TokenCache")),
    ("table-leading-keys", "desk-api cannot take the token lease (no UpdateItem)", remove(f"{DESK_TOKENS}.Action", "dynamodb:UpdateItem")),
    ("table-leading-keys", "desk-api may delete token items", add(f"{DESK_TOKENS}.Action", "dynamodb:DeleteItem")),
    ("iam-least-privilege", "media-fetcher may query the table", add(stmts(FETCHER), allow("dynamodb:Query", TABLE_ARN))),
    # --- the queue, its DLQ, the event source, the attempts -----------------------------------------
    ("standard-queues", "the media queue made FIFO", put("MediaQueue.FifoQueue", True)),
    ("standard-queues visibility-timeout-6x", "media visibility timeout 900 s for the 180 s media-fetcher", put("MediaQueue.VisibilityTimeout", 900)),
    ("standard-queues media-attempts-below-redrive", "media commands redriven after 4 receives (MEDIA_MAX_ATTEMPTS is 4)",
     put("MediaQueue.RedrivePolicy.maxReceiveCount", 4)),
    ("standard-queues", "the media DLQ keeps commands 4 days", put("MediaDeadLetterQueue.MessageRetentionPeriod", 345600)),
    ("queues-have-dlq standard-queues", "the media queue without a redrive policy", drop("MediaQueue.RedrivePolicy")),
    ("queues-have-dlq", "the media DLQ without encryption", drop("MediaDeadLetterQueue.SqsManagedSseEnabled")),
    ("queues-tls-only", "the media queue accepts plain HTTP", drop_policies_of("AWS::SQS::QueuePolicy", "Queues", "MediaQueue")),
    ("media-attempts-below-redrive functions-env-contract", "MEDIA_MAX_ATTEMPTS 10 (the redrive comes first, without a reason)",
     put(f"{FETCHER_ENV}.MEDIA_MAX_ATTEMPTS", "10")),
    ("media-attempts-below-redrive functions-env-contract", "MEDIA_MAX_ATTEMPTS removed (the code's default is unchecked)",
     drop(f"{FETCHER_ENV}.MEDIA_MAX_ATTEMPTS")),
    ("media-fetcher-timings functions-runtime", "media-fetcher Timeout 120 s (below the 140 s one command may take)",
     put("MediaFetcherFunction.Timeout", 120)),
    ("desk-api-token-lease functions-env-contract", "desk-api's uploads at 20 s with a 20 s lease (it would refuse to start)",
     put(f"{DESK_ENV}.PLATFORM_TIMEOUT_SECS", "20")),
    ("media-fetcher-timings", "PLATFORM_TIMEOUT_SECS 30 (12 x 4 s + 6 x 30 s + 2 s > 180 s)", put(f"{FETCHER_ENV}.PLATFORM_TIMEOUT_SECS", "30")),
    ("media-fetcher-timings", "TOKEN_LEASE_SECS 19 (not above a 4 s AWS call + a 15 s download)", put(f"{FETCHER_ENV}.TOKEN_LEASE_SECS", "19")),
    ("media-fetcher-timings", "RETRY_MAX_SECS 50000 (over SQS's 12 h visibility limit)", put(f"{FETCHER_ENV}.RETRY_MAX_SECS", "50000")),
    ("consumer-event-sources", "media-fetcher's BatchSize 11", put(f"{ESM}.BatchSize", 11)),
    ("consumer-event-sources", "media-fetcher without ReportBatchItemFailures", drop(f"{ESM}.FunctionResponseTypes")),
    ("consumer-concurrency", "media-fetcher's event source MaximumConcurrency 50 (above its reserved 5)",
     put(f"{ESM}.ScalingConfig", {"MaximumConcurrency": 50})),
    ("consumer-concurrency", "MediaFetcherReservedConcurrency defaults to 50", put("Parameters.MediaFetcherReservedConcurrency.Default", 50)),
    ("consumer-concurrency", "media-fetcher without reserved concurrency", drop("MediaFetcherFunction.ReservedConcurrentExecutions")),
    ("functions-runtime", "media-fetcher's Timeout 60 s", put("MediaFetcherFunction.Timeout", 60)),
    ("iam-grants-needed", "media-fetcher cannot dead-letter commands", drop_stmt(FETCHER, "DeadLetterMedia")),
    ("iam-grants-needed", "media-fetcher cannot back off (no ChangeMessageVisibility)",
     remove("stmt:MediaFetcherRole:ConsumeMedia.Action", "sqs:ChangeMessageVisibility")),
    ("iam-least-privilege", "media-fetcher may queue fetch commands itself", add(stmts(FETCHER), allow("sqs:SendMessage", {"Fn::GetAtt": ["MediaQueue", "Arn"]}))),
    ("functions-env-contract", "media-fetcher dead-letters to the media queue itself",
     put(f"{FETCHER_ENV}.MEDIA_DEAD_LETTER_QUEUE_URL", {"Ref": "MediaQueue"})),
    ("functions-env-contract", "media-fetcher's media from the reply API's Weibo host", put(f"{FETCHER_ENV}.WEIBO_MEDIA_BASE_URL", "https://m.api.weibo.com")),
    # --- customer profiles (docs/profiles.md): notices to the router, users/show, the refresh -----------
    ("iam-grants-needed", "media-fetcher cannot put profile notices on the inbound queue", drop_stmt(FETCHER, "NoticeProfiles")),
    ("iam-least-privilege", "media-fetcher may put anything on the outbound queue",
     add(stmts(FETCHER), allow("sqs:SendMessage", {"Fn::GetAtt": ["OutboundQueue", "Arn"]}))),
    ("functions-env-contract", "media-fetcher without INBOUND_QUEUE_URL (its cold start fails)", drop(f"{FETCHER_ENV}.INBOUND_QUEUE_URL")),
    ("functions-env-contract", "media-fetcher's profile notices on the inbound DLQ", put(f"{FETCHER_ENV}.INBOUND_QUEUE_URL", {"Ref": "InboundDeadLetterQueue"})),
    ("functions-env-contract", "media-fetcher's users/show on the fan-service host", put(f"{FETCHER_ENV}.WEIBO_OPEN_API_BASE_URL", "https://m.api.weibo.com")),
    ("functions-env-contract", "the router's profiles refreshed every hour", put(f"{ROUTER_ENV}.PROFILE_REFRESH_SECS", "3600")),
    # --- the router's fetch commands ------------------------------------------------------------------
    ("iam-grants-needed", "the router cannot queue media fetches", drop_stmt("MessageRouterRole", "QueueMediaFetches")),
    ("functions-env-contract", "the router without MEDIA_QUEUE_URL (its cold start fails)", drop(f"{ROUTER_ENV}.MEDIA_QUEUE_URL")),
    ("functions-env-contract", "the router queues media fetches on the media DLQ", put(f"{ROUTER_ENV}.MEDIA_QUEUE_URL", {"Ref": "MediaDeadLetterQueue"})),
    # --- the delivery secret: reply-sender's, media-fetcher's, desk-api's ----------------------------------
    ("secrets-per-role iam-least-privilege", "media-fetcher reads the webhook credentials secret instead",
     put("stmt:MediaFetcherRole:ReadDeliveryCredentials.Resource", Copy("stmt:WeChatWebhookRole:ReadWebhookCredentials.Resource"))),
    ("secrets-per-role iam-grants-needed", "desk-api cannot read the delivery credentials", drop_stmt(DESK, "ReadDeliveryCredentials")),
    ("secrets-per-role functions-env-contract", "desk-api without DELIVERY_SECRET_ID", drop(f"{DESK_ENV}.DELIVERY_SECRET_ID")),
    # --- fixed egress ---------------------------------------------------------------------------------
    ("platform-callers-fixed-egress", "media-fetcher outside the VPC (its downloads not from the allow-listed address)",
     drop("MediaFetcherFunction.VpcConfig")),
    ("platform-callers-fixed-egress", "desk-api in the VPC even without fixed egress", put("DeskApiFunction.VpcConfig", Copy("DeskApiFunction.VpcConfig.Fn::If.1"))),
    ("platform-callers-fixed-egress iam-grants-needed", "media-fetcher's VPC policy removed", drop(f"{FETCHER}.Policies.1")),
    ("iam-least-privilege", "desk-api's network-interface actions granted even without fixed egress", put(f"{DESK}.Policies.1", Copy(f"{DESK}.Policies.1.Fn::If.1"))),
    # --- desk-api's uploads -------------------------------------------------------------------------
    ("desk-upload-fits-lambda functions-env-contract", "desk-api accepts 10 MB files (13.3 MB base64: beyond Lambda's 6 MB request)",
     put(f"{DESK_ENV}.DESK_MAX_UPLOAD_BYTES", "10485760")),
    ("desk-upload-fits-lambda functions-env-contract", "desk-api without DESK_MAX_UPLOAD_BYTES", drop(f"{DESK_ENV}.DESK_MAX_UPLOAD_BYTES")),
    ("functions-env-contract", "presigned URLs valid a day", put(f"{DESK_ENV}.MEDIA_URL_TTL_SECS", "86400")),
    ("http-api-throttling", "POST /media without its route throttling", drop("stage:ReplyHttpApi.RouteSettings.POST /media")),
    # --- alarms, dashboard, outputs -------------------------------------------------------------------
    ("alarms", "no media DLQ alarm", drop("Resources.MediaDeadLetterQueueDepthAlarm")),
    ("alarms", "no media queue age alarm", drop("Resources.MediaQueueAgeAlarm")),
    ("alarms", "the media DLQ alarm watches the media queue", put("MediaDeadLetterQueueDepthAlarm.Dimensions.0.Value", {"Fn::GetAtt": ["MediaQueue", "QueueName"]})),
    ("alarms", "no media-fetcher throttles alarm", drop("Resources.MediaFetcherThrottlesAlarm")),
    ("dashboard", "no media-fetcher on the dashboard", replace("Dashboard.DashboardBody", "MediaFetcherFunction", "ReplySenderFunction")),
    ("dashboard", "no media queue on the dashboard", replace("Dashboard.DashboardBody", "MediaQueue", "OutboundQueue")),
    ("dashboard", "no dead-lettered media line", replace("Dashboard.DashboardBody", "MediaDeadLettered", "MediaDead")),
    ("dashboard", "media stored plotted by account, not by channel",
     replace("Dashboard.DashboardBody", 'Channel} MetricName=\\"MediaStored', 'Channel,Account} MetricName=\\"MediaStored')),
    ("parameters-outputs", "no MediaBucketName output", drop("Outputs.MediaBucketName")),
    ("parameters-outputs", "MediaBucketName names the desk's bucket", put("Outputs.MediaBucketName.Value", {"Ref": "DeskBucket"})),
    ("parameters-outputs", "no MediaDeadLetterQueueUrl output", drop("Outputs.MediaDeadLetterQueueUrl")),
    ("parameters-outputs media-bucket-lifecycle", "no MessageTtlDays parameter", drop("Parameters.MessageTtlDays")),
    # --- SAM == CDK: changes to the CDK template alone --------------------------------------------------
    ("equivalence", "media objects expire after a literal 30 days in one template", put(f"{EXPIRE}.ExpirationInDays", 30)),
    ("equivalence", "uploads aborted after 2 days in one template", put(f"{ABORT}.AbortIncompleteMultipartUpload.DaysAfterInitiation", 2)),
    ("equivalence", "the media bucket versioned in one template", put(f"{BUCKET}.VersioningConfiguration", {"Status": "Enabled"})),
    ("equivalence", "another ExpireMessages in one template", put("Conditions.ExpireMessages", {"Fn::Equals": [{"Ref": "MessageTtlDays"}, "0"]})),
    ("equivalence", "another MessageTtlDays default in one template", put("Parameters.MessageTtlDays.Default", 30)),
    ("equivalence", "media-fetcher's BatchSize 10 in one template", put(f"{ESM}.BatchSize", 10)),
    ("equivalence", "another media maxReceiveCount in one template", put("MediaQueue.RedrivePolicy.maxReceiveCount", 8)),
    ("equivalence", "another media download timeout in one template", put(f"{FETCHER_ENV}.PLATFORM_TIMEOUT_SECS", "30")),
    ("equivalence", "desk-api outside the VPC in one template", drop("DeskApiFunction.VpcConfig")),
    ("equivalence", "desk-api may write media/ in one template", add(f"{UPLOAD}.Resource", objects("media/"))),
    ("equivalence", "another media queue age alarm threshold", put("MediaQueueAgeAlarm.Threshold", 1200)),
    ("equivalence", "another media widget", replace("Dashboard.DashboardBody", "Media and profiles fetched, by outcome", "Media")),
    # --- build once, deploy many --------------------------------------------------------------------------
    ("sam-prebuilt", "media-fetcher deployed with reply-sender's zip", put("MediaFetcherFunction.CodeUri", Copy("ReplySenderFunction.CodeUri"))),
    ("cdk-prebuilt", "media-fetcher deployed with reply-sender's zip",
     (put("Resources.MediaFetcherFunction.Metadata.aws:asset:path", Copy("Resources.ReplySenderFunction.Metadata.aws:asset:path")),
      put("MediaFetcherFunction.Code", Copy("ReplySenderFunction.Code")))),
]
