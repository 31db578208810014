#!/usr/bin/env bash
# Cold start, peak memory and in-process invocation time of each function, as a process
# against the runtime-API stub of `coldstart` (bench/src/bin/coldstart.rs).
#
#   bash bench/coldstart.sh [RUNS] [INVOCATIONS]   # prints one JSON object per function
#
# Cold start excludes the network: init makes no network call (config, SDK clients, rules),
# and the stub is on 127.0.0.1. All five functions are started; the three with an event kind
# (webhooks, router) then get invocations against a local moto server, so their memory
# high-water mark includes real SDK calls (TLS is not involved: the emulator is plain HTTP).
. "$(dirname "$0")/lib.sh"
trap stack_cleanup EXIT
RUNS=${1:-20}
INVOCATIONS=${2:-200}

stack_install_tools
bench_build_functions
for fn in reply-sender reply-api sla-monitor stats-aggregator desk-api; do
  log "cargo build --release --bin $fn (target $CARGO_TARGET_DIR)"
  cargo build --quiet --release --bin "$fn"
done
bench_build_tools
stack_start_moto
bench_stack_setup "cold$$"
export ACCOUNTS_CACHE_SECS=60 RULES_CACHE_SECS=30 RUST_LOG=info
# desk-api reads its pool and client at init (the keys are fetched on the first request).
export DESK_USER_POOL_ID=us-east-1_bench DESK_CLIENT_ID=bench-client

declare -A EVENT=([wechat-webhook]=wechat [weibo-webhook]=weibo [message-router]=router)
for fn in "${ALL_FUNCTIONS[@]}"; do
  if [ -n "${EVENT[$fn]:-}" ]; then
    log "cold start of $fn: $RUNS runs, then $INVOCATIONS ${EVENT[$fn]} invocations"
    "$REL/coldstart" --label "$fn" --bin "$REL/$fn" --runs "$RUNS" \
      --event "${EVENT[$fn]}" --invocations "$INVOCATIONS"
  else
    log "cold start of $fn: $RUNS runs"
    "$REL/coldstart" --label "$fn" --bin "$REL/$fn" --runs "$RUNS"
  fi
  # Instructions of init, repeatable under load: the runtime API port is closed, so the
  # function stops at its first /next (the error path after it is a few thousand more).
  log "callgrind: instructions of $fn's init"
  out="$BENCH_LOG_DIR/callgrind-init.$fn.out"
  (cd "$BENCH_LOG_DIR" && env -i PATH=/usr/bin:/bin LANG=en_US.UTF-8 TZ=:UTC \
    AWS_LAMBDA_RUNTIME_API=127.0.0.1:9 AWS_LAMBDA_FUNCTION_NAME="$fn" \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
    AWS_REGION="$AWS_REGION" AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
    AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" \
    QUEUE_URL="$QUEUE_URL" ACCOUNTS_SECRET_ID="$ACCOUNTS_SECRET_ID" TABLE_NAME="$TABLE_NAME" \
    WEBHOOK_SECRET_ID="$WEBHOOK_SECRET_ID" DELIVERY_SECRET_ID="$DELIVERY_SECRET_ID" \
    API_CLIENTS_SECRET_ID="$API_CLIENTS_SECRET_ID" \
    DEAD_LETTER_QUEUE_URL="$DEAD_LETTER_QUEUE_URL" OUTBOUND_QUEUE_URL="$OUTBOUND_QUEUE_URL" \
    OUTBOUND_DEAD_LETTER_QUEUE_URL="$OUTBOUND_DEAD_LETTER_QUEUE_URL" \
    TIMERS_QUEUE_URL="$TIMERS_QUEUE_URL" ALERTS_TOPIC_ARN="$ALERTS_TOPIC_ARN" \
    MEDIA_QUEUE_URL="$MEDIA_QUEUE_URL" MEDIA_DEAD_LETTER_QUEUE_URL="$MEDIA_DEAD_LETTER_QUEUE_URL" \
    MEDIA_BUCKET="$MEDIA_BUCKET" EVENT_BUS_NAME="$EVENT_BUS_NAME" \
    DESK_USER_POOL_ID="$DESK_USER_POOL_ID" DESK_CLIENT_ID="$DESK_CLIENT_ID" \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$REL/$fn") >"$out.log" 2>&1 || true
  printf '{"label": "%s", "init_instructions": %s}\n' "$fn" "$(awk '/^summary:/ {print $2}' "$out")"
done
