#!/usr/bin/env bash
# Every speed, size and memory measurement, then docs/benchmarks.md written from the results:
#
#   1. criterion benches of the hot paths (cargo bench -p gateway-core)
#   2. callgrind instructions per message (repeatable under load)
#   3. the same WeChat work in Python wechatpy (pinned, in a venv under the temp dir): ratio
#   4. binary and zip size per function (cargo lambda build --release --arm64 --output-format zip)
#   5. cold start, peak memory and in-process invocation time per function (bench/coldstart.sh)
#   6. load run through cargo lambda watch --release + moto, reconciled (bench/load.sh)
#   7. dependency checks: one TLS stack, default features, duplicates (cargo tree)
#
#   bash bench/run.sh              # everything (about 30-40 min on 2 cores from a clean target)
#   bash bench/run.sh --skip-zip   # reuse the last arm64 zips (the cross build takes the longest)
#   bash bench/run.sh --no-write   # measure, print the report, leave docs/benchmarks.md alone
#   bash bench/run.sh --size-variants  # also build the zips with opt-level "s", the size/speed
#                                      # trade-off (a second full arm64 build in $CARGO_TARGET_DIR-small)
#
# Release builds use a private target dir (CARGO_TARGET_DIR, default /tmp/target-bench); logs
# and raw results go to a temp dir outside the repository (printed at the start).
. "$(dirname "$0")/lib.sh"
trap stack_cleanup EXIT

SKIP_ZIP=0
WRITE=1
SIZE_VARIANTS=0
for arg in "$@"; do
  case $arg in
    --skip-zip) SKIP_ZIP=1 ;;
    --no-write) WRITE=0 ;;
    --size-variants) SIZE_VARIANTS=1 ;;
    *) echo "unknown argument $arg" >&2; exit 2 ;;
  esac
done
RESULTS="$BENCH_LOG_DIR/results"
mkdir -p "$RESULTS"
log "logs and raw results: $BENCH_LOG_DIR"

machine_json() { # phase
  python3 - "$1" <<'PY'
import json, os, platform, subprocess, sys
def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
busy = run("ps", "-eo", "pcpu,comm", "--sort=-pcpu").splitlines()[1:8]
print(json.dumps({
    "phase": sys.argv[1],
    "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem / 1048576, 1),
    "crypto_flags": [f for f in ("aes", "sha_ni", "avx2", "pclmulqdq") if f in flags],
    "kernel": platform.release(), "rustc": run("rustc", "--version"),
    "loadavg": open("/proc/loadavg").read().split()[:3],
    "busy": [b.strip() for b in busy],
    "git": run("git", "rev-parse", "--short", "HEAD"),
    "dirty": bool(run("git", "status", "--porcelain", "--untracked-files=no")),
    "date": run("date", "-u", "+%Y-%m-%d %H:%M UTC"),
}))
PY
}

machine_json start >"$RESULTS/machine-start.json"

# --- builds -------------------------------------------------------------------------------
stack_install_tools
bench_build_functions
bench_build_tools

# --- 1. criterion -------------------------------------------------------------------------
log "criterion: cargo bench -p gateway-core (log: $BENCH_LOG_DIR/criterion.log)"
rm -rf "$CARGO_TARGET_DIR/criterion"
cargo bench -p gateway-core --bench hot_path >"$BENCH_LOG_DIR/criterion.log" 2>&1
python3 - "$CARGO_TARGET_DIR/criterion" >"$RESULTS/criterion.json" <<'PY'
import json, pathlib, sys
out = {}
for est in pathlib.Path(sys.argv[1]).glob("*/*/new/estimates.json"):
    e = json.loads(est.read_text())
    out[f"{est.parts[-4]}/{est.parts[-3]}"] = {
        "mean_ns": e["mean"]["point_estimate"],
        "median_ns": e["median"]["point_estimate"],
        "ci_low_ns": e["mean"]["confidence_interval"]["lower_bound"],
        "ci_high_ns": e["mean"]["confidence_interval"]["upper_bound"],
    }
print(json.dumps(out, indent=1, sort_keys=True))
PY

