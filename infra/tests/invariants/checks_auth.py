"""The named checks of the desk's sign-in and of who may call which route: the Cognito user
pools, their app clients and groups (USER_POOLS), the HTTP APIs' JWT authorizers, the routes
behind them and the scopes those routes require (AUTHORIZERS, FunctionSpec.authorizer), the
reply windows desk-api shares with reply-sender, and the AWS managed keys that spare desk-api
(and the others) any kms:Decrypt (see checks.py for the others)."""

from __future__ import annotations

from typing import Any

from .checks import check, retained
from .model import Model, as_list, canon, get, number, ref_target
from .spec import (AUTHORIZERS, FUNCTIONS, JWT_IDENTITY_SOURCE, REPLY_WINDOW_READERS, REPLY_WINDOW_VARIABLE, TOKEN_UNIT_MINUTES,
                   USER_POOLS, issuer_of)


@check("cognito-user-pools")
def check_user_pools(m: Model) -> list[str]:
    """Exactly the user pools and groups of USER_POOLS. A pool: only administrators create users
    (AdminCreateUserConfig.AllowAdminCreateUserOnly), a password policy at least as strict as
    the spec's (MinimumLength, lower and upper case, numbers and symbols required, a temporary
    password valid a few days), DeletionProtection ACTIVE, retained on stack deletion and
    replacement; its groups, each on it with its name, retained as well."""
    pools, groups = m.of_type("AWS::Cognito::UserPool"), m.of_type("AWS::Cognito::UserPoolGroup")
    problems = [f"user pool {lid} is not one of USER_POOLS {sorted(USER_POOLS)}" for lid in pools if lid not in USER_POOLS]
    wanted_groups = {lid for spec in USER_POOLS.values() for lid in spec.groups}
    problems += [f"user pool group {lid} is not one of USER_POOLS' groups" for lid in groups if lid not in wanted_groups]
    for lid, spec in USER_POOLS.items():
        res = pools.get(lid)
        if res is None:
            problems.append(f"user pool {lid} missing")
            continue
        p = res.get("Properties") or {}
        if not retained(res):
            problems.append(f"user pool {lid}: DeletionPolicy {res.get('DeletionPolicy')!r} / UpdateReplacePolicy {res.get('UpdateReplacePolicy')!r}, want Retain/Retain (agents' accounts)")
        if p.get("DeletionProtection") != "ACTIVE":
            problems.append(f"user pool {lid}: DeletionProtection {p.get('DeletionProtection')!r}, want ACTIVE")
        if get(p, "AdminCreateUserConfig/AllowAdminCreateUserOnly") is not True:
            problems.append(f"user pool {lid}: users may sign themselves up (AdminCreateUserConfig.AllowAdminCreateUserOnly is not true)")
        policy = get(p, "Policies/PasswordPolicy", {})
        length, days = number(policy.get("MinimumLength")), number(policy.get("TemporaryPasswordValidityDays"))
        if length is None or length < spec.min_password_length:
            problems.append(f"user pool {lid}: password MinimumLength {policy.get('MinimumLength')!r}, want at least {spec.min_password_length}")
        problems += [f"user pool {lid}: password policy {key} is not true" for key in
                     ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols") if policy.get(key) is not True]
        if days is None or not 1 <= days <= spec.max_temporary_password_days:
            problems.append(f"user pool {lid}: TemporaryPasswordValidityDays {policy.get('TemporaryPasswordValidityDays')!r}, "
                            f"want 1..{spec.max_temporary_password_days}")
        for gid, name in spec.groups.items():
            group = groups.get(gid)
            if group is None:
                problems.append(f"group {gid} ({name}) of {lid} missing")
                continue
            gp = group.get("Properties") or {}
            if ref_target(gp.get("UserPoolId")) != lid or gp.get("GroupName") != name:
                problems.append(f"group {gid}: {gp.get('GroupName')!r} in {ref_target(gp.get('UserPoolId'))}, want {name!r} in {lid}")
            if not retained(group):
                problems.append(f"group {gid}: not retained on stack deletion/replacement (its members would lose it)")
    return problems


def _minutes(p: dict[str, Any], token: str) -> float | None:
    """A token's validity in minutes (<token>TokenValidity in TokenValidityUnits, hours by default)."""
    value, unit = number(p.get(f"{token}TokenValidity")), get(p, f"TokenValidityUnits/{token}Token", "hours")
    return None if value is None or unit not in TOKEN_UNIT_MINUTES else value * TOKEN_UNIT_MINUTES[unit]


@check("cognito-app-clients")
def check_app_clients(m: Model) -> list[str]:
    """Exactly the app clients of USER_POOLS, each on its pool: no client secret (a browser and a
    command line cannot keep one), exactly the spec's ExplicitAuthFlows, PreventUserExistenceErrors
    ENABLED, access tokens valid exactly the spec's minutes, token revocation on, no OAuth flows
    (no hosted sign-in: no callback URL to keep safe)."""
    clients = m.of_type("AWS::Cognito::UserPoolClient")
    wanted = {spec.client: pool for pool, spec in USER_POOLS.items()}
    problems = [f"app client {lid} is not one of USER_POOLS' clients {sorted(wanted)}" for lid in clients if lid not in wanted]
    for lid, pool in wanted.items():
        spec, res = USER_POOLS[pool], clients.get(lid)
        if res is None:
            problems.append(f"app client {lid} missing")
            continue
        p = res.get("Properties") or {}
        if ref_target(p.get("UserPoolId")) != pool:
            problems.append(f"app client {lid} is on {ref_target(p.get('UserPoolId'))}, want {pool}")
        if p.get("GenerateSecret") not in (None, False):
            problems.append(f"app client {lid}: GenerateSecret {p.get('GenerateSecret')!r} (a public client has no secret)")
        flows = {str(f) for f in as_list(p.get("ExplicitAuthFlows"))}
        if flows != spec.auth_flows:
            problems.append(f"app client {lid}: ExplicitAuthFlows {sorted(flows)}, want exactly {sorted(spec.auth_flows)}")
        if p.get("PreventUserExistenceErrors") != "ENABLED":
            problems.append(f"app client {lid}: PreventUserExistenceErrors {p.get('PreventUserExistenceErrors')!r}, want ENABLED (no user enumeration)")
        minutes = _minutes(p, "Access")
        if minutes != spec.access_token_minutes:
            problems.append(f"app client {lid}: access tokens valid {minutes!r} minutes (AccessTokenValidity "
                            f"{p.get('AccessTokenValidity')!r}, units {get(p, 'TokenValidityUnits/AccessToken')!r}), want {spec.access_token_minutes}")
        if p.get("EnableTokenRevocation") is not True:
            problems.append(f"app client {lid}: EnableTokenRevocation is not true (a revoked refresh token would keep working)")
        if p.get("AllowedOAuthFlows") or p.get("AllowedOAuthFlowsUserPoolClient") or p.get("CallbackURLs"):
            problems.append(f"app client {lid}: OAuth flows or callback URLs (the desk signs in with the user pool API only)")
    return problems


@check("http-api-authorizers")
def check_http_api_authorizers(m: Model) -> list[str]:
    """Exactly the authorizers of AUTHORIZERS, each a JWT authorizer on its HTTP API with the
    Authorization header as identity source, its pool's issuer and exactly its pool's app client
    as audience. The routes of a function whose FunctionSpec.authorizer names one are all behind
    it; every other route is behind none (the webhooks and reply-api check their requests'
    signatures: their callers have no JWT), and a route is on its authorizer's API."""
    problems = [f"unexpected authorizer {name} (on {a.api})" for name, a in m.authorizers.items() if name not in AUTHORIZERS]
    for name, (api, pool, _) in AUTHORIZERS.items():
        a = m.authorizers.get(name)
        if a is None:
            problems.append(f"authorizer {name} missing")
            continue
        client = USER_POOLS[pool].client
        if a.api != api:
            problems.append(f"authorizer {name} is on {a.api}, want {api}")
        if a.kind != "JWT":
            problems.append(f"authorizer {name} is {a.kind!r}, want a JWT authorizer")
        if a.identity_source != JWT_IDENTITY_SOURCE:
            problems.append(f"authorizer {name}: identity source {list(a.identity_source)}, want {list(JWT_IDENTITY_SOURCE)}")
        if a.issuer != (issuer_of(pool),):
            problems.append(f"authorizer {name}: issuer {list(a.issuer)}, want {issuer_of(pool)} (the tokens of {pool})")
        if a.audience != (client,):
            problems.append(f"authorizer {name}: audience {list(a.audience)}, want exactly [{client}] (the desk's app client)")
    wanted = {route: spec.authorizer for spec in FUNCTIONS.values() for route in spec.routes}
    for (method, path), auth in sorted(m.route_auth.items()):
        want, a = wanted.get((method, path)), m.authorizers.get(auth or "")
        if auth != want:
            problems.append(f"route {method} {path} is behind {auth or 'no authorizer'}, want {want or 'none'}")
        elif a is not None and m.route_apis.get((method, path)) != a.api:
            problems.append(f"route {method} {path} is on {m.route_apis.get((method, path))}, its authorizer {auth} on {a.api}")
    return problems


@check("authorization-scopes")
def check_authorization_scopes(m: Model) -> list[str]:
    """Every route behind an authorizer of AUTHORIZERS requires exactly its AuthorizerSpec.scopes
    (the desk's: the scope of Cognito's access tokens, which its ID tokens lack, so that API
    Gateway refuses an ID token as desk-api does); no more (API Gateway lets a token through
    with any one of a route's scopes) and none missing. A route behind no authorizer requires
    none."""
    problems = []
    for (method, path), auth in sorted(m.route_auth.items()):
        spec = AUTHORIZERS.get(auth or "")
        want, got = tuple(sorted(spec.scopes)) if spec else (), m.route_scopes.get((method, path), ())
        if got != want:
            problems.append(f"route {method} {path} (behind {auth or 'no authorizer'}) requires scopes {list(got)}, want {list(want)}")
    return problems


@check("reply-windows-agree")
def check_reply_windows(m: Model) -> list[str]:
    """The functions of REPLY_WINDOW_READERS (reply-sender, desk-api) have the same reply windows
    and quotas (the variables REPLY_WINDOW_VARIABLE matches), with the same values: desk-api
    refuses up front exactly the replies reply-sender would mark undeliverable."""
    windows: dict[str, dict[str, list[str]]] = {}
    for lid in REPLY_WINDOW_READERS:
        fn = m.functions.get(lid)
        if fn is None:
            return [f"{lid} missing"]
        windows[lid] = {name: sorted(canon(value)) for name, value in fn.env.items() if REPLY_WINDOW_VARIABLE.match(name)}
    first, *others = REPLY_WINDOW_READERS
    problems = [] if windows[first] else [f"{first} has no reply window variables"]
    for lid in others:
        for name in sorted(set(windows[first]) | set(windows[lid])):
            a, b = windows[first].get(name), windows[lid].get(name)
            if a != b:
                problems.append(f"{name}: {first} {a}, {lid} {b} (the windows must agree)")
    return problems


# The AWS managed key of SQS (SSE-KMS without a key of one's own).
SQS_AWS_MANAGED_KEY = "alias/aws/sqs"


@check("no-customer-keys")
def check_no_customer_keys(m: Model) -> list[str]:
    """The table and every queue are encrypted with AWS owned or AWS managed keys (the table's
    SSESpecification names no KMSMasterKeyId; a queue uses SqsManagedSseEnabled, or the AWS
    managed alias/aws/sqs): which is why no function's role grants kms:Decrypt or
    kms:GenerateDataKey for them (desk-api's and reply-api's included). A customer managed key
    would need those grants, in the spec first."""
    problems = []
    for lid, res in m.of_type("AWS::DynamoDB::Table").items():
        key = get(res, "Properties/SSESpecification/KMSMasterKeyId")
        if key is not None:
            problems.append(f"table {lid}: SSESpecification.KMSMasterKeyId {sorted(canon(key))} (a customer managed key: its readers would need kms:Decrypt)")
    for lid, res in m.of_type("AWS::SQS::Queue").items():
        key = get(res, "Properties/KmsMasterKeyId")
        if key is not None and canon(key) != {SQS_AWS_MANAGED_KEY}:
            problems.append(f"queue {lid}: KmsMasterKeyId {sorted(canon(key))} (a customer managed key: its senders would need kms:GenerateDataKey)")
    return problems
