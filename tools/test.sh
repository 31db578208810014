#!/usr/bin/env bash
# `make test`: every test on a fresh machine. Installs the pinned tools, starts its own AWS
# emulator and the functions under cargo lambda watch on free ports, runs unit and
# integration tests, then the offline template checks, and stops what it started.
set -euo pipefail
# shellcheck source=tools/stack.sh
. "$(dirname "$0")/stack.sh"
trap stack_cleanup EXIT

log "starting and stopping processes, with and without setsid (tools/stack_selftest.sh)"
bash tools/stack_selftest.sh
stack_install_tools
stack_build
stack_start_moto
stack_setup "it" config/accounts.local.json
stack_start_watch

log "cargo test (unit + integration)"
# The router-crash fault test (tests/tests/faults.rs) runs the message-router binary that
# stack_build built (target dir/debug/message-router) as its own process.
cargo test --workspace --no-fail-fast -- --include-ignored

log "cargo test: the AWS adapters against mocked SDK clients (gateway-aws, feature mocked-tests)"
# A build of its own: the feature's aws-smithy-mocks turns on serde_json's preserve_order, which
# must not reach the workspace's test build above (shared/gateway-aws/Cargo.toml).
cargo test -p gateway-aws --features mocked-tests --test mocked_adapters

if [ -f infra/check.sh ]; then
  log "template checks"
  bash infra/check.sh
fi

log "the web desk in a real browser: Playwright driving Debian's Chromium on a fresh stack (tools/desk-test.sh)"
# Its own stack: the event sources run there continuously, and its inbox starts empty.
stack_cleanup
bash tools/desk-test.sh

log "make demo: make up runs by itself; a scripted conversation stored and answered, checked (tools/demo.sh)"
bash tools/demo.sh

log "the load and soak emulator answers as moto does (tools/moto_server_check.py)"
python3 tools/moto_server_check.py
