"""The named checks of the stack's edges: HTTP APIs and routes, the custom domain, fixed egress,
log groups, alarms, dashboard, parameters and outputs (see checks.py for the others)."""

from __future__ import annotations

import json
import re
from typing import Any

from .checks import check, declared, differ, retained
from .model import Model, as_list, canon, existing, get, number, ref_target, refs, refused_by_rules, role_grants, stage_api, Unresolvable
from .spec import (CUSTOM_DOMAIN_OUTPUTS, CUSTOM_DOMAIN_PARAMETERS, CUSTOM_DOMAIN_URLS, DASHBOARD_FORBIDDEN, DASHBOARD_NEEDED,
                   DASHBOARD_SEARCHES, DOMAIN_CASES, DOMAIN_MAPPINGS, DOMAIN_REFUSED, DOMAIN_TYPES, ALL_QUEUES, ENI_ACTIONS,
                   EXPECTED_OUTPUTS, EXPECTED_PARAMETERS, FUNCTIONS, HTTP_APIS, LEVEL_ALARMS, wanted_alarms)


@check("api-routes")
def check_api_routes(m: Model) -> list[str]:
    """Exactly the functions' routes, each to its function, on its function's HTTP API."""
    problems = []
    for lid, spec in FUNCTIONS.items():
        for method, path in spec.routes:
            route = (method, path)
            if route not in m.routes:
                problems.append(f"route {method} {path} missing")
            elif m.routes[route] != lid:
                problems.append(f"route {method} {path} goes to {m.routes[route]}, want {lid}")
            elif m.route_apis.get(route) != spec.api:
                problems.append(f"route {method} {path} is on HTTP API {m.route_apis.get(route)}, want {spec.api}")
    expected = {r for spec in FUNCTIONS.values() for r in spec.routes}
    return problems + [f"unexpected route {method} {path}" for method, path in m.routes if (method, path) not in expected]


@check("integration-timeouts")
def check_integration_timeouts(m: Model) -> list[str]:
    """Every route's integration timeout: set, above its function's Timeout (API Gateway would
    answer 503 while the function still runs), within the platform window for webhooks."""
    problems = []
    for lid, fn, spec in declared(m):
        timeout = fn.props.get("Timeout", 3)
        for method, path in (r for r in spec.routes if r in m.route_timeouts):  # missing: api-routes
            ms = m.route_timeouts[(method, path)]
            if ms != spec.integration_timeout_ms:
                problems.append(f"route {method} {path}: integration timeout {ms!r} ms, want {spec.integration_timeout_ms}")
                continue
            if not isinstance(timeout, int) or ms <= timeout * 1000 or ms > 30000:
                problems.append(f"route {method} {path}: integration timeout {ms} ms not in ({lid}.Timeout {timeout!r} s, 30 s]")
            if spec.kind == "webhook" and ms > 5000:
                problems.append(f"route {method} {path}: integration timeout {ms} ms beyond the platforms' 5 s")
    return problems


@check("http-api-throttling")
def check_http_api_throttling(m: Model) -> list[str]:
    """Each HTTP API (HTTP_APIS) has a stage whose DefaultRouteSettings and RouteSettings of
    exactly its routes throttle with its rate/burst parameters (Numbers with the spec's
    defaults)."""
    problems = []
    for api, ((rate, rate_default), (burst, burst_default)) in HTTP_APIS.items():
        for name, default in ((rate, rate_default), (burst, burst_default)):
            p = m.param(name)
            if p.get("Type") != "Number" or number(p.get("Default")) != default:
                problems.append(f"parameter {name}: want Number with Default {default} (got {p})")
        stage = m.stages.get(api)
        if stage is None:
            problems.append(f"HTTP API {api} has no stage")
            continue
        want = {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}

        def throttled(settings: Any, where: str) -> None:
            settings = settings if isinstance(settings, dict) else {}
            problems.extend(f"{api} {where}.{key} = {settings.get(key)!r}, want Ref {param}"
                            for key, param in want.items() if ref_target(settings.get(key)) != param)

        throttled(stage.get("DefaultRouteSettings"), "DefaultRouteSettings")
        routes = {f"{method} {path}" for (method, path), a in m.route_apis.items() if a == api}
        settings = stage.get("RouteSettings") or {}
        if set(settings) != routes or not routes:
            problems.append(f"{api} RouteSettings for {sorted(settings)}, want its routes {sorted(routes)}")
        for route_key in sorted(routes & set(settings)):
            throttled(settings[route_key], f"RouteSettings[{route_key}]")
    return problems


