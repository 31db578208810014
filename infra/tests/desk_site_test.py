#!/usr/bin/env python3
"""The web desk's code outside the templates' structure, run offline:

- the CloudFront Functions of each template (DeskSpaFunction, DeskApiPathFunction,
  DeskConfigFunction), their code as the template writes it (references replaced by sample
  values), run under Node.js on sample viewer requests: the app's routes to /index.html, files
  kept, /api removed with the query string kept, /config.json's answer;
- tools/desk-publish.sh against a stand-in `aws` (a script that records its calls): it refuses
  a build without index.html before any AWS call, never uploads config.json, uploads assets/*
  immutable before index.html no-cache, deletes what the build no longer has, invalidates
  /index.html; and shellcheck on it when shellcheck is installed.

    python3 infra/tests/desk_site_test.py TEMPLATE...   (the SAM template, the CDK synth's JSON)

Last line "N passed, M failed"; exit status non-zero on any failure. Needs node on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from invariants.model import canon, load_cfn, load_sam  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Sample values of the references in the functions' code (canonical names -> values).
SAMPLES = {"AWS::Region": "ap-east-1", "DeskUserPoolClient": "1example23456789abcdefghij", "DeskUserPool": "ap-east-1_Example1"}
HARNESS = """
const code = require('fs').readFileSync(process.argv[2], 'utf8');
const handler = new Function(code + '\\nreturn handler;')();
const events = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));
process.stdout.write(JSON.stringify(events.map((e) => handler(e))));
"""

passed = failed = 0


def record(name: str, problems: list[str]) -> None:
    global passed, failed
    if problems:
        failed += 1
        print(f"FAIL {name}")
        for p in problems:
            print(f"       - {p}")
    else:
        passed += 1
        print(f"ok   {name}")


def function_code(template: dict[str, Any], lid: str) -> str:
    """The code of a CloudFront Function, references replaced by SAMPLES."""
    (code,) = canon(template["Resources"][lid]["Properties"]["FunctionCode"])
    for name, value in SAMPLES.items():  # DeskUserPoolClient before DeskUserPool
        code = code.replace(name, value)
    return code


def run(work: str, code: str, uris: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The function's results for viewer requests (uri, querystring)."""
    events = [{"version": "1.0", "context": {"eventType": "viewer-request"}, "viewer": {"ip": "192.0.2.1"},
               "request": {"method": "GET", "uri": uri, "querystring": qs, "headers": {}, "cookies": {}}} for uri, qs in uris]
    paths = {name: os.path.join(work, name) for name in ("code.js", "events.json", "harness.js")}
    for name, text in (("code.js", code), ("events.json", json.dumps(events)), ("harness.js", HARNESS)):
        with open(paths[name], "w", encoding="utf-8") as f:
            f.write(text)
    out = subprocess.run(["node", paths["harness.js"], paths["code.js"], paths["events.json"]], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return json.loads(out.stdout)


def check_functions(flavour: str, template: dict[str, Any], work: str) -> None:
    q = {"x": {"value": "1"}}
    cases = {
        "DeskSpaFunction": [(("/", {}), "/index.html"), (("/inbox", {}), "/index.html"), (("/conversations/wechat:gh_1:o1", q), "/index.html"),
                            (("/conversations/a.b/thread", {}), "/index.html"), (("/assets/index-1a2b3c.js", {}), "/assets/index-1a2b3c.js"),
                            (("/favicon.ico", {}), "/favicon.ico"), (("/index.html", {}), "/index.html")],
        "DeskApiPathFunction": [(("/api/conversations", q), "/conversations"), (("/api/conversations/wechat:gh_1:o1/replies", {}),
                                                                                "/conversations/wechat:gh_1:o1/replies"),
                                (("/api/me", {}), "/me"), (("/api/", {}), "/")],
    }
    for lid, rows in cases.items():
        try:
            results = run(work, function_code(template, lid), [uri for uri, _ in rows])
        except (RuntimeError, KeyError, ValueError) as e:
            record(f"{flavour}: {lid} runs under node", [str(e)])
            continue
        problems = [f"{uri} -> {r.get('uri')!r}, want {want!r}" for ((uri, _), want), r in zip(rows, results) if r.get("uri") != want]
        problems += [f"{uri}: query string {r.get('querystring')!r}, want {qs!r} kept" for ((uri, qs), _), r in zip(rows, results)
                     if r.get("querystring") != qs]
        record(f"{flavour}: {lid} rewrites " + ", ".join(f"{u} -> {w}" for (u, _), w in rows[:3]) + ", ...", problems)
    want = {"api_url": "/api", "cognito": {"region": SAMPLES["AWS::Region"], "user_pool_id": SAMPLES["DeskUserPool"],
                                           "client_id": SAMPLES["DeskUserPoolClient"], "endpoint": "https://cognito-idp.ap-east-1.amazonaws.com/"}}
    try:
        (response,) = run(work, function_code(template, "DeskConfigFunction"), [("/config.json", {})])
    except (RuntimeError, KeyError, ValueError) as e:
        record(f"{flavour}: DeskConfigFunction runs under node", [str(e)])
        return
    body = response.get("body")
    data = body.get("data") if isinstance(body, dict) else body
    problems = [] if response.get("statusCode") == 200 else [f"statusCode {response.get('statusCode')!r}"]
    headers = {k: (v or {}).get("value") for k, v in (response.get("headers") or {}).items()}
    if headers != {"content-type": "application/json", "cache-control": "no-store"}:
        problems.append(f"headers {headers}")
    try:
        if json.loads(data) != want:
            problems.append(f"body {data}, want {json.dumps(want)}")
    except (TypeError, ValueError):
        problems.append(f"body {data!r} is not JSON")
    record(f"{flavour}: DeskConfigFunction answers /config.json 200, application/json, no-store, {json.dumps(want)}", problems)


def check_publish(work: str) -> None:
    script = os.path.join(ROOT, "tools", "desk-publish.sh")
    bin_dir, log = os.path.join(work, "bin"), os.path.join(work, "aws-calls.log")
    os.makedirs(bin_dir)
    with open(os.path.join(bin_dir, "aws"), "w", encoding="utf-8") as f:
        f.write(f"""#!/usr/bin/env bash
printf '%s\\n' "$*" >> '{log}'
case "$*" in
  *DeskBucketName*) echo desk-bucket ;;
  *DeskDistributionId*) echo EDISTRIBUTION ;;
  *DeskUrl*) echo https://d111111abcdef8.cloudfront.net ;;
  *create-invalidation*) echo IINVALIDATION ;;
esac
""")
    os.chmod(os.path.join(bin_dir, "aws"), 0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    dist = os.path.join(work, "dist")
    os.makedirs(os.path.join(dist, "assets"))

    def publish(*args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        if os.path.exists(log):
            os.remove(log)
        out = subprocess.run(["bash", script, *args], capture_output=True, text=True, env=env, check=False)
        calls = open(log, encoding="utf-8").read().splitlines() if os.path.exists(log) else []
        return out, calls

    out, calls = publish("--stack", "S", "--dist", dist)
    record("desk-publish.sh refuses a build without index.html, before any AWS call",
           [] if out.returncode != 0 and "index.html is missing" in out.stderr and not calls else
           [f"exit {out.returncode}, stderr {out.stderr.strip()!r}, aws calls {calls}"])
    out, calls = publish("--dist", dist)
    record("desk-publish.sh refuses to run without --stack", [] if out.returncode != 0 and not calls else [f"exit {out.returncode}"])
    out = subprocess.run(["bash", script, "--help"], capture_output=True, text=True, env=env, check=False)
    record("desk-publish.sh --help", [] if out.returncode == 0 and "--stack" in out.stdout else [f"exit {out.returncode}"])
    for name, text in (("index.html", "<!doctype html>"), ("config.json", "{}"), ("assets/index-1a2b3c.js", "x"), ("favicon.ico", "i")):
        with open(os.path.join(dist, name), "w", encoding="utf-8") as f:
            f.write(text)
    out, calls = publish("--stack", "S", "--dist", dist)
    syncs = [c for c in calls if c.startswith("s3 ")]
    problems = [] if out.returncode == 0 else [f"exit {out.returncode}: {out.stderr.strip()}"]
    problems += [f"config.json may be uploaded: {c}" for c in syncs if not (c.startswith("s3 sync ") and "--exclude config.json" in c)]
    first_assets = next((i for i, c in enumerate(syncs) if "/assets s3://desk-bucket/assets" in c), None)
    root = next((i for i, c in enumerate(syncs) if f"{dist} s3://desk-bucket " in c), None)
    if first_assets is None or root is None or first_assets > root:
        problems.append(f"assets/ not uploaded before index.html: {syncs}")
    else:
        if "public, max-age=31536000, immutable" not in syncs[first_assets]:
            problems.append(f"assets/ without the immutable cache-control: {syncs[first_assets]}")
        if "--cache-control no-cache" not in syncs[root] or "--delete" not in syncs[root] or "--exclude assets/*" not in syncs[root]:
            problems.append(f"index.html not uploaded no-cache with --delete: {syncs[root]}")
    if not any("--delete" in c and "/assets s3://desk-bucket/assets" in c for c in syncs[(root or 0):]):
        problems.append("the previous builds' assets never deleted (after index.html)")
    if not calls or calls[-1] != "cloudfront create-invalidation --distribution-id EDISTRIBUTION --paths /index.html --query Invalidation.Id --output text":
        problems.append(f"last call {calls[-1] if calls else None!r}, want the invalidation of /index.html")
    record("desk-publish.sh: assets immutable first, then index.html no-cache with --delete, never config.json, /index.html invalidated",
           problems)
    if shutil.which("shellcheck"):
        out = subprocess.run(["shellcheck", script], capture_output=True, text=True, check=False)
        record("shellcheck tools/desk-publish.sh", [] if out.returncode == 0 else out.stdout.splitlines()[:10])
    else:
        print("skip shellcheck tools/desk-publish.sh (shellcheck not installed)")


def main(paths: list[str]) -> int:
    if not shutil.which("node"):
        record("node on PATH (the CloudFront Functions run under it)", ["node not found"])
    with tempfile.TemporaryDirectory() as work:
        for path in paths:
            template = load_cfn(path) if path.endswith(".json") else load_sam(path)
            check_functions(os.path.basename(path), template, work)
        check_publish(work)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
