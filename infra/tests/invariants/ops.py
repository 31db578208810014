"""The operations of the negative self-tests (mutations.py, mutations_async.py): each breaks a
copy of a template in place, whatever its flavour.

A mutation is an operation, or a tuple of them applied in order, on a path "Head.key.key...":
the head is a section (Resources, Outputs, Parameters, Mappings, Conditions, Rules), a
resource's logical id (its Properties), or a locator that hides the flavours' differences:
"env:<Function>" (its variables), "stmt:<Role>:<Sid>" (a statement of its inline policy),
"esm:<Function>:<Event>" (its SQS or stream event source), "stage:<HttpApi>" (its stage settings).
Keys of lists are indexes. A few operations work on what the flavours write differently:
routes (route, route_auth, route_scopes), authorizers (jwt_authorizer, authorizer_scopes) and
schedules (drop_schedule, reschedule, retarget_schedule, schedule_without_permission)."""

from __future__ import annotations

import copy
from typing import Any, Callable, NamedTuple

from .model import as_list, canon

Op = Callable[[dict[str, Any], str], None]  # (template, flavour)
SECTIONS = ("Resources", "Outputs", "Parameters", "Mappings", "Conditions", "Rules")
DROP = object()  # as a value: removes the key (or list element)


class Copy(NamedTuple):
    """A value copied from another path of the template (before the mutation)."""
    path: str


def _statements(t: dict[str, Any], role: str) -> list[Any]:
    return t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def _root(t: dict[str, Any], flavour: str, head: str) -> Any:
    kind, _, arg = head.partition(":")
    resources = t["Resources"]
    if head in SECTIONS:
        return t[head]
    if kind == "env":
        return resources[arg]["Properties"]["Environment"]["Variables"]
    if kind == "stmt":
        role, sid = arg.split(":")
        found = [s for s in _statements(t, role) if isinstance(s, dict) and s.get("Sid") == sid]
        if len(found) != 1:
            raise KeyError(f"{len(found)} statements {sid} in {role}")
        return found[0]
    if kind == "esm":
        function, event = arg.split(":")
        return resources[function]["Properties"]["Events"][event]["Properties"] if flavour == "sam" else resources[function + event]["Properties"]
    if kind == "stage" and flavour != "sam":  # SAM: the settings of the AWS::Serverless::HttpApi
        (stage,) = [r["Properties"] for r in resources.values()
                    if r["Type"] == "AWS::ApiGatewayV2::Stage" and r["Properties"].get("ApiId") == {"Ref": arg}]
        return stage
    return resources[arg if kind == "stage" else head]["Properties"]


def _at(t: dict[str, Any], flavour: str, path: str) -> tuple[Any, Any]:
    """(container, key) of the last step of path."""
    head, *keys = path.split(".")
    node = _root(t, flavour, head)
    for key in keys[:-1]:
        node = node[int(key) if isinstance(node, list) else key]
    return node, int(keys[-1]) if isinstance(node, list) else keys[-1]


def _resolve(t: dict[str, Any], flavour: str, value: Any) -> Any:
    if not isinstance(value, Copy):
        return value if value is DROP else copy.deepcopy(value)
    if "." not in value.path:
        return copy.deepcopy(_root(t, flavour, value.path))
    node, key = _at(t, flavour, value.path)
    return copy.deepcopy(node[key])


def edit(path: str, change: Callable[[Any, Callable[[Any], Any]], Any]) -> Op:
    """The value at path becomes change(its value, resolve) (resolve: of a Copy); DROP removes it."""
    def op(t: dict[str, Any], flavour: str) -> None:
        node, key = _at(t, flavour, path)
        present = key < len(node) if isinstance(node, list) else key in node
        new = change(node[key] if present else DROP, lambda v: _resolve(t, flavour, v))
        if new is DROP:
            node.pop(key)
        else:
            node[key] = new
    return op


def put(path: str, value: Any = DROP) -> Op:
    """Sets the value at path; without a value, removes it."""
    return edit(path, lambda old, resolve: resolve(value))


def drop(path: str) -> Op:
    return put(path)


def add(path: str, value: Any, at: int | None = None) -> Op:
    """Inserts a value (at the end, or at index `at`) into the list (or single value) at path."""
    def change(old: Any, resolve: Callable[[Any], Any]) -> list[Any]:
        items = as_list(old)
        return items[:at] + [resolve(value)] + items[at:] if at is not None else items + [resolve(value)]
    return edit(path, change)


def remove(path: str, value: Any) -> Op:
    """Removes a value from the list (or single value) at path."""
    return edit(path, lambda old, resolve: [v for v in as_list(old) if v != value])


def _replace_in_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_in_strings(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace_in_strings(v, old, new) for k, v in value.items()}
    return value


