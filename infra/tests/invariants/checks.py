"""The named checks, each run on every flavour of the template. A check returns its problems
(empty = the invariant holds). Registered in CHECKS by @check(name), in this module (functions,
IAM, secrets, table, queues), in checks_edge.py (APIs, domain, egress, observability) and in
checks_async.py (the table's stream and its event sources, standard queues, SNS topics)."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from .model import Model, as_list, canon, get, is_literal, number, ref_target, role_grants, values_of
from .spec import (FUNCTIONS, INDEX_ARN, LOG_LEVELS, NON_SECRET_ENV, QUEUES, REPLY_SENDER_AWS_CALLS, REPLY_SENDER_PLATFORM_CALLS,
                   REPLY_SENDER_SLACK_SECS, REPLY_SENDER_WORST_CASES_PER_INVOCATION, SECRETISH_ENV, SECRETS, STREAM_READ_ACTIONS,
                   SQS_MAX_VISIBILITY_SECS, UNSETTLED_RECEIVES, secret_readers, secret_refs, visibility_secs)

Check = Callable[[Model], list[str]]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn
    return register


def retained(res: dict[str, Any]) -> bool:
    return res.get("DeletionPolicy") == "Retain" and res.get("UpdateReplacePolicy") == "Retain"


def differ(name: str, props: Any, wanted: dict[str, Any]) -> list[str]:
    """Problems of props against {path: wanted value} (a set: the canonical values wanted)."""
    values = {path: get(props, path) for path in wanted}
    return [f"{name}.{path.replace('/', '.')} = {values[path]!r}, want {want!r}" for path, want in wanted.items()
            if (canon(values[path]) if isinstance(want, set) else values[path]) != want]


def declared(m: Model):
    """(logical id, Function, FunctionSpec) of the template's functions that FUNCTIONS declares."""
    return [(lid, fn, FUNCTIONS[lid]) for lid, fn in m.functions.items() if lid in FUNCTIONS]


@check("functions-declared")
def check_functions_known(m: Model) -> list[str]:
    """Exactly the functions of FUNCTIONS: none without declared permissions, none missing."""
    problems = [f"function {f} is not in FUNCTIONS (declare its permissions)" for f in m.functions if f not in FUNCTIONS]
    return problems + [f"function {f} missing" for f in FUNCTIONS if f not in m.functions]


@check("iam-least-privilege")
def check_iam_least_privilege(m: Model) -> list[str]:
    """Every grant of a function's own role is one it uses (FunctionSpec), conditional grants
    only under their condition; no managed policy, no NotAction/NotResource."""
    problems = []
    for lid, fn, spec in declared(m):
        if fn.role_id is None:
            problems.append(f"{lid} has no explicit Role (an implicit role gets managed policies)")
            continue
        grants, structural = role_grants(m, fn.role_id)
        problems += structural
        allowed, conditional = spec.all_permissions(lid), spec.conditional_permissions
        for action, resource, cond, _ in grants:
            if resource in allowed.get(action, set()) or resource in conditional.get(cond or "", {}).get(action, set()):
                continue
            wanted = [c for c, perms in conditional.items() if resource in perms.get(action, set())]
            if wanted:
                problems.append(f"{lid}: {action} on {resource} granted {'always' if cond is None else f'under {cond}'}, only allowed under {wanted[0]}")
            else:
                problems.append(f"{lid}: {action} on {resource} is not something the function uses")
    return problems


@check("iam-grants-needed")
def check_iam_grants_needed(m: Model) -> list[str]:
    """Every permission a function needs is granted: unconditionally, or under its condition."""
    problems = []
    for lid, fn, spec in declared(m):
        if fn.role_id is None:
            continue
        grants = {g[:3] for g in role_grants(m, fn.role_id)[0]}
        needed = [(None, spec.all_permissions(lid)), *spec.conditional_permissions.items()]
        for cond, perms in needed:
            for action, resources in perms.items():
                for resource in sorted(r for r in resources if (action, r, cond) not in grants):
                    where = "(unconditionally)" if cond is None else f"under condition {cond}"
                    problems.append(f"{lid}: needs {action} on {resource} {where}")
    return problems