@check("log-groups-retained")
def check_log_groups_retained(m: Model) -> list[str]:
    """Every log group has a fixed name /aws/lambda|apigateway/<stack>/<name> and outlives the
    stack and a replacement (audit trail)."""
    groups = m.of_type("AWS::Logs::LogGroup")
    problems = [] if groups else ["no log group"]
    for lid, res in groups.items():
        name = " ".join(sorted(canon(get(res, "Properties/LogGroupName"))))
        if not re.fullmatch(r"/aws/(lambda|apigateway)/AWS::StackName/[a-z-]+", name):
            problems.append(f"log group {lid}: name {name!r} is not /aws/lambda|apigateway/<stack>/<name>")
        if not retained(res):
            problems.append(f"log group {lid}: DeletionPolicy {res.get('DeletionPolicy')!r} / UpdateReplacePolicy {res.get('UpdateReplacePolicy')!r}, want Retain/Retain")
    return problems


@check("log-groups-retention")
def check_log_retention(m: Model) -> list[str]:
    """Every log group has a retention."""
    return [f"log group {lid} has no RetentionInDays" for lid, res in m.of_type("AWS::Logs::LogGroup").items()
            if res.get("Properties", {}).get("RetentionInDays") is None]


@check("functions-json-logs")
def check_function_logging(m: Model) -> list[str]:
    """Every function logs JSON, at the LogLevel parameter, to a log group of the stack (with
    its retention)."""
    problems, groups = [], m.of_type("AWS::Logs::LogGroup")
    for lid, fn in m.functions.items():
        cfg = fn.props.get("LoggingConfig") or {}
        if cfg.get("LogFormat") != "JSON":
            problems.append(f"{lid}: LogFormat is not JSON")
        if ref_target(cfg.get("LogGroup")) not in groups:
            problems.append(f"{lid}: does not log to a log group of the stack (no retention otherwise)")
        if "ApplicationLogLevel" not in cfg:
            problems.append(f"{lid}: no ApplicationLogLevel (LogLevel parameter)")
    return problems


def _has_alarm(m: Model, namespace: str, metric: str, dims: dict[str, str], threshold: float | str, stat: str, op: str,
               period: int | None) -> bool:
    """An alarm on exactly this metric and these dimensions ({name: referenced logical id}),
    above this threshold (a number, or a Ref of the parameter named), notifying AlarmTopic."""
    return any(
        a.get("Namespace") == namespace and a.get("MetricName") == metric
        and {d["Name"]: ref_target(d["Value"]) for d in a.get("Dimensions", [])} == dims
        and (ref_target(a.get("Threshold")) == threshold if isinstance(threshold, str) else number(a.get("Threshold", -1)) == threshold)
        and stat in (a.get("Statistic"), a.get("ExtendedStatistic")) and a.get("ComparisonOperator") == op
        and (period is None or a.get("Period") == period)
        and any(ref_target(x) == "AlarmTopic" for x in as_list(a.get("AlarmActions")))
        for a in (r.get("Properties", {}) for r in m.of_type("AWS::CloudWatch::Alarm").values())
    )


@check("alarms")
def check_alarms(m: Model) -> list[str]:
    """The alarms of spec.wanted_alarms (DLQ depth, queue age, each function's errors, throttles
    and p99 latency, the application metrics, 5xx per HTTP API, the levels of LEVEL_ALARMS above
    their parameter: a Number with its default and MinValue) notify AlarmTopic; missing data is
    not breaching."""
    problems = [] if "AlarmTopic" in m.of_type("AWS::SNS::Topic") else ["AlarmTopic missing"]
    for metric, (name, default, least) in LEVEL_ALARMS.items():
        p = m.param(name)
        if p.get("Type") != "Number" or number(p.get("Default")) != default or number(p.get("MinValue")) != least:
            problems.append(f"parameter {name} ({metric} alarm): want Number, Default {default}, MinValue {least} (got {p})")
    problems += [f"no alarm {ns} {metric} {dims} {stat} {op} {threshold} (period {period}) -> AlarmTopic"
                 for ns, metric, dims, threshold, stat, op, period in wanted_alarms()
                 if not _has_alarm(m, ns, metric, dims, threshold, stat, op, period)]
    for lid, res in m.of_type("AWS::CloudWatch::Alarm").items():
        if get(res, "Properties/TreatMissingData") != "notBreaching":
            problems.append(f"alarm {lid}: TreatMissingData {get(res, 'Properties/TreatMissingData')!r}, want notBreaching")
    return problems


