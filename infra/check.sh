#!/usr/bin/env bash
# Offline checks of the deployment templates (infra/sam and infra/cdk). No AWS credentials,
# no Docker, no Rust build. Needs Python 3.11+ with venv, Node 20+ with npm and make; installs its
# own pinned tools:
#   - cfn-lint and aws-sam-translator (with the local stack's other Python tools, pinned in
#     tools/requirements-dev.txt) in the project's venv, .local/venv (tools/venv.sh);
#   - the CDK app's npm dependencies with `npm ci` (exact versions from package-lock.json).
#
# Checks:
#   1. cfn-lint on infra/sam/template.yaml                      -> zero errors
#   2. the SAM template expanded offline by the SAM translator, then cfn-lint on the result
#   3. `cdk synth` offline (-c skipBundling=true: no cargo-lambda build) into a temp dir,
#      and proof that nothing was bundled (no asset.* directory in cdk.out)
#   4. cfn-lint on the synthesized template                     -> zero errors
#   5. build once, deploy many, without building: `make -n build` (dry run), stand-in zips
#      in its layout (infra/tests/prebuilt_fixture.py) checked by tools/lambda_zips.py, the
#      SAM template for them (infra/sam/prebuilt_template.py) and `cdk synth -c prebuilt=`
#      for them, both linted; `cdk synth -c prebuilt=` with a zip missing must fail
#   6. infra/tests/test_invariants.py on all the templates (named checks + self-tests; the
#      contract, checks and mutations in infra/tests/invariants/)
#   7. infra/tests/desk_site_test.py: the web desk's CloudFront Functions of both templates run
#      under node on sample requests, and tools/desk-publish.sh against a stand-in `aws`
#      (plus shellcheck on it, when installed)
# Last line: "N passed, M failed"; exit status non-zero on any failure.
#
# Environment: INFRA_CHECK_SKIP_INSTALL=1 reuses the tools already installed (e.g. in a
# network namespace without network); INFRA_CHECK_KEEP=1 keeps the temp dir.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA="$ROOT/infra"
CDK_DIR="$INFRA/cdk"
# shellcheck source=tools/venv.sh
. "$ROOT/tools/venv.sh"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/infra-check.XXXXXX")"
START=$SECONDS

cleanup() {
  if [[ "${INFRA_CHECK_KEEP:-}" == 1 ]]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS  $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; }
step() { echo; echo "== $1"; }

# cfn-lint exit status is a bit mask: 2 = error, 4 = warning, 8 = informational; 1 = crash.
lint() {
  local name="$1" file="$2" rc
  "$PY" -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' "$file"
  rc=$?
  if ((rc == 1 || (rc & 2) != 0)); then
    fail "$name (cfn-lint exit $rc)"
  else
    pass "$name (cfn-lint exit $rc: no errors)"
  fi
}

# ---------------------------------------------------------------------------------------
step "Python tools: $(grep -E '^(cfn-lint|aws-sam-translator)==' "$VENV_REQUIREMENTS" | paste -sd ' ' -) (tools/requirements-dev.txt)"
PY="$VENV_DIR/bin/python"
if [[ "${INFRA_CHECK_SKIP_INSTALL:-}" == 1 ]]; then
  [[ -x "$PY" ]] || PY="$(command -v python3)"
  pass "python tools (install skipped, using $PY)"
elif venv_install && "$PY" -c 'import cfnlint, samtranslator'; then
  pass "python tools installed ($("$PY" -m pip --disable-pip-version-check list 2>/dev/null | grep -Ei '^(cfn-lint|aws-sam-translator) ' | tr -s ' ' | paste -sd, -))"
else
  fail "python tools install"
fi

# ---------------------------------------------------------------------------------------
step "cfn-lint infra/sam/template.yaml"
lint "cfn-lint SAM template" "$INFRA/sam/template.yaml"

