"""The named checks of media (issue 18; the MEDIA_* tables of spec.py): the media bucket
(private, TLS only, its objects expiring with their messages), who may read and write which of
its objects, media-fetcher's attempts under its queue's redrive, and the largest file an agent
can send through desk-api (see checks.py for the others)."""

from __future__ import annotations

import json
from typing import Any

from .checks import check, retained
from .checks_site import S3_PUBLIC_ACCESS_BLOCK, _statement_view
from .model import Model, Unresolvable, as_list, canon, eval_condition, expand_if, get, number, ref_target, role_grants
from .spec import (DESK_BUCKET, DESK_UPLOAD_ENVELOPE_BYTES, FUNCTIONS, LAMBDA_SYNC_PAYLOAD_BYTES, MEDIA_ABORT_UPLOADS_DAYS, MEDIA_BUCKET,
                   MEDIA_BUCKET_POLICY, MEDIA_EXPIRE_CONDITION, MEDIA_FETCHER_AWS_CALLS, MEDIA_FETCHER_PLATFORM_CALLS,
                   MEDIA_FETCHER_SLACK_SECS, MESSAGE_TTL_PARAMETER, QUEUES, SQS_MAX_VISIBILITY_SECS)

# What S3 actions a function may be granted at all: objects read (GetObject, which also
# authorizes HeadObject and is what a presigned GET URL needs) and written (PutObject). Never a
# listing, a delete, an ACL or the bucket's configuration.
S3_OBJECT_ACTIONS = frozenset({"s3:GetObject", "s3:PutObject"})
# The rule keys that expire objects (current or noncurrent versions).
EXPIRING = ("ExpirationInDays", "ExpirationDate", "NoncurrentVersionExpiration", "NoncurrentVersionExpirationInDays",
            "ExpiredObjectDeleteMarker")


@check("media-bucket-private")
def check_media_bucket(m: Model) -> list[str]:
    """The media bucket exists and is private: encrypted at rest with S3's own keys (SSE-S3,
    AES256: an object is readable through a presigned URL with no KMS grant to its signer, and no
    function holds one), all four public access blocks on, object ownership BucketOwnerEnforced
    (no ACLs), no ACL, no website, no CORS (the desk loads objects by URL, it does not script
    them), versioning off (an object is written once under its own key; an old version would
    outlive the message's expiry), kept on stack deletion and replacement (evidence)."""
    res = m.resources.get(MEDIA_BUCKET)
    if not res or res.get("Type") != "AWS::S3::Bucket":
        return [f"bucket {MEDIA_BUCKET} missing"]
    p, problems = res.get("Properties") or {}, []
    rules = as_list(get(p, "BucketEncryption/ServerSideEncryptionConfiguration"))
    algorithms = [str(get(rule, "ServerSideEncryptionByDefault/SSEAlgorithm")) for rule in rules]
    if algorithms != ["AES256"] or any(get(rule, "ServerSideEncryptionByDefault/KMSMasterKeyID") for rule in rules):
        problems.append(f"{MEDIA_BUCKET}: default encryption {algorithms}, want [AES256] (SSE-S3: presigned URLs need no KMS grant)")
    problems += [f"{MEDIA_BUCKET}: PublicAccessBlockConfiguration.{key} is not true" for key in S3_PUBLIC_ACCESS_BLOCK
                 if get(p, f"PublicAccessBlockConfiguration/{key}") is not True]
    ownership = [get(rule, "ObjectOwnership") for rule in as_list(get(p, "OwnershipControls/Rules"))]
    if ownership != ["BucketOwnerEnforced"]:
        problems.append(f"{MEDIA_BUCKET}: ObjectOwnership {ownership}, want [BucketOwnerEnforced] (no ACLs)")
    problems += [f"{MEDIA_BUCKET}: {key} (the bucket is read through presigned URLs only)"
                 for key in ("AccessControl", "WebsiteConfiguration", "CorsConfiguration") if key in p]
    if get(p, "VersioningConfiguration/Status") not in (None, "Suspended"):
        problems.append(f"{MEDIA_BUCKET}: versioning {get(p, 'VersioningConfiguration/Status')!r} (an old version would outlive its message)")
    if not retained(res):
        problems.append(f"{MEDIA_BUCKET}: not kept on stack deletion and replacement (DeletionPolicy/UpdateReplacePolicy Retain)")
    return problems


