#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and keeps what it finds.
#   bash fuzz/run.sh [SECONDS_PER_TARGET=60] [TARGET...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The machine has stable Rust only, so the
# nightly flags cargo-fuzz passes (-Zsanitizer=address) are enabled with RUSTC_BOOTSTRAP=1.
# Corpora live outside the repository (FUZZ_WORK, default a temp dir, reused if given);
# crash, timeout and OOM inputs are copied to fuzz/regressions/<target>/, which
# shared/gateway-core/tests/fuzz_regressions.rs replays in every `cargo test`.
# Prints one summary line per target: executions, seconds, findings.
set -uo pipefail
cd "$(dirname "$0")"
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(wechat_xml wechat_decrypt weibo_json rules_yaml)
WORK=${FUZZ_WORK:-$(mktemp -d /tmp/gateway-fuzz.XXXXXX)}
mkdir -p "$WORK"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-/tmp/gateway-fuzz-target}
echo "fuzz: ${SECS}s per target, work dir $WORK"
cargo fuzz build -O 2>"$WORK/build.log" || {
  echo "build failed: $WORK/build.log"; exit 2; }
status=0
for t in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$t" artifacts="$WORK/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  # Seed with the regression inputs (they are the nastiest known).
  cp regressions/"$t"/* "$corpus"/ 2>/dev/null || true
  log="$WORK/$t.log"
  cargo fuzz run -O "$t" "$corpus" -- -max_total_time="$SECS" -rss_limit_mb=2048 \
    -timeout=10 -max_len=70000 -artifact_prefix="$artifacts/" -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  found=0
  for f in "$artifacts"/*; do
    [ -f "$f" ] || continue
    found=$((found + 1))
    cp "$f" "regressions/$t/$(basename "$f")"
  done
  echo "$t: execs=${execs:-?} secs=$SECS findings=$found exit=$rc log=$log"
  [ "$found" -eq 0 ] && [ "$rc" -eq 0 ] || status=1
done
exit $status
