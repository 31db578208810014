#!/usr/bin/env bash
# Soak: tens of thousands of signed pushes through the locally running stack while faults are
# injected, then a reconciliation of everything stored and sent.
#
#   bash tools/soak/run.sh                 # 20,000 messages (about 20 minutes on 2 cores once built)
#   bash tools/soak/run.sh --messages 2000 # a shorter run with the same mix
#   bash tools/soak/run.sh --write ...     # also put the figures in docs/reliability.md
#   --faults-every S          a fault after a random gap of mean S seconds (default 20)
#   --faults-per-messages K   ... or after K pushes, whichever comes first (default
#                             messages/20, between 1 and 250)
#
# What runs: moto (SQS, DynamoDB, Secrets Manager), the platform stand-ins, and the four
# functions under `cargo lambda watch --release` with several instances each, all on free
# 127.0.0.1 ports. bench/src/bin/loadgen/ sends the pushes (WeChat plaintext, secure and
# compatible, Weibo JSON; every 10th message re-sent three times at the platforms' retry
# pattern; a push answered 5xx re-sent as the platform would), drives the router and the reply
# sender like the SQS event source mapping, and meanwhile injects faults, alternately: the AWS
# emulator frozen (SIGSTOP for 0.5-3 s), and the next one or two calls of a platform API
# scripted to fail. Then it checks: every distinct message stored exactly once, every
# conversation's count right, nothing dead-lettered or left queued; per customer, the sends
# the platform stand-ins accepted equal the replies recorded delivered (within the replies
# whose outcome the sender could not know), every reply command recorded, none stuck; and, in
# a run of 500 messages or more, at least one emulator freeze and one platform call refused by
# a scripted error. Exits non-zero if any check fails. Logs go to a temp dir outside the
# repository.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
trap stack_cleanup EXIT

WRITE=0
MESSAGES=20000
CONVERSATIONS=2000
FAULTS_EVERY=20
FAULTS_PER_MESSAGES=
EXTRA=()
COMMAND="bash tools/soak/run.sh $*"
while [ $# -gt 0 ]; do
  case $1 in
    --write) WRITE=1 ;;
    --messages) MESSAGES=$2; shift ;;
    --conversations) CONVERSATIONS=$2; shift ;;
    --faults-every) FAULTS_EVERY=$2; shift ;;
    --faults-per-messages) FAULTS_PER_MESSAGES=$2; shift ;;
    *) EXTRA+=("$1") ;;
  esac
  shift
done
# By default at least 20 count-triggered faults in a run of up to 5,000 messages (pushes
# include the re-sends, so a few more), one every 250 pushes beyond.
if [ -z "$FAULTS_PER_MESSAGES" ]; then
  FAULTS_PER_MESSAGES=$((MESSAGES / 20))
  if [ "$FAULTS_PER_MESSAGES" -gt 250 ]; then FAULTS_PER_MESSAGES=250; fi
  if [ "$FAULTS_PER_MESSAGES" -lt 1 ]; then FAULTS_PER_MESSAGES=1; fi
fi

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
log "soak: $MESSAGES messages, $CONVERSATIONS conversations, a fault every ~${FAULTS_EVERY}s or $FAULTS_PER_MESSAGES pushes (logs: $BENCH_LOG_DIR)"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
status=0
"$REL/loadgen" --lambda-url "$GATEWAY_LAMBDA_URL" \
  --messages "$MESSAGES" --conversations "$CONVERSATIONS" \
  --concurrency 6 --pumps 4 --replies 1 \
  --retry-every 10 --copies 3 --retry-gap 40 --platform-retries 10 \
  --faults-every "$FAULTS_EVERY" --faults-per-messages "$FAULTS_PER_MESSAGES" --require-faults 1 \
  "${EXTRA[@]}" >"$BENCH_LOG_DIR/soak.json" || status=$?
cat "$BENCH_LOG_DIR/soak.json"
python3 "$ROOT/tools/soak/report.py" "$BENCH_LOG_DIR/soak.json" \
  --started "$started" --commit "$(git -C "$ROOT" rev-parse --short HEAD)" --command "$COMMAND" \
  $([ $WRITE = 1 ] && echo --write "$ROOT/docs/reliability.md")
exit $status
