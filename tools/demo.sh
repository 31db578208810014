#!/usr/bin/env bash
# `make demo`: a short scripted conversation on the local stack of `make up`, which keeps
# running by itself: its queues' event sources feed the router and the reply sender, so
# nothing here pumps a queue. It sends requests exactly as WeChat and Weibo would (signed, and
# encrypted for secure-mode accounts), a complaint that the crisis rule acknowledges but that
# stays unanswered until an agent's answer arrives through reply-api as a CRM would,
# waits until they are stored and answered, prints what the platforms received and what was
# stored, checks it, and stops the stack with Ctrl-C (SIGINT), checking that everything it
# started stopped. `make test` runs it; it exits non-zero when anything is not as shown.
#
# GATEWAY_ACCOUNTS_FILE names the accounts document to seed (default: the public test-vector
# accounts in config/accounts.local.json; the checks expect those accounts).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/gateway-demo.XXXXXX")
say() { printf '\n\033[36m%s\033[0m\n' "$*"; }
log() { printf '\033[1m==>\033[0m demo: %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; tail -n 30 "$dir/up.log" >&2 || true; exit 1; }

set -m # tools/up.sh in its own process group, so that Ctrl-C reaches all of it
# No demo conversations of the web desk (the checks below count what is stored), and the desk
# on a free port.
desk_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
UP_SEED=0 DESK_PORT=$desk_port UP_ENV_FILE="$dir/up.env" bash tools/up.sh >"$dir/up.log" 2>&1 &
up=$!
set +m
stop_up() { kill -INT -- "-$up" 2>/dev/null || true; }
trap stop_up EXIT

log "make up: building and starting the stack (log: $dir/up.log)"
for i in $(seq 1 600); do
  grep -q "event sources running" "$dir/up.log" 2>/dev/null && break
  kill -0 "$up" 2>/dev/null || fail "tools/up.sh exited before the event sources ran"
  ((i % 20 == 0)) && log "still starting ($((i / 2)) s): $(grep '==>' "$dir/up.log" | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g; s/^==> //')"
  sleep 0.5
done
grep -q "event sources running" "$dir/up.log" || fail "the stack did not come up within 300 s"
log "the stack is up; the event sources are running"
set -a
# shellcheck disable=SC1091
. "$dir/up.env"
set +a

# What is stored and what the platforms received, as one JSON object (see `expect` below).
state() {
  gatewayctl local show --raw >"$dir/items.jsonl"
  curl -fsS "$GATEWAY_STUB_URL/admin/requests" >"$dir/requests.json"
  python3 - "$dir/items.jsonl" "$dir/requests.json" <<'PY'
import json, sys, urllib.parse
items = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
requests = json.load(open(sys.argv[2], encoding="utf-8"))
conversations = [c for c in items if c.get("entity") == "conversation"]
inbound = {c["key"]: c["inbound_count"] for c in conversations}
waiting = {c["key"]: c.get("waiting_since") is not None for c in conversations}
escalated = {c["key"]: bool(c.get("escalated")) for c in conversations}
wechat = sorted({m["body"].get("touser") for m in requests["wechat"]["messages"] if m.get("accepted")})
weibo = [json.loads(urllib.parse.unquote(m.get("data", "{}")) or "{}").get("text", "")
         for m in requests["weibo"]["replies"]]
print(json.dumps({"inbound": inbound, "waiting": waiting, "escalated": escalated,
                  "wechat_to": wechat, "weibo_texts": weibo}, ensure_ascii=False))
PY
}

# Waits up to 60 s until the Python condition on `s` (the state above) holds.
wait_for() {
  local what="$1" condition="$2"
  for _ in $(seq 1 120); do
    if state | python3 -c "import json, sys; s = json.load(sys.stdin); sys.exit(0 if ($condition) else 1)"; then
      log "$what"
      return 0
    fi
    sleep 0.5
  done
  fail "not within 60 s: $what; last state: $(state)"
}

say "WeChat: a customer follows the account 'demo' (plaintext push)"
gatewayctl send wechat --account demo --from oDemoCustomer0001 --event subscribe
say "WeChat: they ask a question (compatible mode: plain fields + AES ciphertext)"
gatewayctl send wechat --account demo --envelope compatible --from oDemoCustomer0001 \
  --msg-id 7300000000000000001 --text "你好，我的订单还没发货，想问一下价格和退货"
say "WeChat: the platform retries the same message (same MsgId): absorbed, stored once"
gatewayctl send wechat --account demo --envelope compatible --from oDemoCustomer0001 \
  --msg-id 7300000000000000001 --text "你好，我的订单还没发货，想问一下价格和退货"
say "WeChat: another customer writes to 'secure-demo' (secure mode, AES only)"
gatewayctl send wechat --account secure-demo --envelope secure --from oDemoCustomer0002 \
  --msg-id 7300000000000000002 --text "Where is my parcel?"
say "Weibo: a fan follows 'brand' and sends a private message"
gatewayctl send weibo --account brand --from 2489518277 --event follow
gatewayctl send weibo --account brand --from 2489518277 --text "客服你好，想投诉一下快递太慢"
say "A forged request (wrong signature) is refused and queues nothing"
forged=$(curl -s -o "$dir/forged.txt" -w '%{http_code}' -X POST \
  "$GATEWAY_LAMBDA_URL/lambda-url/wechat-webhook/wechat/demo?signature=0000&timestamp=$(date +%s)&nonce=1" \
  --data '<xml><ToUserName>x</ToUserName></xml>')
echo "$(cat "$dir/forged.txt") -> HTTP $forged"
[ "$forged" = 401 ] || fail "the forged request got HTTP $forged, not 401"

say "No pump: the event sources hand the queue to the router and the replies to the reply sender"
wait_for "all three conversations stored" \
  's["inbound"].get("wechat:demo:oDemoCustomer0001") == 2 and s["inbound"].get("wechat:secure-demo:oDemoCustomer0002") == 1 and s["inbound"].get("weibo:brand:2489518277") == 2'
wait_for "the rules' auto-reply delivered to the WeChat customer" \
  '"oDemoCustomer0001" in s["wechat_to"]'
wait_for "the price question answered by its FAQ rule (counts as an answer)" \
  'not s["waiting"].get("wechat:demo:oDemoCustomer0001")'
wait_for "the rules' notice (out of office, or an acknowledgement in office hours) delivered, the secure-demo customer still waiting for a person" \
  '"oDemoCustomer0002" in s["wechat_to"] and s["waiting"].get("wechat:secure-demo:oDemoCustomer0002")'

wait_for "the crisis rule's apology delivered to the Weibo fan" \
  "any('非常抱歉' in t for t in s['weibo_texts'])"
say "The apology is not an answer: the complaint stays escalated and unanswered, its 60-second clock running"
wait_for "weibo:brand:2489518277 escalated and still unanswered" \
  's["escalated"].get("weibo:brand:2489518277") and s["waiting"].get("weibo:brand:2489518277")'

say "An agent answers the Weibo complaint through reply-api (HMAC-signed, as a CRM would)"
agent_text="您好，已为您催促快递，今天内送达。"
body="{\"conversation_key\":\"weibo:brand:2489518277\",\"content\":{\"type\":\"text\",\"text\":\"$agent_text\"},\"idempotency_key\":\"demo-ticket-1\",\"agent_id\":\"alice\"}"
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "local-demo-crm-signing-secret" | awk '{print $NF}')
accepted=$(curl -sS -o "$dir/reply.json" -w '%{http_code}' -X POST "$GATEWAY_LAMBDA_URL/lambda-url/reply-api/replies" \
  -H 'Content-Type: application/json' -H "X-Gateway-Client: demo-crm" \
  -H "X-Gateway-Timestamp: $ts" -H "X-Gateway-Signature: v1=$sig" --data-binary "$body")
