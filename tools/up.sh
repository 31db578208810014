#!/usr/bin/env bash
# `make up`: the local stack, running by itself until Ctrl-C. The AWS emulator, the platform
# stand-ins and the functions under `cargo lambda watch` start as for `make test`, and then the
# queues' event sources run continuously, as Lambda's do (`gatewayctl local event-sources`):
# the inbound queue feeds message-router, the outbound queue feeds reply-sender, in batches of
# up to ten with partial failures left to the visibility timeout; the timers queue, the
# table's stream and a one-minute schedule feed sla-monitor, the stream stats-aggregator too.
# A message sent to a webhook is stored and answered with no further step, its service-level
# clock runs, and the day's statistics count it.
#
#   make up                      # then, in another shell, what it prints
#   UP_ENV_FILE=path make up     # also write the stack's variables to that file
#
# GATEWAY_ACCOUNTS_FILE names the accounts document to seed (default config/accounts.local.json).
set -euo pipefail
# shellcheck source=tools/stack.sh
. "$(dirname "$0")/stack.sh"
trap stack_cleanup EXIT

# A stack of its own: nothing inherited from another one (its platform stand-ins, say).
unset GATEWAY_STUB_URL WECHAT_API_BASE_URL WEIBO_API_BASE_URL GATEWAY_LAMBDA_URL
export GATEWAY_ACCOUNTS_FILE="${GATEWAY_ACCOUNTS_FILE:-config/accounts.local.json}"
stack_install_tools
stack_build
stack_start_moto
stack_setup up "$GATEWAY_ACCOUNTS_FILE"
stack_start_watch

env_file="${UP_ENV_FILE:-$STACK_RUN_DIR/up.env}"
# The desk API's base URL (its routes: docs/desk-api.md).
export DESK_API_URL="$GATEWAY_LAMBDA_URL/lambda-url/desk-api"
# The web desk (docs/desk.md) on DESK_PORT (8090 unless set), with demo conversations sent
# through the webhooks (tools/desk-seed.sh; UP_SEED=0 leaves the stack empty).
stack_build_desk
stack_start_desk "${DESK_PORT:-8090}"
if [ "${UP_SEED:-1}" != 0 ]; then
  log "demo conversations and canned responses (tools/desk-seed.sh)"
  GATEWAYCTL="$GATEWAYCTL" bash tools/desk-seed.sh
fi
{
  for v in AWS_ENDPOINT_URL AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY QUEUE_URL \
    OUTBOUND_QUEUE_URL DEAD_LETTER_QUEUE_URL OUTBOUND_DEAD_LETTER_QUEUE_URL TABLE_NAME \
    TIMERS_QUEUE_URL ALERTS_TOPIC_ARN MEDIA_QUEUE_URL MEDIA_DEAD_LETTER_QUEUE_URL MEDIA_BUCKET \
    EVENT_BUS_NAME EVENTS_OBSERVED_QUEUE_URL \
    DESK_USER_POOL_ID DESK_CLIENT_ID DESK_TOKEN_ISSUER DESK_JWKS_URL DESK_API_URL DESK_URL \
    GATEWAY_LAMBDA_URL GATEWAY_STUB_URL GATEWAY_ACCOUNTS_FILE; do
    printf '%s=%s\n' "$v" "${!v}"
  done
  printf 'PATH=%s:$PATH\n' "$STACK_BIN"
} >"$env_file"

cat >&2 <<MSG

The web desk: open $DESK_URL and sign in as lina / Demo-lina-2026! (agent)
or jing / Demo-jing-2026! (supervisor); demo users: config/desk-users.local.json.

The stack is up. In another shell, from $STACK_ROOT:
  set -a; . $env_file; set +a
  gatewayctl send wechat --account demo --from oCustomer1 --text "想问一下价格"
  gatewayctl local show                       # the stored conversation
  gatewayctl desk login --user agent1         # a desk access token (docs/desk-api.md)
  curl -s -H "Authorization: Bearer \$(gatewayctl desk login --user agent1)" \$DESK_API_URL/conversations
  curl -s \$GATEWAY_STUB_URL/admin/requests   # what the platform stand-ins received
Ctrl-C here stops everything.

MSG
stack_event_sources
