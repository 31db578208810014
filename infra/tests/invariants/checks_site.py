"""The named checks of the web desk's hosting (the DESK_* tables of spec.py): its private S3
bucket and the policy that lets only its CloudFront distribution read it (Origin Access Control,
AWS:SourceArn, TLS only), the distribution's behaviours (HTTPS, the response headers policy, the
cache and origin request policies, the CloudFront Functions: the app's routes, /config.json, the
desk API under /api) and that none of it runs a Lambda (see checks.py for the others)."""

from __future__ import annotations

import json
import re
from typing import Any

from .checks import check, retained
from .model import Model, as_list, canon, get, ref_target
from .spec import (DESK_API_ORIGIN, DESK_BEHAVIOURS, DESK_BUCKET, DESK_BUCKET_POLICY, DESK_CONFIG, DESK_CONFIG_HEADERS, DESK_CSP,
                   DESK_DISTRIBUTION, DESK_DISTRIBUTION_ARN, DESK_HEADERS_POLICY, DESK_HSTS_SECS, DESK_OAC, DESK_PRICE_CLASS, FUNCTIONS)

CF_FUNCTION_RUNTIME = "cloudfront-js-2.0"
S3_PUBLIC_ACCESS_BLOCK = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")


def _one(values: Any) -> str:
    """The canonical value of an expression ("<several>" when it has more than one)."""
    found = sorted(canon(values)) if values is not None else []
    return found[0] if len(found) == 1 else f"<{' | '.join(found) or 'none'}>"


def _config(m: Model) -> dict[str, Any]:
    return get(m.props(DESK_DISTRIBUTION), "DistributionConfig", {})