# --- 2. callgrind -------------------------------------------------------------------------
# instr_exe [env...]: path of the benches/instr.rs binary (built with the bench profile).
instr_exe() {
  env "$@" cargo bench -p gateway-core --bench instr --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instr" and m.get("executable"):
        print(m["executable"])'
}
# per_message EXE SCENARIO: instructions per message, (I(N2) - I(N1)) / (N2 - N1).
CG_N1=20
CG_N2=220
per_message() {
  local exe=$1 scenario=$2 n out counts=()
  for n in $CG_N1 $CG_N2; do
    out="$BENCH_LOG_DIR/callgrind.$(basename "$exe").$scenario.$n.out"
    (cd "$BENCH_LOG_DIR" && valgrind --tool=callgrind --callgrind-out-file="$out" "$exe" "$scenario" "$n") \
      >"$out.log" 2>&1
    counts+=("$(awk '/^summary:/ {print $2; exit}' "$out")")
  done
  echo $(((counts[1] - counts[0]) / (CG_N2 - CG_N1)))
}
INSTR=$(instr_exe)
log "callgrind: instructions per message ($INSTR)"
{
  echo "{"
  first=1
  for scenario in $("$INSTR" list); do
    per=$(per_message "$INSTR" "$scenario")
    [ $first = 1 ] || echo ","
    first=0
    printf '  "%s": %s' "$scenario" "$per"
  done
  echo
  echo "}"
} >"$RESULTS/callgrind.json"

# --- 3. wechatpy --------------------------------------------------------------------------
VENV="${BENCH_VENV:-${TMPDIR:-/tmp}/gateway-bench-venv}"
if ! "$VENV/bin/python" -c 'import wechatpy, cryptography; assert wechatpy.__version__ == "1.8.18"; assert cryptography.__version__ == "48.0.0"' 2>/dev/null; then
  log "creating the wechatpy venv in $VENV (wechatpy==1.8.18, cryptography==48.0.0)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check wechatpy==1.8.18 cryptography==48.0.0
fi
"$INSTR" fixture wechat_secure >"$BENCH_LOG_DIR/fixture-secure.json"
"$INSTR" fixture wechat_plaintext >"$BENCH_LOG_DIR/fixture-plaintext.json"
log "wechatpy: the same WeChat work in Python"
"$VENV/bin/python" "$BENCH_DIR/wechatpy_compare.py" \
  "$BENCH_LOG_DIR/fixture-secure.json" "$BENCH_LOG_DIR/fixture-plaintext.json" >"$RESULTS/wechatpy.json"
# Rust in the same run, right after: the criterion bench of the same two paths, short.
cargo bench -p gateway-core --bench hot_path -- --warm-up-time 1 --measurement-time 3 \
  'webhook/wechat_(secure|plaintext)$' >"$BENCH_LOG_DIR/criterion-compare.log" 2>&1
python3 - "$CARGO_TARGET_DIR/criterion" >"$RESULTS/rust-compare.json" <<'PY'
import json, sys
base = sys.argv[1]
print(json.dumps({n: json.load(open(f"{base}/webhook/{n}/new/estimates.json"))["mean"]["point_estimate"]
                  for n in ("wechat_secure", "wechat_plaintext")}))
PY

# --- 4. sizes -----------------------------------------------------------------------------
ZIP_DIR="$CARGO_TARGET_DIR/lambda-arm64"
if [ $SKIP_ZIP = 0 ] || [ ! -f "$ZIP_DIR/wechat-webhook/bootstrap.zip" ]; then
  log "cargo lambda build --release --arm64 --output-format zip (log: $BENCH_LOG_DIR/lambda-build.log)"
  cargo lambda build --release --arm64 --output-format zip --lambda-dir "$ZIP_DIR" \
    "${ALL_FUNCTIONS[@]/#/--package=}" >"$BENCH_LOG_DIR/lambda-build.log" 2>&1
fi
python3 - "$ZIP_DIR" "$CARGO_TARGET_DIR" "${ALL_FUNCTIONS[@]}" >"$RESULTS/sizes.json" <<'PY'
import json, os, sys, zipfile
zips, target, fns = sys.argv[1], sys.argv[2], sys.argv[3:]
out = {}
for fn in fns:
    z = f"{zips}/{fn}/bootstrap.zip"
    with zipfile.ZipFile(z) as zf:
        unzipped = sum(i.file_size for i in zf.infolist())
    x86 = f"{target}/release/{fn}"
    out[fn] = {
        "arm64_zip": os.path.getsize(z),
        "arm64_bootstrap": unzipped,
        "x86_64_bin": os.path.getsize(x86) if os.path.exists(x86) else None,
        "zip_mtime": os.path.getmtime(z),
    }
print(json.dumps(out))
PY

