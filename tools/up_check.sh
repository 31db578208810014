#!/usr/bin/env bash
# Checks that `make up` runs by itself: starts tools/up.sh, sends one WeChat message with
# `gatewayctl send` (the command the README and `make up` show), and waits until the
# conversation is stored and its auto-reply reached the WeChat stand-in, with no pump or other
# step in between; then stops it with Ctrl-C (SIGINT) and checks that everything it started
# stopped. Run by `make test`; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/gateway-up-check.XXXXXX")
log() { printf '\033[1m==>\033[0m up check: %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; tail -n 30 "$dir/up.log" >&2 || true; exit 1; }

set -m # tools/up.sh in its own process group, so that Ctrl-C can be sent to all of it
UP_ENV_FILE="$dir/up.env" bash tools/up.sh >"$dir/up.log" 2>&1 &
up=$!
set +m
stop_up() { kill -INT -- "-$up" 2>/dev/null || true; }
trap stop_up EXIT

log "starting make up (log: $dir/up.log)"
for _ in $(seq 1 600); do
  grep -q "event sources running" "$dir/up.log" 2>/dev/null && break
  kill -0 "$up" 2>/dev/null || fail "tools/up.sh exited before the event sources ran"
  sleep 0.5
done
grep -q "event sources running" "$dir/up.log" || fail "the stack did not come up within 300 s"

set -a
# shellcheck disable=SC1091
. "$dir/up.env"
set +a
openid="oUpCheck$(date +%s)"
log "gatewayctl send wechat --account demo --from $openid --text 想问一下价格"
gatewayctl send wechat --account demo --from "$openid" --text "想问一下价格" >/dev/null

stored=0 replied=0
for _ in $(seq 1 120); do
  if [ $stored = 0 ] && gatewayctl local show | grep -q "$openid"; then
    stored=1
    log "conversation stored"
  fi
  if [ $replied = 0 ] && curl -fsS "$GATEWAY_STUB_URL/admin/requests" | python3 -c '
import json, sys
r = json.load(sys.stdin)
sys.exit(0 if any(m["body"].get("touser") == sys.argv[1] and m.get("accepted")
                  for m in r["wechat"]["messages"]) else 1)' "$openid"; then
    replied=1
    log "auto-reply delivered to the WeChat stand-in"
  fi
  [ $stored = 1 ] && [ $replied = 1 ] && break
  sleep 0.5
done
[ $stored = 1 ] || fail "the conversation was not stored within 60 s"
[ $replied = 1 ] || fail "the auto-reply was not delivered within 60 s"

log "Ctrl-C"
stop_up
trap - EXIT
for _ in $(seq 1 60); do
  kill -0 "$up" 2>/dev/null || break
  sleep 0.5
done
kill -0 "$up" 2>/dev/null && fail "tools/up.sh still running 30 s after Ctrl-C"
for url in "$AWS_ENDPOINT_URL/moto-api/" "$GATEWAY_LAMBDA_URL/" "$GATEWAY_STUB_URL/admin/requests"; do
  if curl -s -o /dev/null --max-time 2 "$url"; then
    fail "$url still answers after Ctrl-C"
  fi
done
log "passed"