# An S3 object key prefix of a bucket of the stack ("MediaBucket.Arn/media/*"): the only
# wildcard resource a function's spec may name (the objects under one prefix, not the bucket's).
OBJECT_PREFIX = re.compile(r"^[A-Za-z0-9]+\.Arn/[a-z0-9-]+/\*$")


@check("iam-no-wildcards")
def check_iam_no_wildcards(m: Model) -> list[str]:
    """No wildcard action, no wildcard resource (but where AWS accepts only "*", and the S3 object
    prefixes, <bucket>/<prefix>/*, a function's spec names for that action), in the functions'
    roles; no "*" action in any other policy of the stack."""
    problems = []
    for role_id, lid in {fn.role_id: lid for lid, fn in m.functions.items() if fn.role_id}.items():
        star_ok = FUNCTIONS[lid].star_resource_actions if lid in FUNCTIONS else frozenset()
        prefixes = {(a, r) for a, rs in FUNCTIONS[lid].all_permissions(lid).items() for r in rs
                    if OBJECT_PREFIX.match(r)} if lid in FUNCTIONS else set()
        for action, resource, _, _ in role_grants(m, role_id)[0]:
            if "*" in action:
                problems.append(f"{lid}: wildcard action {action}")
            if "*" in resource and action not in star_ok and (action, resource) not in prefixes:
                problems.append(f"{lid}: wildcard resource {resource} for {action}")
    for lid, res in m.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").items():
        for st in values_of(get(res, "Properties/PolicyDocument/Statement")):
            if st.get("Effect") == "Allow" and any("*" in a for x in as_list(st.get("Action")) for a in canon(x)):
                problems.append(f"{lid}: wildcard action in {st.get('Sid')}")
    return problems


def _leading_keys(iam_condition: str | None, operator: str = "ForAllValues:StringLike") -> set[str] | None:
    """The partition-key patterns of a canonical IAM condition that is exactly `operator` on
    dynamodb:LeadingKeys; None for anything else (or none)."""
    cond = json.loads(iam_condition) if iam_condition else {}
    if set(cond) != {operator} or set(cond[operator]) != {"dynamodb:LeadingKeys"}:
        return None
    return set(cond[operator]["dynamodb:LeadingKeys"])


@check("table-leading-keys")
def check_table_leading_keys(m: Model) -> list[str]:
    """Every DynamoDB grant (but a stream read on a stream: no items there; and Query, see
    table-queries) carries a dynamodb:LeadingKeys condition (ForAllValues:StringLike) within
    the function's partition keys for that action, and the function's statements together
    give each action exactly those keys (FunctionSpec.table)."""
    problems = []
    for lid, fn, spec in declared(m):
        if fn.role_id is None:
            continue
        given: dict[str, set[str]] = {}
        for action, resource, _, iam_condition in role_grants(m, fn.role_id)[0]:
            if not action.startswith("dynamodb:") or (action in STREAM_READ_ACTIONS and resource.endswith(".StreamArn")):
                continue
            if action == "dynamodb:Query":
                continue
            keys = _leading_keys(iam_condition)
            if keys is None:
                problems.append(f"{lid}: {action} on {resource} without exactly a ForAllValues:StringLike dynamodb:LeadingKeys condition ({iam_condition})")
                continue
            allowed = spec.table.get(action, set())
            if keys - allowed:
                problems.append(f"{lid}: {action} on partition keys {sorted(keys - allowed)} it does not use (allowed: {sorted(allowed)})")
            given.setdefault(action, set()).update(keys)
        problems += [f"{lid}: needs {a} on partition keys {sorted(k - given.get(a, set()))}" for a, k in spec.table.items() if k - given.get(a, set())]
    return problems


