#!/usr/bin/env bash
# Cold start, peak memory and in-process invocation time of each function, as a process
# against the runtime-API stub of `coldstart` (bench/src/bin/coldstart.rs).
#
#   bash bench/coldstart.sh [RUNS] [INVOCATIONS]   # prints one JSON object per function
#
# Cold start excludes the network: init makes no network call (config, SDK clients, rules),
# and the stub is on 127.0.0.1. The invocations then go to a local moto server, so the memory
# high-water mark includes real SDK calls (TLS is not involved: the emulator is plain HTTP).
. "$(dirname "$0")/lib.sh"
trap stack_cleanup EXIT
RUNS=${1:-20}
INVOCATIONS=${2:-200}

stack_install_tools
bench_build_functions
bench_build_tools
stack_start_moto
bench_stack_setup "cold$$"
export ACCOUNTS_CACHE_SECS=60 RULES_CACHE_SECS=30 RUST_LOG=info

declare -A EVENT=([wechat-webhook]=wechat [weibo-webhook]=weibo [message-router]=router)
for fn in "${FUNCTIONS[@]}"; do
  log "cold start of $fn: $RUNS runs, then $INVOCATIONS ${EVENT[$fn]} invocations"
  "$REL/coldstart" --label "$fn" --bin "$REL/$fn" --runs "$RUNS" \
    --event "${EVENT[$fn]}" --invocations "$INVOCATIONS"
done
