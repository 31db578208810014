#!/usr/bin/env python3
"""Invariants of the deployment templates, checked on BOTH the SAM template and the
CloudFormation template synthesized by the CDK app.

    python3 infra/tests/test_invariants.py --sam infra/sam/template.yaml \\
        --cdk <cdk.out>/ChannelGateway.template.json

Every invariant is a named check (invariants/checks*.py) of the contract in invariants/spec.py,
run on each template ("sam", "cdk", and "sam-cfn" = the SAM template expanded by the SAM
translator, with --sam-cfn); SAM and CDK must be equivalent (invariants/parity.py). Negative
self-tests (invariants/mutations.py, mutations_async.py, mutations_auth.py, mutations_site.py, mutations_media.py, mutations_listening.py): a
deliberately broken copy of each template must make each check fail, so a check cannot silently pass. The last line is "N passed, M failed"; the
exit code is non-zero on any failure.

With --prebuilt-dir DIR (stand-in zips in the layout `make build` writes), also checks
`make -n build` (--make-build), the SAM template for those zips (--sam-prebuilt, from
infra/sam/prebuilt_template.py) and `cdk synth -c prebuilt=DIR` (--cdk-prebuilt): each must be
the default template with only the functions' code changed, to exactly their own zips.

Standard library only, plus cfn-lint's YAML decoder (cfnlint.decode: !Ref/!GetAtt/... short
forms). A new function: its row in FUNCTIONS of invariants/spec.py.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools"))

from invariants.checks import CHECKS  # noqa: E402
from invariants.model import build_model, load_cfn, load_sam  # noqa: E402
from invariants.mutations import MAKE_BUILD_MUTATIONS, MUTATIONS, apply  # noqa: E402
from invariants.parity import check_cdk_prebuilt, check_make_build, check_sam_prebuilt, equivalence, zip_checker_self_tests  # noqa: E402

Template = dict[str, Any]


class Results:
    def __init__(self) -> None:
        self.passed = self.failed = 0

    def record(self, name: str, problems: list[str]) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"       - {p}")
        else:
            self.passed += 1
            print(f"ok   {name}")

    def rejects(self, name: str, template: Template, flavour: str, mutation: Any, check: Callable[[Template], list[str]]) -> None:
        """A self-test: the mutated copy of template must fail check."""
        broken = copy.deepcopy(template)
        try:
            apply(mutation, broken, flavour)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            return self.record(name, [f"mutation failed: {e!r}"])
        self.record(name, [] if check(broken) else ["the broken template PASSED"])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sam", required=True, help="SAM template (YAML)")
    ap.add_argument("--cdk", required=True, help="template synthesized by the CDK app (JSON)")
    ap.add_argument("--sam-cfn", help="optional: the SAM template expanded to CloudFormation (sam_translate.py)")
    ap.add_argument("--prebuilt-dir", help="optional: zips as `make build` writes them, <dir>/<function>/bootstrap.zip")
    ap.add_argument("--sam-prebuilt", help="with --prebuilt-dir: infra/sam/prebuilt_template.py's template for them")
    ap.add_argument("--cdk-prebuilt", help="with --prebuilt-dir: the template of `cdk synth -c prebuilt=<dir>`")
    ap.add_argument("--make-build", help="with --prebuilt-dir: output of `make -n build LAMBDA_DIR=<dir>`")
    args = ap.parse_args(argv)

    templates = {"sam": load_sam(args.sam), **({"sam-cfn": load_cfn(args.sam_cfn)} if args.sam_cfn else {}), "cdk": load_cfn(args.cdk)}
    models = {flavour: build_model(flavour, t) for flavour, t in templates.items()}
    results = Results()
    for check_name, check in CHECKS.items():
        for flavour, model in models.items():
            results.record(f"{flavour}: {check_name}", check(model))
    results.record("sam == cdk: equivalent parameters, functions, permissions, queues, table, APIs, secrets, log groups, alarms, outputs",
                   equivalence(models["sam"], models["cdk"]))

    # Negative self-tests: each row's targets, the checks on every flavour, equivalence on the
    # CDK template; the prebuilt templates' below.
    targets = {name for row in MUTATIONS for name in row[0].split()}
    results.record("self-test: every check has a breakage", [f"no breakage for {n}" for n in [*CHECKS, "equivalence"] if n not in targets])
    results.record("self-test: every mutation targets a check",
                   [f"unknown target {n}" for n in sorted(targets - {*CHECKS, "equivalence", "sam-prebuilt", "cdk-prebuilt"})])
    for names, description, mutation in MUTATIONS:
        for name in names.split():
            if name in CHECKS:
                for flavour, template in templates.items():
                    results.rejects(f"self-test {flavour}: {name} rejects {description}", template, flavour, mutation,
                                    lambda broken, c=CHECKS[name], f=flavour: c(build_model(f, broken)))
            elif name == "equivalence":
                results.rejects(f"self-test: equivalence rejects {description}", templates["cdk"], "cdk", mutation,
                                lambda broken: equivalence(models["sam"], build_model("cdk", broken)))

    # Build once, deploy many.
    for description, problems in zip_checker_self_tests():
        results.record(f"self-test: {description}", problems)
    prebuilt: dict[str, tuple[Template, str, Callable[[Template], list[str]]]] = {}
    if args.prebuilt_dir and args.cdk_prebuilt:
        cdk_prebuilt = load_cfn(args.cdk_prebuilt)
        model = build_model("cdk", cdk_prebuilt)
        for check_name, check in CHECKS.items():
            results.record(f"cdk-prebuilt: {check_name}", check(model))
        results.record("sam == cdk-prebuilt: equivalent", equivalence(models["sam"], model))
        prebuilt["cdk-prebuilt"] = (cdk_prebuilt, "cdk", lambda t: check_cdk_prebuilt(templates["cdk"], t, args.cdk_prebuilt, args.prebuilt_dir))
        results.record("cdk-prebuilt: the default synth with each function's code its own zip", prebuilt["cdk-prebuilt"][2](cdk_prebuilt))
    if args.prebuilt_dir and args.sam_prebuilt:
        sam_prebuilt = load_cfn(args.sam_prebuilt)
        prebuilt["sam-prebuilt"] = (sam_prebuilt, "sam", lambda t: check_sam_prebuilt(templates["sam"], t, args.sam_prebuilt, args.prebuilt_dir))
        results.record("sam-prebuilt: the SAM template with each function's CodeUri its own zip", prebuilt["sam-prebuilt"][2](sam_prebuilt))
    for names, description, mutation in MUTATIONS:
        for name in (n for n in names.split() if n in prebuilt):
            results.rejects(f"self-test {name}: rejects {description}", *prebuilt[name][:2], mutation, prebuilt[name][2])
    if args.prebuilt_dir and args.make_build:
        with open(args.make_build, encoding="utf-8") as f:
            dry_run = f.read()
        results.record("make build: release arm64 zips of exactly the templates' functions, checked", check_make_build(dry_run, args.prebuilt_dir))
        for description, mutate in MAKE_BUILD_MUTATIONS:
            failed = check_make_build(mutate(dry_run), args.prebuilt_dir)
            results.record(f"self-test make build: rejects {description}", [] if failed else ["the broken dry run PASSED"])

    print(f"{results.passed} passed, {results.failed} failed")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
