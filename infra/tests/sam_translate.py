#!/usr/bin/env python3
"""Expands the SAM template into plain CloudFormation offline, with the SAM translator
(aws-sam-translator, the library behind the AWS::Serverless transform), so that cfn-lint
can also check what CloudFormation will really create.

    python3 infra/tests/sam_translate.py infra/sam/template.yaml OUT.json

`sam build`/`sam package` replace each local CodeUri with an S3 location before the
transform runs; this does the same with a placeholder. No AWS credentials, no network.
"""

from __future__ import annotations

import json
import os
import sys


class _NoManagedPolicies:
    """The template names no AWS managed policies, so no IAM lookup is needed."""

    def load(self) -> dict[str, str]:
        return {}


def main(src: str, dst: str) -> int:
    from cfnlint.decode import decode
    from samtranslator.translator.transform import transform

    template, matches = decode(src)
    if matches or template is None:
        print(f"cannot decode {src}: {matches}", file=sys.stderr)
        return 1
    template = json.loads(json.dumps(template))
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://placeholder-artifacts-bucket/function.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated = transform(template, {}, _NoManagedPolicies())
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(translated, f, indent=1, sort_keys=False)
    print(f"{src}: {len(translated.get('Resources', {}))} CloudFormation resources -> {dst}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