if [ $SIZE_VARIANTS = 1 ]; then
  # The size profile: opt-level "s". SIZE_PREBUILT=1 reuses zips already built with it in
  # $SIZE_TARGET/lambda-arm64 (from the same commit).
  SIZE_TARGET="${SIZE_TARGET:-$CARGO_TARGET_DIR-small}"
  if [ "${SIZE_PREBUILT:-0}" != 1 ]; then
    log "size variant: opt-level \"s\" (target $SIZE_TARGET, log: $BENCH_LOG_DIR/size-build.log)"
    CARGO_TARGET_DIR="$SIZE_TARGET" CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
      cargo lambda build --release --arm64 --output-format zip --lambda-dir "$SIZE_TARGET/lambda-arm64" \
      "${ALL_FUNCTIONS[@]/#/--package=}" >"$BENCH_LOG_DIR/size-build.log" 2>&1
  fi
  SMALL_INSTR=$(instr_exe CARGO_TARGET_DIR="$SIZE_TARGET" CARGO_PROFILE_BENCH_OPT_LEVEL=s)
  python3 - "$RESULTS/sizes.json" "$SIZE_TARGET/lambda-arm64" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wechat_secure"])' "$RESULTS/callgrind.json")" \
    "$(per_message "$SMALL_INSTR" wechat_secure)" >"$RESULTS/size-variants.json" <<'PY'
import json, os, sys
sizes, small_dir, ir_release, ir_small = sys.argv[1:5]
sizes = json.load(open(sizes))
out = {"workspace `[profile.release]` (opt-level 3)": dict({f: v["arm64_zip"] for f, v in sizes.items()}, ir_secure=f"{int(ir_release):,}")}
out['opt-level "s"'] = dict(
    {f: os.path.getsize(f"{small_dir}/{f}/bootstrap.zip") for f in sizes}, ir_secure=f"{int(ir_small):,}")
print(json.dumps(out))
PY
fi

# --- 3b. AWS calls per message ------------------------------------------------------------
log "AWS calls per message: tests/tests/aws_calls.rs against a moto server"
stack_start_moto
# A debug test build: TEST_TARGET_DIR may name the target dir `make test` uses, to reuse it.
CARGO_TARGET_DIR="${TEST_TARGET_DIR:-$CARGO_TARGET_DIR}" \
  cargo test --quiet -p gateway-tests --test aws_calls -- --include-ignored --test-threads 1 \
  >"$RESULTS/aws-calls.txt" 2>&1 || log "aws_calls FAILED: see $RESULTS/aws-calls.txt"
stack_cleanup

# --- 5. cold start and memory -------------------------------------------------------------
log "cold start, memory, in-process invocations (bench/coldstart.sh)"
bash "$BENCH_DIR/coldstart.sh" 20 200 >"$RESULTS/coldstart.jsonl" 2>"$BENCH_LOG_DIR/coldstart.log"

# --- 6. load ------------------------------------------------------------------------------
log "load run (bench/load.sh)"
# Four instances per function (as concurrent Lambda environments), four webhook requests in
# flight, four router batches at once (the FIFO queue hands each message group to one); a
# push answered 5xx is sent again, up to three times, as the platforms retry one.
WATCH_CONCURRENCY=4 bash "$BENCH_DIR/load.sh" --messages 1200 --conversations 240 --concurrency 4 \
  --pumps 4 --retry-every 20 --platform-retries 3 \
  >"$RESULTS/load.json" 2>"$BENCH_LOG_DIR/load.log" ||
  log "load run FAILED (the report shows what was lost or refused): $BENCH_LOG_DIR/load.log"

# --- 7. dependencies ----------------------------------------------------------------------
log "dependency checks (cargo tree)"
{
  for fn in "${FUNCTIONS[@]}"; do
    echo "### $fn: rustls"
    cargo tree -p "$fn" -e normal -i rustls 2>&1 | head -3 || true
    echo "### $fn: tls and http crates"
    cargo tree -p "$fn" -e normal --prefix none 2>/dev/null |
      grep -E '^(rustls|ring|aws-lc-rs|aws-lc-sys|openssl|native-tls|hyper|hyper-rustls|h2) v' | sort -u || true
    echo "### $fn: duplicates"
    cargo tree -p "$fn" -e normal -d --depth 0 2>/dev/null | grep -E '^[a-z]' | sort -u || true
  done
  echo "### aws-sdk default features"
  grep -E '^aws-(config|sdk-[a-z]+) *=' "$STACK_ROOT/Cargo.toml"
} >"$RESULTS/deps.txt" 2>&1

machine_json end >"$RESULTS/machine-end.json"

# --- report -------------------------------------------------------------------------------
if [ $WRITE = 1 ]; then
  python3 "$BENCH_DIR/report.py" "$RESULTS" >"$STACK_ROOT/docs/benchmarks.md"
  log "wrote docs/benchmarks.md"
else
  python3 "$BENCH_DIR/report.py" "$RESULTS"
fi
