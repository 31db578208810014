"""Negative self-tests as data: each row of MUTATIONS breaks a copy of a template, and each of
its targets must then FAIL, so that no check can silently pass. A target is a check of CHECKS
(run on the broken copy of every flavour), "equivalence" (the CDK template broken, compared
with the SAM one), or "sam-prebuilt"/"cdk-prebuilt" (the template for prebuilt zips broken).
The operations are in ops.py; the rows of the asynchronous side (the table's stream and its
readers, the timers queue, the schedule, the topics) in mutations_async.py; the desk's (its user
pool, app client, groups, JWT authorizer and its routes' scopes, desk-api's role and variables)
in mutations_auth.py; the web desk's hosting (bucket, CloudFront) in mutations_site.py; media's
(the media bucket, media-fetcher, the media grants of the router and desk-api) in
mutations_media.py; Weibo listening's (weibo-poller, reply-sender's public replies) in
mutations_listening.py."""

from __future__ import annotations

import re
from typing import Callable

from .mutations_async import ASYNC_MUTATIONS, Row
from .mutations_auth import AUTH_MUTATIONS
from .mutations_events import EVENTS_MUTATIONS
from .mutations_listening import LISTENING_MUTATIONS
from .mutations_media import MEDIA_MUTATIONS
from .mutations_webhooks import WEBHOOK_MUTATIONS
from .mutations_site import SITE_MUTATIONS
from .ops import TABLE_ARN, Copy, add, allow, apply, drop, drop_stmt, index_arn, put, remove, replace, route, route_auth, route_scopes, stmts, swap
from .spec import FUNCTIONS

__all__ = ["MUTATIONS", "MAKE_BUILD_MUTATIONS", "apply"]

GSI1_ARN = index_arn("GSI1")
RS_ENV, DOMAIN_CONFIG = "env:ReplySenderFunction", "CustomDomain.DomainNameConfigurations.0"
RS_KEYS = "stmt:ReplySenderRole:DeliveriesTokensConversations.Condition.ForAllValues:StringLike.dynamodb:LeadingKeys"
API_CLIENTS_IS_WEBHOOK_SECRET = put("env:ReplyApiFunction.API_CLIENTS_SECRET_ID", Copy("env:WeChatWebhookFunction.WEBHOOK_SECRET_ID"))

