"""Templates that must be the same deployment: SAM == CDK (equivalence), and build once,
deploy many: `make build` (its dry run), the zips it writes, and the templates that deploy
them as they are (infra/sam/prebuilt_template.py, `cdk synth -c prebuilt=DIR`), each the
default template with only the functions' code changed."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shlex
import tempfile
from typing import Any, Callable

from .model import Model, Unresolvable, canon, canon_tree, existing, norm, role_grants, stage_api
from .spec import ALL_QUEUES, DOMAIN_CASES, DOMAIN_TYPES, EXPECTED_PARAMETERS, FUNCTIONS, MEDIA_BUCKET

# What the CDK adds to every template by itself (not part of the gateway).
CDK_OWN = {"CDKMetadataAvailable", "CheckBootstrapVersion", "BootstrapVersion", "CDKMetadata"}
PARAMETER_KEYS = ("Type", "Default", "AllowedValues", "AllowedPattern", "MinValue", "MaxValue")
FUNCTION_KEYS = ("Timeout", "MemorySize", "Runtime", "Architectures", "Handler", "ReservedConcurrentExecutions")
ESM_KEYS = ("BatchSize", "FunctionResponseTypes", "Enabled", "MaximumBatchingWindowInSeconds", "ScalingConfig", "StartingPosition",
            "BisectBatchOnFunctionError", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "ParallelizationFactor",
            "DestinationConfig", "FilterCriteria")
POLICY_KEYS = ("Properties", "Condition", "DeletionPolicy", "UpdateReplacePolicy")
COGNITO_TYPES = ("AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolGroup")
# The web desk's hosting (checks_site.py), compared whole.
DESK_SITE_TYPES = ("AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::CloudFront::Distribution", "AWS::CloudFront::Function",
                   "AWS::CloudFront::OriginAccessControl", "AWS::CloudFront::ResponseHeadersPolicy",
                   "AWS::CloudFront::CloudFrontOriginAccessIdentity")


def _without_tags(view: dict[str, Any]) -> dict[str, Any]:
    return {**view, "Properties": {k: v for k, v in (view.get("Properties") or {}).items() if k != "Tags"}}


def _domain_view(m: Model, lid: str) -> Any:
    """A custom domain resource, canonical, with a mapping's Stage as its API's."""
    res = m.resources[lid]
    view = copy.deepcopy({k: res.get(k) for k in ("Type", *POLICY_KEYS)})
    if view["Type"] == "AWS::ApiGatewayV2::ApiMapping":
        view["Properties"]["Stage"] = f"the stage of {stage_api(m, (res.get('Properties') or {}).get('Stage'))}"
    return canon_tree(view)


# Resources compared one by one: (which, of a model; the view of one compared). Raw (intrinsic
# functions as written) for the queues and the table, canonical for the others.
COMPARED: list[tuple[str, Callable[[Model], set[str]], Callable[[Model, str], Any]]] = [
    ("secrets", lambda m: set(m.of_type("AWS::SecretsManager::Secret")),
     lambda m, lid: canon_tree({k: m.resources[lid].get(k) for k in POLICY_KEYS})),
    ("log groups", lambda m: set(m.of_type("AWS::Logs::LogGroup")),
     lambda m, lid: canon_tree({k: m.resources[lid].get(k) for k in POLICY_KEYS})),
    ("alarms", lambda m: set(m.of_type("AWS::CloudWatch::Alarm")), lambda m, lid: canon_tree(m.resources[lid].get("Properties"))),
    ("SNS topics and subscriptions", lambda m: set(m.of_type("AWS::SNS::Topic", "AWS::SNS::Subscription")),
     lambda m, lid: canon_tree({k: m.resources[lid].get(k) for k in ("Properties", "Condition")})),
    ("queues", lambda m: set(ALL_QUEUES), lambda m, lid: _without_tags({"Properties": m.props(lid)})),
    ("table", lambda m: {"GatewayTable"}, lambda m, lid: _without_tags({"Properties": m.props(lid)})),
    ("custom domain resources", lambda m: {lid for lid, r in m.resources.items() if r.get("Type") in DOMAIN_TYPES}, _domain_view),
    ("Cognito user pools, app clients and groups", lambda m: set(m.of_type(*COGNITO_TYPES)),
     lambda m, lid: canon_tree({k: m.resources[lid].get(k) for k in ("Type", *POLICY_KEYS)})),
    ("web desk bucket, bucket policy and CloudFront resources", lambda m: set(m.of_type(*DESK_SITE_TYPES)),
     lambda m, lid: canon_tree({k: m.resources[lid].get(k) for k in ("Type", *POLICY_KEYS)})),
    # The media bucket again, as written: its lifecycle rule under Fn::If (canon_tree above
    # reduces a conditional rule to "<dict>").
    ("media bucket", lambda m: {MEDIA_BUCKET} & set(m.resources),
     lambda m, lid: _without_tags({k: m.resources[lid].get(k) for k in ("Type", *POLICY_KEYS)})),
    # Events out: the event bus and the event rules that are no schedules (the webhook rule),
    # canonical.
    ("event buses and event rules", lambda m: set(m.of_type("AWS::Events::EventBus")) | {
        lid for lid, r in m.of_type("AWS::Events::Rule").items() if "ScheduleExpression" not in (r.get("Properties") or {})},
     lambda m, lid: canon_tree({k: m.resources[lid].get(k) for k in ("Type", *POLICY_KEYS)})),
]


def _dashboard_bodies(m: Model) -> list[Any]:
    out = []
    for res in m.of_type("AWS::CloudWatch::Dashboard").values():
        for body in canon(res.get("Properties", {}).get("DashboardBody")):
            try:
                out.append(json.loads(body))
            except ValueError:
                out.append(body)
    return out


def _esm_view(props: dict[str, Any]) -> str:
    """An event source's settings, canonical, its filter patterns parsed (the same pattern
    may be written with other spacing or key order)."""
    view = canon_tree({k: props.get(k) for k in ESM_KEYS})
    for f in (view.get("FilterCriteria") or {}).get("Filters") or []:
        if isinstance(f, dict) and isinstance(f.get("Pattern"), str):
            try:
                f["Pattern"] = json.loads(f["Pattern"])
            except ValueError:
                pass
    return norm(view)


def _parameter(p: dict[str, Any], key: str) -> Any:
    value = p.get(key)
    return [str(x) for x in value] if isinstance(value, list) else (None if value is None else str(value))


def equivalence(sam: Model, cdk: Model) -> list[str]:
    """The SAM and CDK templates deploy the same: parameters, functions (settings, variables,
    VPC, every grant with its conditions), event sources (queues and streams), schedules, routes,
    their authorizers and the scopes they require, their throttling, secrets, log groups, queues, table, SNS topics and
    subscriptions, Cognito user pools, app clients and groups, the web desk's bucket and CloudFront
    resources, alarms, dashboard, conditions, rules, the custom domain under each DOMAIN_CASES,
    outputs."""
    problems = []
    for name in sorted(EXPECTED_PARAMETERS):
        a, b = sam.param(name), cdk.param(name)
        problems += [f"parameter {name}.{k}: sam {_parameter(a, k)!r} != cdk {_parameter(b, k)!r}" for k in PARAMETER_KEYS
                     if _parameter(a, k) != _parameter(b, k)]
    for lid in FUNCTIONS:
        fa, fb = sam.functions.get(lid), cdk.functions.get(lid)
        if not fa or not fb:
            continue
        problems += [f"{lid}.{k}: sam {fa.props.get(k)!r} != cdk {fb.props.get(k)!r}" for k in FUNCTION_KEYS if fa.props.get(k) != fb.props.get(k)]
        for key in ("VpcConfig", "Environment"):
            va, vb = canon_tree(fa.props.get(key)), canon_tree(fb.props.get(key))
            if norm(va) != norm(vb):
                problems.append(f"{lid}.{key}: sam {va!r} != cdk {vb!r}")
        ga = set(role_grants(sam, fa.role_id)[0]) if fa.role_id else set()
        gb = set(role_grants(cdk, fb.role_id)[0]) if fb.role_id else set()
        if ga != gb:
            problems.append(f"{lid}: permissions differ: sam-only {sorted(ga - gb, key=str)}, cdk-only {sorted(gb - ga, key=str)}")
    esa, esb = (sorted((e.function, str(e.queue), str(e.stream), _esm_view(e.props)) for e in m.event_sources) for m in (sam, cdk))
    if esa != esb:
        problems.append(f"event sources differ: sam {esa} != cdk {esb}")
    sa, sb = (sorted((s.function, str(s.expression), s.enabled, s.permitted) for s in m.schedules) for m in (sam, cdk))
    if sa != sb:
        problems.append(f"schedules differ: sam {sa} != cdk {sb}")
    if (sam.routes, sam.route_timeouts, sam.route_apis) != (cdk.routes, cdk.route_timeouts, cdk.route_apis):
        problems.append(f"routes differ: sam {sam.routes} {sam.route_timeouts} {sam.route_apis} != cdk {cdk.routes} {cdk.route_timeouts} {cdk.route_apis}")
    if sam.route_auth != cdk.route_auth:
        problems += [f"route {method} {path}: sam behind {sam.route_auth.get((method, path))}, cdk behind {cdk.route_auth.get((method, path))}"
                     for method, path in sorted(set(sam.route_auth) | set(cdk.route_auth))
                     if sam.route_auth.get((method, path)) != cdk.route_auth.get((method, path))]
    if sam.route_scopes != cdk.route_scopes:
        problems += [f"route {method} {path}: sam requires scopes {list(sam.route_scopes.get((method, path), ()))}, "
                     f"cdk {list(cdk.route_scopes.get((method, path), ()))}"
                     for method, path in sorted(set(sam.route_scopes) | set(cdk.route_scopes))
                     if sam.route_scopes.get((method, path), ()) != cdk.route_scopes.get((method, path), ())]
    if sam.authorizers != cdk.authorizers:
        problems.append(f"authorizers differ: sam {sam.authorizers} != cdk {cdk.authorizers}")
    ta, tb = ({api: norm(canon_tree({k: s.get(k) for k in ("DefaultRouteSettings", "RouteSettings")})) for api, s in m.stages.items()} for m in (sam, cdk))
    if ta != tb:
        problems.append(f"HTTP API throttling differs: sam {ta} != cdk {tb}")
    for what, found, view in COMPARED:
        ra, rb = found(sam), found(cdk)
        if ra != rb:
            problems.append(f"{what} differ: sam-only {sorted(ra - rb)}, cdk-only {sorted(rb - ra)}")
        for lid in sorted(ra & rb):
            va, vb = view(sam, lid), view(cdk, lid)
            if norm(va) != norm(vb):
                problems.append(f"{lid} differs: sam {va} != cdk {vb}")
    if norm(sam.section("Mappings").get("LogLevels")) != norm(cdk.section("Mappings").get("LogLevels")):
        problems.append("LogLevels mapping differs")
    if _dashboard_bodies(sam) != _dashboard_bodies(cdk):
        problems.append("dashboard bodies differ (widgets, order or references)")
    # Conditions and rules (the CDK adds its own bootstrap version check).
    for section in ("Conditions", "Rules"):
        a, b = sam.section(section), cdk.section(section)
        problems += [f"{section} {name}: sam {a.get(name)} != cdk {b.get(name)}" for name in sorted((set(a) | set(b)) - CDK_OWN)
                     if norm(a.get(name)) != norm(b.get(name))]
    # The same custom domain resources and outputs exist under each DOMAIN_CASES.
    for case, (values, _) in DOMAIN_CASES.items():
        try:
            (res_a, out_a), (res_b, out_b) = existing(sam.template, values), existing(cdk.template, values)
        except Unresolvable as e:
            problems.append(f"{case}: cannot evaluate the conditions ({e})")
            continue
        dom_a, dom_b = ({lid for lid in r if m.resources[lid].get("Type") in DOMAIN_TYPES} for r, m in ((res_a, sam), (res_b, cdk)))
        if dom_a != dom_b or out_a != out_b:
            problems.append(f"{case}: sam creates {sorted(dom_a)} and outputs {sorted(out_a - out_b)}, cdk {sorted(dom_b)} and {sorted(out_b - out_a)}")
    oa, ob = sam.section("Outputs"), cdk.section("Outputs")
    if set(oa) != set(ob):
        problems.append("outputs differ")
    for name in sorted(set(oa) & set(ob)):
        va, vb = canon(oa[name].get("Value")), canon(ob[name].get("Value"))
        if va != vb or oa[name].get("Condition") != ob[name].get("Condition"):
            problems.append(f"output {name}: sam {sorted(va)} != cdk {sorted(vb)}")
    return problems


# ---------------------------------------------------------------------------------------
# Build once, deploy many.
# ---------------------------------------------------------------------------------------
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


def _without_code(t: dict[str, Any], rtype: str, props: tuple[str, ...], metadata: Callable[[str], bool]) -> dict[str, Any]:
    """The template without the functions' code (properties and metadata keys)."""
    t = copy.deepcopy(t)
    t.get("Resources", {}).pop("CDKMetadata", None)  # the CDK's own analytics string
    for res in t.get("Resources", {}).values():
        if res.get("Type") == rtype:
            for key in props:
                res.get("Properties", {}).pop(key, None)
            for key in [k for k in res.get("Metadata") or {} if metadata(k)]:
                del res["Metadata"][key]
            if "Metadata" in res and not res["Metadata"] and rtype == "AWS::Serverless::Function":
                del res["Metadata"]
    return t