step "SAM translator (offline) + cfn-lint on the expanded template"
SAM_CFN="$WORK/sam-expanded.template.json"
if "$PY" "$INFRA/tests/sam_translate.py" "$INFRA/sam/template.yaml" "$SAM_CFN"; then
  pass "SAM template expands to CloudFormation"
  lint "cfn-lint expanded SAM template" "$SAM_CFN"
else
  fail "SAM template expands to CloudFormation"
  SAM_CFN=""
fi

# ---------------------------------------------------------------------------------------
step "npm ci (infra/cdk, pinned by package-lock.json)"
if [[ "${INFRA_CHECK_SKIP_INSTALL:-}" == 1 && -d "$CDK_DIR/node_modules" ]]; then
  pass "npm ci (skipped, node_modules present)"
elif (cd "$CDK_DIR" && npm ci --no-audit --no-fund --loglevel=error); then
  pass "npm ci"
else
  fail "npm ci"
fi

# synth OUT_DIR LOG [cdk args...]: `cdk synth` of the app into OUT_DIR.
# Environment-agnostic stack: no account/region, no credentials, no lookups. No notices,
# no version check, no telemetry, no instance-metadata probing: nothing leaves the machine.
synth() {
  local out="$1" log="$2"
  shift 2
  (cd "$CDK_DIR" && env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    AWS_EC2_METADATA_DISABLED=true CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true \
    npx --no-install cdk synth --no-notices --quiet "$@" -o "$out" >"$log" 2>&1)
}

step "cdk synth (offline, -c skipBundling=true) -> $WORK/cdk.out"
CDK_TEMPLATE="$WORK/cdk.out/ChannelGateway.template.json"
if synth "$WORK/cdk.out" "$WORK/synth.log" -c skipBundling=true && [[ -s "$CDK_TEMPLATE" ]]; then
  pass "cdk synth offline"
  # Bundling would have built the functions into cdk.out/asset.<hash>/bootstrap.
  if [[ -z "$(find "$WORK/cdk.out" -maxdepth 1 -name 'asset.*' -print -quit)" ]]; then
    pass "cdk synth skipped the Rust build (no bundled asset in cdk.out)"
  else
    fail "cdk synth skipped the Rust build (found $(find "$WORK/cdk.out" -maxdepth 1 -name 'asset.*' | head -3))"
  fi
else
  cat "$WORK/synth.log"
  fail "cdk synth offline"
  CDK_TEMPLATE=""
fi

if [[ -n "$CDK_TEMPLATE" ]]; then
  step "cfn-lint synthesized CDK template"
  lint "cfn-lint CDK template" "$CDK_TEMPLATE"
fi

# ---------------------------------------------------------------------------------------
step "build once, deploy many (no build): make -n build, stand-in zips, SAM template and cdk synth for them"
PREBUILT="$WORK/prebuilt"
MAKE_BUILD="$WORK/make-build.txt"
if make --no-print-directory -C "$ROOT" -n build LAMBDA_DIR="$PREBUILT" >"$MAKE_BUILD" 2>&1; then
  pass "make -n build LAMBDA_DIR=$PREBUILT (dry run; checked by the invariants below)"
else
  cat "$MAKE_BUILD"
  fail "make -n build (dry run)"
  MAKE_BUILD=""
fi
# Stand-ins in make build's layout (not runnable binaries), one per function of the SAM template.
if "$PY" "$INFRA/tests/prebuilt_fixture.py" "$PREBUILT" &&
  "$PY" "$ROOT/tools/lambda_zips.py" "$PREBUILT" $(cd "$PREBUILT" && ls); then
  pass "stand-in zips accepted by tools/lambda_zips.py"
else
  fail "stand-in zips accepted by tools/lambda_zips.py"
fi
SAM_PREBUILT="$WORK/sam-prebuilt.template.json"
if "$PY" "$INFRA/sam/prebuilt_template.py" "$PREBUILT" "$SAM_PREBUILT"; then
  pass "infra/sam/prebuilt_template.py (the SAM template for prebuilt zips)"
  lint "cfn-lint SAM template for prebuilt zips" "$SAM_PREBUILT"