def replace(path: str, old: str, new: str) -> Op:
    """Replaces text in every string under path."""
    return edit(path, lambda value, resolve: _replace_in_strings(value, old, new))


def swap(a: str, b: str) -> Op:
    def op(t: dict[str, Any], flavour: str) -> None:
        (na, ka), (nb, kb) = _at(t, flavour, a), _at(t, flavour, b)
        na[ka], nb[kb] = nb[kb], na[ka]
    return op


def drop_stmt(role: str, sid: str) -> Op:
    def op(t: dict[str, Any], flavour: str) -> None:
        statements = _statements(t, role)
        statements[:] = [s for s in statements if not (isinstance(s, dict) and s.get("Sid") == sid)]
    return op


def drop_policies_of(rtype: str, key: str, target: str) -> Op:
    """Removes the resources of type rtype whose Properties[key] references target (e.g. the
    topic policies of a topic, whose logical ids differ between the flavours)."""
    def op(t: dict[str, Any], flavour: str) -> None:
        resources = t["Resources"]
        for lid in [k for k, r in resources.items() if r["Type"] == rtype and target in {
                v.get("Ref") for v in as_list(r["Properties"].get(key)) if isinstance(v, dict)}]:
            del resources[lid]
    return op


def route(method: str, path: str, timeout: int | None = None, api: str | None = None) -> Op:
    """The route METHOD path with this integration timeout, or moved to HTTP API `api`; with
    neither, removed. SAM: its HttpApi event; CloudFormation: its Route (and Integration), or
    its operation in an API's OpenAPI body (the SAM translator's)."""
    def change(props: dict[str, Any], container: dict[str, Any], key: str) -> None:
        if timeout is not None:
            props["TimeoutInMillis"] = timeout
        elif api is not None:
            props["ApiId"] = {"Ref": api}
        else:
            del container[key]

    def op(t: dict[str, Any], flavour: str) -> None:
        resources = t["Resources"]
        if flavour == "sam":
            for events in [r.get("Properties", {}).get("Events") or {} for r in resources.values()]:
                for name in [n for n, e in events.items() if (e["Properties"].get("Method"), e["Properties"].get("Path")) == (method, path)]:
                    change(events[name]["Properties"], events, name)
            return
        for lid in [k for k, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == f"{method} {path}"]:
            for target in canon(resources[lid]["Properties"]["Target"]) if timeout is not None else ():
                resources[target.removeprefix("integrations/")]["Properties"]["TimeoutInMillis"] = timeout
            if timeout is None:
                change(resources[lid]["Properties"], resources, lid)
        bodies = {k: r["Properties"]["Body"] for k, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in r["Properties"]}
        for lid, body in bodies.items():
            operation = body.get("paths", {}).get(path, {}).get(method.lower())
            if operation and timeout is not None:
                operation["x-amazon-apigateway-integration"]["timeoutInMillis"] = timeout
            elif operation is not None and timeout is None and lid != api:
                del body["paths"][path][method.lower()]
                if api is not None:
                    bodies[api]["paths"].setdefault(path, {})[method.lower()] = operation
    return op


def apply(mutation: Op | tuple[Op, ...], template: dict[str, Any], flavour: str) -> None:
    for op in mutation if isinstance(mutation, tuple) else (mutation,):
        op(template, flavour)


def stmts(role: str) -> str:
    return f"{role}.Policies.0.PolicyDocument.Statement"


def allow(action: str | list[str], resource: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _sam_event(t: dict[str, Any], function: str, event: str) -> dict[str, Any]:
    return t["Resources"][function]["Properties"]["Events"][event]


def drop_schedule(function: str, event: str) -> Op:
    """No schedule <Function><Event>: SAM, the function's Schedule event; CloudFormation, the
    rule the translator names <Function><Event> and its permission."""
    def op(t: dict[str, Any], flavour: str) -> None:
        if flavour == "sam":
            del t["Resources"][function]["Properties"]["Events"][event]
        else:
            del t["Resources"][f"{function}{event}"], t["Resources"][f"{function}{event}Permission"]
    return op


def reschedule(function: str, event: str, expression: str | None = None, enabled: bool | None = None) -> Op:
    """The schedule with another expression, or enabled/disabled."""
    def op(t: dict[str, Any], flavour: str) -> None:
        sam = flavour == "sam"
        p = _sam_event(t, function, event)["Properties"] if sam else t["Resources"][f"{function}{event}"]["Properties"]
        if expression is not None:
            p["Schedule" if sam else "ScheduleExpression"] = expression
        if enabled is not None:
            p["State"] = "ENABLED" if enabled else "DISABLED"
            p.pop("Enabled", None)
    return op


def retarget_schedule(function: str, event: str, other: str) -> Op:
    """The schedule invokes function `other` instead (and may: its permission follows)."""
    def op(t: dict[str, Any], flavour: str) -> None:
        resources = t["Resources"]
        if flavour == "sam":
            resources[other]["Properties"].setdefault("Events", {})[event] = resources[function]["Properties"]["Events"].pop(event)
            return
        rule = f"{function}{event}"
        resources[rule]["Properties"]["Targets"][0]["Arn"] = {"Fn::GetAtt": [other, "Arn"]}
        resources[f"{rule}Permission"]["Properties"]["FunctionName"] = {"Ref": other}
    return op


def schedule_without_permission(function: str, event: str) -> Op:
    """The rule without EventBridge's permission to invoke the function (SAM: the event written
    as an explicit rule, without the permission its translator would add)."""
    def op(t: dict[str, Any], flavour: str) -> None:
        rule = f"{function}{event}"
        if flavour != "sam":
            del t["Resources"][f"{rule}Permission"]
            return
        p = t["Resources"][function]["Properties"]["Events"].pop(event)["Properties"]
        t["Resources"][rule] = {"Type": "AWS::Events::Rule", "Properties": {
            "ScheduleExpression": p["Schedule"], "State": "ENABLED",
            "Targets": [{"Arn": {"Fn::GetAtt": [function, "Arn"]}, "Id": f"{rule}LambdaTarget"}]}}
    return op


TABLE_ARN = {"Fn::GetAtt": ["GatewayTable", "Arn"]}


def index_arn(name: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [TABLE_ARN, f"/index/{name}"]]}