@check("media-bucket-tls-only")
def check_media_bucket_policy(m: Model) -> list[str]:
    """The media bucket's one policy, MEDIA_BUCKET_POLICY: a Deny of every s3 action on the
    bucket and its objects without TLS (aws:SecureTransport false), and no Allow (the functions'
    roles grant exactly what each uses; no other principal, no public read)."""
    policies = [(lid, res.get("Properties") or {}) for lid, res in m.of_type("AWS::S3::BucketPolicy").items()
                if ref_target((res.get("Properties") or {}).get("Bucket")) == MEDIA_BUCKET]
    if [lid for lid, _ in policies] != [MEDIA_BUCKET_POLICY]:
        return [f"policies of {MEDIA_BUCKET}: {[lid for lid, _ in policies]}, want exactly [{MEDIA_BUCKET_POLICY}]"]
    statements = [st for st in as_list(get(policies[0][1], "PolicyDocument/Statement")) if isinstance(st, dict)]
    views = [_statement_view(st) for st in statements]
    tls = ("Deny", ["*"], ["s3:*"], sorted([f"{MEDIA_BUCKET}.Arn", f"{MEDIA_BUCKET}.Arn/*"]),
           json.dumps({"Bool": {"aws:SecureTransport": ["false"]}}, sort_keys=True))
    problems = [] if tls in views else [f"{MEDIA_BUCKET_POLICY}: no TLS-only statement {tls}"]
    problems += [f"{MEDIA_BUCKET_POLICY}: an Allow {v} (the roles grant access; the bucket policy only denies)" for v in views if v[0] != "Deny"]
    if any(st.get("NotPrincipal") or st.get("NotAction") or st.get("NotResource") for st in statements):
        problems.append(f"{MEDIA_BUCKET_POLICY}: NotPrincipal/NotAction/NotResource")
    return problems


def _expiring(rule: Any) -> bool:
    return isinstance(rule, dict) and any(key in rule for key in EXPIRING)


@check("media-bucket-lifecycle")
def check_media_lifecycle(m: Model) -> list[str]:
    """The media bucket's objects expire with their messages: MESSAGE_TTL_PARAMETER (a Number
    with its default and MinValue 0, "forever") is MESSAGE_TTL_DAYS of every function that sets
    it (never a literal), and the bucket's one expiring lifecycle rule, enabled, on the whole
    bucket (no prefix, no filter), expires objects after exactly that parameter's days, and
    exists only under MEDIA_EXPIRE_CONDITION, which is false for 0 (keep forever; S3 refuses 0
    days) and true otherwise; an always-on rule aborts incomplete multipart uploads after
    MEDIA_ABORT_UPLOADS_DAYS."""
    name, default, least = MESSAGE_TTL_PARAMETER
    p, problems = m.param(name), []
    if p.get("Type") != "Number" or number(p.get("Default")) != default or number(p.get("MinValue")) != least:
        problems.append(f"parameter {name}: want Number, Default {default}, MinValue {least} (0 = forever) (got {p})")
    setters = {lid: fn.env["MESSAGE_TTL_DAYS"] for lid, fn in m.functions.items() if "MESSAGE_TTL_DAYS" in fn.env}
    problems += [f"{lid}: MESSAGE_TTL_DAYS = {value!r}, want Ref {name} (the bucket's objects expire after it)"
                 for lid, value in sorted(setters.items()) if ref_target(value) != name]
    if not setters:
        problems.append(f"no function sets MESSAGE_TTL_DAYS (from {name})")
    rules = expand_if(as_list(get(m.props(MEDIA_BUCKET), "LifecycleConfiguration/Rules")))
    aborts = [r for r, cond in rules if cond is None and isinstance(r, dict) and r.get("Status") == "Enabled"
              and get(r, "AbortIncompleteMultipartUpload/DaysAfterInitiation") == MEDIA_ABORT_UPLOADS_DAYS]
    if not aborts:
        problems.append(f"{MEDIA_BUCKET}: no enabled rule aborting incomplete multipart uploads after {MEDIA_ABORT_UPLOADS_DAYS} day(s), always")
    expiring = [(r, cond) for r, cond in rules if _expiring(r)]
    if len(expiring) != 1:
        return problems + [f"{MEDIA_BUCKET}: {len(expiring)} expiring lifecycle rules, want exactly one (after {name} days)"]
    (rule, cond), = expiring
    if cond != MEDIA_EXPIRE_CONDITION:
        problems.append(f"{MEDIA_BUCKET}: the expiring rule exists under {cond or 'no condition'}, want {MEDIA_EXPIRE_CONDITION}")
    if ref_target(rule.get("ExpirationInDays")) != name or set(rule) & set(EXPIRING) != {"ExpirationInDays"}:
        problems.append(f"{MEDIA_BUCKET}: the expiring rule {rule}, want ExpirationInDays Ref {name} only")
    if rule.get("Status") != "Enabled":
        problems.append(f"{MEDIA_BUCKET}: the expiring rule's Status {rule.get('Status')!r}, want Enabled")
    if any(key in rule for key in ("Prefix", "Filter", "TagFilters", "ObjectSizeGreaterThan", "ObjectSizeLessThan")):
        problems.append(f"{MEDIA_BUCKET}: the expiring rule is limited to some objects ({rule}); every object expires with its message")
    for value, want in (("0", False), (str(default), True), ("1", True)):
        try:
            got = eval_condition(m.template, {"Condition": MEDIA_EXPIRE_CONDITION}, {name: value})
        except Unresolvable as e:
            problems.append(f"condition {MEDIA_EXPIRE_CONDITION} cannot be evaluated ({e})")
            break
        if got != want:
            problems.append(f"condition {MEDIA_EXPIRE_CONDITION} is {got} with {name}={value}, want {want}")
    return problems