# A SEARCH expression in a dashboard body (JSON text: its quotes escaped): (dimension set, metric).
_SEARCH = re.compile(r'SEARCH\(\'\{([^}]*)\} MetricName=\\"([A-Za-z0-9]+)\\"')


@check("dashboard")
def check_dashboard(m: Model) -> list[str]:
    """A dashboard whose body is JSON, showing every function, every queue and DASHBOARD_NEEDED,
    and none of DASHBOARD_FORBIDDEN."""
    dashboards = m.of_type("AWS::CloudWatch::Dashboard")
    if not dashboards:
        return ["no dashboard"]
    problems = []
    for lid, res in dashboards.items():
        # The body (Fn::Sub in SAM, Fn::Join in CDK) must be JSON once the references resolve.
        for body in canon(get(res, "Properties/DashboardBody")):
            try:
                json.loads(body)
            except ValueError as e:
                problems.append(f"dashboard {lid}: body is not valid JSON ({e})")
    text = json.dumps(dashboards)
    problems += [f"dashboard does not show {lid}" for lid in FUNCTIONS if lid not in text]
    problems += [f"dashboard shows {n} (a flow, not a level: UnansweredNow is the level)" for n in DASHBOARD_FORBIDDEN if n in text]
    searches: set[tuple[str, str]] = set()
    for res in dashboards.values():
        for body in canon(get(res, "Properties/DashboardBody")):
            searches |= set(_SEARCH.findall(body))
    problems += [f"dashboard does not plot SEARCH {{{dims}}} MetricName={metric}" for dims, metric in DASHBOARD_SEARCHES
                 if (dims, metric) not in searches]
    return problems + [f"dashboard does not show {n}" for n in (*DASHBOARD_NEEDED, *ALL_QUEUES) if n not in text]


@check("parameters-outputs")
def check_parameters_outputs(m: Model) -> list[str]:
    """Exactly EXPECTED_PARAMETERS; every output of EXPECTED_OUTPUTS, with its value (URLs on
    their HTTP API, ids of the API and queues)."""
    params, outputs = set(m.section("Parameters")) - {"BootstrapVersion"}, m.section("Outputs")
    problems = [f"parameter {p} missing" for p in sorted(EXPECTED_PARAMETERS - params)]
    problems += [f"unexpected parameter {p}" for p in sorted(params - EXPECTED_PARAMETERS)]
    problems += [f"output {o} missing" for o in sorted(set(EXPECTED_OUTPUTS) - set(outputs))]
    for name, out in outputs.items():
        value, pattern = " ".join(sorted(canon(out.get("Value")))), EXPECTED_OUTPUTS.get(name)
        if pattern is not None and not re.fullmatch(pattern, value):
            problems.append(f"{name} = {value}, want {pattern}")
    return problems


@check("fixed-egress-conditional")
def check_fixed_egress(m: Model) -> list[str]:
    """The VPC, subnets, internet gateway, one NAT gateway and one Elastic IP exist only under
    FixedEgress (EnableFixedEgress), with the address as output FixedEgressIp."""
    if "FixedEgress" not in m.section("Conditions"):
        return ["condition FixedEgress missing"]
    problems, present = [], set()
    for lid, res in m.resources.items():
        if res.get("Type", "").startswith("AWS::EC2::"):
            present.add(res["Type"])
            if res.get("Condition") != "FixedEgress":
                problems.append(f"{lid} is created even when EnableFixedEgress is false")
    wanted = {"AWS::EC2::VPC", "AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::Subnet", "AWS::EC2::InternetGateway"}
    problems += [f"no {t}" for t in sorted(wanted - present)]
    # Exactly one NAT gateway and one Elastic IP (one fixed address, not one per zone).
    problems += [f"{len(m.of_type(t))} x {t}, want exactly one" for t in ("AWS::EC2::NatGateway", "AWS::EC2::EIP") if len(m.of_type(t)) > 1]
    out = m.section("Outputs").get("FixedEgressIp")
    if not out or out.get("Condition") != "FixedEgress" or ref_target(out.get("Value")) not in m.of_type("AWS::EC2::EIP"):
        problems.append("output FixedEgressIp is not the EIP under condition FixedEgress")
    return problems


def _routes_to(m: Model, route_table: str, target_key: str) -> str | None:
    """The target (NatGatewayId/GatewayId) of route_table's 0.0.0.0/0 route."""
    for res in m.of_type("AWS::EC2::Route").values():
        p = res.get("Properties", {})
        if ref_target(p.get("RouteTableId")) == route_table and p.get("DestinationCidrBlock") == "0.0.0.0/0":
            return ref_target(p.get(target_key))
    return None


