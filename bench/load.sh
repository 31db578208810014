#!/usr/bin/env bash
# Load run through the functions under `cargo lambda watch --release` and a local moto
# server, both on free 127.0.0.1 ports: signed pushes across many conversations (mixed WeChat
# plaintext / secure / compatible and Weibo JSON, with platform retries), the router driven
# like the SQS event source mapping, then DynamoDB reconciled (zero lost, zero duplicated).
#
#   bash bench/load.sh [loadgen flags]   # e.g. --messages 1200 --conversations 240 --concurrency 4
#
# Prints loadgen's JSON; exits non-zero if anything was lost, duplicated or refused.
. "$(dirname "$0")/lib.sh"
trap stack_cleanup EXIT

stack_install_tools
bench_build_functions
bench_build_tools
bench_start_moto
# As in AWS, a visibility timeout well above an invocation (the tests use 5 s to see
# redeliveries quickly; under load that turns every slow batch into a redelivery).
VISIBILITY_SECS=${VISIBILITY_SECS:-30} bench_stack_setup "load$$"
bench_start_watch
log "load run (logs: $BENCH_LOG_DIR)"
"$REL/loadgen" --lambda-url "$GATEWAY_LAMBDA_URL" "$@"