@check("table-queries")
def check_table_queries(m: Model) -> list[str]:
    """Query only as FunctionSpec.table_queries and index_queries say (see INDEX_ARN in
    spec.py): on the table's ARN under exactly ForAnyValue:StringLike dynamodb:LeadingKeys,
    within the partitions the function queries and all of them (never ForAllValues: true for
    a request that names no partition key); on exactly the spec's indexes, with no LeadingKeys
    condition (not documented to restrict an index query); on nothing else (no other index,
    no index/*, no *). No Scan, by anyone."""
    problems = []
    for lid, fn, spec in declared(m):
        if fn.role_id is None:
            continue
        indexes, keys = {INDEX_ARN.format(i) for i in spec.index_queries}, set()
        for action, resource, _, iam_condition in role_grants(m, fn.role_id)[0]:
            if action == "dynamodb:Scan":
                problems.append(f"{lid}: dynamodb:Scan on {resource} (no function scans the table)")
            if action != "dynamodb:Query":
                continue
            if resource == "GatewayTable.Arn":
                given = _leading_keys(iam_condition, "ForAnyValue:StringLike")
                if given is None:
                    problems.append(f"{lid}: Query on the table without exactly a ForAnyValue:StringLike dynamodb:LeadingKeys condition ({iam_condition})")
                elif given - spec.table_queries:
                    problems.append(f"{lid}: Query on partition keys {sorted(given - spec.table_queries)} it does not query (allowed: {sorted(spec.table_queries)})")
                else:
                    keys |= given
            elif resource in indexes:
                indexes.discard(resource)
                if iam_condition is not None:
                    problems.append(f"{lid}: Query on {resource} under {iam_condition}: an index query is granted on the index alone")
            else:
                problems.append(f"{lid}: Query on {resource} (allowed: the table, for {sorted(spec.table_queries)}; indexes {list(spec.index_queries)})")
        if spec.table_queries - keys:
            problems.append(f"{lid}: needs Query on the table's partition keys {sorted(spec.table_queries - keys)}")
        problems += [f"{lid}: needs Query on {index}" for index in sorted(indexes)]
    return problems


@check("secrets-per-role")
def check_secrets_per_role(m: Model) -> list[str]:
    """One secret per role (SECRETS): created retained, with a generated placeholder of the
    role's sections, only when its parameter is empty; read (GetSecretValue, its SecretSpec.env
    variable) by exactly its readers; its ARN an output. Any other secret of the stack is an error."""
    secrets, conditions, outputs = m.of_type("AWS::SecretsManager::Secret"), m.section("Conditions"), m.section("Outputs")
    problems = [f"secret {lid} is not one of the role secrets {sorted(SECRETS)}" for lid in secrets if lid not in SECRETS]
    for lid, spec in SECRETS.items():
        res, parameter, condition, output, readers = secrets.get(lid), f"{lid}Arn", f"Create{lid}", f"{lid}Id", secret_readers(lid)
        if res is None:
            problems.append(f"secret {lid} missing")
            continue
        if res.get("Condition") != condition:
            problems.append(f"secret {lid} created under {res.get('Condition')!r}, want {condition}")
        if json.dumps(conditions.get(condition), sort_keys=True) != json.dumps({"Fn::Equals": [{"Ref": parameter}, ""]}, sort_keys=True):
            problems.append(f"condition {condition} is not {parameter} == ''")
        if not retained(res):
            problems.append(f"secret {lid} is not retained on stack deletion/replacement")
        gen = get(res, "Properties/GenerateSecretString", {})
        try:
            placeholder = json.loads(gen.get("SecretStringTemplate", ""))
        except ValueError:
            placeholder = None
        if not isinstance(placeholder, dict) or sorted(placeholder) != sorted(spec.sections) or any(placeholder.values()):
            problems.append(f"secret {lid}: placeholder document {gen.get('SecretStringTemplate')!r}, want empty sections {list(spec.sections)}")
        if not str(gen.get("GenerateStringKey", "")).startswith("_"):
            problems.append(f"secret {lid}: generated key {gen.get('GenerateStringKey')!r} does not start with '_' (the functions would refuse it)")
        if outputs.get(output) is None or canon(outputs[output].get("Value")) != secret_refs(lid):
            problems.append(f"output {output} is not the ARN of {lid} (or {parameter})")
        reading = set()
        for fid, fn in m.functions.items():
            grants = role_grants(m, fn.role_id)[0] if fn.role_id else []
            if any(g.action == "secretsmanager:GetSecretValue" and g.resource in secret_refs(lid) for g in grants):
                reading.add(fid)
            named = [v for v in fn.env if v.endswith("SECRET_ID") and canon(fn.env[v]) == secret_refs(lid)]
            want = FUNCTIONS[fid].secret_variable if fid in readers else spec.env
            if (fid in readers) != (named == [want]):
                problems.append(f"{fid}: names {lid} in {named}{', want ' + want if fid in readers else ', must not'}")
        if reading != readers:
            problems.append(f"secret {lid} read by {sorted(reading)}, want exactly {sorted(readers)}")
    return problems