def check_sam_prebuilt(source: dict[str, Any], prebuilt: dict[str, Any], prebuilt_path: str, zip_dir: str) -> list[str]:
    """The SAM template for prebuilt zips: each function's CodeUri (relative to the template)
    is its own zip, nothing is left for `sam build`, and nothing else differs."""
    problems, base = [], os.path.dirname(os.path.abspath(prebuilt_path))
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
    strip = lambda t: _without_code(t, "AWS::Serverless::Function", ("CodeUri",), lambda k: k in ("BuildMethod", "BuildProperties"))  # noqa: E731
    return problems + [f"differs from the SAM template at {p}" for p in _diff_paths(strip(source), strip(prebuilt))[:10]]


def check_cdk_prebuilt(cdk: dict[str, Any], prebuilt: dict[str, Any], prebuilt_path: str, zip_dir: str) -> list[str]:
    """`cdk synth -c prebuilt=DIR`: each function's code asset, as staged in cdk.out, is
    byte for byte its own zip, and nothing else differs from the default synth."""
    problems, out_dir = [], os.path.dirname(os.path.abspath(prebuilt_path))
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
    strip = lambda t: _without_code(t, "AWS::Lambda::Function", ("Code",), lambda k: k.startswith("aws:asset:"))  # noqa: E731
    return problems + [f"differs from the default synth at {p}" for p in _diff_paths(strip(cdk), strip(prebuilt))[:10]]