def _authorizer_lid(t: dict[str, Any], name: str) -> str | None:
    """The logical id of the AWS::ApiGatewayV2::Authorizer named `name`."""
    found = [lid for lid, r in t["Resources"].items() if r["Type"] == "AWS::ApiGatewayV2::Authorizer" and r["Properties"].get("Name") == name]
    return found[0] if found else None


def route_auth(method: str, path: str, authorizer: str | None) -> Op:
    """The route METHOD path behind the authorizer named `authorizer`, or behind none. SAM: its
    HttpApi event's Auth; CloudFormation: its Route's AuthorizationType and AuthorizerId, or its
    operation's `security` in an API's OpenAPI body (the SAM translator's)."""
    def op(t: dict[str, Any], flavour: str) -> None:
        resources = t["Resources"]
        if flavour == "sam":
            for events in [r.get("Properties", {}).get("Events") or {} for r in resources.values()]:
                for e in (e for e in events.values() if (e["Properties"].get("Method"), e["Properties"].get("Path")) == (method, path)):
                    e["Properties"]["Auth"] = {"Authorizer": authorizer or "NONE"}
            return
        for r in (r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == f"{method} {path}"):
            r["Properties"]["AuthorizationType"] = "JWT" if authorizer else "NONE"
            r["Properties"].pop("AuthorizerId", None)
            if authorizer:
                r["Properties"]["AuthorizerId"] = {"Ref": _authorizer_lid(t, authorizer)}
        for r in (r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in r["Properties"]):
            operation = r["Properties"]["Body"].get("paths", {}).get(path, {}).get(method.lower())
            if operation is not None:
                operation.pop("security", None)
                if authorizer:
                    operation["security"] = [{authorizer: []}]
    return op


def route_scopes(method: str, path: str, scopes: list[str] | None) -> Op:
    """The route METHOD path requiring these authorization scopes (None: none of its own). SAM:
    its HttpApi event's Auth.AuthorizationScopes; CloudFormation: its Route's
    AuthorizationScopes, or the list of its operation's `security` requirement in an API's
    OpenAPI body (the SAM translator's)."""
    def op(t: dict[str, Any], flavour: str) -> None:
        resources = t["Resources"]
        if flavour == "sam":
            for events in [r.get("Properties", {}).get("Events") or {} for r in resources.values()]:
                for e in (e for e in events.values() if (e["Properties"].get("Method"), e["Properties"].get("Path")) == (method, path)):
                    auth = e["Properties"].setdefault("Auth", {})
                    auth.pop("AuthorizationScopes", None)
                    if scopes is not None:
                        auth["AuthorizationScopes"] = list(scopes)
            return
        for r in (r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == f"{method} {path}"):
            r["Properties"].pop("AuthorizationScopes", None)
            if scopes is not None:
                r["Properties"]["AuthorizationScopes"] = list(scopes)
        for r in (r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in r["Properties"]):
            operation = r["Properties"]["Body"].get("paths", {}).get(path, {}).get(method.lower())
            for requirement in (operation or {}).get("security") or []:
                for name in requirement:
                    requirement[name] = list(scopes or [])
    return op


