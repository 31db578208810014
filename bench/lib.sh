#!/usr/bin/env bash
# Shared by the bench scripts: the private release target dir, the moto server from
# tools/stack.sh (pinned tools, free loopback port), resources created by gatewayctl, logs
# under a temp dir outside the repository. Source it; the EXIT trap stops what it started.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Release builds and benches go to a private target dir, so they neither block nor are blocked
# by other builds in the checkout.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/target-bench}"
BENCH_LOG_DIR="${BENCH_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gateway-bench.XXXXXX")}"
export BENCH_LOG_DIR
STACK_RUN_DIR="$BENCH_LOG_DIR"
# shellcheck source=tools/stack.sh
. "$BENCH_DIR/../tools/stack.sh"
REL="$CARGO_TARGET_DIR/release"

# The three functions, built one package at a time like `cargo lambda watch` builds them (see
# tools/stack.sh), so the watcher finds them up to date.
FUNCTIONS=(wechat-webhook weibo-webhook message-router)
# Every deployed function, for the package sizes.
ALL_FUNCTIONS=(wechat-webhook weibo-webhook message-router reply-sender reply-api sla-monitor stats-aggregator desk-api)

bench_build_functions() {
  local bin
  for bin in "${FUNCTIONS[@]}"; do
    log "cargo build --release --bin $bin (target $CARGO_TARGET_DIR)"
    cargo build --quiet --release --bin "$bin"
  done
}

bench_build_tools() {
  log "cargo build --release -p gateway-bench -p gatewayctl"
  cargo build --quiet --release -p gateway-bench
  cargo build --quiet --release -p gatewayctl --bin gatewayctl
}

# bench_start_moto: the pinned moto, started through tools/moto_server.py: moto's answers
# without two of its per-request costs that grow with the queue backlog and the table, and
# with its DeleteMessage race fixed (the wrapper says both), so that a long run measures the
# gateway rather than moto. The test suite and the other measurements run `moto_server` as is;
# tools/moto_server_check.py (in `make test`) compares the two.
bench_start_moto() {
  MOTO_SERVER_CMD="python3 $BENCH_DIR/../tools/moto_server.py" stack_start_moto
}

# bench_stack_setup PREFIX [ACCOUNTS_FILE]: queues, table and accounts secret in the running
# moto server; exports the functions' variables.
bench_stack_setup() {
  local prefix=$1 accounts=${2:-$STACK_ROOT/config/accounts.local.json}
  "$REL/gatewayctl" local setup --endpoint "$AWS_ENDPOINT_URL" --prefix "$prefix" \
    --accounts "$accounts" \
    --visibility-secs "${VISIBILITY_SECS:-5}" >"$BENCH_LOG_DIR/resources.env"
  set -a
  # shellcheck disable=SC1091
  . "$BENCH_LOG_DIR/resources.env"
  set +a
}

# bench_start_watch: the functions under `cargo lambda watch --release` on a free port,
# WATCH_CONCURRENCY instances per function (default 1). With the platform stand-ins started
# (GATEWAY_STUB_URL), the reply sender is configured to deliver to them.
bench_start_watch() {
  WATCH_PORT=$(free_port)
  export GATEWAY_LAMBDA_URL="http://127.0.0.1:$WATCH_PORT"
  # Caches as a deployment would keep them; with the stand-ins, the timings of a platform
  # under load. One env file for every function locally: the webhooks bound
  # AWS_OPERATION_TIMEOUT_MS by the platforms' 5 s window (<= 2250), so the reply sender shares
  # their 2 s here (4 s in the templates).
  ACCOUNTS_CACHE_SECS=60 RULES_CACHE_SECS=30 AWS_OPERATION_TIMEOUT_MS=2000 \
    PLATFORM_TIMEOUT_SECS=5 RETRY_BASE_SECS=1 RETRY_MAX_SECS=4 DELIVERY_CLAIM_TIMEOUT_SECS=90 \
    TOKEN_LEASE_SECS=20 stack_functions_env "$BENCH_LOG_DIR/functions.env"
  log "cargo lambda watch --release on $GATEWAY_LAMBDA_URL (log: $BENCH_LOG_DIR/watch.log)"
  "${STACK_SETSID[@]}" cargo lambda watch --release -A 127.0.0.1 -P "$WATCH_PORT" --ignore-changes \
    --concurrency "${WATCH_CONCURRENCY:-1}" \
    --env-file "$BENCH_LOG_DIR/functions.env" >"$BENCH_LOG_DIR/watch.log" 2>&1 &
  STACK_PIDS+=($!)
  wait_for_http "$GATEWAY_LAMBDA_URL/" 300 "cargo lambda watch --release" "$BENCH_LOG_DIR/watch.log"
}