def check_make_build(dry_run: str, zip_dir: str) -> list[str]:
    """`make -n build LAMBDA_DIR=zip_dir`: one release arm64 zip build of exactly the
    templates' functions into zip_dir, then tools/lambda_zips.py on the same functions."""
    functions, commands = {spec.binary for spec in FUNCTIONS.values()}, []
    for line in dry_run.replace("\\\n", " ").splitlines():
        try:
            commands.append(shlex.split(line))
        except ValueError:  # not a command (e.g. a make warning with a stray quote)
            continue
    builds = [c for c in commands if "cargo" in c and c[c.index("cargo") + 1:c.index("cargo") + 3] == ["lambda", "build"]]
    if len(builds) != 1:
        return [f"{len(builds)} `cargo lambda build` commands, want one"]
    build, problems = builds[0], []
    option = lambda name: build[build.index(name) + 1] if name in build[:-1] else None  # noqa: E731
    problems += [f"cargo lambda build without {flag}" for flag in ("--release", "--arm64") if flag not in build]
    if option("--output-format") != "zip":
        problems.append("cargo lambda build without --output-format zip")
    if option("--lambda-dir") is None or os.path.abspath(option("--lambda-dir")) != os.path.abspath(zip_dir):
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


def zip_checker_self_tests() -> list[tuple[str, list[str]]]:
    """tools/lambda_zips.py accepts a function zip and refuses what Lambda could not run."""
    from lambda_zips import zip_problems  # tools/
    from prebuilt_fixture import write_zip  # infra/tests/

    with tempfile.TemporaryDirectory() as d:
        good = os.path.join(d, "good.zip")
        write_zip(good, "good")
        results = [("lambda_zips accepts an executable arm64 bootstrap", zip_problems(good))]
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