@check("media-s3-grants")
def check_media_s3_grants(m: Model) -> list[str]:
    """Who may do what in the buckets: every S3 grant of a function's role is s3:GetObject or
    s3:PutObject (no s3:*, no listing, no delete) on objects of the media bucket under a prefix
    its FunctionSpec names for that action (media-fetcher: media/* both; desk-api: GetObject on
    media/* and uploads/*, PutObject on uploads/* only), unconditionally; never the bucket
    itself nor all its objects; never the desk's bucket (published with the publisher's own
    credentials)."""
    problems = []
    for lid, fn in sorted(m.functions.items()):
        spec = FUNCTIONS.get(lid)
        allowed = {a: rs for a, rs in spec.all_permissions(lid).items() if a.startswith("s3:")} if spec else {}
        grants = [g for g in (role_grants(m, fn.role_id)[0] if fn.role_id else []) if g.action.startswith("s3:") or g.action == "*"]
        for g in grants:
            if g.action not in S3_OBJECT_ACTIONS:
                problems.append(f"{lid}: {g.action} on {g.resource} (objects are only read and written: GetObject, PutObject)")
            elif g.resource.startswith(DESK_BUCKET):
                problems.append(f"{lid}: {g.action} on the desk's bucket {g.resource}")
            elif g.resource in (f"{MEDIA_BUCKET}.Arn", f"{MEDIA_BUCKET}.Arn/*", "*"):
                problems.append(f"{lid}: {g.action} on {g.resource} (the whole bucket; want its prefixes only)")
            elif g.resource not in allowed.get(g.action, set()):
                problems.append(f"{lid}: {g.action} on {g.resource}, not a prefix it uses ({sorted(allowed.get(g.action, set()))})")
            elif g.cond is not None or g.iam is not None:
                problems.append(f"{lid}: {g.action} on {g.resource} under {g.cond or g.iam} (granted as is, or not at all)")
        given = {(g.action, g.resource) for g in grants}
        problems += [f"{lid}: needs {a} on {r}" for a, rs in sorted(allowed.items()) for r in sorted(rs) if (a, r) not in given]
    return problems


# Receives of a media command after media-fetcher's last allowed attempt: one, for a last
# attempt whose own dead-lettering failed (the command comes back and is dead-lettered again).
MEDIA_UNSETTLED_RECEIVES = 1


@check("media-attempts-below-redrive")
def check_media_attempts(m: Model) -> list[str]:
    """MEDIA_MAX_ATTEMPTS + MEDIA_UNSETTLED_RECEIVES <= maxReceiveCount of the queue
    media-fetcher consumes (its QueueSpec's): media-fetcher dead-letters a command whose last
    attempt fails itself, with the reason; the queue's redrive, which moves the raw command
    without one, stays a backstop that never comes first."""
    fn, lid = m.functions.get("MediaFetcherFunction"), "MediaFetcherFunction"
    if fn is None:
        return [f"{lid} missing"]
    queue = FUNCTIONS[lid].consumes or ""
    count, attempts = get(m.props(queue), "RedrivePolicy/maxReceiveCount"), fn.env_int("MEDIA_MAX_ATTEMPTS")
    if not isinstance(count, int):
        return [f"{queue}: no maxReceiveCount to compare MEDIA_MAX_ATTEMPTS with"]
    if count != QUEUES[queue].max_receive_count:
        return [f"{queue}: maxReceiveCount {count}, want {QUEUES[queue].max_receive_count}"]
    if attempts is None or attempts < 1:
        return [f"MEDIA_MAX_ATTEMPTS {attempts!r}: want an integer >= 1"]
    if attempts + MEDIA_UNSETTLED_RECEIVES > count:
        return [f"MEDIA_MAX_ATTEMPTS {attempts} + {MEDIA_UNSETTLED_RECEIVES} > {queue} maxReceiveCount {count}: the queue's redrive "
                "would move commands to the DLQ without a reason before media-fetcher gives up on them"]
    return []