def _route_table_of(m: Model, subnet: str) -> str | None:
    for res in m.of_type("AWS::EC2::SubnetRouteTableAssociation").values():
        if ref_target(res.get("Properties", {}).get("SubnetId")) == subnet:
            return ref_target(res["Properties"].get("RouteTableId"))
    return None


@check("platform-callers-fixed-egress")
def check_platform_callers_egress(m: Model) -> list[str]:
    """With EnableFixedEgress, the functions that call the platform APIs (FunctionSpec
    in_vpc_with_fixed_egress: reply-sender, media-fetcher, desk-api) run in the private subnets,
    whose only way out is the NAT gateway with the stack's Elastic IP (the address WeChat
    allow-lists); without it (and for every other function), no VPC."""
    problems, private_subnets = [], {"EgressPrivateSubnetA", "EgressPrivateSubnetB"}
    for lid, fn in m.functions.items():
        vpc = fn.props.get("VpcConfig")
        if lid not in FUNCTIONS or not FUNCTIONS[lid].in_vpc_with_fixed_egress:
            if vpc is not None:
                problems.append(f"{lid} has a VpcConfig (only the platform API callers run in the VPC)")
            continue
        branches = vpc.get("Fn::If") if isinstance(vpc, dict) else None
        if not (isinstance(branches, list) and len(branches) == 3 and branches[0] == "FixedEgress"):
            problems.append(f"{lid}.VpcConfig is not Fn::If [FixedEgress, <private subnets>, AWS::NoValue]: {vpc!r}")
            continue
        on, off = branches[1], branches[2]
        if off != {"Ref": "AWS::NoValue"}:
            problems.append(f"{lid}.VpcConfig without fixed egress is {off!r}, want AWS::NoValue")
        if not isinstance(on, dict) or refs(on.get("SubnetIds")) != private_subnets:
            problems.append(f"{lid}.VpcConfig subnets {on.get('SubnetIds') if isinstance(on, dict) else on!r}, want {sorted(private_subnets)}")
        if not isinstance(on, dict) or refs(on.get("SecurityGroupIds")) != {"EgressSecurityGroup"}:
            problems.append(f"{lid}.VpcConfig security groups are not [EgressSecurityGroup]")
        if fn.role_id:
            grants = {g[:3] for g in role_grants(m, fn.role_id)[0]}
            missing = sorted(a for a in ENI_ACTIONS if (a, "*", "FixedEgress") not in grants)
            if missing:
                problems.append(f"{lid}: role lacks {missing} under FixedEgress (Lambda cannot attach it to the VPC)")
    # The private subnets leave through the NAT gateway, which uses the Elastic IP and sits in
    # a public subnet routed to the internet gateway.
    nats = m.of_type("AWS::EC2::NatGateway")
    for subnet in sorted(private_subnets):
        table = _route_table_of(m, subnet)
        nat = _routes_to(m, table, "NatGatewayId") if table else None
        if nat not in nats:
            problems.append(f"{subnet}: default route is not a NAT gateway of the stack (route table {table})")
            continue
        p = nats[nat].get("Properties", {})
        if ref_target(p.get("AllocationId")) != "EgressIp":
            problems.append(f"{nat} does not use the Elastic IP EgressIp")
        public = ref_target(p.get("SubnetId"))
        public_table = _route_table_of(m, public) if public else None
        if not public_table or _routes_to(m, public_table, "GatewayId") not in m.of_type("AWS::EC2::InternetGateway"):
            problems.append(f"{nat} is not in a subnet routed to the internet gateway")
    egress = m.props("EgressSecurityGroup").get("SecurityGroupEgress", [])
    if not any(r.get("IpProtocol") == "tcp" and r.get("FromPort") == 443 and r.get("ToPort") == 443 for r in egress):
        problems.append("EgressSecurityGroup does not allow HTTPS out")
    return problems