def authorizer_scopes(name: str, scopes: list[str]) -> Op:
    """Every route behind the authorizer named `name` requires the scopes given to the
    authorizer instead of its own: SAM, the authorizer's AuthorizationScopes (the default of the
    routes behind it) and no event's own; CloudFormation, what the SAM translator makes of that,
    each of those routes' AuthorizationScopes (or its OpenAPI `security` list)."""
    def op(t: dict[str, Any], flavour: str) -> None:
        resources = t["Resources"]
        if flavour == "sam":
            resources[_sam_authorizer_api(t, name)]["Properties"]["Auth"]["Authorizers"][name]["AuthorizationScopes"] = list(scopes)
            for events in [r.get("Properties", {}).get("Events") or {} for r in resources.values()]:
                for e in events.values():
                    auth = e.get("Properties", {}).get("Auth") or {}
                    if auth.get("Authorizer") == name:
                        auth.pop("AuthorizationScopes", None)
            return
        lid = _authorizer_lid(t, name)
        for r in (r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"):
            if lid is not None and r["Properties"].get("AuthorizerId") == {"Ref": lid}:
                r["Properties"]["AuthorizationScopes"] = list(scopes)
        for r in (r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in r["Properties"]):
            for methods in (r["Properties"]["Body"].get("paths") or {}).values():
                operations = [o for o in methods.values() if isinstance(o, dict)]
                for requirement in (req for o in operations for req in o.get("security") or []):
                    if name in requirement:
                        requirement[name] = list(scopes)
    return op


def _sam_authorizer_api(t: dict[str, Any], name: str) -> str:
    (api,) = [lid for lid, r in t["Resources"].items() if r["Type"] == "AWS::Serverless::HttpApi"
              and name in ((r["Properties"].get("Auth") or {}).get("Authorizers") or {})]
    return api


def _scheme_api(t: dict[str, Any], name: str) -> str:
    (api,) = [lid for lid, r in t["Resources"].items() if r["Type"] == "AWS::ApiGatewayV2::Api"
              and name in r["Properties"].get("Body", {}).get("components", {}).get("securitySchemes", {})]
    return api


def jwt_authorizer(name: str, *, issuer: Any = DROP, audience: Any = DROP, identity_source: str | None = None,
                   api: str | None = None, copy_as: str | None = None, remove: bool = False) -> Op:
    """The JWT authorizer `name` changed in every flavour: another issuer or audience (a value;
    DROP leaves it as is), another identity source, moved to HTTP API `api`, copied under another
    name (`copy_as`, then changed), or removed. SAM: Auth.Authorizers of its
    AWS::Serverless::HttpApi; CloudFormation: its AWS::ApiGatewayV2::Authorizer, or its security
    scheme in the API's OpenAPI body (the SAM translator's)."""
    def change(config: dict[str, Any], issuer_key: str, audience_key: str) -> None:
        if issuer is not DROP:
            config[issuer_key] = copy.deepcopy(issuer)
        if audience is not DROP:
            config[audience_key] = copy.deepcopy(audience)

    def op(t: dict[str, Any], flavour: str) -> None:
        resources = t["Resources"]
        target = copy_as or name
        if flavour == "sam":
            home = _sam_authorizer_api(t, name)
            authorizers = resources[home]["Properties"]["Auth"]["Authorizers"]
            if remove:
                del authorizers[name]
                return
            if copy_as:
                authorizers[copy_as] = copy.deepcopy(authorizers[name])
            a = authorizers[target]
            change(a["JwtConfiguration"], "issuer", "audience")
            if identity_source is not None:
                a["IdentitySource"] = identity_source
            if api is not None:
                resources[api]["Properties"].setdefault("Auth", {}).setdefault("Authorizers", {})[target] = authorizers.pop(target)
            return
        lid = _authorizer_lid(t, name)
        if lid is not None:  # an AWS::ApiGatewayV2::Authorizer
            if remove:
                del resources[lid]
                return
            if copy_as:
                resources[f"{copy_as}Resource"] = copy.deepcopy(resources[lid])
                resources[f"{copy_as}Resource"]["Properties"]["Name"] = copy_as
                lid = f"{copy_as}Resource"
            p = resources[lid]["Properties"]
            change(p["JwtConfiguration"], "Issuer", "Audience")
            if identity_source is not None:
                p["IdentitySource"] = [identity_source]
            if api is not None:
                p["ApiId"] = {"Ref": api}
            return
        home = _scheme_api(t, name)  # the translator's OpenAPI security scheme
        schemes = resources[home]["Properties"]["Body"]["components"]["securitySchemes"]
        if remove:
            del schemes[name]
            return
        if copy_as:
            schemes[copy_as] = copy.deepcopy(schemes[name])
        a = schemes[target]["x-amazon-apigateway-authorizer"]
        change(a["jwtConfiguration"], "issuer", "audience")
        if identity_source is not None:
            a["identitySource"] = identity_source
        if api is not None:
            body = resources[api]["Properties"]["Body"]
            body.setdefault("components", {}).setdefault("securitySchemes", {})[target] = schemes.pop(target)
    return op
