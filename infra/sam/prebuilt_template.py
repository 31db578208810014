#!/usr/bin/env python3
"""The SAM template for deploying zips built once by `make build`, without `sam build`:

    python3 infra/sam/prebuilt_template.py ZIP_DIR OUT.json     (`make sam-prebuilt`)

Reads infra/sam/template.yaml (next to this script) and writes OUT.json, the same template
in JSON except that each AWS::Serverless::Function's CodeUri is its zip,
ZIP_DIR/<binary>/bootstrap.zip (<binary> = its Metadata BuildProperties.Binary), written
relative to OUT's directory, and its BuildMethod/BuildProperties metadata is gone (nothing
to build). `sam deploy --template-file OUT.json` uploads those zips as they are. The zips are
checked first (tools/lambda_zips.py: present, one executable arm64 `bootstrap`); exit 1 if
one is not usable. Needs cfn-lint's YAML decoder (the project's venv, .local/venv).
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from lambda_zips import zip_problems  # noqa: E402

SOURCE = os.path.join(HERE, "template.yaml")


def prebuilt(template: dict, zip_dir: str, out_dir: str) -> tuple[dict, list[str]]:
    """(the template with every function's CodeUri at its zip, problems)."""
    problems: list[str] = []
    for lid, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        metadata = res.get("Metadata") or {}
        binary = (metadata.get("BuildProperties") or {}).get("Binary")
        if not binary:
            problems.append(f"{lid}: no Metadata.BuildProperties.Binary (which zip?)")
            continue
        zip_path = os.path.join(zip_dir, binary, "bootstrap.zip")
        problems += zip_problems(zip_path)
        res["Properties"]["CodeUri"] = os.path.relpath(os.path.abspath(zip_path), out_dir)
        for key in ("BuildMethod", "BuildProperties"):
            metadata.pop(key, None)
        if metadata:
            res["Metadata"] = metadata
        else:
            res.pop("Metadata", None)
    return template, problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    zip_dir, out = argv
    from cfnlint.decode import decode

    template, matches = decode(SOURCE)
    if matches or template is None:
        print(f"cannot decode {SOURCE}: {matches}", file=sys.stderr)
        return 1
    template = json.loads(json.dumps(template))
    out_dir = os.path.dirname(os.path.abspath(out))
    template, problems = prebuilt(template, zip_dir, out_dir)
    if problems:
        for p in problems:
            print(f"prebuilt_template: {p}", file=sys.stderr)
        return 1
    with open(out, "w", encoding="utf-8") as f:
        json.dump(template, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{out}: infra/sam/template.yaml with the functions' code from {zip_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
