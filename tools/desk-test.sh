#!/usr/bin/env bash
# The web desk's browser tests (desk/tests, Playwright driving Debian's Chromium) on a fresh
# local stack of their own: the AWS emulator, the functions under cargo lambda watch, the
# event sources running as on Lambda, and the desk served by desk/serve.mjs. `make test` runs
# it; alone: `bash tools/desk-test.sh [playwright args]`.
#
#   DESK_SCREENSHOTS_DIR=docs/desk bash tools/desk-test.sh   # also refresh the docs' screenshots
#   DESK_BUDGETS_FILE=path                                  # the measured budgets as JSON
#   CHROMIUM=/path/to/chromium                              # default: `command -v chromium`
set -euo pipefail
# shellcheck source=tools/stack.sh
. "$(dirname "$0")/stack.sh"
trap stack_cleanup EXIT

CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ]; then
  echo "tools/desk-test.sh: no chromium on PATH; install Debian's: apt-get install chromium" >&2
  exit 1
fi
export CHROMIUM
# Chromium writes its crash database under XDG_CONFIG_HOME; CI's HOME may not be writable.
export XDG_CONFIG_HOME="${XDG_CONFIG_HOME:-$STACK_RUN_DIR/xdg}"
mkdir -p "$XDG_CONFIG_HOME"

# A stack of its own: nothing inherited from another one (make test's, whose platform
# stand-ins are stopped by now).
unset GATEWAY_STUB_URL WECHAT_API_BASE_URL WEIBO_API_BASE_URL GATEWAY_LAMBDA_URL

stack_install_tools
stack_build
stack_start_moto
stack_setup "desk" config/accounts.local.json
stack_start_watch
stack_build_desk
stack_start_desk
export DESK_API_URL="$GATEWAY_LAMBDA_URL/lambda-url/desk-api" GATEWAYCTL
GATEWAY_ACCOUNTS_FILE="$(pwd)/config/accounts.local.json"
export GATEWAY_ACCOUNTS_FILE
stack_event_sources "$STACK_RUN_DIR/event-sources.log"

if [ -n "${DESK_SCREENSHOTS_DIR:-}" ]; then
  mkdir -p "$DESK_SCREENSHOTS_DIR"
  DESK_SCREENSHOTS_DIR=$(cd "$DESK_SCREENSHOTS_DIR" && pwd)
  export DESK_SCREENSHOTS_DIR
fi
log "browser tests: Playwright with $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null || echo '?'))"
cd desk
DESK_TEST_OUTPUT="$STACK_RUN_DIR/playwright" npx playwright test "$@"