MUTATIONS: list[Row] = [
    # --- functions, IAM per function --------------------------------------------------------
    ("functions-declared", "an undeclared function", put("Resources.StrayFunction", Copy("Resources.WeiboWebhookFunction"))),
    ("iam-least-privilege", "the router may also scan the table", add(stmts("MessageRouterRole"), allow("dynamodb:Scan", TABLE_ARN))),
    ("iam-least-privilege", "a managed policy on the router's role",
     put("MessageRouterRole.ManagedPolicyArns", ["arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"])),
    # (The router does update items since template messages: a finish report's record and
    # thread item, under LeadingKeys; see the table-leading-keys mutations below.)
    ("iam-least-privilege", "the router may also write items in batches (no BatchWriteItem in its code)",
     add(stmts("MessageRouterRole"), allow("dynamodb:BatchWriteItem", TABLE_ARN))),
    ("iam-least-privilege", "the router may also query GSI1", add(stmts("MessageRouterRole"), allow("dynamodb:Query", GSI1_ARN))),
    ("iam-least-privilege", "the router may also use ConditionCheck items",
     add("stmt:MessageRouterRole:Conversations.Action", "dynamodb:ConditionCheckItem")),
    ("iam-least-privilege", "wechat-webhook may also write the rules item",
     put("stmt:WeChatWebhookRole:ReadRules.Action", ["dynamodb:GetItem", "dynamodb:UpdateItem"])),
    ("iam-least-privilege", "weibo-webhook (no passive mode) may read the rules item",
     add(stmts("WeiboWebhookRole"), Copy("stmt:WeChatWebhookRole:ReadRules"))),
    ("iam-least-privilege", "reply-sender may also query GSI1", add(stmts("ReplySenderRole"), allow("dynamodb:Query", GSI1_ARN))),
    ("iam-least-privilege", "reply-api may also update items", add(stmts("ReplyApiRole"), allow("dynamodb:UpdateItem", TABLE_ARN))),
    ("iam-least-privilege", "the router may also write to the outbound DLQ",
     add(stmts("MessageRouterRole"), allow("sqs:SendMessage", {"Fn::GetAtt": ["OutboundDeadLetterQueue", "Arn"]}))),
    ("iam-least-privilege", "reply-sender's network-interface actions granted even without fixed egress",
     put("ReplySenderRole.Policies.1", Copy("ReplySenderRole.Policies.1.Fn::If.1"))),
    ("iam-least-privilege secrets-per-role", "message-router reads the webhook credentials secret",
     add(stmts("MessageRouterRole"), Copy("stmt:WeChatWebhookRole:ReadWebhookCredentials"))),
    ("iam-least-privilege", "reply-sender may also read the ApiClients secret",
     add(stmts("ReplySenderRole"), Copy("stmt:ReplyApiRole:ReadApiClients"))),
    ("iam-least-privilege", "reply-api may also update its idempotency records",
     put("stmt:ReplyApiRole:IdempotencyRecords.Action", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"])),
    ("iam-grants-needed", "the webhook cannot enqueue", drop_stmt("WeChatWebhookRole", "Enqueue")),
    ("iam-grants-needed", "the router cannot delete the TAG# items of removed tags",
     remove("stmt:MessageRouterRole:Conversations.Action", "dynamodb:DeleteItem")),
    ("iam-grants-needed", "wechat-webhook cannot read the rules", drop_stmt("WeChatWebhookRole", "ReadRules")),
    ("iam-grants-needed", "the router cannot queue auto-replies", drop_stmt("MessageRouterRole", "QueueAutoReplies")),
    ("iam-grants-needed", "reply-sender cannot set the retry backoff (ChangeMessageVisibility)",
     remove("stmt:ReplySenderRole:ConsumeOutbound.Action", "sqs:ChangeMessageVisibility")),
    ("iam-grants-needed", "reply-sender cannot dead-letter replies", drop_stmt("ReplySenderRole", "DeadLetterReplies")),
    ("iam-grants-needed", "reply-api cannot read its ApiClients secret", drop_stmt("ReplyApiRole", "ReadApiClients")),
    ("iam-grants-needed", "reply-sender's VPC policy removed", drop("ReplySenderRole.Policies.1")),
    # (It still has PutItem, on CRM#*: the partition keys tell what is missing.)
    ("table-leading-keys", "reply-api cannot write its idempotency records", drop_stmt("ReplyApiRole", "IdempotencyRecords")),
    # A CRM's names for WeChat customers (CRM#...): reply-api sets them, desk-api reads them.
    ("iam-grants-needed", "reply-api cannot store CRM contacts", drop_stmt("ReplyApiRole", "CrmContacts")),
    ("iam-grants-needed", "desk-api cannot read CRM contacts", drop_stmt("DeskApiRole", "ReadCrmContacts")),
    ("table-leading-keys", "desk-api may also write CRM contacts",
     put("stmt:DeskApiRole:ReadCrmContacts.Action", ["dynamodb:BatchGetItem", "dynamodb:PutItem"])),
    ("table-leading-keys", "reply-api's CRM contacts widened to conversations",
     put("stmt:ReplyApiRole:CrmContacts.Condition.ForAllValues:StringLike.dynamodb:LeadingKeys", ["CRM#*", "CONV#*"])),
    ("iam-no-wildcards", "sqs:* on *", add(stmts("WeiboWebhookRole"), allow("sqs:*", "*"))),
    # --- the table by partition key (dynamodb:LeadingKeys) ------------------------------------
    ("table-leading-keys", "the router's conversation reads and writes without a LeadingKeys condition",
     drop("stmt:MessageRouterRole:Conversations.Condition")),
    ("table-leading-keys", "wechat-webhook may read any item of the table (no LeadingKeys condition)",
     drop("stmt:WeChatWebhookRole:ReadRules.Condition")),
    ("table-leading-keys", "wechat-webhook may read conversations too (LeadingKeys widened)",
     put("stmt:WeChatWebhookRole:ReadRules.Condition", {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONFIG", "CONV#*"]}})),
    ("table-leading-keys", "reply-api may write conversations and delivery records (PutItem in its read statement)",
     put("stmt:ReplyApiRole:ReadConversationsAndDeliveries.Action", ["dynamodb:GetItem", "dynamodb:PutItem"])),
    ("table-leading-keys", "reply-api's reads widened to TOKEN#* (cached access tokens)",
     put("stmt:ReplyApiRole:ReadConversationsAndDeliveries.Condition.ForAllValues:StringLike.dynamodb:LeadingKeys",
         ["CONV#*", "REPLY#*", "TOKEN#*"])),
    ("table-leading-keys", "reply-sender without TOKEN#* (token cache)", put(RS_KEYS, ["CONV#*", "REPLY#*"])),
    ("table-leading-keys", "the router cannot read the rules (CONFIG statement dropped)", drop_stmt("MessageRouterRole", "ReadRules")),
    # WeChat template messages: the router settles a finish report, the sender writes the lookup.
    ("table-leading-keys", "the router cannot find a template message's reply (TPLMSG statement dropped)",
     drop_stmt("MessageRouterRole", "TemplateLookups")),
    ("table-leading-keys", "the router may update any item while settling a template (no LeadingKeys condition)",
     drop("stmt:MessageRouterRole:SettleTemplateDeliveries.Condition")),
    ("table-leading-keys", "the router may update the token cache while settling a template (TOKEN#* added)",
     put("stmt:MessageRouterRole:SettleTemplateDeliveries.Condition.ForAllValues:StringLike.dynamodb:LeadingKeys",
         ["REPLY#*", "TOKEN#*"])),
    ("table-leading-keys", "reply-sender cannot write a template message's lookup",
     drop_stmt("ReplySenderRole", "TemplateLookups")),
    ("table-leading-keys", "reply-sender cannot read or count the template quota (TPLQUOTA statement dropped)",
     drop_stmt("ReplySenderRole", "TemplateQuota")),
    ("table-leading-keys", "reply-sender may delete template quota days (DeleteItem added)",
     put("stmt:ReplySenderRole:TemplateQuota.Action", ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])),
    ("table-leading-keys", "reply-api's idempotency records with ForAllValues:StringEquals (APIREQ#* literally)",
     put("stmt:ReplyApiRole:IdempotencyRecords.Condition", {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["APIREQ#*"]}})),
    # --- secrets per role, no plaintext secrets -------------------------------------------------
    ("secrets-per-role", "weibo-webhook reads the delivery credentials secret instead of its own",
     put("stmt:WeiboWebhookRole:ReadWebhookCredentials.Resource", Copy("stmt:ReplySenderRole:ReadDeliveryCredentials.Resource"))),
    ("secrets-per-role functions-env-contract", "reply-api's API_CLIENTS_SECRET_ID is the webhook credentials secret", API_CLIENTS_IS_WEBHOOK_SECRET),
    ("secrets-per-role", "message-router given DELIVERY_SECRET_ID",
     put("env:MessageRouterFunction.DELIVERY_SECRET_ID", Copy(f"{RS_ENV}.DELIVERY_SECRET_ID"))),
    ("secrets-per-role", "the ApiClients secret deleted with the stack", put("Resources.ApiClientsSecret.DeletionPolicy", "Delete")),
    ("secrets-per-role", "a shared AccountsSecret left over", put("Resources.AccountsSecret", Copy("Resources.WebhookCredentialsSecret"))),
    ("secrets-per-role", "the delivery secret's placeholder document holds api_clients",
     put("DeliveryCredentialsSecret.GenerateSecretString.SecretStringTemplate", '{"api_clients":{}}')),
    ("secrets-per-role", "the webhook secret created even when its ARN is given", drop("Resources.WebhookCredentialsSecret.Condition")),
    ("secrets-per-role", "ApiClientsSecretId output names the webhook secret",
     put("Outputs.ApiClientsSecretId.Value", Copy("Outputs.WebhookCredentialsSecretId.Value"))),
    ("no-plaintext-secrets", "an app secret in an env var", put("env:WeChatWebhookFunction.WECHAT_APP_SECRET", "0123456789abcdef")),
    ("no-plaintext-secrets", "a literal SecretString", put("Resources.LeakySecret", {
        "Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": '{"wechat":{"a":{"token":"x"}}}'}})),
    ("no-plaintext-secrets", "a WeChat access token in reply-sender's env", put(f"{RS_ENV}.WECHAT_ACCESS_TOKEN", "76_abcdefABCDEF0123456789")),
    ("no-plaintext-secrets", "a token-looking value in TOKEN_LEASE_SECS", put(f"{RS_ENV}.TOKEN_LEASE_SECS", "76_abcdefABCDEF")),
    # --- environment, runtime -------------------------------------------------------------------
    ("functions-env-contract", "QUEUE_URL missing", drop("env:WeiboWebhookFunction.QUEUE_URL")),
    ("functions-env-contract", "wechat-webhook without TABLE_NAME (passive replies from the bundled rules only)",
     drop("env:WeChatWebhookFunction.TABLE_NAME")),
    ("functions-env-contract", "wechat-webhook's passive rules budget 4000 ms", put("env:WeChatWebhookFunction.PASSIVE_RULES_TIMEOUT_MS", "4000")),
    ("functions-env-contract", "weibo-webhook given TABLE_NAME", put("env:WeiboWebhookFunction.TABLE_NAME", {"Ref": "GatewayTable"})),
    ("functions-env-contract", "the router without OUTBOUND_QUEUE_URL (its cold start fails)", drop("env:MessageRouterFunction.OUTBOUND_QUEUE_URL")),
    ("functions-env-contract", "reply-sender dead-letters to the outbound queue itself",
     put(f"{RS_ENV}.OUTBOUND_DEAD_LETTER_QUEUE_URL", {"Ref": "OutboundQueue"})),
    ("functions-env-contract", "reply-sender without WEIBO_MENTION_QUOTA", drop(f"{RS_ENV}.WEIBO_MENTION_QUOTA")),
    ("functions-env-contract", "reply-sender without REPLY_MAX_ATTEMPTS", drop(f"{RS_ENV}.REPLY_MAX_ATTEMPTS")),
    ("functions-runtime", "x86_64", put("MessageRouterFunction.Architectures", ["x86_64"])),
    ("functions-runtime", "reply-sender Timeout 100 s (the documented 180 s)", put("ReplySenderFunction.Timeout", 100)),
    ("webhook-timeout-under-5s", "webhook timeout 6 s", put("WeChatWebhookFunction.Timeout", 6)),
    # --- queues, event sources, concurrency -------------------------------------------------------
    ("queues-have-dlq", "the inbound queue has no redrive policy", drop("InboundQueue.RedrivePolicy")),
    ("queues-have-dlq", "a standard (non-FIFO) DLQ for the FIFO queue", drop("InboundDeadLetterQueue.FifoQueue")),
    ("queues-have-dlq", "the outbound queue has no redrive policy", drop("OutboundQueue.RedrivePolicy")),
    ("queues-have-dlq", "the outbound DLQ without encryption", drop("OutboundDeadLetterQueue.SqsManagedSseEnabled")),
    ("fifo-queues", "content-based deduplication on", put("InboundQueue.ContentBasedDeduplication", True)),
    ("fifo-queues", "the outbound queue's throughput limit per queue", put("OutboundQueue.FifoThroughputLimit", "perQueue")),
    ("fifo-queues", "outbound visibility timeout 1200 s (the documented 1080 s)", put("OutboundQueue.VisibilityTimeout", 1200)),
    ("consumer-event-sources", "BatchSize 11 and no ReportBatchItemFailures",
     (put("esm:MessageRouterFunction:Inbound.BatchSize", 11), drop("esm:MessageRouterFunction:Inbound.FunctionResponseTypes"))),
    ("consumer-event-sources", "reply-sender's BatchSize 11", put("esm:ReplySenderFunction:Outbound.BatchSize", 11)),
    ("consumer-event-sources", "reply-sender without ReportBatchItemFailures", drop("esm:ReplySenderFunction:Outbound.FunctionResponseTypes")),
    ("visibility-timeout-6x", "visibility timeout 60 s for a 30 s router", put("InboundQueue.VisibilityTimeout", 60)),
    ("visibility-timeout-6x", "outbound visibility timeout 900 s for a 180 s reply-sender", put("OutboundQueue.VisibilityTimeout", 900)),
    ("consumer-concurrency", "the router without reserved concurrency", drop("MessageRouterFunction.ReservedConcurrentExecutions")),
    ("consumer-concurrency", "reply-sender's event source MaximumConcurrency 50 (above its reserved 5)",
     put("esm:ReplySenderFunction:Outbound.ScalingConfig", {"MaximumConcurrency": 50})),
    ("consumer-concurrency", "the router's event source without ScalingConfig", drop("esm:MessageRouterFunction:Inbound.ScalingConfig")),
    ("consumer-concurrency", "ReplySenderReservedConcurrency MinValue 1 (MaximumConcurrency needs 2)",
     put("Parameters.ReplySenderReservedConcurrency.MinValue", 1)),
    ("consumer-concurrency", "reply-sender's reserved concurrency a literal 100, not its parameter",
     put("ReplySenderFunction.ReservedConcurrentExecutions", 100)),
    # --- the table ------------------------------------------------------------------------------
    ("table-pitr-ttl", "no PITR", drop("GatewayTable.PointInTimeRecoverySpecification")),
    ("table-pitr-ttl", "TTL on another attribute", put("GatewayTable.TimeToLiveSpecification.AttributeName", "ttl")),
    ("table-shape", "GSI2 dropped", drop("GatewayTable.GlobalSecondaryIndexes.1")),
    # --- reply-sender's timings and attempts ------------------------------------------------------
    ("reply-sender-timings", "PLATFORM_TIMEOUT_SECS 10 (beyond the 5 s safety margin)", put(f"{RS_ENV}.PLATFORM_TIMEOUT_SECS", "10")),
    ("reply-sender-timings", "DELIVERY_CLAIM_TIMEOUT_SECS 170 (below the 180 s Timeout)", put(f"{RS_ENV}.DELIVERY_CLAIM_TIMEOUT_SECS", "170")),
    ("reply-sender-timings", "reply-sender Timeout 140 s (below two 75 s worst cases)", put("ReplySenderFunction.Timeout", 140)),
    ("reply-sender-timings", "TOKEN_LEASE_SECS 9 (not above a 4 s AWS call + a 5 s platform call)", put(f"{RS_ENV}.TOKEN_LEASE_SECS", "9")),
    ("reply-sender-timings", "AWS_OPERATION_TIMEOUT_MS 8000 (the worst case no longer fits twice)",
     put(f"{RS_ENV}.AWS_OPERATION_TIMEOUT_MS", "8000")),
    ("reply-sender-timings", "outbound visibility timeout 900 s for the 180 s reply-sender", put("OutboundQueue.VisibilityTimeout", 900)),
    ("reply-sender-timings functions-env-contract", "reply-sender without PLATFORM_TIMEOUT_SECS", drop(f"{RS_ENV}.PLATFORM_TIMEOUT_SECS")),
    ("reply-sender-attempts-below-redrive", "REPLY_MAX_ATTEMPTS 9 (one receive short of settling under maxReceiveCount 10)",
     put(f"{RS_ENV}.REPLY_MAX_ATTEMPTS", "9")),
    ("reply-sender-attempts-below-redrive",
     "the outbound queue's maxReceiveCount lowered to 5 (REPLY_MAX_ATTEMPTS 4 leaves one receive to settle)",
     put("OutboundQueue.RedrivePolicy.maxReceiveCount", 5)),
    ("reply-sender-attempts-below-redrive", "REPLY_MAX_ATTEMPTS removed (the code's default is not checked against the queue)",
     drop(f"{RS_ENV}.REPLY_MAX_ATTEMPTS")),
    ("reply-sender-attempts-below-redrive", "REPLY_MAX_ATTEMPTS 0", put(f"{RS_ENV}.REPLY_MAX_ATTEMPTS", "0")),
    # --- fixed egress -----------------------------------------------------------------------------
    ("fixed-egress-conditional", "the NAT gateway always created", drop("Resources.EgressNatGateway.Condition")),
    ("fixed-egress-conditional", "a second NAT gateway and Elastic IP (one per zone)",
     (put("Resources.EgressNatGatewayB", Copy("Resources.EgressNatGateway")), put("Resources.EgressIpB", Copy("Resources.EgressIp")))),
    ("platform-callers-fixed-egress", "reply-sender outside the VPC", drop("ReplySenderFunction.VpcConfig")),
    ("platform-callers-fixed-egress", "reply-sender in the VPC even without fixed egress",
     put("ReplySenderFunction.VpcConfig", Copy("ReplySenderFunction.VpcConfig.Fn::If.1"))),
    ("platform-callers-fixed-egress", "the private subnets routed to the internet gateway (no fixed address)",
     (put("EgressPrivateDefaultRoute.GatewayId", {"Ref": "EgressInternetGateway"}), put("EgressPrivateDefaultRoute.NatGatewayId", None))),
    ("platform-callers-fixed-egress", "a webhook in the VPC", put("WeChatWebhookFunction.VpcConfig", Copy("ReplySenderFunction.VpcConfig"))),
    # --- HTTP APIs, routes, throttling ------------------------------------------------------------
    ("api-routes http-api-throttling equivalence", "POST /replies on the webhook API", route("POST", "/replies", api="HttpApi")),
    ("integration-timeouts", "reply-api's POST /replies integration timeout 3 s (its Timeout is 6 s)", route("POST", "/replies", timeout=3000)),
    ("integration-timeouts", "a webhook route with a 10 s integration timeout", route("POST", "/wechat/{account}", timeout=10000)),
    ("http-api-throttling", "the reply API's stage without DefaultRouteSettings", drop("stage:ReplyHttpApi.DefaultRouteSettings")),
    ("http-api-throttling", "POST /wechat/{account} without its route throttling", drop("stage:HttpApi.RouteSettings.POST /wechat/{account}")),
    ("http-api-throttling", "GET /replies/{reply_id} throttled at a literal 10000 rps",
     put("stage:ReplyHttpApi.RouteSettings.GET /replies/{reply_id}.ThrottlingRateLimit", 10000)),
    ("http-api-throttling", "WebhookRouteBurstLimit default 5", put("Parameters.WebhookRouteBurstLimit.Default", 5)),
    # --- logs -------------------------------------------------------------------------------------
    ("log-level-no-trace", "LogLevel allows trace again (parameter and mapping)",
     (add("Parameters.LogLevel.AllowedValues", "trace", at=0), put("Mappings.LogLevels.trace", {"Lambda": "TRACE"}))),
    ("log-level-no-trace", "the LogLevels mapping keeps trace", put("Mappings.LogLevels.trace", {"Lambda": "TRACE"})),
    ("log-groups-retained", "reply-sender's log group deleted with the stack", put("Resources.ReplySenderLogGroup.DeletionPolicy", "Delete")),
    ("log-groups-retained", "a log group without a fixed name", drop("ReplyApiAccessLogGroup.LogGroupName")),
    ("log-groups-retained", "the reply API's access log group not retained on replacement",
     drop("Resources.ReplyApiAccessLogGroup.UpdateReplacePolicy")),
    ("log-groups-retention", "a log group without retention", drop("MessageRouterLogGroup.RetentionInDays")),
    ("functions-json-logs", "text logs", put("MessageRouterFunction.LoggingConfig.LogFormat", "Text")),
    # --- alarms, dashboard, parameters and outputs ------------------------------------------------
    ("alarms", "no DLQ alarm", drop("Resources.InboundDeadLetterQueueDepthAlarm")),
    ("alarms", "no outbound DLQ alarm", drop("Resources.OutboundDeadLetterQueueDepthAlarm")),
    ("alarms", "no DeliveryUncertain alarm", drop("Resources.DeliveryUncertainAlarm")),
    ("alarms", "the AccountsUnavailable alarm on a dimension the metric does not have",
     put("AccountsUnavailableAlarm.Dimensions", [{"Name": "FunctionName", "Value": {"Ref": "WeChatWebhookFunction"}}])),
    ("alarms", "the AccountsRefreshFailed alarm over 1 minute", put("AccountsRefreshFailedAlarm.Period", 60)),
    ("alarms", "the AccountsRefreshFailed alarm treats missing data as breaching", put("AccountsRefreshFailedAlarm.TreatMissingData", "breaching")),
    ("alarms", "no 5xx alarm on the reply API", drop("Resources.ReplyHttpApi5xxAlarm")),
    ("alarms", "the webhook API's 5xx alarm watches the reply API", put("HttpApi5xxAlarm.Dimensions.0.Value", {"Ref": "ReplyHttpApi"})),
    ("dashboard", "dashboard removed", drop("Resources.Dashboard")),
    ("dashboard", "no delivered-replies metric", replace("Dashboard.DashboardBody", "RepliesDelivered", "Replies")),
    ("dashboard", "no outbound dead-letter queue", replace("Dashboard.DashboardBody", "OutboundDeadLetterQueue", "InboundDeadLetterQueue")),
    ("dashboard", "UnansweredConversations plotted again",  # a line in the accounts/uncertain-deliveries widget
     replace("Dashboard.DashboardBody", '"delivery uncertain"}]', '"delivery uncertain"}],["ChannelGateway","UnansweredConversations",{"stat":"Sum"}]')),
    ("dashboard", "no DeliveryUncertain line", replace("Dashboard.DashboardBody", "DeliveryUncertain", "Delivery")),
    ("parameters-outputs", "WeiboWebhookUrl output removed", drop("Outputs.WeiboWebhookUrl")),
    ("parameters-outputs", "ReplyApiUrl output removed", drop("Outputs.ReplyApiUrl")),
    ("parameters-outputs", "DeliveryCredentialsSecretId output removed", drop("Outputs.DeliveryCredentialsSecretId")),
    ("parameters-outputs", "ReplyApiUrl on the webhook API", replace("Outputs.ReplyApiUrl.Value", "ReplyHttpApi", "HttpApi")),
    ("parameters-outputs", "ReplyHttpApiId output removed", drop("Outputs.ReplyHttpApiId")),
    ("parameters-outputs", "WeChatWebhookUrl on the reply API", replace("Outputs.WeChatWebhookUrl.Value", "HttpApi", "ReplyHttpApi")),
    ("parameters-outputs", "CustomDomainTarget output removed", drop("Outputs.CustomDomainTarget")),
    # --- optional custom domain -------------------------------------------------------------------
    ("custom-domain", "TLS 1.0 allowed on the custom domain", put(f"{DOMAIN_CONFIG}.SecurityPolicy", "TLS_1_0")),
    ("custom-domain", "/webhooks mapped to the reply API (its API and stage)",
     (put("WebhookApiMapping.ApiId", Copy("ReplyApiMapping.ApiId")), put("WebhookApiMapping.Stage", Copy("ReplyApiMapping.Stage")))),
    ("custom-domain", "the reply API's mapping on the webhook API's stage", put("ReplyApiMapping.Stage", Copy("WebhookApiMapping.Stage"))),
    ("custom-domain", "both base paths swapped",
     (put("WebhookApiMapping.ApiMappingKey", "reply-api"), put("ReplyApiMapping.ApiMappingKey", "webhooks"))),
    ("custom-domain", "an EDGE endpoint", put(f"{DOMAIN_CONFIG}.EndpointType", "EDGE")),
    ("custom-domain", "no security policy (the default would be up to API Gateway)", drop(f"{DOMAIN_CONFIG}.SecurityPolicy")),
    ("custom-domain", "the webhook mapping created without a custom domain", drop("Resources.WebhookApiMapping.Condition")),
    ("custom-domain", "HasCustomDomain inverted (the domain without CustomDomainName)",
     put("Conditions.HasCustomDomain", {"Fn::Equals": [{"Ref": "CustomDomainName"}, ""]})),
    ("custom-domain", "the alias record created without a hosted zone id", put("Resources.CustomDomainRecord.Condition", "HasCustomDomain")),
    ("custom-domain", "the alias record pointing at the domain's own name",
     put("CustomDomainRecord.AliasTarget.DNSName", {"Ref": "CustomDomainName"})),
    ("custom-domain", "no rule requiring the certificate", drop("Rules.CustomDomainNeedsCertificate")),
    ("custom-domain", "the stable WeChat URL on the reply API's base path",
     replace("Outputs.CustomDomainWeChatWebhookUrl.Value", "/webhooks/", "/reply-api/")),
    ("custom-domain", "the stable reply API URL output without its condition", drop("Outputs.CustomDomainReplyApiUrl.Condition")),
    ("custom-domain", "CustomDomainName defaulting to a domain", put("Parameters.CustomDomainName.Default", "gateway.example.com")),
    # --- SAM == CDK: changes to the CDK template alone ------------------------------------------
    ("equivalence", "a different LogLevel default", put("Parameters.LogLevel.Default", "debug")),
    ("equivalence", "reply-sender outside the VPC in one of them", drop("ReplySenderFunction.VpcConfig")),
    ("equivalence", "a different reply-sender setting", put(f"{RS_ENV}.RETRY_MAX_SECS", "600")),
    ("equivalence", "a different reply-sender attempt limit", put(f"{RS_ENV}.REPLY_MAX_ATTEMPTS", "3")),
    ("equivalence", "a different outbound maxReceiveCount", put("OutboundQueue.RedrivePolicy.maxReceiveCount", 6)),
    ("equivalence", "a different outbound visibility timeout", put("OutboundQueue.VisibilityTimeout", 300)),
    ("equivalence", "a different reply-api integration timeout", route("GET", "/replies/{reply_id}", timeout=9000)),
    ("equivalence", "a different dashboard widget", replace("Dashboard.DashboardBody", "Replies delivered by channel", "Replies")),
    ("equivalence", "a different alarm threshold", put("OutboundQueueAgeAlarm.Threshold", 900)),
    ("equivalence", "a reply-sender grant under another condition", put("ReplySenderRole.Policies.1.Fn::If.0", "IsProduction")),
    ("equivalence", "a different passive rules budget", put("env:WeChatWebhookFunction.PASSIVE_RULES_TIMEOUT_MS", "800")),
    ("equivalence", "a different rules cache in wechat-webhook", put("env:WeChatWebhookFunction.RULES_CACHE_SECS", "60")),
    ("equivalence", "wechat-webhook's rules read without its LeadingKeys condition", drop("stmt:WeChatWebhookRole:ReadRules.Condition")),
    ("equivalence", "reply-sender's LeadingKeys without TOKEN#*", put(RS_KEYS, ["CONV#*", "REPLY#*"])),
    ("equivalence", "reply-api reading the webhook credentials secret", API_CLIENTS_IS_WEBHOOK_SECRET),
    ("equivalence", "a different ApiClients placeholder", put("ApiClientsSecret.GenerateSecretString.SecretStringTemplate", "{}")),
    ("equivalence", "a different reserved concurrency default", put("Parameters.ReplySenderReservedConcurrency.Default", 7)),
    ("equivalence", "reply-sender without reserved concurrency", drop("ReplySenderFunction.ReservedConcurrentExecutions")),
    ("equivalence", "a different event source MaximumConcurrency", put("esm:ReplySenderFunction:Outbound.ScalingConfig", {"MaximumConcurrency": 3})),
    ("equivalence", "a different route throttling", put("stage:HttpApi.RouteSettings.POST /wechat/{account}.ThrottlingRateLimit", 100)),
    ("equivalence", "a log group deleted with the stack", put("Resources.MessageRouterLogGroup.DeletionPolicy", "Delete")),
    ("equivalence", "trace back in the LogLevels mapping", put("Mappings.LogLevels.trace", {"Lambda": "TRACE"})),
    ("equivalence", "a different 5xx alarm threshold", put("ReplyHttpApi5xxAlarm.Threshold", 10)),
    ("equivalence", "a different reply-sender timeout", put("ReplySenderFunction.Timeout", 45)),
    ("equivalence", "a different base path of the reply API", put("ReplyApiMapping.ApiMappingKey", "replies")),
    ("equivalence", "a different custom domain security policy", put(f"{DOMAIN_CONFIG}.SecurityPolicy", "TLS_1_0")),
    ("equivalence", "a different HasCustomDomain condition",
     put("Conditions.HasCustomDomain", {"Fn::Not": [{"Fn::Equals": [{"Ref": "CustomDomainName"}, "none"]}]})),
    ("equivalence", "the alias record under HasCustomDomain only", put("Resources.CustomDomainRecord.Condition", "HasCustomDomain")),
    ("equivalence", "a stable URL output without its condition", drop("Outputs.CustomDomainWeiboWebhookUrl.Condition")),
    ("equivalence", "a different CustomDomainHostedZoneId pattern", put("Parameters.CustomDomainHostedZoneId.AllowedPattern", ".*")),
    ("equivalence", "no hosted-zone rule", drop("Rules.CustomDomainHostedZoneNeedsDomain")),
    # --- build once, deploy many: the templates for prebuilt zips -------------------------------
    ("sam-prebuilt", "wechat-webhook deployed with weibo-webhook's zip", swap("WeChatWebhookFunction.CodeUri", "WeiboWebhookFunction.CodeUri")),
    ("sam-prebuilt", "reply-api still built from the workspace by sam build",
     (put("ReplyApiFunction.CodeUri", "../.."), put("Resources.ReplyApiFunction.Metadata", {"BuildMethod": "rust-cargolambda"}))),
    ("sam-prebuilt", "another setting changed with the code", put("MessageRouterFunction.Timeout", 60)),
    ("cdk-prebuilt", "reply-sender and reply-api deployed with each other's zip",
     (swap("Resources.ReplySenderFunction.Metadata.aws:asset:path", "Resources.ReplyApiFunction.Metadata.aws:asset:path"),
      swap("ReplySenderFunction.Code", "ReplyApiFunction.Code"))),
    ("cdk-prebuilt", "another setting changed with the code", put("WeiboWebhookFunction.MemorySize", 512)),
    ("cdk-prebuilt", "a function without a code asset", drop("Resources.MessageRouterFunction.Metadata.aws:asset:path")),
]



def _per_function() -> list[Row]:
    """The self-tests every row of FUNCTIONS gets (the resources of a function <Name>Function:
    <Name>Role with its inline policy, <Name>ErrorsAlarm, <Name>LatencyAlarm); a function whose
    routes are behind an authorizer: each route without it, and each without its scopes (behind
    the authorizer, an ID token would pass)."""
    rows: list[Row] = []
    for lid, spec in FUNCTIONS.items():
        name, binary, variable = lid.removesuffix("Function"), spec.binary, min(spec.all_env)
        rows += [
            ("iam-least-privilege", f"{binary} may also scan the table", add(stmts(f"{name}Role"), allow("dynamodb:Scan", TABLE_ARN))),
            ("iam-grants-needed", f"{binary} cannot write its log group", drop_stmt(f"{name}Role", "Logs")),
            ("functions-env-contract", f"{binary} without {variable}", drop(f"env:{lid}.{variable}")),
            ("functions-runtime", f"{binary} on x86_64", put(f"{lid}.Architectures", ["x86_64"])),
            ("alarms", f"no {binary} errors alarm", drop(f"Resources.{name}ErrorsAlarm")),
            *([("alarms", f"no {binary} latency alarm", drop(f"Resources.{name}LatencyAlarm"))] if spec.latency_alarm_ms else []),
            *[("api-routes", f"{method} {path} dropped", route(method, path)) for method, path in spec.routes],
            *[("http-api-authorizers", f"{method} {path} without {spec.authorizer}", route_auth(method, path, None))
              for method, path in spec.routes if spec.authorizer],
            *[("authorization-scopes", f"{method} {path} behind {spec.authorizer} without its scopes", route_scopes(method, path, None))
              for method, path in spec.routes if spec.authorizer],
        ]
    return rows


MUTATIONS += ASYNC_MUTATIONS + AUTH_MUTATIONS + SITE_MUTATIONS + MEDIA_MUTATIONS + LISTENING_MUTATIONS + EVENTS_MUTATIONS + WEBHOOK_MUTATIONS + _per_function()

# `make -n build` output broken: the check of the dry run must fail.
MAKE_BUILD_MUTATIONS: list[tuple[str, Callable[[str], str]]] = [
    ("reply-api not built", lambda text: re.sub(r"(-p|--package)[ =]reply-api\b", "", text)),
    ("sla-monitor not built", lambda text: re.sub(r"(-p|--package)[ =]sla-monitor\b", "", text)),
    ("stats-aggregator not built", lambda text: re.sub(r"(-p|--package)[ =]stats-aggregator\b", "", text)),
    ("desk-api not built", lambda text: re.sub(r"(-p|--package)[ =]desk-api\b", "", text)),
    ("media-fetcher not built", lambda text: re.sub(r"(-p|--package)[ =]media-fetcher\b", "", text)),
    ("weibo-poller not built", lambda text: re.sub(r"(-p|--package)[ =]weibo-poller\b", "", text)),
    ("an x86_64 build (no --arm64)", lambda text: text.replace("--arm64", "")),
    ("a debug build (no --release)", lambda text: text.replace("--release", "")),
    ("the zips not checked", lambda text: "\n".join(line for line in text.splitlines() if "lambda_zips.py" not in line)),
]