else
  fail "infra/sam/prebuilt_template.py (the SAM template for prebuilt zips)"
  SAM_PREBUILT=""
fi
CDK_PREBUILT="$WORK/cdk-prebuilt.out/ChannelGateway.template.json"
if synth "$WORK/cdk-prebuilt.out" "$WORK/synth-prebuilt.log" -c prebuilt="$PREBUILT" && [[ -s "$CDK_PREBUILT" ]]; then
  pass "cdk synth -c prebuilt=$PREBUILT"
  lint "cfn-lint CDK template for prebuilt zips" "$CDK_PREBUILT"
else
  cat "$WORK/synth-prebuilt.log"
  fail "cdk synth -c prebuilt=$PREBUILT"
  CDK_PREBUILT=""
fi
# A zip missing: the synth must stop and name it (nothing deployable without it).
cp -r "$PREBUILT" "$WORK/prebuilt-partial" && rm "$WORK/prebuilt-partial/reply-api/bootstrap.zip"
if synth "$WORK/cdk-partial.out" "$WORK/synth-partial.log" -c prebuilt="$WORK/prebuilt-partial"; then
  fail "cdk synth -c prebuilt= refuses a directory without reply-api's zip (it synthesized)"
elif grep -q "reply-api/bootstrap.zip does not exist" "$WORK/synth-partial.log"; then
  pass "cdk synth -c prebuilt= refuses a directory without reply-api's zip"
else
  cat "$WORK/synth-partial.log"
  fail "cdk synth -c prebuilt= refuses a directory without reply-api's zip (another error)"
fi

# ---------------------------------------------------------------------------------------
step "invariants (infra/tests/test_invariants.py)"
if [[ -n "$CDK_TEMPLATE" ]]; then
  args=(--sam "$INFRA/sam/template.yaml" --cdk "$CDK_TEMPLATE" --prebuilt-dir "$PREBUILT")
  [[ -n "$SAM_CFN" ]] && args+=(--sam-cfn "$SAM_CFN")
  [[ -n "$SAM_PREBUILT" ]] && args+=(--sam-prebuilt "$SAM_PREBUILT")
  [[ -n "$CDK_PREBUILT" ]] && args+=(--cdk-prebuilt "$CDK_PREBUILT")
  [[ -n "$MAKE_BUILD" ]] && args+=(--make-build "$MAKE_BUILD")
  "$PY" "$INFRA/tests/test_invariants.py" "${args[@]}" | tee "$WORK/invariants.log"
  rc=${PIPESTATUS[0]}
  summary="$(tail -n 1 "$WORK/invariants.log")"
  if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    if ((rc != 0 && BASH_REMATCH[2] == 0)); then
      fail "invariants test exited $rc"
    fi
  else
    fail "invariants test (no summary line; exit $rc)"
  fi
else
  fail "invariants (no synthesized CDK template)"
fi

# ---------------------------------------------------------------------------------------
step "web desk: CloudFront Functions under node, tools/desk-publish.sh (infra/tests/desk_site_test.py)"
desk_templates=("$INFRA/sam/template.yaml")
[[ -n "$CDK_TEMPLATE" ]] && desk_templates+=("$CDK_TEMPLATE")
"$PY" "$INFRA/tests/desk_site_test.py" "${desk_templates[@]}" | tee "$WORK/desk-site.log"
rc=${PIPESTATUS[0]}
summary="$(tail -n 1 "$WORK/desk-site.log")"
if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
  if ((rc != 0 && BASH_REMATCH[2] == 0)); then
    fail "desk site test exited $rc"
  fi
else
  fail "desk site test (no summary line; exit $rc)"
fi

echo
echo "infra/check.sh: $((SECONDS - START)) s"
echo "$passed passed, $failed failed"
((failed == 0))
