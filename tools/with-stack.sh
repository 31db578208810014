#!/usr/bin/env bash
# Runs a command inside a freshly started local stack, e.g.
#   bash tools/with-stack.sh cargo test -p gateway-tests -- --include-ignored --test-threads 1
# The command sees AWS_ENDPOINT_URL, QUEUE_URL, TABLE_NAME, GATEWAY_LAMBDA_URL, ...; the stack
# is stopped when it exits.
set -euo pipefail
# shellcheck source=tools/stack.sh
. "$(dirname "$0")/stack.sh"
trap stack_cleanup EXIT
stack_install_tools
stack_build
stack_start_moto
stack_setup "dev" "${GATEWAY_ACCOUNTS_FILE:-config/accounts.local.json}"
stack_start_watch
"$@"
