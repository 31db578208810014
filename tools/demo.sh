#!/usr/bin/env bash
# `make demo`: starts the local stack (AWS emulator + functions under cargo lambda watch),
# sends a short scripted conversation through the webhooks exactly as WeChat and Weibo would
# (signed, and encrypted for secure-mode accounts), lets the router consume the queue, prints
# what was stored, and stops everything it started.
#
# GATEWAY_ACCOUNTS_FILE names the accounts document to seed (default: the public test-vector
# accounts in config/accounts.local.json).
set -euo pipefail
# shellcheck source=tools/stack.sh
. "$(dirname "$0")/stack.sh"
trap stack_cleanup EXIT

export GATEWAY_ACCOUNTS_FILE="${GATEWAY_ACCOUNTS_FILE:-config/accounts.local.json}"
stack_install_tools
stack_build
stack_start_moto
stack_setup demo "$GATEWAY_ACCOUNTS_FILE"
stack_start_watch

ctl="$GATEWAYCTL"
say() { printf '\n\033[36m%s\033[0m\n' "$*"; }

say "WeChat: a customer follows the account 'demo' (plaintext push)"
$ctl send wechat --account demo --from oDemoCustomer0001 --event subscribe
say "WeChat: they ask a question (compatible mode: plain fields + AES ciphertext)"
$ctl send wechat --account demo --envelope compatible --from oDemoCustomer0001 \
  --msg-id 7300000000000000001 --text "你好，我的订单还没发货，想问一下价格和退货"
say "WeChat: the platform retries the same message (same MsgId): absorbed, stored once"
$ctl send wechat --account demo --envelope compatible --from oDemoCustomer0001 \
  --msg-id 7300000000000000001 --text "你好，我的订单还没发货，想问一下价格和退货"
say "WeChat: another customer writes to 'secure-demo' (secure mode, AES only)"
$ctl send wechat --account secure-demo --envelope secure --from oDemoCustomer0002 \
  --msg-id 7300000000000000002 --text "Where is my parcel?"
say "Weibo: a fan follows 'brand' and sends a private message"
$ctl send weibo --account brand --from 2489518277 --event follow
$ctl send weibo --account brand --from 2489518277 --text "客服你好，想投诉一下快递太慢"
say "A forged request (wrong signature) is refused and queues nothing"
curl -s -o /dev/stdout -w ' -> HTTP %{http_code}\n' -X POST \
  "$GATEWAY_LAMBDA_URL/lambda-url/wechat-webhook/wechat/demo?signature=0000&timestamp=$(date +%s)&nonce=1" \
  --data '<xml><ToUserName>x</ToUserName></xml>'

say "The router consumes the queue (as the Lambda SQS event source would)"
$ctl local pump --invoke-url "$GATEWAY_LAMBDA_URL/2015-03-31/functions/message-router/invocations"

say "The reply sender delivers the rules' auto-replies through the platform APIs (local stand-ins)"
$ctl local pump --queue-url "$OUTBOUND_QUEUE_URL" \
  --invoke-url "$GATEWAY_LAMBDA_URL/2015-03-31/functions/reply-sender/invocations"

say "An agent answers the Weibo complaint through reply-api (HMAC-signed, as a CRM would)"
body='{"conversation_key":"weibo:brand:2489518277","content":{"type":"text","text":"您好，已为您催促快递，今天内送达。"},"idempotency_key":"demo-ticket-1","agent_id":"alice"}'
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "local-demo-crm-signing-secret" | awk '{print $NF}')
curl -sS -w ' -> HTTP %{http_code}\n' -X POST "$GATEWAY_LAMBDA_URL/lambda-url/reply-api/replies" \
  -H 'Content-Type: application/json' -H "X-Gateway-Client: demo-crm" \
  -H "X-Gateway-Timestamp: $ts" -H "X-Gateway-Signature: v1=$sig" --data-binary "$body"
$ctl local pump --queue-url "$OUTBOUND_QUEUE_URL" \
  --invoke-url "$GATEWAY_LAMBDA_URL/2015-03-31/functions/reply-sender/invocations"

say "What the platforms received"
curl -sS "$GATEWAY_STUB_URL/admin/requests" | python3 -c '
import json, sys, urllib.parse
r = json.load(sys.stdin)
for m in r["wechat"]["messages"]:
    b = m["body"]
    what = b.get("text", {}).get("content") or b.get("msgtype")
    print("  WeChat custom message to", b.get("touser"), ":", what)
for m in r["weibo"]["replies"]:
    data = json.loads(urllib.parse.unquote(m.get("data", "{}")) or "{}")
    print("  Weibo reply to", m.get("receiver_id"), ":", data.get("text") or m.get("type"))
print("  (" + str(len(r["wechat"]["token_requests"])) + " WeChat access-token request(s) in all)")
'

say "Stored in DynamoDB (table $TABLE_NAME)"
$ctl local show