@check("media-fetcher-timings")
def check_media_fetcher_timings(m: Model) -> list[str]:
    """media-fetcher's settings against its Timeout, with the code's worst case of one command
    (functions/media-fetcher/src/config.rs: MEDIA_FETCHER_AWS_CALLS AWS calls and
    MEDIA_FETCHER_PLATFORM_CALLS platform calls, each at its timeout, plus the slack): a command
    is started only with that much of the invocation left, so the Timeout must exceed it or no
    command ever starts; the token lease outlives one refresh (an AWS call and a platform call:
    the function refuses to start otherwise); the backoff fits SQS's visibility limit."""
    fn = m.functions.get("MediaFetcherFunction")
    if fn is None:
        return ["MediaFetcherFunction missing"]
    problems, timeout = [], fn.props.get("Timeout", 3)
    platform, aws_ms, lease = fn.env_int("PLATFORM_TIMEOUT_SECS"), fn.env_int("AWS_OPERATION_TIMEOUT_MS"), fn.env_int("TOKEN_LEASE_SECS")
    base, cap = fn.env_int("RETRY_BASE_SECS"), fn.env_int("RETRY_MAX_SECS")
    if not isinstance(timeout, int):
        return [f"media-fetcher Timeout {timeout!r} is not a number"]
    if platform is None or aws_ms is None:
        return ["PLATFORM_TIMEOUT_SECS and AWS_OPERATION_TIMEOUT_MS must be set (the code's defaults are unchecked)"]
    margin = MEDIA_FETCHER_AWS_CALLS * aws_ms / 1000 + MEDIA_FETCHER_PLATFORM_CALLS * platform + MEDIA_FETCHER_SLACK_SECS
    if timeout <= margin:
        problems.append(f"media-fetcher Timeout {timeout} s <= the {margin:g} s one command may take: no command would start")
    if lease is None or lease <= aws_ms / 1000 + platform:
        problems.append(f"TOKEN_LEASE_SECS {lease!r} <= the longest token refresh ({aws_ms / 1000 + platform:g} s): the function refuses to start")
    if base is None or cap is None or not 0 < base <= cap <= SQS_MAX_VISIBILITY_SECS:
        problems.append(f"RETRY_BASE_SECS {base!r} / RETRY_MAX_SECS {cap!r}: want 0 < base <= max <= {SQS_MAX_VISIBILITY_SECS}")
    return problems


@check("desk-api-token-lease")
def check_desk_api_token_lease(m: Model) -> list[str]:
    """desk-api's token lease outlives one refresh, as its configuration demands at start
    (functions/desk-api/src/config.rs): TOKEN_LEASE_SECS above one AWS call
    (AWS_OPERATION_TIMEOUT_MS, 8 s when unset) and one platform call (PLATFORM_TIMEOUT_SECS, 5 s
    when unset); otherwise the function refuses to start and the whole desk is down."""
    fn = m.functions.get("DeskApiFunction")
    if fn is None:
        return ["DeskApiFunction missing"]
    platform = fn.env_int("PLATFORM_TIMEOUT_SECS") or 5
    aws_ms = fn.env_int("AWS_OPERATION_TIMEOUT_MS") or 8000
    lease = fn.env_int("TOKEN_LEASE_SECS") or 20
    if lease <= aws_ms / 1000 + platform:
        return [f"desk-api TOKEN_LEASE_SECS {lease} <= one refresh ({aws_ms / 1000 + platform:g} s): desk-api refuses to start"]
    return []


@check("desk-upload-fits-lambda")
def check_desk_upload(m: Model) -> list[str]:
    """The largest file desk-api accepts (DESK_MAX_UPLOAD_BYTES) reaches it: base64-encoded (4/3
    of its size, as API Gateway hands Lambda a binary body and as the desk's JSON carries it), with
    DESK_UPLOAD_ENVELOPE_BYTES of headers and request context, within Lambda's largest synchronous
    request, LAMBDA_SYNC_PAYLOAD_BYTES. (API Gateway's 10 MB is not the limit: Lambda's 6 MB is.)"""
    fn = m.functions.get("DeskApiFunction")
    if fn is None:
        return ["DeskApiFunction missing"]
    size = fn.env_int("DESK_MAX_UPLOAD_BYTES")
    if size is None or size < 1:
        return [f"DESK_MAX_UPLOAD_BYTES {fn.env.get('DESK_MAX_UPLOAD_BYTES')!r}: want a number of bytes (the code's default is unchecked)"]
    encoded = 4 * -(-size // 3)
    if encoded + DESK_UPLOAD_ENVELOPE_BYTES > LAMBDA_SYNC_PAYLOAD_BYTES:
        return [f"DESK_MAX_UPLOAD_BYTES {size}: {encoded} bytes base64-encoded + {DESK_UPLOAD_ENVELOPE_BYTES} of request > Lambda's "
                f"{LAMBDA_SYNC_PAYLOAD_BYTES}-byte synchronous request: such a file never reaches desk-api"]
    return []