@check("custom-domain")
def check_custom_domain(m: Model) -> list[str]:
    """The optional custom domain: nothing of it by default; under each DOMAIN_CASES exactly
    its resources and outputs, and the Rules refuse DOMAIN_REFUSED; one regional TLS 1.2
    domain with the certificate, one base path per HTTP API on that API's stage, the alias
    record to the domain, and the stable URLs on the right base paths."""
    problems, params = [], m.section("Parameters")
    problems += [f"parameter {n} must default to empty (no custom domain)" for n in CUSTOM_DOMAIN_PARAMETERS if str((params.get(n) or {}).get("Default")) != ""]
    for case, (values, counts) in DOMAIN_CASES.items():
        for name, value in values.items():
            pattern = (params.get(name) or {}).get("AllowedPattern")
            if pattern is not None and not (re.fullmatch(pattern, value) and re.fullmatch(pattern, "")):
                problems.append(f"parameter {name}: AllowedPattern refuses {value!r} or the empty default")
        try:
            resources, outputs = existing(m.template, values)
        except Unresolvable as e:
            problems.append(f"{case}: cannot evaluate the conditions ({e})")
            continue
        for rtype, want in zip(DOMAIN_TYPES, counts):
            have = sorted(lid for lid in resources if m.resources[lid].get("Type") == rtype)
            if len(have) != want:
                problems.append(f"{case}: {len(have)} x {rtype} {have}, want {want}")
        want_outputs = CUSTOM_DOMAIN_OUTPUTS if counts[0] else set()
        if outputs & CUSTOM_DOMAIN_OUTPUTS != want_outputs:
            problems.append(f"{case}: custom domain outputs {sorted(outputs & CUSTOM_DOMAIN_OUTPUTS)}, want {sorted(want_outputs)}")
        if refused_by_rules(m.template, values):
            problems.append(f"{case}: refused by the rules {refused_by_rules(m.template, values)}")
    problems += [f"the template's Rules accept {case}" for case, values in DOMAIN_REFUSED.items() if not refused_by_rules(m.template, values)]
    # The resources, whatever their conditions.
    domains = m.of_type("AWS::ApiGatewayV2::DomainName")
    if len(domains) != 1:
        return problems + [f"{len(domains)} x AWS::ApiGatewayV2::DomainName, want one"]
    (domain, res), = domains.items()
    p = res.get("Properties") or {}
    problems += differ(domain, p, {"DomainName": {"CustomDomainName"}})
    configs = as_list(p.get("DomainNameConfigurations"))
    if len(configs) != 1:
        problems.append(f"{domain}: {len(configs)} DomainNameConfigurations, want one")
    for c in configs:
        problems += differ(domain, c, {"EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2", "CertificateArn": {"CustomDomainCertificateArn"}})
    mapped: dict[str, str | None] = {}
    for lid, res in m.of_type("AWS::ApiGatewayV2::ApiMapping").items():
        mp = res.get("Properties") or {}
        key, api, on_stage_of = mp.get("ApiMappingKey"), ref_target(mp.get("ApiId")), stage_api(m, mp.get("Stage"))
        if key in mapped:
            problems.append(f"{lid}: mapping key {key!r} mapped twice")
        mapped[str(key)] = api
        if ref_target(mp.get("DomainName")) != domain:
            problems.append(f"{lid}: DomainName is not the {domain} resource")
        if key in DOMAIN_MAPPINGS and api != DOMAIN_MAPPINGS[key]:
            problems.append(f"{lid}: /{key} goes to {api}, want {DOMAIN_MAPPINGS[key]}")
        if on_stage_of != api:
            problems.append(f"{lid}: Stage is the stage of {on_stage_of}, not of its API {api}")
    if set(mapped) != set(DOMAIN_MAPPINGS):
        problems.append(f"API mapping keys {sorted(mapped)}, want {sorted(DOMAIN_MAPPINGS)}")
    for lid, res in m.of_type("AWS::Route53::RecordSet").items():  # an alias A record of the domain
        problems += differ(lid, res.get("Properties"), {
            "Type": "A", "Name": {"CustomDomainName"}, "HostedZoneId": {"CustomDomainHostedZoneId"},
            "AliasTarget/DNSName": {f"{domain}.RegionalDomainName"}, "AliasTarget/HostedZoneId": {f"{domain}.RegionalHostedZoneId"}})
    # The stable URLs: the domain, the base path of the right API, the API's path.
    key_of, outs = {api: key for key, api in DOMAIN_MAPPINGS.items()}, m.section("Outputs")
    for name, (api, path) in CUSTOM_DOMAIN_URLS.items():
        value = " ".join(sorted(canon((outs.get(name) or {}).get("Value"))))
        if value != f"https://{domain}/{key_of[api]}{path}":
            problems.append(f"{name} = {value!r}, want https://{domain}/{key_of[api]}{path}")
    target = " ".join(sorted(canon((outs.get("CustomDomainTarget") or {}).get("Value"))))
    if target != f"{domain}.RegionalDomainName":
        problems.append(f"CustomDomainTarget = {target!r}, want {domain}.RegionalDomainName")
    return problems
