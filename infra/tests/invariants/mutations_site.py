"""Negative self-tests of the web desk's hosting (see mutations.py, checks_site.py): its bucket,
the bucket policy, Origin Access Control, the distribution's behaviours and origins, the
response headers policy, the CloudFront Functions (the app's routes, /config.json, /api), and
that nothing of it runs a Lambda; its parameter and outputs; SAM == CDK."""

from __future__ import annotations

from .mutations_async import Row
from .ops import Copy, add, drop, put, replace
from .spec import CACHING_OPTIMIZED

BUCKET, POLICY, OAC, HEADERS = "DeskBucket", "DeskBucketPolicy", "DeskOriginAccessControl", "DeskResponseHeadersPolicy"
CONFIG = "DeskDistribution.DistributionConfig"
DEFAULT, CONFIG_JSON, API = f"{CONFIG}.DefaultCacheBehavior", f"{CONFIG}.CacheBehaviors.0", f"{CONFIG}.CacheBehaviors.1"
S3_ORIGIN, API_ORIGIN = f"{CONFIG}.Origins.0", f"{CONFIG}.Origins.1"
READ, TLS = f"{POLICY}.PolicyDocument.Statement.0", f"{POLICY}.PolicyDocument.Statement.1"
SEC = f"{HEADERS}.ResponseHeadersPolicyConfig.SecurityHeadersConfig"
CSP = f"{SEC}.ContentSecurityPolicy.ContentSecurityPolicy"
CONFIG_CODE, API_CODE = "DeskConfigFunction.FunctionCode", "DeskApiPathFunction.FunctionCode"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"  # the managed AllViewer: Host too (API Gateway refuses it)
ANY_DISTRIBUTION = {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/*"}
LEGACY_OAI = {"Type": "AWS::CloudFront::CloudFrontOriginAccessIdentity",
              "Properties": {"CloudFrontOriginAccessIdentityConfig": {"Comment": "legacy"}}}

SITE_MUTATIONS: list[Row] = [
    # --- the bucket -------------------------------------------------------------------------------
    ("desk-bucket-private", "a public bucket policy allowed (BlockPublicPolicy false)", put(f"{BUCKET}.PublicAccessBlockConfiguration.BlockPublicPolicy", False)),
    ("desk-bucket-private", "public ACLs honoured (IgnorePublicAcls false)", put(f"{BUCKET}.PublicAccessBlockConfiguration.IgnorePublicAcls", False)),
    ("desk-bucket-private", "no public access block at all", drop(f"{BUCKET}.PublicAccessBlockConfiguration")),
    ("desk-bucket-private", "no default encryption written down", drop(f"{BUCKET}.BucketEncryption")),
    ("desk-bucket-private", "ACLs on (ObjectWriter)", put(f"{BUCKET}.OwnershipControls.Rules.0.ObjectOwnership", "ObjectWriter")),
    ("desk-bucket-private", "S3 website hosting (a public endpoint)", put(f"{BUCKET}.WebsiteConfiguration", {"IndexDocument": "index.html"})),
    ("desk-bucket-private", "the bucket deleted with the stack (it fails with files in it)", put(f"Resources.{BUCKET}.DeletionPolicy", "Delete")),
    ("desk-bucket-private", "a second, public, bucket",
     (put("Resources.StrayBucket", Copy(f"Resources.{BUCKET}")), drop("StrayBucket.PublicAccessBlockConfiguration"))),
    # --- its policy: the desk's distribution reads, over TLS ------------------------------------------
    ("desk-bucket-policy", "any reader through CloudFront (no AWS:SourceArn condition)", drop(f"{READ}.Condition")),
    ("desk-bucket-policy", "every distribution of the account may read (SourceArn distribution/*)",
     put(f"{READ}.Condition", {"StringLike": {"AWS:SourceArn": ANY_DISTRIBUTION}})),
    ("desk-bucket-policy", "anyone may read (Principal *)", put(f"{READ}.Principal", "*")),
    ("desk-bucket-policy", "CloudFront may list the bucket too", put(f"{READ}.Action", ["s3:GetObject", "s3:ListBucket"])),
    ("desk-bucket-policy", "CloudFront may write objects", add(f"{READ}.Action", "s3:PutObject")),
    ("desk-bucket-policy", "the bucket itself readable, not only its objects", put(f"{READ}.Resource", {"Fn::GetAtt": [BUCKET, "Arn"]})),
    ("desk-bucket-policy", "plain HTTP allowed (the TLS-only statement removed)", drop(TLS)),
    ("desk-bucket-policy", "plain HTTP allowed on the bucket (TLS-only on objects only)", put(f"{TLS}.Resource", {"Fn::Sub": "${DeskBucket.Arn}/*"})),
    ("desk-bucket-policy", "a second Allow for the account's principals",
     add(f"{POLICY}.PolicyDocument.Statement", {"Effect": "Allow", "Principal": {"AWS": {"Ref": "AWS::AccountId"}}, "Action": "s3:*",
                                                "Resource": {"Fn::Sub": "${DeskBucket.Arn}/*"}})),
    ("desk-bucket-policy", "no bucket policy (CloudFront cannot read; nothing refuses plain HTTP)", drop(f"Resources.{POLICY}")),
    # --- Origin Access Control, never an origin access identity ---------------------------------------
    ("desk-origin-access-control", "the S3 origin without its OAC (unsigned requests)", drop(f"{S3_ORIGIN}.OriginAccessControlId")),
    ("desk-origin-access-control", "a legacy origin access identity instead",
     (put("Resources.DeskOriginAccessIdentity", LEGACY_OAI), drop(f"{S3_ORIGIN}.OriginAccessControlId"),
      put(f"{S3_ORIGIN}.S3OriginConfig.OriginAccessIdentity", {"Fn::Sub": "origin-access-identity/cloudfront/${DeskOriginAccessIdentity}"}))),
    ("desk-origin-access-control", "no Origin Access Control resource", drop(f"Resources.{OAC}")),
    ("desk-origin-access-control", "the OAC never signs", put(f"{OAC}.OriginAccessControlConfig.SigningBehavior", "never")),
    ("desk-origin-access-control", "the bucket as a website (custom) origin",
     (drop(f"{S3_ORIGIN}.S3OriginConfig"), put(f"{S3_ORIGIN}.CustomOriginConfig", {"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"]}))),
    # --- HTTPS on every behaviour and to the API --------------------------------------------------------
    ("desk-viewer-https", "the app over plain HTTP (allow-all)", put(f"{DEFAULT}.ViewerProtocolPolicy", "allow-all")),
    ("desk-viewer-https", "/config.json over plain HTTP", put(f"{CONFIG_JSON}.ViewerProtocolPolicy", "allow-all")),
    ("desk-viewer-https", "the desk API over plain HTTP (tokens in the clear)", put(f"{API}.ViewerProtocolPolicy", "allow-all")),
    ("desk-viewer-https", "CloudFront to the API as the viewer came (match-viewer)",
     put(f"{API_ORIGIN}.CustomOriginConfig.OriginProtocolPolicy", "match-viewer")),
    ("desk-viewer-https", "CloudFront to the API with TLS 1.1 allowed", put(f"{API_ORIGIN}.CustomOriginConfig.OriginSSLProtocols", ["TLSv1.1", "TLSv1.2"])),
    # --- the response headers policy ---------------------------------------------------------------
    ("desk-security-headers", "the app's files without the security headers", drop(f"{DEFAULT}.ResponseHeadersPolicyId")),
    ("desk-security-headers", "/api/* without the security headers", drop(f"{API}.ResponseHeadersPolicyId")),
    ("desk-security-headers", "/config.json with another policy (the managed SecurityHeadersPolicy: no CSP)",
     put(f"{CONFIG_JSON}.ResponseHeadersPolicyId", "67f7725c-6f97-4210-82d7-5512b31e9d03")),
    ("desk-security-headers", "inline scripts allowed", replace(CSP, "script-src 'self'", "script-src 'self' 'unsafe-inline'")),
    ("desk-security-headers", "requests to any HTTPS host allowed (exfiltration)", replace(CSP, "connect-src 'self'", "connect-src 'self' https:")),
    ("desk-security-headers", "framing allowed by the CSP", replace(CSP, "frame-ancestors 'none'", "frame-ancestors *")),
    ("desk-security-headers", "images from any host (img-src *, not the media bucket's)", replace(CSP, "img-src 'self'", "img-src *")),
    ("desk-security-headers", "media not loadable from the media bucket (its presigned URLs refused)",
     replace(CSP, "media-src 'self' blob: https://", "media-src 'self' blob: https://x.")),
    ("desk-security-headers", "the origin's CSP wins (Override false)", put(f"{SEC}.ContentSecurityPolicy.Override", False)),
    ("desk-security-headers", "no CSP", drop(f"{SEC}.ContentSecurityPolicy")),
    ("desk-security-headers", "HSTS for one day", put(f"{SEC}.StrictTransportSecurity.AccessControlMaxAgeSec", 86400)),
    ("desk-security-headers", "HSTS without preload", drop(f"{SEC}.StrictTransportSecurity.Preload")),
    ("desk-security-headers", "X-Frame-Options SAMEORIGIN", put(f"{SEC}.FrameOptions.FrameOption", "SAMEORIGIN")),
    ("desk-security-headers", "no X-Content-Type-Options", drop(f"{SEC}.ContentTypeOptions")),
    ("desk-security-headers", "Referrer-Policy unsafe-url", put(f"{SEC}.ReferrerPolicy.ReferrerPolicy", "unsafe-url")),
    # --- /config.json -----------------------------------------------------------------------------
    ("desk-config-function", "the client id is the pool id", replace(CONFIG_CODE, "DeskUserPoolClient", "DeskUserPool")),
    ("desk-config-function", "the pool id under another key (the app reads user_pool_id)", replace(CONFIG_CODE, '"user_pool_id"', '"userPoolId"')),
    ("desk-config-function", "the API on another origin (CORS, and the CSP refuses it)",
     replace(CONFIG_CODE, '"api_url":"/api"', '"api_url":"https://api.example.com"')),
    ("desk-config-function", "Cognito's endpoint in another region", replace(CONFIG_CODE, "https://cognito-idp.", "https://cognito-idp.us-east-1.x.")),
    ("desk-config-function", "the config cached a day (a new pool or client unseen)", replace(CONFIG_CODE, "no-store", "max-age=86400")),
    ("desk-config-function", "the config served as text/html", replace(CONFIG_CODE, "application/json", "text/html")),
    ("desk-config-function", "not JSON (a trailing comma)", replace(CONFIG_CODE, '.amazonaws.com/"}}', '.amazonaws.com/",}}')),
    ("desk-config-function", "the function's answer a 404", replace(CONFIG_CODE, "statusCode: 200", "statusCode: 404")),
    ("desk-config-function", "/config.json without its function (the bucket answers: no such file)", drop(f"{CONFIG_JSON}.FunctionAssociations")),
    ("desk-config-function", "the config function on runtime 1.0", put("DeskConfigFunction.FunctionConfig.Runtime", "cloudfront-js-1.0")),
    ("desk-config-function", "the config function never published", put("DeskConfigFunction.AutoPublish", False)),
    ("desk-config-function desk-distribution", "no /config.json behaviour", drop(CONFIG_JSON)),
    # --- /api/* -------------------------------------------------------------------------------------
    ("desk-api-behaviour", "the desk API's answers cached (CachingOptimized: one agent's data to another)", put(f"{API}.CachePolicyId", CACHING_OPTIMIZED)),
    ("desk-api-behaviour", "no origin request policy (no Authorization header, no query string)", drop(f"{API}.OriginRequestPolicyId")),
    ("desk-api-behaviour", "AllViewer (the viewer's Host reaches API Gateway, which refuses it)", put(f"{API}.OriginRequestPolicyId", ALL_VIEWER)),
    ("desk-api-behaviour", "GET and HEAD only (no replies, no changes)", put(f"{API}.AllowedMethods", ["GET", "HEAD"])),
    ("desk-api-behaviour", "the API origin without the stage (every route 404)", drop(f"{API_ORIGIN}.OriginPath")),
    ("desk-api-behaviour", "the webhooks' API as the origin", replace(f"{API_ORIGIN}.DomainName", "ReplyHttpApi", "HttpApi")),
    ("desk-api-behaviour", "/api/* on the bucket", put(f"{API}.TargetOriginId", "DeskBucket")),
    ("desk-api-behaviour", "/api kept in the path (no route matches)", drop(f"{API}.FunctionAssociations")),
    ("desk-api-behaviour", "the path function no longer removes /api", replace(API_CODE, "substring(4)", "substring(0)")),
    ("desk-api-behaviour", "the app's SPA function on /api/* (every API call answered with the page)",
     put(f"{API}.FunctionAssociations.0.FunctionARN", {"Fn::GetAtt": ["DeskSpaFunction", "FunctionARN"]})),
    ("desk-api-behaviour desk-distribution", "no /api/* behaviour (the API calls go to the bucket)", drop(API)),
    # --- the distribution as a whole; no Lambda -------------------------------------------------------
    ("desk-distribution", "403/404 rewritten to /index.html (the desk API's 403 and 404 too)",
     put(f"{CONFIG}.CustomErrorResponses", [{"ErrorCode": 403, "ResponseCode": 200, "ResponsePagePath": "/index.html"},
                                            {"ErrorCode": 404, "ResponseCode": 200, "ResponsePagePath": "/index.html"}])),
    ("desk-distribution", "the app's routes not rewritten (a reload of /inbox: 403)", drop(f"{DEFAULT}.FunctionAssociations")),
    ("desk-distribution", "no default root object", drop(f"{CONFIG}.DefaultRootObject")),
    ("desk-distribution", "HTTP/2 only", put(f"{CONFIG}.HttpVersion", "http2")),
    ("desk-distribution", "the price class a literal, not the parameter", put(f"{CONFIG}.PriceClass", "PriceClass_100")),
    ("desk-distribution", "the app's files not cached (CachingDisabled)", put(f"{DEFAULT}.CachePolicyId", "4135ea2d-6df8-44a3-9df3-4b5a84be39ad")),
    ("desk-distribution", "the default behaviour on the API", put(f"{DEFAULT}.TargetOriginId", "DeskApi")),
    ("desk-distribution", "a Lambda@Edge function on the app",
     put(f"{DEFAULT}.LambdaFunctionAssociations", [{"EventType": "origin-request", "LambdaFunctionARN": "arn:aws:lambda:us-east-1:123456789012:function:edge:1"}])),
    ("desk-distribution", "a fourth behaviour",
     add(f"{CONFIG}.CacheBehaviors", {"PathPattern": "/admin/*", "TargetOriginId": "DeskBucket", "ViewerProtocolPolicy": "redirect-to-https"})),
    ("desk-distribution", "a custom resource publishing the desk (a Lambda and its role)",
     put("Resources.DeskPublisher", {"Type": "Custom::DeskPublisher", "Properties": {"ServiceToken": "arn:aws:lambda:ap-east-1:123456789012:function:x"}})),
    ("desk-distribution", "a role of no function", put("Resources.DeskPublisherRole", Copy("Resources.DeskApiRole"))),
    # --- parameter and outputs ----------------------------------------------------------------------
    ("parameters-outputs", "no DeskUrl output", drop("Outputs.DeskUrl")),
    ("parameters-outputs", "DeskBucketName names the distribution", put("Outputs.DeskBucketName.Value", {"Ref": "DeskDistribution"})),
    ("parameters-outputs", "DeskUrl over HTTP", replace("Outputs.DeskUrl.Value", "https://", "http://")),
    ("parameters-outputs", "no DeskPriceClass parameter", drop("Parameters.DeskPriceClass")),
    # --- SAM == CDK: changes to the CDK template alone -------------------------------------------------
    ("equivalence", "a different CSP in one template", replace(CSP, "object-src 'none'", "object-src 'self'")),
    ("equivalence", "a different Permissions-Policy in one template",
     put(f"{HEADERS}.ResponseHeadersPolicyConfig.CustomHeadersConfig.Items.0.Value", "camera=()")),
    ("equivalence", "old builds kept 90 days in one template", put(f"{BUCKET}.LifecycleConfiguration.Rules.0.NoncurrentVersionExpiration.NoncurrentDays", 90)),
    ("equivalence", "another SPA rewrite in one template", replace("DeskSpaFunction.FunctionCode", "'/index.html'", "'/app.html'")),
    ("equivalence", "IPv6 off in one template", put(f"{CONFIG}.IPV6Enabled", False)),
    ("equivalence", "another DeskPriceClass default in one template", put("Parameters.DeskPriceClass.Default", "PriceClass_200")),
    ("equivalence", "a different DeskUrl in one template", put("Outputs.DeskUrl.Value", {"Fn::GetAtt": ["DeskDistribution", "DomainName"]})),
]
