"""Negative self-tests of the desk (see mutations.py): its Cognito user pool, app client and
groups, the JWT authorizer, the routes behind it and the scope they require, desk-api's role
(its partitions, the rules, the transactions' item actions, queries, indexes, only the delivery
secret, no key; the table and queues without customer managed keys; its media grants:
mutations_media.py), its variables, the rules' cache it shares
with the others and its reply windows, its routes, throttling, alarms, dashboard lines and
outputs. The rows every function gets (a Scan, its log group, x86_64, its alarms and routes
removed) and, per desk route, one without its authorizer and one without its scopes are in
mutations.py."""

from __future__ import annotations

from .mutations_async import Row
from .ops import (TABLE_ARN, Copy, add, allow, authorizer_scopes, drop, drop_stmt, index_arn, jwt_authorizer, put, remove, replace, route,
                  route_auth, route_scopes, stmts)
from .spec import COGNITO_SIGNIN_SCOPE, REPLY_WINDOW_ENV

POOL, CLIENT, ROLE, ENV = "DeskUserPool", "DeskUserPoolClient", "DeskApiRole", "env:DeskApiFunction"
PASSWORD = f"{POOL}.Policies.PasswordPolicy"
DESK_ISSUER = {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${DeskUserPool}"}
CONV_WRITES, RULES = "stmt:DeskApiRole:ConversationTransactions", "stmt:DeskApiRole:ReadRules"
AGENTS_CANNED = "stmt:DeskApiRole:AgentsAndCannedResponses"
GETS, QUERIES, INDEXES = "stmt:DeskApiRole:ReadConversationsAndAgents", "stmt:DeskApiRole:QueryPartitions", "stmt:DeskApiRole:QueryIndexes"
LEADING = "Condition.ForAllValues:StringLike.dynamodb:LeadingKeys"
QUERIED = "Condition.ForAnyValue:StringLike.dynamodb:LeadingKeys"
DESK_PARTITIONS = ["CONV#*", "AGENTS", "CANNED", "STATS#*", "ACCOUNTS"]
# Neither reply-sender nor desk-api has any reply window left.
NO_WINDOWS = tuple(drop(f"env:{lid}.{name}") for lid in ("ReplySenderFunction", "DeskApiFunction") for name in REPLY_WINDOW_ENV)

AUTH_MUTATIONS: list[Row] = [
    # --- the user pool and its groups --------------------------------------------------------
    ("cognito-user-pools", "the desk's pool deleted with the stack", put(f"Resources.{POOL}.DeletionPolicy", "Delete")),
    ("cognito-user-pools", "the desk's pool not kept when replaced", drop(f"Resources.{POOL}.UpdateReplacePolicy")),
    ("cognito-user-pools", "deletion protection off", put(f"{POOL}.DeletionProtection", "INACTIVE")),
    ("cognito-user-pools", "deletion protection left to its default (off)", drop(f"{POOL}.DeletionProtection")),
    ("cognito-user-pools", "anyone may sign up", put(f"{POOL}.AdminCreateUserConfig.AllowAdminCreateUserOnly", False)),
    ("cognito-user-pools", "no AdminCreateUserConfig (self sign-up is Cognito's default)", drop(f"{POOL}.AdminCreateUserConfig")),
    ("cognito-user-pools", "passwords of 8 characters", put(f"{PASSWORD}.MinimumLength", 8)),
    ("cognito-user-pools", "no symbol required in passwords", put(f"{PASSWORD}.RequireSymbols", False)),
    ("cognito-user-pools", "no lower-case letter required in passwords", drop(f"{PASSWORD}.RequireLowercase")),
    ("cognito-user-pools", "no password policy (Cognito's default)", drop(f"{POOL}.Policies")),
    ("cognito-user-pools", "temporary passwords valid 30 days", put(f"{PASSWORD}.TemporaryPasswordValidityDays", 30)),
    ("cognito-user-pools", "the supervisors group removed", drop("Resources.DeskSupervisorsGroup")),
    ("cognito-user-pools", "the admins group named administrators (desk-api knows admins)", put("DeskAdminsGroup.GroupName", "administrators")),
    ("cognito-user-pools", "the agents group deleted with the stack (its members lose it)", put("Resources.DeskAgentsGroup.DeletionPolicy", "Delete")),
    ("cognito-user-pools", "the agents group in another pool", put("DeskAgentsGroup.UserPoolId", {"Ref": "OtherUserPool"})),
    ("cognito-user-pools", "a second user pool", put("Resources.StrayUserPool", Copy(f"Resources.{POOL}"))),
    ("cognito-user-pools", "a fourth group", put("Resources.StrayGroup", Copy("Resources.DeskAgentsGroup"))),
    # --- the app client ----------------------------------------------------------------------
    ("cognito-app-clients", "a client secret (the browser and the CLI cannot keep it)", put(f"{CLIENT}.GenerateSecret", True)),
    ("cognito-app-clients", "ADMIN_USER_PASSWORD_AUTH allowed too", add(f"{CLIENT}.ExplicitAuthFlows", "ALLOW_ADMIN_USER_PASSWORD_AUTH")),
    ("cognito-app-clients", "no USER_PASSWORD_AUTH (the command-line login fails)", remove(f"{CLIENT}.ExplicitAuthFlows", "ALLOW_USER_PASSWORD_AUTH")),
    ("cognito-app-clients", "no SRP (the desk's browser login fails)", remove(f"{CLIENT}.ExplicitAuthFlows", "ALLOW_USER_SRP_AUTH")),
    ("cognito-app-clients", "ExplicitAuthFlows left to Cognito's default (CUSTOM_AUTH, no USER_PASSWORD_AUTH)",
     drop(f"{CLIENT}.ExplicitAuthFlows")),
    ("cognito-app-clients", "user existence errors revealed (LEGACY)", put(f"{CLIENT}.PreventUserExistenceErrors", "LEGACY")),
    ("cognito-app-clients", "PreventUserExistenceErrors left to its default", drop(f"{CLIENT}.PreventUserExistenceErrors")),
    ("cognito-app-clients", "access tokens valid 60 hours (units hours)", put(f"{CLIENT}.TokenValidityUnits.AccessToken", "hours")),
    ("cognito-app-clients", "access tokens valid 60 hours (no units: hours by default)", drop(f"{CLIENT}.TokenValidityUnits")),
    ("cognito-app-clients", "access tokens valid 24 hours", put(f"{CLIENT}.AccessTokenValidity", 1440)),
    ("cognito-app-clients", "access token validity left to its default (1 hour, not written down)", drop(f"{CLIENT}.AccessTokenValidity")),
    ("cognito-app-clients", "token revocation off", put(f"{CLIENT}.EnableTokenRevocation", False)),
    ("cognito-app-clients", "the implicit OAuth flow with a callback URL",
     (put(f"{CLIENT}.AllowedOAuthFlows", ["implicit"]), put(f"{CLIENT}.AllowedOAuthFlowsUserPoolClient", True),
      put(f"{CLIENT}.CallbackURLs", ["https://desk.example.com/"]))),
    ("cognito-app-clients", "the client on another pool", put(f"{CLIENT}.UserPoolId", {"Ref": "OtherUserPool"})),
    ("cognito-app-clients", "a second app client", put("Resources.StrayUserPoolClient", Copy(f"Resources.{CLIENT}"))),
    # --- the JWT authorizer and the routes behind it --------------------------------------------
    ("http-api-authorizers authorization-scopes", "POST /replies behind DeskAuthorizer (HMAC-signed clients have no JWT)",
     route_auth("POST", "/replies", "DeskAuthorizer")),
    ("http-api-authorizers", "GET /replies/{reply_id} behind DeskAuthorizer", route_auth("GET", "/replies/{reply_id}", "DeskAuthorizer")),
    ("http-api-authorizers", "a webhook behind DeskAuthorizer (WeChat sends no JWT)", route_auth("POST", "/wechat/{account}", "DeskAuthorizer")),
    ("http-api-authorizers", "the issuer of another region's pool",
     jwt_authorizer("DeskAuthorizer", issuer={"Fn::Sub": "https://cognito-idp.us-east-1.amazonaws.com/${DeskUserPool}"})),
    ("http-api-authorizers", "the issuer the pool's ARN (no token has it)", jwt_authorizer("DeskAuthorizer", issuer={"Fn::GetAtt": [POOL, "Arn"]})),
    ("http-api-authorizers", "the issuer the pool's provider URL without https://",
     jwt_authorizer("DeskAuthorizer", issuer={"Fn::GetAtt": [POOL, "ProviderURL"]})),
    ("http-api-authorizers", "a second audience (another client's tokens accepted)",
     jwt_authorizer("DeskAuthorizer", audience=[{"Ref": CLIENT}, "1example23456789abcdefghij"])),
    ("http-api-authorizers", "the audience the pool id (no access token's client_id matches)", jwt_authorizer("DeskAuthorizer", audience=[{"Ref": POOL}])),
    ("http-api-authorizers", "no audience", jwt_authorizer("DeskAuthorizer", audience=[])),
    ("http-api-authorizers", "the token read from the query string (it ends up in access logs)",
     jwt_authorizer("DeskAuthorizer", identity_source="$request.querystring.token")),
    ("http-api-authorizers", "the authorizer on the webhook API", jwt_authorizer("DeskAuthorizer", api="HttpApi")),
    ("http-api-authorizers", "a second authorizer trusting any Cognito pool of the region",
     jwt_authorizer("DeskAuthorizer", copy_as="StrayAuthorizer", issuer={"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/"})),
    ("http-api-authorizers", "the authorizer removed (its routes name nothing)", jwt_authorizer("DeskAuthorizer", remove=True)),
    ("http-api-authorizers api-routes http-api-throttling equivalence", "GET /stats on the webhook API (its authorizer is on the reply API)",
     route("GET", "/stats", api="HttpApi")),
    # --- the scope the desk's routes require (the access tokens': ID tokens have none) ---------
    ("authorization-scopes", "POST /conversations/{key}/replies requiring openid instead (API sign-in's access tokens lack it)",
     route_scopes("POST", "/conversations/{key}/replies", ["openid"])),
    ("authorization-scopes", "GET /agents also accepting the email scope (any one of a route's scopes lets a token through)",
     route_scopes("GET", "/agents", [COGNITO_SIGNIN_SCOPE, "email"])),
    ("authorization-scopes", "every desk route left to the authorizer's scopes, openid (SAM's default for the routes behind it)",
     authorizer_scopes("DeskAuthorizer", ["openid"])),
    # --- desk-api's role: the table by partition key, queries, indexes, no secret, no key ---------
    ("iam-grants-needed", "desk-api cannot queue replies", drop_stmt(ROLE, "QueueReplies")),
    ("iam-least-privilege", "desk-api may send to the inbound queue", add(stmts(ROLE), allow("sqs:SendMessage", {"Fn::GetAtt": ["InboundQueue", "Arn"]}))),
    ("iam-least-privilege secrets-per-role", "desk-api may read the ApiClients secret", add(stmts(ROLE), Copy("stmt:ReplyApiRole:ReadApiClients"))),
    ("iam-least-privilege", "desk-api may decrypt with the accounts secrets' key even when none is given",
     add(stmts(ROLE), allow("kms:Decrypt", {"Ref": "AccountsSecretKmsKeyArn"}))),
    ("iam-least-privilege", "desk-api may publish alerts", add(stmts(ROLE), allow("sns:Publish", {"Ref": "AlertsTopic"}))),
    # (iam-least-privilege allows UpdateItem on the table: desk-api updates the token cache's
    # TOKEN# items; the partitions are table-leading-keys'.)
    ("table-leading-keys", "desk-api may update conversations (its transactions hold no Update item)",
     add(f"{CONV_WRITES}.Action", "dynamodb:UpdateItem")),
    ("iam-least-privilege table-leading-keys", "desk-api may use ConditionCheck items (its transactions hold none)",
     add(f"{CONV_WRITES}.Action", "dynamodb:ConditionCheckItem")),
    ("iam-least-privilege table-leading-keys", "desk-api may update and condition-check items, in a statement of their own",
     add(stmts(ROLE), {**allow(["dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"], TABLE_ARN),
                       "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONV#*"]}}})),
    ("table-leading-keys", "desk-api cannot delete the TAG# items of removed tags",
     remove(f"{CONV_WRITES}.Action", "dynamodb:DeleteItem")),
    ("table-leading-keys", "desk-api cannot read conversations or agents", drop_stmt(ROLE, "ReadConversationsAndAgents")),
    ("table-leading-keys rules-cache-agree", "desk-api cannot read the rules (a resolution keeps the tags lifecycle removes)",
     drop_stmt(ROLE, "ReadRules")),
    ("table-leading-keys", "desk-api may read the rules under no condition (any item)", drop(f"{RULES}.Condition")),
    ("table-leading-keys", "desk-api may write the rules document (PutItem on CONFIG)", put(f"{RULES}.Action", ["dynamodb:GetItem", "dynamodb:PutItem"])),
    ("table-leading-keys", "desk-api may overwrite the rules document in its transactions (CONFIG)",
     put(f"{CONV_WRITES}.{LEADING}", ["CONV#*", "CONFIG"])),
    ("table-leading-keys", "desk-api's conversation writes without a LeadingKeys condition", drop(f"{CONV_WRITES}.Condition")),
    ("table-leading-keys", "desk-api may delete delivery records (REPLY#*)", put(f"{AGENTS_CANNED}.{LEADING}", ["AGENTS", "CANNED", "REPLY#*"])),
    ("table-leading-keys", "desk-api cannot write canned responses (CANNED left out)", put(f"{AGENTS_CANNED}.{LEADING}", ["AGENTS"])),
    ("table-leading-keys", "desk-api may read delivery records (REPLY#*)", put(f"{GETS}.{LEADING}", ["CONV#*", "AGENTS", "REPLY#*"])),
    ("table-leading-keys", "desk-api's reads under ForAllValues:StringEquals (CONV#* literally)",
     put(f"{GETS}.Condition", {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["CONV#*", "AGENTS"]}})),
    ("table-queries", "desk-api may query any partition (no condition)", drop(f"{QUERIES}.Condition")),
    ("table-queries", "desk-api's partition queries under ForAllValues (true for a request naming no partition key)",
     put(f"{QUERIES}.Condition", {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": DESK_PARTITIONS}})),
    ("table-queries", "desk-api may query the token cache", put(f"{QUERIES}.{QUERIED}", [*DESK_PARTITIONS, "TOKEN#*"])),
    ("table-queries", "desk-api cannot query the daily statistics (GET /stats)", put(f"{QUERIES}.{QUERIED}", ["CONV#*", "AGENTS", "CANNED", "ACCOUNTS"])),
    ("table-queries iam-least-privilege iam-no-wildcards", "desk-api's index queries on index/*", put(f"{INDEXES}.Resource", [index_arn("*")])),
    ("table-queries iam-grants-needed", "desk-api cannot query GSI2 (the teams' queues, tags)", put(f"{INDEXES}.Resource", [index_arn("GSI1")])),
    ("table-queries", "desk-api's index queries under a LeadingKeys condition",
     put(f"{INDEXES}.Condition", {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["INBOX#*", "TEAM#*"]}})),
    ("table-queries iam-least-privilege", "desk-api may scan the table", add(stmts(ROLE), allow("dynamodb:Scan", TABLE_ARN))),
    # --- desk-api's variables and reply windows ------------------------------------------------
    ("functions-env-contract", "desk-api given DESK_TOKEN_ISSUER (its default follows the pool)", put(f"{ENV}.DESK_TOKEN_ISSUER", DESK_ISSUER)),
    ("functions-env-contract", "desk-api given DESK_JWKS_URL", put(f"{ENV}.DESK_JWKS_URL", {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${DeskUserPool}/.well-known/jwks.json"})),
    ("functions-env-contract", "DESK_CLIENT_ID is the pool id", put(f"{ENV}.DESK_CLIENT_ID", {"Ref": POOL})),
    ("functions-env-contract", "desk-api without DESK_USER_POOL_ID", drop(f"{ENV}.DESK_USER_POOL_ID")),
    ("functions-env-contract", "desk-api without DESK_MAX_BODY_BYTES (the code's default, unchecked)", drop(f"{ENV}.DESK_MAX_BODY_BYTES")),
    ("functions-env-contract", "desk-api accepts request bodies of 1 MiB", put(f"{ENV}.DESK_MAX_BODY_BYTES", "1048576")),
    ("functions-env-contract", "desk-api without DESK_JWKS_CACHE_SECS", drop(f"{ENV}.DESK_JWKS_CACHE_SECS")),
    ("functions-env-contract", "desk-api keeps the pool's keys a day", put(f"{ENV}.DESK_JWKS_CACHE_SECS", "86400")),
    ("functions-env-contract rules-cache-agree", "desk-api caches the rules 300 s, the others 30 s", put(f"{ENV}.RULES_CACHE_SECS", "300")),
    ("functions-env-contract rules-cache-agree", "desk-api reads the rules without RULES_CACHE_SECS (the code's default, unchecked)",
     drop(f"{ENV}.RULES_CACHE_SECS")),
    ("functions-env-contract rules-cache-agree", "weibo-webhook given RULES_CACHE_SECS (it may not read the rules)",
     put("env:WeiboWebhookFunction.RULES_CACHE_SECS", "30")),
    ("functions-env-contract", "desk-api queues replies on the outbound DLQ", put(f"{ENV}.OUTBOUND_QUEUE_URL", {"Ref": "OutboundDeadLetterQueue"})),
    ("secrets-per-role functions-env-contract", "desk-api given API_CLIENTS_SECRET_ID",
     put(f"{ENV}.API_CLIENTS_SECRET_ID", Copy("env:ReplyApiFunction.API_CLIENTS_SECRET_ID"))),
    ("reply-windows-agree functions-env-contract", "desk-api allows 6 WeChat replies, reply-sender 5", put(f"{ENV}.WECHAT_MESSAGE_QUOTA", "6")),
    ("reply-windows-agree functions-env-contract", "desk-api without WEIBO_MENTION_WINDOW_SECS", drop(f"{ENV}.WEIBO_MENTION_WINDOW_SECS")),
    ("reply-windows-agree functions-env-contract", "reply-sender's event window changed alone (120 s)",
     put("env:ReplySenderFunction.WECHAT_EVENT_WINDOW_SECS", "120")),
    ("reply-windows-agree functions-env-contract", "desk-api with a window reply-sender does not have",
     put(f"{ENV}.WEIBO_COMMENT_WINDOW_SECS", "3600")),
    ("reply-windows-agree functions-env-contract", "neither function has its reply windows (the code's defaults, unchecked)", NO_WINDOWS),
    ("no-customer-keys", "the table encrypted with a customer managed key (its readers have no kms:Decrypt)",
     put("GatewayTable.SSESpecification", {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "AccountsSecretKmsKeyArn"}})),
    ("no-customer-keys", "the outbound queue encrypted with a customer managed key (desk-api cannot send to it)",
     (drop("OutboundQueue.SqsManagedSseEnabled"), put("OutboundQueue.KmsMasterKeyId", "alias/channel-gateway"))),
    # --- routes, throttling, alarms, dashboard, outputs ------------------------------------------
    ("integration-timeouts", "desk-api's GET /conversations integration timeout 5 s (its Timeout is 6 s)", route("GET", "/conversations", timeout=5000)),
    ("functions-runtime integration-timeouts", "desk-api's Timeout 10 s (its routes give up after 8 s)", put("DeskApiFunction.Timeout", 10)),
    ("http-api-throttling", "GET /stats without its route throttling", drop("stage:ReplyHttpApi.RouteSettings.GET /stats")),
    ("http-api-throttling", "POST /conversations/{key}/replies throttled at a literal 1000 rps",
     put("stage:ReplyHttpApi.RouteSettings.POST /conversations/{key}/replies.ThrottlingRateLimit", 1000)),
    ("alarms", "no desk-api throttles alarm", drop("Resources.DeskApiThrottlesAlarm")),
    ("alarms", "desk-api's latency alarm on the average", (drop("DeskApiLatencyAlarm.ExtendedStatistic"), put("DeskApiLatencyAlarm.Statistic", "Average"))),
    ("dashboard", "no desk-api on the dashboard", replace("Dashboard.DashboardBody", "DeskApiFunction", "ReplyApiFunction")),
    ("parameters-outputs", "DeskUserPoolId output removed", drop("Outputs.DeskUserPoolId")),
    ("parameters-outputs", "DeskUserPoolClientId output names the pool", put("Outputs.DeskUserPoolClientId.Value", {"Ref": POOL})),
    ("parameters-outputs", "DeskApiUrl output removed", drop("Outputs.DeskApiUrl")),
    ("parameters-outputs", "DeskApiUrl on the webhook API", replace("Outputs.DeskApiUrl.Value", "ReplyHttpApi", "HttpApi")),
    ("custom-domain", "the stable desk URL without its condition", drop("Outputs.CustomDomainDeskApiUrl.Condition")),
    ("custom-domain", "the stable desk URL on the webhooks' base path", replace("Outputs.CustomDomainDeskApiUrl.Value", "/reply-api", "/webhooks")),
    # --- SAM == CDK: changes to the CDK template alone ------------------------------------------
    ("equivalence", "a desk route without its authorizer in one template", route_auth("PATCH", "/conversations/{key}", None)),
    ("equivalence", "a different issuer", jwt_authorizer("DeskAuthorizer", issuer={"Fn::GetAtt": [POOL, "ProviderURL"]})),
    ("equivalence", "a different password length", put(f"{PASSWORD}.MinimumLength", 14)),
    ("equivalence", "a different refresh token validity", put(f"{CLIENT}.RefreshTokenValidity", 24)),
    ("equivalence", "a different ID token validity unit", put(f"{CLIENT}.TokenValidityUnits.IdToken", "hours")),
    ("equivalence", "a different group precedence", put("DeskAdminsGroup.Precedence", 5)),
    ("equivalence", "the pool without its recovery by e-mail", drop(f"{POOL}.AccountRecoverySetting")),
    ("equivalence", "a group not retained in one template", put("Resources.DeskSupervisorsGroup.UpdateReplacePolicy", "Delete")),
    ("equivalence", "a different desk-api reply quota", put(f"{ENV}.WECHAT_EVENT_QUOTA", "4")),
    ("equivalence", "desk-api's index queries on GSI1 only", put(f"{INDEXES}.Resource", [index_arn("GSI1")])),
    ("equivalence", "desk-api may use ConditionCheck items in one template", add(f"{CONV_WRITES}.Action", "dynamodb:ConditionCheckItem")),
    ("equivalence", "desk-api without the rules in one template", drop_stmt(ROLE, "ReadRules")),
    ("equivalence", "a different desk-api body limit", put(f"{ENV}.DESK_MAX_BODY_BYTES", "32768")),
    ("equivalence", "a desk route without its scope in one template", route_scopes("DELETE", "/agents/{agent_id}", None)),
    ("equivalence", "a desk route requiring another scope in one template", route_scopes("GET", "/me", ["openid"])),
    ("equivalence", "a different desk route throttling", put("stage:ReplyHttpApi.RouteSettings.GET /me.ThrottlingBurstLimit", 7)),
    ("equivalence", "a different desk-api integration timeout", route("POST", "/conversations/next", timeout=9000)),
    ("equivalence", "a different desk-api latency alarm", put("DeskApiLatencyAlarm.Threshold", 5000)),
    ("equivalence", "no stable desk URL in one template", drop("Outputs.CustomDomainDeskApiUrl")),
    # --- build once, deploy many ------------------------------------------------------------------
    ("sam-prebuilt", "desk-api deployed with reply-api's zip", put("DeskApiFunction.CodeUri", Copy("ReplyApiFunction.CodeUri"))),
    ("cdk-prebuilt", "desk-api deployed with reply-api's zip",
     (put("Resources.DeskApiFunction.Metadata.aws:asset:path", Copy("Resources.ReplyApiFunction.Metadata.aws:asset:path")),
      put("DeskApiFunction.Code", Copy("ReplyApiFunction.Code")))),
]
