#!/usr/bin/env bash
# Demo conversations and canned responses for the web desk on the local stack (`make up` runs
# it before its event sources start; run it again any time in the stack's environment).
# Messages go through the real webhooks, signed as the platforms sign them; the canned
# responses through the desk API as the demo supervisor `jing` (config/desk-users.local.json).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GATEWAY_LAMBDA_URL:?run in the local stack environment (make up prints it)}"
: "${DESK_API_URL:?DESK_API_URL is not set}"
ctl=${GATEWAYCTL:-gatewayctl}

# --retries: a push the webhook could not queue is sent again unchanged, as the platforms do.
wechat() { "$ctl" send wechat --account demo --from "$1" "${@:2}" --retries 2 >/dev/null; }
weibo() { "$ctl" send weibo --account brand --from "$1" "${@:2}" --retries 2 >/dev/null; }

wechat oDemoZhaoLei --event subscribe
wechat oDemoZhaoLei --text "你好，我上周买的空气净化器还没发货，订单号 20261201-8812，能帮忙查一下吗？"
wechat oDemoSunLi --text "请问你们的门店周末营业吗？"
wechat oDemoSunLi --text "地址在哪里可以查到？https://example.com/stores"
weibo 2489518277 --text "买的手机屏幕一周就坏了，客服也不理人，我要投诉并向媒体曝光！"
weibo 1899002233 --text "请问双十二有什么优惠活动？"
wechat oDemoLiuYang --event CLICK --key MENU_ORDER_STATUS

token=$("$ctl" desk login --user jing)
# Created, or replaced when it exists (a second run of the seed).
canned() {
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
    -H "Content-Type: application/json" -d "{\"id\":\"$1\",${2#\{}" "$DESK_API_URL/canned-responses")
  if [ "$code" = 409 ]; then
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" \
      -H "Content-Type: application/json" -d "{\"id\":\"$1\",${2#\{}" "$DESK_API_URL/canned-responses/$1")
  fi
  case "$code" in 200 | 201) ;; *) echo "canned response $1: HTTP $code" >&2 && return 1 ;; esac
}
canned greeting '{"title":"问候","text":"您好，我是{{agent_name}}，很高兴为您服务。","accounts":["wechat:demo","weibo:brand"]}'
canned apology '{"title":"致歉","text":"非常抱歉给您带来不便，我们已加急处理，30 分钟内给您答复。","accounts":["wechat:demo","weibo:brand"]}'
canned shipping '{"title":"物流查询","text":"已为您查询，订单将于明天发出，届时会短信通知您物流单号。","accounts":["wechat:demo"]}'
echo "seeded: 5 customers on wechat:demo and weibo:brand, 3 canned responses" >&2