echo "$(cat "$dir/reply.json") -> HTTP $accepted"
[ "$accepted" = 202 ] || fail "reply-api answered HTTP $accepted, not 202"
wait_for "the agent's answer delivered to the Weibo fan" \
  "any(t == '$agent_text' for t in s['weibo_texts'])"
wait_for "the complaint answered by a person: no longer unanswered" \
  'not s["waiting"].get("weibo:brand:2489518277")'

say "What the platforms received"
python3 - "$dir/requests.json" <<'PY'
import json, sys, urllib.parse
r = json.load(open(sys.argv[1], encoding="utf-8"))
for m in r["wechat"]["messages"]:
    b = m["body"]
    what = b.get("text", {}).get("content") or b.get("msgtype")
    print("  WeChat custom message to", b.get("touser"), ":", what)
for m in r["weibo"]["replies"]:
    data = json.loads(urllib.parse.unquote(m.get("data", "{}")) or "{}")
    print("  Weibo reply to", m.get("receiver_id"), ":", data.get("text") or m.get("type"))
print("  (" + str(len(r["wechat"]["token_requests"])) + " WeChat access-token request(s) in all)")
PY

say "Stored in DynamoDB (table $TABLE_NAME)"
gatewayctl local show

say "Ctrl-C: the stack stops"
stop_up
trap - EXIT
for _ in $(seq 1 60); do
  kill -0 "$up" 2>/dev/null || break
  sleep 0.5
done
kill -0 "$up" 2>/dev/null && fail "tools/up.sh still running 30 s after Ctrl-C"
for url in "$AWS_ENDPOINT_URL/moto-api/" "$GATEWAY_LAMBDA_URL/" "$GATEWAY_STUB_URL/admin/requests"; do
  if curl -s -o /dev/null --max-time 2 "$url"; then
    fail "$url still answers after Ctrl-C"
  fi
done
log "passed: stored, answered by the rules and by an agent, with no manual step; everything stopped"
