#!/usr/bin/env bash
# The local stack, shared by `make demo` and `make test`: pinned tools, the AWS emulator
# (moto server) and the functions under `cargo lambda watch`, each on a free loopback port,
# with logs kept outside the repository (the watcher rebuilds on every change inside it).
# Source this file; call stack_cleanup (the EXIT trap does) to stop what it started.

set -euo pipefail

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_RUN_DIR="${STACK_RUN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gateway-stack.XXXXXX")}"
STACK_PIDS=()
cd "$STACK_ROOT"
STACK_BIN="${CARGO_TARGET_DIR:-$STACK_ROOT/target}/debug"
export GATEWAYCTL="$STACK_BIN/gatewayctl"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
# shellcheck source=tools/venv.sh
. "$STACK_ROOT/tools/venv.sh"

# The pinned Python tools (moto server, cargo-lambda, cfn-lint) in the project's venv,
# .local/venv, whose bin/ then comes first on PATH (tools/venv.sh).
stack_install_tools() {
  venv_install
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# STACK_SETSID CMD... & starts CMD as the leader of a new session and process group (its pid
# is the group's id), so that stack_cleanup stops it with everything it spawned
# (`kill -- -PID`). setsid(1) where it exists (util-linux: Linux); where it does not (macOS),
# the same setsid(2) call through python3, which the stack needs anyway.
if command -v setsid >/dev/null 2>&1; then
  STACK_SETSID=(setsid)
else
  STACK_SETSID=(python3 -c '
import os, sys
try:
    os.setsid()
except OSError:
    pass  # already a process group leader: its pid is the group id all the same
os.execvp(sys.argv[1], sys.argv[1:])')
fi

# wait_for_log FILE TEXT SECONDS WHAT: until FILE holds TEXT, or fails after SECONDS.
wait_for_log() {
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$4 did not start within $3 s; its log ($1):"
      cat "$1" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# wait_for_http URL SECONDS WHAT [LOG]: until URL answers; says how long it took, every 10 s
# that it is still waiting, and on a timeout the end of LOG.
wait_for_http() {
  local url=$1 start=$SECONDS deadline=$((SECONDS + $2)) what=${3:-$1} log_file=${4:-}
  local next=$((SECONDS + 10))
  until curl -s -o /dev/null "$url"; do
    if ((SECONDS > deadline)); then
      log "timed out after $2 s waiting for $what ($url)"
      if [ -n "$log_file" ] && [ -f "$log_file" ]; then
        log "last lines of $log_file:"
        tail -n 20 "$log_file" >&2
      fi
      return 1
    fi
    if ((SECONDS >= next)); then
      log "still waiting for $what ($((SECONDS - start)) s)"
      next=$((SECONDS + 10))
    fi
    sleep 0.3
  done
  log "$what ready after $((SECONDS - start)) s"
}

stack_start_moto() {
  MOTO_PORT=$(free_port)
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  log "starting moto server on $AWS_ENDPOINT_URL (log: $STACK_RUN_DIR/moto.log)"
  # Through tools/moto_server.py: moto's own answers, without the per-request costs that grow
  # with the data (a copy of the whole table, stream included, per TransactWriteItems
  # operation): over a whole `make test` those made late tests' transactions outlast the
  # functions' AWS timeouts. MOTO_SERVER_CMD: another way to start it.
  # shellcheck disable=SC2086
  "${STACK_SETSID[@]}" ${MOTO_SERVER_CMD:-python3 "$STACK_ROOT/tools/moto_server.py"} -H 127.0.0.1 -p "$MOTO_PORT" \
    >"$STACK_RUN_DIR/moto.log" 2>&1 &
  STACK_PIDS+=($!)
  # Fault tests freeze and thaw the emulator (SIGSTOP/SIGCONT keeps its state).
  export MOTO_PID=$!
  wait_for_http "$AWS_ENDPOINT_URL/moto-api/" 30 "moto server" "$STACK_RUN_DIR/moto.log"
}

stack_build() {
  # One package at a time, as `cargo lambda watch` runs them (`cargo run --bin X`): building
  # them together would unify features differently and the watcher would rebuild on first use.
  local bin n=0 start=$SECONDS
  local bins=(wechat-webhook weibo-webhook message-router reply-sender reply-api sla-monitor stats-aggregator desk-api media-fetcher weibo-poller webhook-sender gatewayctl)
  for bin in "${bins[@]}"; do
    n=$((n + 1))
    log "cargo build --bin $bin ($n/${#bins[@]}, $((SECONDS - start)) s so far)"
    cargo build --quiet --bin "$bin"
  done
  log "built the functions and gatewayctl in $((SECONDS - start)) s"
}

# stack_setup PREFIX ACCOUNTS_FILE: creates resources; exports the functions' variables.
stack_setup() {
  local prefix=$1 accounts=$2
  log "creating queues, table and accounts secret ($prefix) from $accounts"
  "$GATEWAYCTL" local setup --endpoint "$AWS_ENDPOINT_URL" \
    --prefix "$prefix" --accounts "$accounts" >"$STACK_RUN_DIR/resources.env"
  set -a
  # shellcheck disable=SC1091
  . "$STACK_RUN_DIR/resources.env"
  set +a
  stack_desk_setup "$prefix"
}

# stack_desk_setup PREFIX: the desk's Cognito user pool in the emulator, from the users file
# (GATEWAY_DESK_USERS_FILE, default config/desk-users.local.json): pool, app client, groups,
# users; the agents' profiles into TABLE_NAME. Exports DESK_USER_POOL_ID, DESK_CLIENT_ID,
# DESK_TOKEN_ISSUER (the AWS form, as the emulator's tokens carry it) and DESK_JWKS_URL (the
# emulator's copy of the pool's keys).
stack_desk_setup() {
  local prefix=$1 users=${GATEWAY_DESK_USERS_FILE:-config/desk-users.local.json}
  log "creating the desk's user pool, app client, groups and users ($prefix) from $users (log: $STACK_RUN_DIR/desk-setup.log)"
  if ! "$GATEWAYCTL" local desk-setup --endpoint "$AWS_ENDPOINT_URL" --prefix "$prefix" \
    --users "$users" --table "$TABLE_NAME" >"$STACK_RUN_DIR/desk.env" 2>"$STACK_RUN_DIR/desk-setup.log"; then
    log "the desk's user pool could not be set up:"
    cat "$STACK_RUN_DIR/desk-setup.log" >&2
    return 1
  fi
  set -a
  # shellcheck disable=SC1091
  . "$STACK_RUN_DIR/desk.env"
  set +a
}

# stack_start_stubs: local stand-ins of the WeChat and Weibo APIs (gatewayctl stub-platforms)
# for the reply sender; exports their base URL.
stack_start_stubs() {
  STUB_PORT=$(free_port)
  export GATEWAY_STUB_URL="http://127.0.0.1:$STUB_PORT"
  export WECHAT_API_BASE_URL="$GATEWAY_STUB_URL" WEIBO_API_BASE_URL="$GATEWAY_STUB_URL" \
    WEIBO_MEDIA_BASE_URL="$GATEWAY_STUB_URL" WEIBO_OPEN_API_BASE_URL="$GATEWAY_STUB_URL" \
    WEIBO_BIZ_API_BASE_URL="$GATEWAY_STUB_URL"
  log "starting the platform stand-ins on $GATEWAY_STUB_URL (log: $STACK_RUN_DIR/stub.log)"
  "${STACK_SETSID[@]}" "$GATEWAYCTL" stub-platforms --listen "127.0.0.1:$STUB_PORT" \
    >"$STACK_RUN_DIR/stub.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_http "$GATEWAY_STUB_URL/admin/requests" 30 "platform stand-ins" "$STACK_RUN_DIR/stub.log"
}

# stack_functions_env FILE: the functions' environment (one file for all of them, as the
# templates set it per function) from the exported stack. Each setting's local default gives
# way to a value exported before the call (the bench exports its own).
stack_functions_env() {
  cat >"$1" <<ENV
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
QUEUE_URL=$QUEUE_URL
DEAD_LETTER_QUEUE_URL=$DEAD_LETTER_QUEUE_URL
OUTBOUND_QUEUE_URL=$OUTBOUND_QUEUE_URL
OUTBOUND_DEAD_LETTER_QUEUE_URL=$OUTBOUND_DEAD_LETTER_QUEUE_URL
TABLE_NAME=$TABLE_NAME
ACCOUNTS_SECRET_ID=$ACCOUNTS_SECRET_ID
WEBHOOK_SECRET_ID=$WEBHOOK_SECRET_ID
DELIVERY_SECRET_ID=$DELIVERY_SECRET_ID
API_CLIENTS_SECRET_ID=$API_CLIENTS_SECRET_ID
WEBHOOK_TARGETS_SECRET_ID=$WEBHOOK_TARGETS_SECRET_ID
EVENT_BUS_NAME=$EVENT_BUS_NAME
WEBHOOK_QUEUE_URL=$WEBHOOK_QUEUE_URL
WEBHOOK_DEAD_LETTER_QUEUE_URL=$WEBHOOK_DEAD_LETTER_QUEUE_URL
WEBHOOK_TIMEOUT_SECS=${WEBHOOK_TIMEOUT_SECS:-2}
WEBHOOK_MAX_ATTEMPTS=${WEBHOOK_MAX_ATTEMPTS:-4}
ACCOUNTS_CACHE_SECS=${ACCOUNTS_CACHE_SECS:-1}
RULES_CACHE_SECS=${RULES_CACHE_SECS:-1}
MAX_CLOCK_SKEW_SECS=${MAX_CLOCK_SKEW_SECS:-300}
MESSAGE_TTL_DAYS=${MESSAGE_TTL_DAYS:-90}
AWS_OPERATION_TIMEOUT_MS=${AWS_OPERATION_TIMEOUT_MS:-1500}
TIMERS_QUEUE_URL=$TIMERS_QUEUE_URL
ALERTS_TOPIC_ARN=$ALERTS_TOPIC_ARN
MEDIA_QUEUE_URL=$MEDIA_QUEUE_URL
MEDIA_DEAD_LETTER_QUEUE_URL=$MEDIA_DEAD_LETTER_QUEUE_URL
MEDIA_BUCKET=$MEDIA_BUCKET
INBOUND_QUEUE_URL=$QUEUE_URL
PROFILE_REFRESH_SECS=${PROFILE_REFRESH_SECS:-604800}
SLA_BREACH_GRACE_SECS=${SLA_BREACH_GRACE_SECS:-1}
RUST_LOG=${RUST_LOG:-info}
ENV
  # The desk API's user pool (stack_desk_setup), when the stack has one.
  if [ -n "${DESK_USER_POOL_ID:-}" ]; then
    cat >>"$1" <<ENV
DESK_USER_POOL_ID=$DESK_USER_POOL_ID
DESK_CLIENT_ID=$DESK_CLIENT_ID
DESK_TOKEN_ISSUER=$DESK_TOKEN_ISSUER
DESK_JWKS_URL=$DESK_JWKS_URL
DESK_JWKS_CACHE_SECS=${DESK_JWKS_CACHE_SECS:-3600}
ENV
  fi
  # The reply sender's platforms: the stand-ins, when they run.
  if [ -n "${GATEWAY_STUB_URL:-}" ]; then
    cat >>"$1" <<ENV
WECHAT_API_BASE_URL=$WECHAT_API_BASE_URL
WEIBO_API_BASE_URL=$WEIBO_API_BASE_URL
WEIBO_MEDIA_BASE_URL=$WEIBO_MEDIA_BASE_URL
# The poller's timelines and the reply sender's public comments (comments/reply, create).
WEIBO_OPEN_API_BASE_URL=$WEIBO_OPEN_API_BASE_URL
WEIBO_BIZ_API_BASE_URL=$WEIBO_BIZ_API_BASE_URL
PLATFORM_TIMEOUT_SECS=${PLATFORM_TIMEOUT_SECS:-2}
RETRY_BASE_SECS=${RETRY_BASE_SECS:-1}
RETRY_MAX_SECS=${RETRY_MAX_SECS:-2}
REPLY_MAX_ATTEMPTS=${REPLY_MAX_ATTEMPTS:-4}
DELIVERY_CLAIM_TIMEOUT_SECS=${DELIVERY_CLAIM_TIMEOUT_SECS:-30}
TOKEN_LEASE_SECS=${TOKEN_LEASE_SECS:-10}
ENV
  fi
}

# stack_start_watch: the functions under cargo lambda watch, env from the exported stack.
stack_start_watch() {
  [ -n "${GATEWAY_STUB_URL:-}" ] || stack_start_stubs
  WATCH_PORT=$(free_port)
  export WATCH_PORT
  export GATEWAY_LAMBDA_URL="http://127.0.0.1:$WATCH_PORT"
  stack_functions_env "$STACK_RUN_DIR/functions.env"
  log "starting functions under cargo lambda watch on $GATEWAY_LAMBDA_URL (log: $STACK_RUN_DIR/watch.log)"
  # The watcher and the functions it spawns form one process group, stopped together.
  "${STACK_SETSID[@]}" cargo lambda watch -A 127.0.0.1 -P "$WATCH_PORT" --ignore-changes \
    --env-file "$STACK_RUN_DIR/functions.env" >"$STACK_RUN_DIR/watch.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_http "$GATEWAY_LAMBDA_URL/" 120 "cargo lambda watch" "$STACK_RUN_DIR/watch.log"
}

stack_cleanup() {
  local pid
  for pid in "${STACK_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    # A fault test or the soak may have left the emulator frozen (SIGSTOP): thaw it first.
    kill -CONT -- "-$pid" 2>/dev/null || true
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  for pid in "${STACK_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
}

# stack_build_desk: the web desk's static files (desk/dist), its npm packages installed first
# from the lockfile when missing or older than it. Needs Node.js 20.19+ and npm.
stack_build_desk() {
  if [ ! -d desk/node_modules ] || [ desk/package-lock.json -nt desk/node_modules/.package-lock.json ]; then
    log "installing the desk's npm packages from desk/package-lock.json (log: $STACK_RUN_DIR/desk-npm.log)"
    # No browser download: the browser tests use the system's Chromium.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix desk --no-audit --no-fund \
      >"$STACK_RUN_DIR/desk-npm.log" 2>&1 || { cat "$STACK_RUN_DIR/desk-npm.log" >&2; return 1; }
  fi
  log "building the web desk (desk/dist; log: $STACK_RUN_DIR/desk-build.log)"
  npm --prefix desk run build >"$STACK_RUN_DIR/desk-build.log" 2>&1 ||
    { cat "$STACK_RUN_DIR/desk-build.log" >&2; return 1; }
}

# stack_start_desk [PORT]: serves desk/dist against the stack (desk/serve.mjs: the deployed
# security headers, /config.json, /api and /cognito/ forwarded); exports DESK_URL.
stack_start_desk() {
  local port=${1:-$(free_port)}
  export DESK_URL="http://127.0.0.1:$port/"
  log "serving the web desk on $DESK_URL (log: $STACK_RUN_DIR/desk.log)"
  DESK_PORT=$port DESK_API_URL="$GATEWAY_LAMBDA_URL/lambda-url/desk-api" \
    "${STACK_SETSID[@]}" node desk/serve.mjs >"$STACK_RUN_DIR/desk.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_http "${DESK_URL}config.json" 30 "the web desk" "$STACK_RUN_DIR/desk.log"
}

# stack_event_sources [LOG]: the queues', stream's and schedule's event sources, as Lambda's
# (gatewayctl local event-sources): the inbound queue feeds message-router, the outbound queue
# reply-sender, the media queue media-fetcher, the webhook queue webhook-sender, the timers queue, the stream and a one-minute schedule sla-monitor, the stream
# stats-aggregator, a one-minute schedule weibo-poller. Without LOG it runs in the foreground until stopped (make up); with LOG it
# runs in the background in a process group of its own, logging there, and stops with the
# stack (stack_cleanup).
stack_event_sources() {
  local base="$GATEWAY_LAMBDA_URL/2015-03-31/functions"
  local args=(local event-sources
    --map "message-router=$QUEUE_URL=$base/message-router/invocations"
    --map "reply-sender=$OUTBOUND_QUEUE_URL=$base/reply-sender/invocations"
    --map "media-fetcher=$MEDIA_QUEUE_URL=$base/media-fetcher/invocations"
    --map "webhook-sender=$WEBHOOK_QUEUE_URL=$base/webhook-sender/invocations"
    --map "sla-monitor=$TIMERS_QUEUE_URL=$base/sla-monitor/invocations"
    --stream "sla-monitor=$TABLE_NAME=$base/sla-monitor/invocations"
    --stream "stats-aggregator=$TABLE_NAME=$base/stats-aggregator/invocations"
    --schedule "sla-monitor=60=$base/sla-monitor/invocations"
    --schedule "weibo-poller=60=$base/weibo-poller/invocations")
  if [ -z "${1:-}" ]; then
    "$GATEWAYCTL" "${args[@]}"
    return
  fi
  log "event sources (log: $1)"
  "${STACK_SETSID[@]}" "$GATEWAYCTL" "${args[@]}" >"$1" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_log "$1" "event sources running" 30 "the event sources"
}
