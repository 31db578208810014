"""A flavour-independent view of a template: the SAM source ("sam"), the SAM template expanded
to CloudFormation ("sam-cfn") and the CDK synth ("cdk") are all read into one Model, so that
every check is written once. Intrinsic functions are reduced to canonical strings by canon():
"X.Arn" for !GetAtt X.Arn, "X" for !Ref X, "${...}" substitutions resolved the same way."""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

NO_VALUE = "<novalue>"
# Pseudo parameters, for conditions that use them (CDK's CDKMetadataAvailable: the region).
PSEUDO_PARAMETERS = {"AWS::Region": "ap-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}


def canon(value: Any) -> set[str]:
    """All the values an expression can take, as canonical strings (Fn::If -> both)."""
    if isinstance(value, bool):
        return {str(value).lower()}
    if isinstance(value, (int, float, str)):
        return {str(value)}
    if not (isinstance(value, dict) and len(value) == 1):
        return {f"<{type(value).__name__}>"}
    (fn, arg), = value.items()
    if fn == "Ref":
        return {NO_VALUE} if arg == "AWS::NoValue" else {str(arg)}
    if fn == "Fn::GetAtt":
        return {arg if isinstance(arg, str) else ".".join(str(a) for a in arg)}
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        sub = lambda m: sorted(canon(variables[m.group(1)]))[0] if m.group(1) in variables else m.group(1)  # noqa: E731
        return {re.sub(r"\$\{([^}!]+)\}", sub, text)}
    if fn == "Fn::Join":
        sep, parts = arg
        return {sep.join(combo) for combo in itertools.product(*(sorted(canon(p)) for p in parts))}
    if fn == "Fn::If":
        out = set().union(*(canon(branch) for branch in arg[1:])) - {NO_VALUE}
        return out or {NO_VALUE}
    return {f"<{fn}>"}


def canon_tree(value: Any) -> Any:
    """A value with every intrinsic function replaced by its sorted canonical strings."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If"):
            return sorted(canon(value))
        return {k: canon_tree(v) for k, v in value.items() if k != "Tags"}
    if isinstance(value, list):
        return [canon_tree(v) for v in value]
    return value


def norm(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


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
            return arg.split(".")[0] if isinstance(arg, str) else str(arg[0])
    return None


def refs(values: Any) -> set[str | None]:
    return {ref_target(v) for v in as_list(values)}


def get(value: Any, path: str, default: Any = None) -> Any:
    """value[a][b]... for path "a/b/..."; default where a step is missing or not a map."""
    for key in path.split("/"):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return default if value is None else value


def number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def expand_if(items: list[Any], condition: str | None = None) -> list[tuple[Any, str | None]]:
    """The elements of a list whose elements may be Fn::If, each with the condition under which
    it exists: the Fn::If's condition for its first branch, "!<condition>" for its second
    (None = always; nested: "outer&inner")."""
    out: list[tuple[Any, str | None]] = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            name, *branches = item["Fn::If"]
            for branch, cond in zip(branches, (name, f"!{name}")):
                if not (isinstance(branch, dict) and branch.get("Ref") == "AWS::NoValue"):
                    out.append((branch, cond if condition is None else f"{condition}&{cond}"))
        else:
            out.append((item, condition))
    return out


def values_of(items: Any) -> list[Any]:
    return [item for item, _ in expand_if(as_list(items))]


@dataclass
class Function:
    logical_id: str
    props: dict[str, Any]
    metadata: dict[str, Any]
    role_id: str | None

    @property
    def env(self) -> dict[str, Any]:
        return get(self.props, "Environment/Variables", {})

    def env_int(self, name: str) -> int | None:
        try:
            return int(str(self.env.get(name)))
        except ValueError:
            return None


@dataclass
class EventSource:
    function: str
    queue: str | None  # the SQS queue it polls (logical id)
    props: dict[str, Any]
    stream: str | None = None  # or the stream it reads, canonical ("GatewayTable.StreamArn")


@dataclass
class Schedule:
    function: str  # the function it invokes (logical id), or the target's canonical ARN
    expression: Any  # its schedule expression
    enabled: bool
    rule: str  # the rule's logical id (SAM: <Function><Event>, the one the translator creates)
    permitted: bool  # EventBridge may invoke the function from this rule (SAM's event: always)


Route = tuple[str, str]  # (METHOD, path)


@dataclass
class Authorizer:
    """An HTTP API's authorizer, whatever the flavour writes: SAM's Auth.Authorizers of an
    AWS::Serverless::HttpApi, an OpenAPI security scheme (the translator's), an
    AWS::ApiGatewayV2::Authorizer."""
    api: str | None  # logical id of its HTTP API
    kind: str  # "JWT", or what else it is
    identity_source: tuple[str, ...]
    issuer: tuple[str, ...]  # canonical, sorted
    audience: tuple[str, ...]  # canonical, sorted


@dataclass
class Model:
    flavour: str  # "sam", "sam-cfn" or "cdk"
    template: dict[str, Any]
    functions: dict[str, Function] = field(default_factory=dict)
    event_sources: list[EventSource] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    routes: dict[Route, str | None] = field(default_factory=dict)  # -> function
    route_timeouts: dict[Route, Any] = field(default_factory=dict)  # integration ms
    route_apis: dict[Route, str | None] = field(default_factory=dict)  # HTTP API id
    # HTTP API id -> its stage's {"DefaultRouteSettings": ..., "RouteSettings": ...}.
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The authorizer (its name) each route is behind; None: none. Authorizers by name.
    route_auth: dict[Route, str | None] = field(default_factory=dict)
    authorizers: dict[str, Authorizer] = field(default_factory=dict)
    # The authorization scopes each route requires (canonical, sorted; () = none).
    route_scopes: dict[Route, tuple[str, ...]] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.get("Resources", {})

    def section(self, name: str) -> dict[str, Any]:
        """Parameters, Outputs, Conditions, Mappings, Rules: {} when absent."""
        return self.template.get(name) or {}

    def props(self, lid: str) -> dict[str, Any]:
        return self.resources.get(lid, {}).get("Properties") or {}

    def param(self, name: str) -> dict[str, Any]:
        return self.section("Parameters").get(name) or {}

    def of_type(self, *types: str) -> dict[str, Any]:
        return {k: v for k, v in self.resources.items() if v.get("Type") in types}

    def add_route(self, method: str, path: str, function: str | None, timeout: Any, api: str | None, auth: str | None = None,
                  scopes: Any = None) -> None:
        key = (method.upper(), path)
        self.routes[key], self.route_timeouts[key], self.route_apis[key] = function, timeout, api
        self.route_auth[key], self.route_scopes[key] = auth, _sorted_canon(scopes)


def _sorted_canon(value: Any) -> tuple[str, ...]:
    return tuple(sorted(set().union(*(canon(v) for v in as_list(value))))) if value is not None else ()


def _identity_source(value: Any) -> tuple[str, ...]:
    """An identity source: a list (CloudFormation) or one comma-separated string (SAM, OpenAPI)."""
    return tuple(sorted(part.strip() for v in as_list(value) for part in str(v).split(",") if part.strip()))


def _sam_authorizers(m: Model) -> tuple[dict[str, str | None], dict[str, Any]]:
    """The authorizers of the template's AWS::Serverless::HttpApi resources (into m.authorizers);
    returns each API's DefaultAuthorizer (None: none) and each authorizer's AuthorizationScopes
    (SAM's default for the routes behind it that name none of their own)."""
    defaults: dict[str, str | None] = {}
    scopes: dict[str, Any] = {}
    for api, res in m.of_type("AWS::Serverless::HttpApi").items():
        auth = get(res, "Properties/Auth", {})
        for name, a in (auth.get("Authorizers") or {}).items():
            jwt = a.get("JwtConfiguration")
            m.authorizers[name] = Authorizer(api, "JWT" if jwt is not None else "REQUEST", _identity_source(a.get("IdentitySource")),
                                             _sorted_canon((jwt or {}).get("issuer")), _sorted_canon((jwt or {}).get("audience")))
            scopes[name] = a.get("AuthorizationScopes")
        default = auth.get("DefaultAuthorizer")
        defaults[api] = None if default in (None, "NONE") else str(default)
    return defaults, scopes


def _sam_route_scopes(event_auth: dict[str, Any], authorizer: str | None, authorizer_scopes: dict[str, Any]) -> Any:
    """The scopes a SAM HttpApi event's route requires, as the SAM translator writes them: the
    event's Auth.AuthorizationScopes if it names any, else its authorizer's AuthorizationScopes
    (OpenApiEditor._set_method_authorizer). Scopes on a route without an authorizer are kept, so
    that the checks see them (the translator refuses them)."""
    own = event_auth.get("AuthorizationScopes")
    if own or authorizer is None:
        return own
    return authorizer_scopes.get(authorizer)


def _openapi_auth(security: Any) -> tuple[str | None, Any]:
    """The authorizer an OpenAPI `security` requirement names (None: none), and the scopes it
    requires (the requirement's list)."""
    found = [(name, scopes) for requirement in as_list(security) if isinstance(requirement, dict) for name, scopes in requirement.items()]
    return found[0] if found else (None, None)


def merge_globals(props: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    for key, value in props.items():
        out[key] = merge_globals(value, out[key]) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def build_model(flavour: str, template: dict[str, Any]) -> Model:
    m = Model(flavour, template)
    defaults, authorizer_scopes = _sam_authorizers(m)
    for lid, res in m.of_type("AWS::Serverless::Function", "AWS::Lambda::Function").items():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::Serverless::Function":
            props = merge_globals(props, get(template, "Globals/Function", {}))
        m.functions[lid] = Function(lid, props, res.get("Metadata") or {}, ref_target(props.get("Role")))
        for name, event in (props.get("Events") or {}).items():  # SAM events
            ep = event.get("Properties") or {}
            if event.get("Type") == "SQS":
                m.event_sources.append(EventSource(lid, ref_target(ep.get("Queue")), ep))
            elif event.get("Type") in ("DynamoDB", "Kinesis"):
                m.event_sources.append(EventSource(lid, None, ep, " ".join(sorted(canon(ep.get("Stream"))))))
            elif event.get("Type") == "HttpApi":
                api = ref_target(ep.get("ApiId"))
                auth = get(ep, "Auth/Authorizer", defaults.get(api or ""))
                auth = None if auth in (None, "NONE") else str(auth)
                m.add_route(str(ep.get("Method", "")), str(ep.get("Path", "")), lid, ep.get("TimeoutInMillis"), api, auth,
                            _sam_route_scopes(get(ep, "Auth", {}), auth, authorizer_scopes))
            elif event.get("Type") == "Schedule":  # the translator adds the rule and its permission
                enabled = ep.get("Enabled", True) is not False and ep.get("State", "ENABLED") == "ENABLED"
                m.schedules.append(Schedule(lid, ep.get("Schedule"), enabled, f"{lid}{name}", True))
    for lid, res in m.of_type("AWS::Serverless::HttpApi").items():  # SAM: stage settings on the API
        m.stages[lid] = res.get("Properties") or {}
    for res in m.of_type("AWS::ApiGatewayV2::Stage").values():
        p = res.get("Properties") or {}
        m.stages[ref_target(p.get("ApiId")) or "?"] = p
    for res in m.of_type("AWS::Lambda::EventSourceMapping").values():
        p = res.get("Properties", {})
        arn = " ".join(sorted(canon(p.get("EventSourceArn"))))
        if p.get("StartingPosition") is not None or arn.endswith(".StreamArn"):  # a stream (SQS has no position)
            m.event_sources.append(EventSource(ref_target(p.get("FunctionName")) or "?", None, p, arn))
        else:
            m.event_sources.append(EventSource(ref_target(p.get("FunctionName")) or "?", ref_target(p.get("EventSourceArn")), p))
    # EventBridge rules on a schedule -> their targets, and the permissions they invoke with.
    permissions = [r.get("Properties") or {} for r in m.of_type("AWS::Lambda::Permission").values()]
    for rule, res in m.of_type("AWS::Events::Rule").items():
        p = res.get("Properties") or {}
        if "ScheduleExpression" not in p:
            continue
        for target in values_of(p.get("Targets")):
            arn = " ".join(sorted(canon(target.get("Arn") if isinstance(target, dict) else target)))
            fn = arn.removesuffix(".Arn") if arn.removesuffix(".Arn") in m.functions else arn
            permitted = any(canon(q.get("FunctionName")) & {fn, f"{fn}.Arn"} and q.get("Action") == "lambda:InvokeFunction"
                            and q.get("Principal") == "events.amazonaws.com" and canon(q.get("SourceArn")) == {f"{rule}.Arn"}
                            for q in permissions)
            m.schedules.append(Schedule(fn, p.get("ScheduleExpression"), p.get("State", "ENABLED") == "ENABLED", rule, permitted))
    # CloudFormation authorizers (by name), routes -> integrations -> functions.
    names: dict[str, str] = {}
    for lid, res in m.of_type("AWS::ApiGatewayV2::Authorizer").items():
        p = res.get("Properties", {})
        jwt = p.get("JwtConfiguration") or {}
        names[lid] = str(p.get("Name", lid))
        m.authorizers[names[lid]] = Authorizer(ref_target(p.get("ApiId")), str(p.get("AuthorizerType")), _identity_source(p.get("IdentitySource")),
                                               _sorted_canon(jwt.get("Issuer")), _sorted_canon(jwt.get("Audience")))
    integrations = m.of_type("AWS::ApiGatewayV2::Integration")
    for res in m.of_type("AWS::ApiGatewayV2::Route").values():
        p = res.get("Properties", {})
        method, _, path = str(p.get("RouteKey", "")).partition(" ")
        target_fn, timeout = None, None
        for target in canon(p.get("Target")):
            integration = integrations.get(target.removeprefix("integrations/"))
            if integration:
                target_fn = ref_target(integration["Properties"].get("IntegrationUri"))
                timeout = integration["Properties"].get("TimeoutInMillis")
        kind, authorizer = p.get("AuthorizationType", "NONE"), ref_target(p.get("AuthorizerId"))
        auth = None if kind == "NONE" else names.get(authorizer or "", f"{kind} {authorizer}")
        m.add_route(method, path, target_fn, timeout, ref_target(p.get("ApiId")), auth, p.get("AuthorizationScopes"))
    # The SAM translator's output: routes in the API's OpenAPI body, its security schemes.
    for api_id, res in m.of_type("AWS::ApiGatewayV2::Api").items():
        body = get(res, "Properties/Body", {})
        for name, scheme in (get(body, "components/securitySchemes", {})).items():
            a = scheme.get("x-amazon-apigateway-authorizer") or {}
            jwt = a.get("jwtConfiguration") or {}
            m.authorizers[name] = Authorizer(api_id, str(a.get("type", "")).upper(), _identity_source(a.get("identitySource")),
                                             _sorted_canon(jwt.get("issuer")), _sorted_canon(jwt.get("audience")))
        for path, methods in (body.get("paths") or {}).items():
            for method, op in methods.items():
                integration = op.get("x-amazon-apigateway-integration") or {}
                target_fn = None
                for uri in canon(integration.get("uri")):
                    found = re.search(r"functions/([A-Za-z0-9]+)\.Arn/invocations", uri)
                    target_fn = found.group(1) if found else target_fn
                auth, scopes = _openapi_auth(op["security"] if "security" in op else body.get("security"))
                m.add_route(method, path, target_fn, integration.get("timeoutInMillis"), api_id, auth, scopes)
    return m


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
        out[operator] = {key: sorted(set().union(*(canon(v) for v in values_of(values)))) for key, values in keys.items()}
    return json.dumps(out, sort_keys=True)


class Grant(NamedTuple):
    action: str
    resource: str  # canonical
    cond: str | None  # the template condition the grant depends on (None = always granted)
    iam: str | None  # its IAM Condition (canon_iam_condition)


def role_grants(m: Model, role_id: str | None) -> tuple[list[Grant], list[str]]:
    """What the role allows (inline policies and attached AWS::IAM::Policy), and structural
    problems (managed policies, NotAction/NotResource, not a role of the template)."""
    role = m.resources.get(role_id or "")
    if not role or role.get("Type") != "AWS::IAM::Role":
        return [], [f"role {role_id} is not an AWS::IAM::Role of the template"]
    problems: list[str] = []
    rprops = role.get("Properties", {})
    if rprops.get("ManagedPolicyArns"):
        problems.append(f"role {role_id} has managed policies {rprops['ManagedPolicyArns']} (grant inline, exactly)")
    documents = [(p.get("PolicyDocument", {}), cond) for p, cond in expand_if(as_list(rprops.get("Policies")))]
    for res in m.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").values():
        if role_id in refs(res["Properties"].get("Roles")):
            documents.append((res["Properties"].get("PolicyDocument", {}), res.get("Condition")))
    grants: list[Grant] = []
    for doc, doc_cond in documents:
        for st, cond in expand_if(as_list(doc.get("Statement")), doc_cond):
            if st.get("Effect") != "Allow":
                continue
            if "NotAction" in st or "NotResource" in st:
                problems.append(f"role {role_id}: NotAction/NotResource in statement {st.get('Sid')}")
                continue
            resources = set().union(*(canon(r) for r in values_of(st.get("Resource")))) - {NO_VALUE}
            iam = canon_iam_condition(st.get("Condition"))
            for action in values_of(st.get("Action")):
                grants += [Grant(a, r, cond, iam) for a in canon(action) for r in sorted(resources) or ["<none>"]]
    return grants, problems


# ---------------------------------------------------------------------------------------
# Conditions and rules under given parameter values (the others at their defaults).
# ---------------------------------------------------------------------------------------
class Unresolvable(Exception):
    """An expression that depends on more than the parameters' values."""


def _value(t: dict[str, Any], value: Any, values: dict[str, str]) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name in values:
            return values[name]
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        param = (t.get("Parameters") or {}).get(name)
        if param is None or "Default" not in param:
            raise Unresolvable(f"Ref {name}")
        return str(param["Default"])
    raise Unresolvable(json.dumps(value))


def eval_condition(t: dict[str, Any], expr: Any, values: dict[str, str], depth: int = 0) -> bool:
    """A condition expression (Fn::Equals/Not/And/Or, Condition) under parameter values."""
    if depth > 20 or not (isinstance(expr, dict) and len(expr) == 1):
        raise Unresolvable(json.dumps(expr))
    (fn, arg), = expr.items()
    sub = lambda e: eval_condition(t, e, values, depth + 1)  # noqa: E731
    if fn == "Condition":
        if arg not in (t.get("Conditions") or {}):
            raise Unresolvable(f"condition {arg} is not defined")
        return sub(t["Conditions"][arg])
    if fn == "Fn::Equals":
        return _value(t, arg[0], values) == _value(t, arg[1], values)
    if fn == "Fn::Not":
        return not sub(arg[0])
    if fn == "Fn::And":
        return all(sub(a) for a in arg)
    if fn == "Fn::Or":
        return any(sub(a) for a in arg)
    raise Unresolvable(fn)


def existing(t: dict[str, Any], values: dict[str, str]) -> tuple[set[str], set[str]]:
    """(resources, outputs) the template creates under these parameter values."""
    exists = lambda e: e.get("Condition") is None or eval_condition(t, {"Condition": e["Condition"]}, values)  # noqa: E731
    return ({lid for lid, r in (t.get("Resources") or {}).items() if exists(r)},
            {name for name, o in (t.get("Outputs") or {}).items() if exists(o)})


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


def stage_api(m: Model, stage: Any) -> str | None:
    """The HTTP API whose stage an ApiMapping's Stage names: SAM's `!Ref HttpApi.Stage`, or
    a Ref to an AWS::ApiGatewayV2::Stage resource."""
    target = ref_target(stage)
    if target is None:
        return None
    api = target.removesuffix(".Stage")
    if target != api and m.resources.get(api, {}).get("Type") == "AWS::Serverless::HttpApi":
        return api
    res = m.resources.get(target) or {}
    return ref_target(get(res, "Properties/ApiId")) if res.get("Type") == "AWS::ApiGatewayV2::Stage" else None


def load_sam(path: str) -> dict[str, Any]:
    from cfnlint.decode import decode  # understands !Ref/!GetAtt/... short forms

    template, matches = decode(path)
    if matches or template is None:
        raise SystemExit(f"cannot decode {path}: {matches}")
    return json.loads(json.dumps(template))  # plain dict/list/str: deep-copyable


def load_cfn(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