@check("no-plaintext-secrets")
def check_no_plaintext_secrets(m: Model) -> list[str]:
    """No literal SecretString anywhere; every secret generated or referenced; no literal value
    in a secret-looking variable (but the settings of NON_SECRET_ENV, with their values); no
    default for a secret-looking parameter (but ARNs)."""
    problems = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            s = value.get("SecretString", None)
            if "SecretString" in value and (is_literal(s) or (isinstance(s, dict) and "Fn::Sub" in s)):
                problems.append(f"literal SecretString at Resources{path}")
            for k, v in value.items():
                walk(v, f"{path}/{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(m.template.get("Resources", {}), "")
    for lid, res in m.of_type("AWS::SecretsManager::Secret").items():
        if "GenerateSecretString" not in res.get("Properties", {}) and "SecretString" not in res.get("Properties", {}):
            problems.append(f"secret {lid} has neither GenerateSecretString nor a reference")
    for lid, fn in m.functions.items():
        for name, value in fn.env.items():
            if not (SECRETISH_ENV.search(name) and is_literal(value) and str(value) != ""):
                continue
            setting = NON_SECRET_ENV.get(name)
            if setting is None:
                problems.append(f"{lid}: env {name} has a literal value")
            elif not setting.match(str(value)):
                problems.append(f"{lid}: env {name} = {value!r} is not a value of that setting (a secret?)")
    for name, param in m.section("Parameters").items():
        if SECRETISH_ENV.search(name) and not name.endswith("Arn") and param.get("Default") not in (None, ""):
            problems.append(f"parameter {name} has a default value")
    return problems


@check("functions-env-contract")
def check_function_env(m: Model) -> list[str]:
    """Each function's environment is exactly what its code reads (FunctionSpec.env), with
    these values."""
    problems = []
    for lid, fn, spec in declared(m):
        want = spec.all_env
        for name in sorted(set(fn.env) | set(want)):
            if name not in fn.env:
                problems.append(f"{lid}: env {name} missing")
            elif name not in want:
                problems.append(f"{lid}: unexpected env {name}")
            elif canon(fn.env[name]) != want[name]:
                problems.append(f"{lid}: env {name} = {sorted(canon(fn.env[name]))}, want {sorted(want[name])}")
    return problems


# The rules document: PK=CONFIG (gateway-aws DynamoDbRulesStore::get), cached RULES_CACHE_SECS.
RULES_PARTITION, RULES_CACHE_VARIABLE = "CONFIG", "RULES_CACHE_SECS"


@check("rules-cache-agree")
def check_rules_cache(m: Model) -> list[str]:
    """The functions whose role may read the rules document (dynamodb:GetItem under a LeadingKeys
    condition naming CONFIG) all set RULES_CACHE_SECS, to one value: a change of the rules (its
    `lifecycle`, its tags) reaches the router, the SLA monitor, the desk and the others within the
    same time. A function that may not read them does not set it."""
    problems, values = [], {}
    for lid, fn in sorted(m.functions.items()):
        grants = role_grants(m, fn.role_id)[0] if fn.role_id else []
        reads = any(g.action == "dynamodb:GetItem" and RULES_PARTITION in (_leading_keys(g.iam) or set()) for g in grants)
        value = fn.env.get(RULES_CACHE_VARIABLE)
        if reads and value is None:
            problems.append(f"{lid} may read the rules ({RULES_PARTITION}) without {RULES_CACHE_VARIABLE} (the code's default, unchecked)")
        elif not reads and value is not None:
            problems.append(f"{lid} sets {RULES_CACHE_VARIABLE} but may not read the rules")
        elif reads:
            values.setdefault(" ".join(sorted(canon(value))), []).append(lid)
    if len(values) > 1:
        problems.append(f"{RULES_CACHE_VARIABLE} differs between the rules' readers: {values}")
    return problems


@check("functions-runtime")
def check_function_runtime(m: Model) -> list[str]:
    """provided.al2023 on arm64, 256 MB, the spec's Timeout; in SAM, built by cargo-lambda from
    the workspace as the spec's binary."""
    problems = []
    for lid, fn in m.functions.items():
        p, spec = fn.props, FUNCTIONS.get(lid)
        timeout = {"Timeout": spec.timeout_secs} if spec else {}
        problems += differ(lid, p, {"Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": 256, **timeout})
        if as_list(p.get("Architectures")) != ["arm64"]:
            problems.append(f"{lid}: Architectures {p.get('Architectures')!r}")
        if m.flavour == "sam":
            binary = get(fn.metadata, "BuildProperties/Binary")
            if fn.metadata.get("BuildMethod") != "rust-cargolambda":
                problems.append(f"{lid}: Metadata.BuildMethod is not rust-cargolambda")
            if spec and binary != spec.binary:
                problems.append(f"{lid}: BuildProperties.Binary {binary!r}, want {spec.binary!r}")
            if p.get("CodeUri") != "../..":
                problems.append(f"{lid}: CodeUri {p.get('CodeUri')!r}, want the workspace root ../..")
    return problems


@check("webhook-timeout-under-5s")
def check_webhook_timeouts(m: Model) -> list[str]:
    """The webhooks answer within the platforms' 5-second window."""
    problems = []
    for lid, fn, spec in declared(m):
        timeout = fn.props.get("Timeout", 3)
        if spec.kind == "webhook" and (not isinstance(timeout, int) or timeout >= 5):
            problems.append(f"{lid}: Timeout {timeout!r} s, must be < 5 s (platforms give up after 5 s)")
    return problems


@check("consumer-concurrency")
def check_consumer_concurrency(m: Model) -> list[str]:
    """The queue consumers: ReservedConcurrentExecutions from their parameter (a Number, >= 2,
    with the spec's default), and their event source's ScalingConfig.MaximumConcurrency never
    above it (the same parameter, or a literal 2..the parameter's MinValue). A function whose
    spec gives a number (weibo-poller: 1): exactly that number."""
    problems = []
    for lid, fn, spec in declared(m):
        if spec.reserved_concurrency is None:
            continue
        if isinstance(spec.reserved_concurrency, int):  # a number, written as is (no event source)
            if fn.props.get("ReservedConcurrentExecutions") != spec.reserved_concurrency:
                problems.append(f"{lid}.ReservedConcurrentExecutions = {fn.props.get('ReservedConcurrentExecutions')!r}, "
                                f"want {spec.reserved_concurrency}")
            continue
        name, default = spec.reserved_concurrency
        p = m.param(name)
        low = number(p.get("MinValue"))
        if p.get("Type") != "Number" or number(p.get("Default")) != default or low is None or low < 2:
            problems.append(f"parameter {name}: want Number, Default {default}, MinValue >= 2 (got {p})")
            low = 2
        if ref_target(fn.props.get("ReservedConcurrentExecutions")) != name:
            problems.append(f"{lid}.ReservedConcurrentExecutions = {fn.props.get('ReservedConcurrentExecutions')!r}, want Ref {name}")
        for es in (e for e in m.event_sources if e.function == lid):
            most = get(es.props, "ScalingConfig/MaximumConcurrency")
            if not (ref_target(most) == name or (isinstance(most, int) and 2 <= most <= low)):
                problems.append(f"{lid}: event source MaximumConcurrency {most!r} is not <= its reserved concurrency ({name})")
    return problems


def sqs_sources(m: Model):
    """The event sources that poll an SQS queue (not a stream: see checks_async.py)."""
    return [e for e in m.event_sources if e.stream is None]


@check("consumer-event-sources")
def check_event_source(m: Model) -> list[str]:
    """Each consumer has one enabled SQS event source, on its queue, FIFO-compatible (BatchSize
    1..10, no batching window), reporting partial batch failures; nothing else has one."""
    problems = []
    consumers = {lid: spec for lid, spec in FUNCTIONS.items() if spec.kind == "consumer"}
    for lid, spec in consumers.items():
        sources = [e for e in sqs_sources(m) if e.function == lid]
        if len(sources) != 1:
            problems.append(f"{lid}: {len(sources)} event sources, want 1 (on {spec.consumes})")
            continue
        es, batch = sources[0], sources[0].props.get("BatchSize", 10)
        if es.queue != spec.consumes:
            problems.append(f"{lid}: event source on {es.queue}, want {spec.consumes}")
        if not isinstance(batch, int) or batch > 10 or batch < 1:
            problems.append(f"{lid}: BatchSize {batch!r} (at most 10: FIFO, or a standard queue without a batching window)")
        if "ReportBatchItemFailures" not in as_list(es.props.get("FunctionResponseTypes")):
            problems.append(f"{lid}: FunctionResponseTypes lacks ReportBatchItemFailures")
        if es.props.get("MaximumBatchingWindowInSeconds"):
            problems.append(f"{lid}: MaximumBatchingWindowInSeconds is not supported on FIFO queues")
        if es.props.get("Enabled") is False:
            problems.append(f"{lid}: event source disabled")
    return problems + [f"unexpected event source for {es.function}" for es in sqs_sources(m) if es.function not in consumers]


@check("visibility-timeout-6x")
def check_visibility_timeout(m: Model) -> list[str]:
    """Every SQS event source's queue hides a message for at least 6 x its function's Timeout."""
    problems = []
    for es in sqs_sources(m):
        fn, queue = m.functions.get(es.function), m.resources.get(es.queue or "", {}).get("Properties")
        if fn is None or queue is None:
            problems.append(f"event source {es.function} -> {es.queue}: function or queue not found")
            continue
        timeout, visibility = fn.props.get("Timeout", 3), queue.get("VisibilityTimeout", 30)
        if not isinstance(timeout, int) or not isinstance(visibility, int) or visibility < 6 * timeout:
            problems.append(f"{es.queue}.VisibilityTimeout {visibility!r} < 6 x {es.function}.Timeout {timeout!r}")
    return problems


@check("queues-have-dlq")
def check_queues_have_dlq(m: Model) -> list[str]:
    """Every queue that is no DLQ (nor an event source's on-failure destination) redrives
    (maxReceiveCount 1..10) to a DLQ of the stack of the same kind (FIFO or not) that keeps
    messages at least as long; every queue is encrypted."""
    problems = []
    queues = m.of_type("AWS::SQS::Queue")
    dlqs = {ref_target(get(r, "Properties/RedrivePolicy/deadLetterTargetArn")) for r in queues.values() if isinstance(get(r, "Properties/RedrivePolicy"), dict)}
    dlqs |= {ref_target(get(es.props, "DestinationConfig/OnFailure/Destination")) for es in m.event_sources}
    for lid, res in queues.items():
        p = res.get("Properties", {})
        redrive = p.get("RedrivePolicy")
        if lid in dlqs:
            pass
        elif not isinstance(redrive, dict):
            problems.append(f"queue {lid} has no RedrivePolicy (and is no DLQ)")
        elif (target := ref_target(redrive.get("deadLetterTargetArn"))) not in queues:
            problems.append(f"queue {lid}: dead-letter target {target} is not a queue of the stack")
        else:
            count, dlq = redrive.get("maxReceiveCount"), queues[target].get("Properties", {})
            if not isinstance(count, int) or not 1 <= count <= 10:
                problems.append(f"queue {lid}: maxReceiveCount {count!r} (want 1..10, 5 by design)")
            if bool(p.get("FifoQueue")) != bool(dlq.get("FifoQueue")):
                problems.append(f"queue {lid}: FIFO={bool(p.get('FifoQueue'))} but its DLQ {target} FIFO={bool(dlq.get('FifoQueue'))}")
            src_ret, dlq_ret = p.get("MessageRetentionPeriod", 345600), dlq.get("MessageRetentionPeriod", 345600)
            if isinstance(src_ret, int) and isinstance(dlq_ret, int) and dlq_ret < src_ret:
                problems.append(f"queue {lid}: DLQ {target} keeps messages {dlq_ret}s < source {src_ret}s")
        if not (p.get("SqsManagedSseEnabled") or p.get("KmsMasterKeyId")):
            problems.append(f"queue {lid}: no server-side encryption")
    return problems


# The producers set MessageDeduplicationId (platform message id, reply idempotency key).
FIFO_SETTINGS = {"FifoQueue": True, "ContentBasedDeduplication": False, "DeduplicationScope": "messageGroup",
                 "FifoThroughputLimit": "perMessageGroupId"}


@check("fifo-queues")
def check_fifo_queues(m: Model) -> list[str]:
    """The FIFO queues of QUEUES: high-throughput FIFO with explicit deduplication ids, kept 4
    days or more, visibility timeout 6 x the Timeout of their consumer."""
    problems = []
    for lid in (q for q, spec in QUEUES.items() if spec.fifo):
        q = m.resources.get(lid, {}).get("Properties")
        if q is None:
            problems.append(f"{lid} missing")
            continue
        problems += differ(lid, q, {**FIFO_SETTINGS, "VisibilityTimeout": visibility_secs(lid)})
        retention = q.get("MessageRetentionPeriod", 345600)
        if not isinstance(retention, int) or retention < 4 * 86400:
            problems.append(f"{lid} retention {retention!r} < 4 days")
    return problems


@check("table-pitr-ttl")
def check_table(m: Model) -> list[str]:
    """Every table: point-in-time recovery on, TTL on expires_at."""
    tables = m.of_type("AWS::DynamoDB::Table")
    problems = [] if tables else ["no DynamoDB table"]
    for lid, res in tables.items():
        if get(res, "Properties/PointInTimeRecoverySpecification/PointInTimeRecoveryEnabled") is not True:
            problems.append(f"table {lid}: point-in-time recovery is off")
        ttl = get(res, "Properties/TimeToLiveSpecification", {})
        if ttl.get("AttributeName") != "expires_at" or ttl.get("Enabled") is not True:
            problems.append(f"table {lid}: TTL is not enabled on expires_at ({ttl})")
    return problems


@check("table-shape")
def check_table_shape(m: Model) -> list[str]:
    """GatewayTable: on demand, PK/SK, GSI1 and GSI2 (string keys, all attributes), retained."""
    res = m.resources.get("GatewayTable")
    if not res:
        return ["GatewayTable missing"]
    problems, p = [], res.get("Properties", {})
    if p.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append("GatewayTable is not PAY_PER_REQUEST")
    key = lambda schema: [(k["AttributeName"], k["KeyType"]) for k in schema]  # noqa: E731
    if key(p.get("KeySchema", [])) != [("PK", "HASH"), ("SK", "RANGE")]:
        problems.append(f"GatewayTable key {key(p.get('KeySchema', []))}")
    attrs = {a["AttributeName"]: a["AttributeType"] for a in p.get("AttributeDefinitions", [])}
    problems += [f"GatewayTable attribute {n} is not S" for n in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK") if attrs.get(n) != "S"]
    gsis = {g["IndexName"]: g for g in p.get("GlobalSecondaryIndexes", [])}
    for name in ("GSI1", "GSI2"):
        if name not in gsis:
            problems.append(f"GatewayTable index {name} missing")
            continue
        if key(gsis[name].get("KeySchema", [])) != [(f"{name}PK", "HASH"), (f"{name}SK", "RANGE")]:
            problems.append(f"index {name} key {key(gsis[name].get('KeySchema', []))}")
        if get(gsis[name], "Projection/ProjectionType") != "ALL":
            problems.append(f"index {name} projection is not ALL")
    return problems + ([] if retained(res) else ["GatewayTable is not retained on stack deletion/replacement"])


@check("reply-sender-timings")
def check_reply_sender_timings(m: Model) -> list[str]:
    """reply-sender's settings against its Timeout, with the code's worst case of one delivery
    (12 AWS calls + 5 platform calls, each at its timeout): the Timeout fits two of them and the
    outbound queue's visibility timeout is at least 6 x it; a `calling` claim outlives any
    running attempt and the worst delivery; the token lease outlives the longest refresh; the
    backoff fits SQS's visibility limit."""
    fn = m.functions.get("ReplySenderFunction")
    if fn is None:
        return ["ReplySenderFunction missing"]
    problems, timeout = [], fn.props.get("Timeout", 3)
    platform, claim, wait_ms = fn.env_int("PLATFORM_TIMEOUT_SECS"), fn.env_int("DELIVERY_CLAIM_TIMEOUT_SECS"), fn.env_int("TOKEN_WAIT_MS")
    base, cap = fn.env_int("RETRY_BASE_SECS"), fn.env_int("RETRY_MAX_SECS")
    aws_ms, lease = fn.env_int("AWS_OPERATION_TIMEOUT_MS"), fn.env_int("TOKEN_LEASE_SECS")
    if not isinstance(timeout, int):
        return [f"reply-sender Timeout {timeout!r} is not a number"]
    queue_id = FUNCTIONS["ReplySenderFunction"].consumes or ""
    visibility = m.props(queue_id).get("VisibilityTimeout", 30)
    if not isinstance(visibility, int) or visibility < 6 * timeout:
        problems.append(f"{queue_id}.VisibilityTimeout {visibility!r} < 6 x reply-sender's Timeout {timeout}")
    if platform is None or aws_ms is None:
        return problems + ["PLATFORM_TIMEOUT_SECS and AWS_OPERATION_TIMEOUT_MS must be set"]
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


@check("reply-sender-attempts-below-redrive")
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
    if m.resources.get(queue_id, {}).get("Properties") is None:
        return [f"{queue_id} missing"]
    count, attempts = get(m.props(queue_id), "RedrivePolicy/maxReceiveCount"), fn.env_int("REPLY_MAX_ATTEMPTS")
    if not isinstance(count, int):
        return [f"{queue_id}: no maxReceiveCount to compare REPLY_MAX_ATTEMPTS with"]
    if attempts is None or attempts < 1:
        return [f"REPLY_MAX_ATTEMPTS {attempts!r}: want an integer >= 1"]
    if attempts + UNSETTLED_RECEIVES > count:
        return [f"REPLY_MAX_ATTEMPTS {attempts} + {UNSETTLED_RECEIVES} > {queue_id} maxReceiveCount {count}: the queue's redrive "
                "would move commands to the DLQ without a reason before the sender gives up on them or settles them"]
    return []


@check("log-level-no-trace")
def check_log_level(m: Model) -> list[str]:
    """LogLevel never allows "trace" (raw events and tokens in the logs): its AllowedValues and
    the LogLevels mapping are exactly LOG_LEVELS."""
    p, mapping, problems = m.param("LogLevel"), m.section("Mappings").get("LogLevels") or {}, []
    allowed = {str(v) for v in as_list(p.get("AllowedValues"))}
    if allowed != LOG_LEVELS or p.get("Default") not in LOG_LEVELS:
        problems.append(f"LogLevel AllowedValues {sorted(allowed)} / Default {p.get('Default')!r}, want {sorted(LOG_LEVELS)}")
    if set(mapping) != LOG_LEVELS or "TRACE" in json.dumps(mapping).upper():
        problems.append(f"LogLevels mapping {sorted(mapping)}, want {sorted(LOG_LEVELS)} and no TRACE")
    return problems