def _behaviours_of(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A distribution's behaviours by path pattern ("*": the default behaviour)."""
    out = {"*": config["DefaultCacheBehavior"]} if isinstance(config.get("DefaultCacheBehavior"), dict) else {}
    out.update({str(b.get("PathPattern")): b for b in as_list(config.get("CacheBehaviors")) if isinstance(b, dict)})
    return out


def behaviours(m: Model) -> dict[str, dict[str, Any]]:
    """The desk's distribution's behaviours by path pattern."""
    return _behaviours_of(_config(m))


def _origins(m: Model) -> dict[str, dict[str, Any]]:
    return {str(o.get("Id")): o for o in as_list(_config(m).get("Origins")) if isinstance(o, dict)}


def _bucket_origin(origin: dict[str, Any]) -> bool:
    return _one(origin.get("DomainName")) in (f"{DESK_BUCKET}.RegionalDomainName", f"{DESK_BUCKET}.DomainName")


def _viewer_requests(b: dict[str, Any]) -> list[str]:
    """The CloudFront Functions (logical ids) of a behaviour's viewer-request associations."""
    return [_one(a.get("FunctionARN")).removesuffix(".FunctionARN") for a in as_list(b.get("FunctionAssociations"))
            if isinstance(a, dict) and a.get("EventType") == "viewer-request"]


def _function_code(m: Model, lid: str) -> tuple[str | None, list[str]]:
    """A CloudFront Function's code (canonical), and what is wrong with the function itself."""
    res = m.resources.get(lid)
    if not res or res.get("Type") != "AWS::CloudFront::Function":
        return None, [f"{lid} is not an AWS::CloudFront::Function of the template"]
    p = res.get("Properties") or {}
    problems = []
    if get(p, "FunctionConfig/Runtime") != CF_FUNCTION_RUNTIME:
        problems.append(f"{lid}: runtime {get(p, 'FunctionConfig/Runtime')!r}, want {CF_FUNCTION_RUNTIME}")
    if p.get("AutoPublish") is not True:
        problems.append(f"{lid}: AutoPublish is not true (the distribution would run the unpublished DEVELOPMENT stage or nothing)")
    return _one(p.get("FunctionCode")), problems


@check("desk-bucket-private")
def check_desk_bucket(m: Model) -> list[str]:
    """Every S3 bucket of the stack (the desk's, DESK_BUCKET, and the media bucket, which
    media-bucket-private checks further) is private: encrypted at rest
    (SSE-S3 or SSE-KMS), all four public access blocks on, object ownership BucketOwnerEnforced
    (ACLs off), no website hosting, no ACL; the desk's kept on stack deletion and replacement."""
    buckets = m.of_type("AWS::S3::Bucket")
    problems = [] if DESK_BUCKET in buckets else [f"bucket {DESK_BUCKET} missing"]
    for lid, res in buckets.items():
        p = res.get("Properties") or {}
        algorithms = {str(get(rule, "ServerSideEncryptionByDefault/SSEAlgorithm"))
                      for rule in as_list(get(p, "BucketEncryption/ServerSideEncryptionConfiguration"))}
        if not algorithms or not algorithms <= {"AES256", "aws:kms", "aws:kms:dsse"}:
            problems.append(f"bucket {lid}: default encryption {sorted(algorithms)}, want AES256 (SSE-S3)")
        problems += [f"bucket {lid}: PublicAccessBlockConfiguration.{key} is not true" for key in S3_PUBLIC_ACCESS_BLOCK
                     if get(p, f"PublicAccessBlockConfiguration/{key}") is not True]
        ownership = [get(rule, "ObjectOwnership") for rule in as_list(get(p, "OwnershipControls/Rules"))]
        if ownership != ["BucketOwnerEnforced"]:
            problems.append(f"bucket {lid}: ObjectOwnership {ownership}, want [BucketOwnerEnforced] (no ACLs)")
        if "WebsiteConfiguration" in p or "AccessControl" in p:
            problems.append(f"bucket {lid}: website hosting or an ACL (the desk is served by CloudFront only)")
        if lid == DESK_BUCKET and not retained(res):
            problems.append(f"bucket {lid}: not kept on stack deletion and replacement (DeletionPolicy/UpdateReplacePolicy Retain)")
    return problems


def _canon_all(value: Any) -> list[str]:
    return sorted(set().union(*(canon(v) for v in as_list(value)))) if value is not None else []


def _statement_view(st: dict[str, Any]) -> tuple[str, list[str], list[str], list[str], str]:
    """(Effect, principals, actions, resources, Condition), canonical and sorted."""
    principal = st.get("Principal")
    principals = _canon_all(principal.get("Service") or principal.get("AWS")) if isinstance(principal, dict) else _canon_all(principal)
    condition = {op: {k: _canon_all(v) for k, v in keys.items()} for op, keys in (st.get("Condition") or {}).items() if isinstance(keys, dict)}
    return (str(st.get("Effect")), principals, _canon_all(st.get("Action")), _canon_all(st.get("Resource")),
            json.dumps(condition, sort_keys=True))


@check("desk-bucket-policy")
def check_desk_bucket_policy(m: Model) -> list[str]:
    """The desk bucket's one policy: the only Allow is s3:GetObject on its objects for the service
    principal cloudfront.amazonaws.com under StringEquals AWS:SourceArn = the desk's distribution
    (no other distribution, no other principal, no listing, no writes: the publisher's own IAM
    credentials upload); and a Deny of every s3 action on the bucket and its objects without
    TLS (aws:SecureTransport false)."""
    policies = [(lid, res.get("Properties") or {}) for lid, res in m.of_type("AWS::S3::BucketPolicy").items()
                if ref_target((res.get("Properties") or {}).get("Bucket")) == DESK_BUCKET]
    if [lid for lid, _ in policies] != [DESK_BUCKET_POLICY]:
        return [f"policies of {DESK_BUCKET}: {[lid for lid, _ in policies]}, want exactly [{DESK_BUCKET_POLICY}]"]
    statements = [st for st in as_list(get(policies[0][1], "PolicyDocument/Statement")) if isinstance(st, dict)]
    views = [_statement_view(st) for st in statements]
    objects, bucket = f"{DESK_BUCKET}.Arn/*", f"{DESK_BUCKET}.Arn"
    read = ("Allow", ["cloudfront.amazonaws.com"], ["s3:GetObject"], [objects],
            json.dumps({"StringEquals": {"AWS:SourceArn": [DESK_DISTRIBUTION_ARN]}}, sort_keys=True))
    tls = ("Deny", ["*"], ["s3:*"], sorted([bucket, objects]), json.dumps({"Bool": {"aws:SecureTransport": ["false"]}}, sort_keys=True))
    problems = []
    allows = [v for v in views if v[0] == "Allow"]
    if allows != [read]:
        problems.append(f"{DESK_BUCKET_POLICY}: Allow statements {allows}, want exactly [{read}] (the desk's distribution reads, "
                        "nothing else; AWS:SourceArn its ARN)")
    if any(st.get("NotPrincipal") or st.get("NotAction") or st.get("NotResource") for st in statements):
        problems.append(f"{DESK_BUCKET_POLICY}: NotPrincipal/NotAction/NotResource")
    if tls not in views:
        problems.append(f"{DESK_BUCKET_POLICY}: no TLS-only statement {tls}")
    return problems


@check("desk-origin-access-control")
def check_desk_oac(m: Model) -> list[str]:
    """The distribution reads the bucket through Origin Access Control: DESK_OAC (an s3 OAC that
    always signs, sigv4) on every origin that is the desk bucket, whose S3OriginConfig names no
    origin access identity; no legacy CloudFront origin access identity in the stack."""
    problems = [f"{lid}: a legacy origin access identity (use Origin Access Control)"
                for lid in m.of_type("AWS::CloudFront::CloudFrontOriginAccessIdentity")]
    oac = get(m.props(DESK_OAC), "OriginAccessControlConfig", {})
    if m.resources.get(DESK_OAC, {}).get("Type") != "AWS::CloudFront::OriginAccessControl":
        problems.append(f"{DESK_OAC} missing")
    wanted = {"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"}
    problems += [f"{DESK_OAC}.{k} = {oac.get(k)!r}, want {v!r}" for k, v in wanted.items() if oac.get(k) != v]
    bucket_origins = {oid: o for oid, o in _origins(m).items() if _bucket_origin(o)}
    if not bucket_origins:
        problems.append(f"{DESK_DISTRIBUTION} has no origin on {DESK_BUCKET}")
    for oid, o in bucket_origins.items():
        if _one(o.get("OriginAccessControlId")) != f"{DESK_OAC}.Id":
            problems.append(f"origin {oid}: OriginAccessControlId {_one(o.get('OriginAccessControlId'))}, want {DESK_OAC}.Id")
        if get(o, "S3OriginConfig/OriginAccessIdentity") not in (None, ""):
            problems.append(f"origin {oid}: an origin access identity {get(o, 'S3OriginConfig/OriginAccessIdentity')!r}")
        if "CustomOriginConfig" in o:
            problems.append(f"origin {oid}: the bucket as a custom (website) origin")
    return problems


@check("desk-viewer-https")
def check_desk_https(m: Model) -> list[str]:
    """Every behaviour of every distribution redirects HTTP to HTTPS (or refuses HTTP); every
    custom origin (the desk API) is reached over HTTPS only, TLS 1.2."""
    problems = []
    for lid in m.of_type("AWS::CloudFront::Distribution"):
        saved = get(m.props(lid), "DistributionConfig", {})
        for path, b in _behaviours_of(saved).items():
            if b.get("ViewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
                problems.append(f"{lid} behaviour {path}: ViewerProtocolPolicy {b.get('ViewerProtocolPolicy')!r}, want redirect-to-https")
        for o in as_list(saved.get("Origins")):
            custom = (o or {}).get("CustomOriginConfig")
            if custom is not None and (custom.get("OriginProtocolPolicy") != "https-only" or as_list(custom.get("OriginSSLProtocols")) != ["TLSv1.2"]):
                problems.append(f"{lid} origin {o.get('Id')}: {custom.get('OriginProtocolPolicy')!r} {custom.get('OriginSSLProtocols')!r}, "
                                "want https-only, [TLSv1.2]")
    return problems + ([] if DESK_DISTRIBUTION in m.resources else [f"{DESK_DISTRIBUTION} missing"])


@check("desk-security-headers")
def check_desk_headers(m: Model) -> list[str]:
    """Every behaviour of the desk's distribution has DESK_HEADERS_POLICY, which sets (each with
    Override) HSTS (DESK_HSTS_SECS, includeSubDomains, preload), X-Content-Type-Options nosniff,
    X-Frame-Options DENY, Referrer-Policy strict-origin-when-cross-origin and exactly DESK_CSP."""
    problems = [f"behaviour {path}: ResponseHeadersPolicyId {_one(b.get('ResponseHeadersPolicyId'))}, want {DESK_HEADERS_POLICY}"
                for path, b in behaviours(m).items() if _one(b.get("ResponseHeadersPolicyId")) != DESK_HEADERS_POLICY]
    sec = get(m.props(DESK_HEADERS_POLICY), "ResponseHeadersPolicyConfig/SecurityHeadersConfig", {})
    hsts = sec.get("StrictTransportSecurity") or {}
    if (hsts.get("AccessControlMaxAgeSec"), hsts.get("IncludeSubdomains"), hsts.get("Preload"), hsts.get("Override")) != (DESK_HSTS_SECS, True, True, True):
        problems.append(f"{DESK_HEADERS_POLICY}: StrictTransportSecurity {hsts}, want max-age {DESK_HSTS_SECS}, includeSubdomains, preload, override")
    if get(sec, "ContentTypeOptions/Override") is not True:
        problems.append(f"{DESK_HEADERS_POLICY}: no X-Content-Type-Options nosniff (ContentTypeOptions with Override)")
    if (get(sec, "FrameOptions/FrameOption"), get(sec, "FrameOptions/Override")) != ("DENY", True):
        problems.append(f"{DESK_HEADERS_POLICY}: FrameOptions {sec.get('FrameOptions')}, want DENY with Override")
    if (get(sec, "ReferrerPolicy/ReferrerPolicy"), get(sec, "ReferrerPolicy/Override")) != ("strict-origin-when-cross-origin", True):
        problems.append(f"{DESK_HEADERS_POLICY}: ReferrerPolicy {sec.get('ReferrerPolicy')}, want strict-origin-when-cross-origin with Override")
    csp = get(sec, "ContentSecurityPolicy", {})
    if _one(csp.get("ContentSecurityPolicy")) != DESK_CSP or csp.get("Override") is not True:
        problems.append(f"{DESK_HEADERS_POLICY}: Content-Security-Policy {_one(csp.get('ContentSecurityPolicy'))!r} "
                        f"(Override {csp.get('Override')!r}), want {DESK_CSP!r} with Override")
    return problems


def _behaviour_problems(m: Model, path: str) -> list[str]:
    """A behaviour against its DESK_BEHAVIOURS row: its origin, cache and origin request policies,
    methods, and exactly its one viewer-request function (published, cloudfront-js-2.0)."""
    spec, b = DESK_BEHAVIOURS[path], behaviours(m).get(path)
    if b is None:
        return [f"{DESK_DISTRIBUTION} has no behaviour {path}"]
    problems = []
    origin = _origins(m).get(str(b.get("TargetOriginId")))
    if origin is None:
        problems.append(f"behaviour {path}: origin {b.get('TargetOriginId')!r} is not one of the distribution's")
    elif spec.origin == "bucket" and not _bucket_origin(origin):
        problems.append(f"behaviour {path}: origin {_one(origin.get('DomainName'))}, want the bucket {DESK_BUCKET}")
    elif spec.origin == "api" and (_one(origin.get("DomainName")), _one(origin.get("OriginPath"))) != DESK_API_ORIGIN:
        problems.append(f"behaviour {path}: origin {_one(origin.get('DomainName'))} path {_one(origin.get('OriginPath'))}, "
                        f"want {DESK_API_ORIGIN[0]} path {DESK_API_ORIGIN[1]} (the reply HTTP API's stage)")
    if b.get("CachePolicyId") != spec.cache_policy:
        problems.append(f"behaviour {path}: CachePolicyId {b.get('CachePolicyId')!r}, want {spec.cache_policy}")
    if b.get("OriginRequestPolicyId") != spec.origin_request_policy:
        problems.append(f"behaviour {path}: OriginRequestPolicyId {b.get('OriginRequestPolicyId')!r}, want {spec.origin_request_policy}")
    if "ForwardedValues" in b:
        problems.append(f"behaviour {path}: legacy ForwardedValues (the cache and origin request policies say what is forwarded)")
    methods = {str(x) for x in as_list(b.get("AllowedMethods"))} or {"GET", "HEAD"}
    if methods != spec.methods:
        problems.append(f"behaviour {path}: AllowedMethods {sorted(methods)}, want {sorted(spec.methods)}")
    functions = _viewer_requests(b)
    if functions != [spec.function]:
        problems.append(f"behaviour {path}: viewer-request functions {functions}, want [{spec.function}]")
    return problems + _function_code(m, spec.function)[1]


@check("desk-config-function")
def check_desk_config(m: Model) -> list[str]:
    """/config.json is answered by its viewer-request function, written by the template: status
    200, exactly DESK_CONFIG as the body (the pool's and its app client's ids, the region,
    Cognito's endpoint, the API at /api), DESK_CONFIG_HEADERS (application/json, no-store)."""
    problems = _behaviour_problems(m, "/config.json")
    code, _ = _function_code(m, DESK_BEHAVIOURS["/config.json"].function)
    if code is None:
        return problems
    body = re.search(r"data:\s*'([^']*)'", code)
    try:
        config = json.loads(body.group(1)) if body else None
    except ValueError:
        config = "<not JSON>"
    if config != DESK_CONFIG:
        problems.append(f"/config.json body {config!r}, want {DESK_CONFIG!r}")
    if not re.search(r"statusCode:\s*200\b", code):
        problems.append("/config.json: the function's response has no statusCode 200")
    for header, value in DESK_CONFIG_HEADERS.items():
        if not re.search(rf"'{re.escape(header)}':\s*\{{\s*value:\s*'{re.escape(value)}'\s*\}}", code):
            problems.append(f"/config.json: the function's response has no {header}: {value}")
    return problems


@check("desk-api-behaviour")
def check_desk_api(m: Model) -> list[str]:
    """/api/* goes to the reply HTTP API's stage (DESK_API_ORIGIN, HTTPS only), nothing cached
    (CachingDisabled), every viewer header but Host forwarded (AllViewerExceptHostHeader: the
    Authorization header and the query string reach the API), every method; its viewer-request
    function removes the leading /api (its code cuts 4 characters off a URI starting /api/)."""
    problems = _behaviour_problems(m, "/api/*")
    code, _ = _function_code(m, DESK_BEHAVIOURS["/api/*"].function)
    if code is not None and not ("'/api/'" in code and "substring(4)" in code):
        problems.append(f"{DESK_BEHAVIOURS['/api/*'].function} does not remove /api from the URI")
    return problems


@check("desk-distribution")
def check_desk_distribution(m: Model) -> list[str]:
    """The desk's distribution: enabled, index.html the default root object, HTTP/2 and 3, its
    PriceClass the parameter DESK_PRICE_CLASS; exactly the behaviours of DESK_BEHAVIOURS (the
    default: the bucket, CachingOptimized, the app's routes to /index.html by its function); no
    error-page rewrite (CustomErrorResponses would answer the desk API's 403 and 404 with the
    page); and no Lambda anywhere in the desk's hosting: no Lambda@Edge association, no custom
    resource, no IAM role but the functions' of FUNCTIONS."""
    config = _config(m)
    problems = [] if config else [f"{DESK_DISTRIBUTION} missing"]
    for key, want in (("Enabled", True), ("DefaultRootObject", "index.html"), ("HttpVersion", "http2and3")):
        if config.get(key) != want:
            problems.append(f"{DESK_DISTRIBUTION}.{key} = {config.get(key)!r}, want {want!r}")
    if ref_target(config.get("PriceClass")) != DESK_PRICE_CLASS[0]:
        problems.append(f"{DESK_DISTRIBUTION}.PriceClass = {config.get('PriceClass')!r}, want the parameter {DESK_PRICE_CLASS[0]}")
    if sorted(behaviours(m)) != sorted(DESK_BEHAVIOURS):
        problems.append(f"{DESK_DISTRIBUTION} behaviours {sorted(behaviours(m))}, want exactly {sorted(DESK_BEHAVIOURS)}")
    problems += _behaviour_problems(m, "*")
    if config.get("CustomErrorResponses"):
        problems.append(f"{DESK_DISTRIBUTION}: CustomErrorResponses (they would rewrite the desk API's errors too)")
    problems += [f"{DESK_DISTRIBUTION} behaviour {path}: a Lambda@Edge association" for path, b in behaviours(m).items()
                 if b.get("LambdaFunctionAssociations")]
    problems += [f"{lid}: a custom resource ({res.get('Type')})" for lid, res in m.resources.items()
                 if str(res.get("Type")).startswith("Custom::") or res.get("Type") == "AWS::CloudFormation::CustomResource"]
    roles = {f"{lid.removesuffix('Function')}Role" for lid in FUNCTIONS}
    problems += [f"role {lid} is no function's role" for lid in m.of_type("AWS::IAM::Role") if lid not in roles]
    return problems
