#!/usr/bin/env bash
# Soak: tens of thousands of signed pushes through the locally running stack while faults are
# injected at random, then a reconciliation of everything stored and sent.
#
#   bash tools/soak/run.sh                 # 20,000 messages (about 20 minutes on 2 cores once built)
#   bash tools/soak/run.sh --messages 2000 # a shorter run with the same mix
#   bash tools/soak/run.sh --write ...     # also put the figures in docs/reliability.md
#
# What runs: moto (SQS, DynamoDB, Secrets Manager), the platform stand-ins, and the four
# functions under `cargo lambda watch --release` with several instances each, all on free
# 127.0.0.1 ports. bench/src/bin/loadgen.rs sends the pushes (WeChat plaintext, secure and
# compatible, Weibo JSON; every 10th message re-sent three times at the platforms' retry
# pattern; a push answered 5xx re-sent as the platform would), drives the router and the reply
# sender like the SQS event source mapping, and meanwhile freezes the AWS emulator (SIGSTOP
# for 0.5-3 s) or scripts transient platform errors, on average every 20 s. Then it checks:
# every distinct message stored exactly once, every duplicate absorbed, every conversation's
# count right, nothing dead-lettered or left queued, every reply sent at most once and none
# stuck. Exits non-zero if any check fails. Logs go to a temp dir outside the repository.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
trap stack_cleanup EXIT

WRITE=0
MESSAGES=20000
CONVERSATIONS=2000
FAULTS_EVERY=20
EXTRA=()
COMMAND="bash tools/soak/run.sh $*"
while [ $# -gt 0 ]; do
  case $1 in
    --write) WRITE=1 ;;
    --messages) MESSAGES=$2; shift ;;
    --conversations) CONVERSATIONS=$2; shift ;;
    --faults-every) FAULTS_EVERY=$2; shift ;;
    *) EXTRA+=("$1") ;;
  esac
  shift
done

stack_install_tools
FUNCTIONS+=(reply-sender)
bench_build_functions
bench_build_tools
bench_start_moto
# The local accounts, with API credentials for every account, so that every auto-reply can be
# delivered (the local file leaves one WeChat account without an app secret on purpose).
python3 - "$ROOT/config/accounts.local.json" >"$BENCH_LOG_DIR/accounts.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for name, account in doc["wechat"].items():
    account.setdefault("app_secret", f"soak-secret-{name}")
print(json.dumps(doc))
PY
# In AWS the queues' visibility timeout is several times the consumer's timeout; the tests'
# 5 s would turn every emulator freeze into redeliveries racing the batch still running.
VISIBILITY_SECS=30 bench_stack_setup "soak$$" "$BENCH_LOG_DIR/accounts.json"
GATEWAYCTL="$REL/gatewayctl" stack_start_stubs
# Several instances per function, like concurrent Lambda environments. Only warnings from the
# functions: a soak at info level writes hundreds of megabytes of logs.
WATCH_CONCURRENCY=4 RUST_LOG=warn bench_start_watch
log "soak: $MESSAGES messages, $CONVERSATIONS conversations, faults every ~${FAULTS_EVERY}s (logs: $BENCH_LOG_DIR)"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
status=0
"$REL/loadgen" --lambda-url "$GATEWAY_LAMBDA_URL" \
  --messages "$MESSAGES" --conversations "$CONVERSATIONS" \
  --concurrency 6 --pumps 4 --replies 1 \
  --retry-every 10 --copies 3 --retry-gap 40 --platform-retries 10 \
  --faults-every "$FAULTS_EVERY" "${EXTRA[@]}" >"$BENCH_LOG_DIR/soak.json" || status=$?
cat "$BENCH_LOG_DIR/soak.json"
python3 "$ROOT/tools/soak/report.py" "$BENCH_LOG_DIR/soak.json" \
  --started "$started" --commit "$(git -C "$ROOT" rev-parse --short HEAD)" --command "$COMMAND" \
  $([ $WRITE = 1 ] && echo --write "$ROOT/docs/reliability.md")
exit $status
