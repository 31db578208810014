//! The desk API end to end, through the running functions (`make test`) with real access
//! tokens of the emulator's Cognito: customers write through the webhook, agents list, take,
//! read, answer (the platform stand-in receives it), annotate and resolve; every answer is
//! checked against docs/desk-api.yaml; the examples of docs/desk-api.md run as written; and the
//! AWS calls of each route are counted on the wire.
#![allow(clippy::unwrap_used)]

use aws_sdk_cognitoidentityprovider::Client as Cognito;
use aws_sdk_cognitoidentityprovider::types::MessageActionType;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway_aws::DynamoDbRulesStore;
use gateway_core::NormalizedMessage;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_tests::openapi::DeskApiSpec;
use gateway_tests::wire::WireProxy;
use gateway_tests::{
    RUNNING_STACK_LOCK, RunningStack, accounts, desk_pool, drain, endpoint, local_desk_users, sdk,
    unique_digits,
};
use gatewayctl::desk;
use gatewayctl::send;
use gatewayctl::stream_source::StreamReader;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A password that meets Cognito's default policy (test users of the emulator only).
const PASSWORD: &str = "Desk-e2e-Pass-2026!";

struct Ctx {
    run: RunningStack,
    http: reqwest::Client,
    sqs: aws_sdk_sqs::Client,
    cognito: Cognito,
    spec: DeskApiSpec,
    /// This run's team: the rules route the test account's conversations to it.
    team: String,
}

/// One answer of the desk API.
struct Answer {
    status: u16,
    etag: Option<String>,
    body: Value,
}

impl Ctx {
    async fn new() -> Ctx {
        let run = RunningStack::from_env();
        let sdk = sdk().await;
        let n = unique_digits();
        let team = format!("desk-{}", &n[n.len() - 8..]);
        let ctx = Ctx {
            run,
            http: gatewayctl::http_client(),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            cognito: Cognito::new(&sdk),
            spec: DeskApiSpec::load(),
            team,
        };
        let rules = format!(
            "version: 1\nrules:\n  - id: route\n    when: {{ account: demo }}\n    then: [ {{ assign: {{ team: {} }} }} ]\n",
            ctx.team
        );
        DynamoDbRulesStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &ctx.run.stack.table_name,
        )
        .push(&rules, send::now_secs() * 1000)
        .await
        .unwrap()
        .unwrap();
        drain::<Value>(&ctx.sqs, &ctx.run.stack.queue_url).await;
        drain::<Value>(&ctx.sqs, &ctx.run.stack.outbound_queue_url).await;
        // The functions re-read the rules after RULES_CACHE_SECS (1 s locally).
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        ctx
    }

    fn base(&self) -> String {
        self.run.webhook_url("desk-api", "")
    }

    /// An agent of this run: a Cognito user in `agents` and, through the supervisor, a desk
    /// profile in `team`. Returns their access token.
    async fn agent(&self, name: &str, team: &str, supervisor: &str) -> String {
        let pool = desk_pool();
        let username = format!("{name}-{}", &self.team);
        self.cognito
            .admin_create_user()
            .user_pool_id(&pool.user_pool_id)
            .username(&username)
            .message_action(MessageActionType::Suppress)
            .send()
            .await
            .unwrap();
        self.cognito
            .admin_set_user_password()
            .user_pool_id(&pool.user_pool_id)
            .username(&username)
            .password(PASSWORD)
            .permanent(true)
            .send()
            .await
            .unwrap();
        self.cognito
            .admin_add_user_to_group()
            .user_pool_id(&pool.user_pool_id)
            .username(&username)
            .group_name("agents")
            .send()
            .await
            .unwrap();
        let profile = json!({
            "agent_id": username, "display_name": name, "teams": [team],
            "accounts": ["wechat:demo"], "capacity": 5, "version": 0,
        });
        let put = self
            .call(
                "PUT",
                "/agents/{agent_id}",
                &format!("/agents/{username}"),
                supervisor,
                Some(profile),
                &[],
            )
            .await;
        assert_eq!(put.status, 201, "{}", put.body);
        desk::login(&self.cognito, &pool.client_id, &username, PASSWORD)
            .await
            .unwrap()
            .access_token
    }

    async fn login(&self, user: &str) -> String {
        let users = local_desk_users();
        let password = users.user(user).unwrap().password.expose();
        desk::login(&self.cognito, &desk_pool().client_id, user, password)
            .await
            .unwrap()
            .access_token
    }

    /// `method path` as `token` (none when empty), its answer checked against the document's
    /// `template`.
    async fn call(
        &self,
        method: &str,
        template: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}{path}", self.base());
        let mut request = self.http.request(method.parse().unwrap(), &url);
        if !token.is_empty() {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_string());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        self.spec.check(method, template, status, &body);
        Answer { status, etag, body }
    }

    /// `GET /conversations/counts` as `token` (their one team's), checked.
    async fn counts(&self, token: &str) -> Value {
        let answer = self
            .call(
                "GET",
                "/conversations/counts",
                "/conversations/counts",
                token,
                None,
                &[],
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }

    /// A WeChat text from `openid` through the webhook, routed by the router.
    async fn customer_writes(&self, openid: &str, text: &str) -> String {
        let xml = send::wechat_text_xml(openid, text, &unique_digits(), send::now_secs());
        let request = send::wechat_push(
            &accounts(),
            "demo",
            &xml,
            Envelope::Compatible,
            send::now_secs(),
        )
        .unwrap();
        let url = self.run.webhook_url("wechat-webhook", "/wechat/demo");
        let (status, _) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!(status, 200);
        self.pump(&self.run.stack.queue_url, "message-router").await;
        NormalizedMessage::conversation_key_for(gateway_core::Channel::WeChat, "demo", openid)
    }

    async fn pump(&self, queue: &str, function: &str) {
        gatewayctl::local::pump(&self.sqs, &self.http, queue, &self.run.invoke_url(function))
            .await
            .unwrap();
    }
}

fn customers(list: &Answer) -> Vec<String> {
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["customer_id"].as_str().unwrap().to_string())
        .collect()
}

/// `token` with its payload replaced (the signature no longer matches).
fn forged(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["cognito:groups"] = json!(["admins"]);
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    parts.join(".")
}

#[tokio::test]
#[ignore = "needs the running functions and the emulator's Cognito (make test)"]
async fn agents_list_take_read_answer_and_resolve_with_real_tokens() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = Ctx::new().await;
    let sup = ctx.login("supervisor1").await;
    let team = ctx.team.clone();
    let alice = ctx.agent("alice", &team, &sup).await;
    let bob = ctx.agent("bob", &team, &sup).await;
    let carol = ctx.agent("carol", "elsewhere", &sup).await;
    // The table's stream from here on, for the statistics (as the event source feeds them).
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let mut stream = StreamReader::open(
        &ddb,
        &ctx.http,
        &endpoint(),
        &ctx.run.stack.table_name,
        true,
    )
    .await
    .unwrap();

    // Two customers write; the first one waits longest.
    let n = unique_digits();
    let (first, second) = (format!("oDeskA{n}"), format!("oDeskB{n}"));
    let key1 = ctx.customer_writes(&first, "我的订单还没到").await;
    let key2 = ctx.customer_writes(&second, "请问怎么退货").await;

    // The unanswered queue, oldest first.
    let queue = ctx
        .call(
            "GET",
            "/conversations",
            "/conversations?unanswered=true",
            &alice,
            None,
            &[],
        )
        .await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert_eq!(customers(&queue), [first.clone(), second.clone()]);
    assert_eq!(
        queue.body["items"][0]["last_message"]["text"],
        "我的订单还没到"
    );

    // The counts beside the queue: both open, waiting and nobody's.
    let counts = ctx.counts(&alice).await;
    assert_eq!(
        counts,
        json!({"counts": {"open": 2, "unanswered": 2, "escalated": 0, "breached": 0,
            "mine": 0, "unassigned": 2, "resolved": 0}, "capped": false})
    );

    // Take next: the longest wait, assigned to alice; bob gets the other one.
    let taken = ctx
        .call(
            "POST",
            "/conversations/next",
            "/conversations/next",
            &alice,
            None,
            &[],
        )
        .await;
    assert_eq!(
        (taken.status, taken.body["key"].as_str()),
        (200, Some(key1.as_str()))
    );
    assert_eq!(
        taken.body["assignee"].as_str(),
        Some(format!("alice-{team}").as_str())
    );
    let bobs = ctx
        .call(
            "POST",
            "/conversations/next",
            "/conversations/next",
            &bob,
            None,
            &[],
        )
        .await;
    assert_eq!(bobs.body["key"].as_str(), Some(key2.as_str()));

    assert_eq!(
        ctx.counts(&alice).await["counts"],
        json!({"open": 2, "unanswered": 2, "escalated": 0, "breached": 0,
            "mine": 1, "unassigned": 0, "resolved": 0})
    );

    // The thread, and whether a reply can be sent.
    let path = format!("/conversations/{key1}");
    let thread = ctx
        .call(
            "GET",
            "/conversations/{key}/messages",
            &format!("{path}/messages"),
            &alice,
            None,
            &[],
        )
        .await;
    assert_eq!(thread.body["items"][0]["type"], "inbound");
    assert_eq!(thread.body["items"][0]["text"], "我的订单还没到");
    let shown = ctx
        .call("GET", "/conversations/{key}", &path, &alice, None, &[])
        .await;
    assert_eq!(shown.body["reply"]["can_reply"], true);
    assert_eq!(shown.body["unanswered"], true);
    assert_eq!(
        shown.body["reply"]["text_limit"],
        json!({"max": 2048, "unit": "bytes"})
    );

    // The answer reaches the customer through the platform stand-in.
    let stub = StubAdmin::new(std::env::var("GATEWAY_STUB_URL").unwrap());
    let reply = ctx
        .call(
            "POST",
            "/conversations/{key}/replies",
            &format!("{path}/replies"),
            &alice,
            Some(json!({"content": {"type": "text", "text": "您好，订单明天送达。"}, "idempotency_key": "r1"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    ctx.pump(&ctx.run.stack.outbound_queue_url, "reply-sender")
        .await;
    let got = stub.requests().await.unwrap();
    let delivered: Vec<&Value> = got["wechat"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["body"]["touser"] == first.as_str())
        .collect();
    assert_eq!(delivered.len(), 1, "{got}");
    assert_eq!(
        delivered[0]["body"]["text"]["content"],
        "您好，订单明天送达。"
    );

    // No longer unanswered; the thread shows the agent's delivered answer.
    let queue = ctx
        .call(
            "GET",
            "/conversations",
            "/conversations?unanswered=true",
            &alice,
            None,
            &[],
        )
        .await;
    assert_eq!(customers(&queue), std::slice::from_ref(&second));
    let thread = ctx
        .call(
            "GET",
            "/conversations/{key}/messages",
            &format!("{path}/messages"),
            &alice,
            None,
            &[],
        )
        .await;
    let out = &thread.body["items"][1];
    assert_eq!(
        (out["type"].as_str(), out["delivery"].as_str()),
        (Some("outbound"), Some("delivered"))
    );
    assert_eq!(
        out["origin"]["agent_id"].as_str(),
        Some(format!("alice-{team}").as_str())
    );

    // A note, then alice resolves; bob's change over the same version is stale.
    let note = ctx
        .call(
            "POST",
            "/conversations/{key}/notes",
            &format!("{path}/notes"),
            &alice,
            Some(json!({"text": "已联系物流"})),
            &[],
        )
        .await;
    assert_eq!(note.status, 201);
    let current = ctx
        .call("GET", "/conversations/{key}", &path, &bob, None, &[])
        .await;
    let version = current.etag.clone().unwrap();
    let resolved = ctx
        .call(
            "PATCH",
            "/conversations/{key}",
            &path,
            &alice,
            Some(json!({"status": "resolved"})),
            &[("if-match", &version)],
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(
        resolved.body["resolved_by"].as_str(),
        Some(format!("agent:alice-{team}").as_str())
    );
    // Answered, key1 waited for the customer (pending: in no open count); now resolved.
    assert_eq!(
        ctx.counts(&bob).await["counts"],
        json!({"open": 1, "unanswered": 1, "escalated": 0, "breached": 0,
            "mine": 1, "unassigned": 0, "resolved": 1})
    );
    let stale = ctx
        .call(
            "PATCH",
            "/conversations/{key}",
            &path,
            &bob,
            Some(json!({"priority": "high"})),
            &[("if-match", &version)],
        )
        .await;
    assert_eq!(
        (stale.status, stale.body["error"].as_str()),
        (409, Some("stale_version"))
    );
    assert_eq!(stale.body["current"]["status"], "resolved");

    // Outside the team: not found, exactly as a conversation that does not exist.
    let outside = ctx
        .call("GET", "/conversations/{key}", &path, &carol, None, &[])
        .await;
    let absent = ctx
        .call(
            "GET",
            "/conversations/{key}",
            "/conversations/wechat:demo:nobody",
            &carol,
            None,
            &[],
        )
        .await;
    assert_eq!(outside.status, 404);
    assert_eq!(outside.body, absent.body);
    let other_queue = ctx
        .call(
            "GET",
            "/conversations",
            &format!("/conversations?team={team}"),
            &carol,
            None,
            &[],
        )
        .await;
    assert_eq!(other_queue.status, 403);

    // Forged, of another app client, or no token: 401.
    let pool = desk_pool();
    let client = desk::create_client(&ctx.cognito, &pool.user_pool_id, &format!("other-{team}"))
        .await
        .unwrap();
    let other_client = desk::login(&ctx.cognito, &client, &format!("alice-{team}"), PASSWORD)
        .await
        .unwrap()
        .access_token;
    for (token, code) in [
        (forged(&alice), "bad_signature"),
        (other_client, "wrong_client"),
        (String::new(), "missing_token"),
    ] {
        let refused = ctx
            .call("GET", "/conversations/{key}", &path, &token, None, &[])
            .await;
        assert_eq!(
            (refused.status, refused.body["error"].as_str()),
            (401, Some(code))
        );
    }

    // The audit trail: each step, by whom.
    let trail = ctx
        .call(
            "GET",
            "/conversations/{key}/audit",
            &format!("{path}/audit"),
            &alice,
            None,
            &[],
        )
        .await;
    let steps: Vec<(&str, &str)> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    let actor = format!("agent:alice-{team}");
    assert_eq!(
        steps,
        [
            ("take", actor.as_str()),
            ("note", actor.as_str()),
            ("update", actor.as_str())
        ]
    );
    assert_eq!(
        trail.body["items"][2]["changes"]["status"]["after"],
        "resolved"
    );

    // The statistics of this run's team, once the aggregator has read the stream: two
    // customers' messages, alice's first response (nothing was due: met), her reply and her
    // resolution. Days around today (records are on the account's local days).
    let aggregator = ctx.run.invoke_url("stats-aggregator");
    for _ in 0..20 {
        let (accepted, failed) = stream.deliver(&aggregator).await.unwrap();
        assert_eq!(failed, 0, "the aggregator refused records");
        if accepted == 0 {
            break;
        }
    }
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Days::new(1), today + chrono::Days::new(1));
    let stats = ctx
        .call(
            "GET",
            "/stats",
            &format!("/stats?account=wechat:demo&team={team}&from={from}&to={to}"),
            &sup,
            None,
            &[],
        )
        .await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert_eq!(stats.body["team"].as_str(), Some(team.as_str()));
    let total = &stats.body["report"]["total"];
    assert_eq!(
        (
            total["inbound"].as_i64(),
            total["opened"].as_i64(),
            total["resolved"].as_i64()
        ),
        (Some(2), Some(2), Some(1)),
        "{total}"
    );
    let daily = stats.body["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 3);
    let sum =
        |items: &[Value], name: &str| items.iter().map(|d| d[name].as_i64().unwrap()).sum::<i64>();
    assert_eq!(
        (
            sum(daily, "inbound"),
            sum(daily, "opened"),
            sum(daily, "resolved")
        ),
        (2, 2, 1)
    );
    assert_eq!(sum(daily, "first_responses_met"), 1);
    let hours = stats.body["hourly_inbound"].as_array().unwrap();
    assert_eq!(hours.len(), 3 * 24);
    assert_eq!(sum(hours, "inbound"), 2);
    let agents = stats.body["agents"].as_object().unwrap();
    assert_eq!(
        agents.keys().collect::<Vec<_>>(),
        [&format!("alice-{team}")],
        "bob answered nobody yet"
    );
    let alice = &agents[&format!("alice-{team}")];
    assert_eq!(
        [
            &alice["first_responses"],
            &alice["first_responses_met"],
            &alice["replies"],
            &alice["resolved"],
            &alice["first_response_time"]["count"],
        ],
        [&json!(1); 5],
        "{alice}"
    );
    assert!(alice["first_response_time"]["p50"].is_string(), "{alice}");
}

/// The shell commands of docs/desk-api.md's route examples, `\` continuations joined, with
/// the status each expects (the number after `#`).
fn doc_examples() -> Vec<(String, u16)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/desk-api.md"))
        .unwrap();
    let section = text
        .split("## Routes, with examples")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        pending.push_str(line.trim_end_matches('\\'));
        if line.ends_with('\\') {
            continue;
        }
        let command = std::mem::take(&mut pending);
        if let Some((cmd, status)) = command.rsplit_once("# ")
            && cmd.trim_start().starts_with("curl ")
        {
            out.push((cmd.trim().to_string(), status.trim().parse().unwrap()));
        }
    }
    out
}

/// The method and the document's route template of a curl command.
fn route_of(command: &str, spec_paths: &[String]) -> (String, String) {
    let method = command
        .split_once("-X ")
        .map(|(_, rest)| rest.split_whitespace().next().unwrap().to_string())
        .unwrap_or_else(|| "GET".into());
    let url = command
        .split('"')
        .rev()
        .find(|p| p.starts_with("$DESK"))
        .unwrap();
    let path = url.trim_start_matches("$DESK").split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let template = spec_paths
        .iter()
        .find(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segments.len()
                && ts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
        .unwrap_or_else(|| panic!("no documented route for {path}"))
        .clone();
    (method, template)
}

#[tokio::test]
#[ignore = "needs the running functions and the emulator's Cognito (make test)"]
async fn the_examples_of_the_desk_api_doc_run_as_written() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = Ctx::new().await;
    let sup = ctx.login("supervisor1").await;
    let team = ctx.team.clone();
    let token = ctx.agent("dora", &team, &sup).await;
    let n = unique_digits();
    let key = ctx.customer_writes(&format!("oDoc{n}"), "你好").await;
    ctx.customer_writes(&format!("oDocNext{n}"), "在吗").await;
    let spec_paths: Vec<String> = {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/desk-api.yaml"
        ))
        .unwrap();
        let doc: Value = serde_norway::from_str(&text).unwrap();
        doc["paths"].as_object().unwrap().keys().cloned().collect()
    };
    let examples = doc_examples();
    assert!(examples.len() >= 15, "{examples:?}");
    for (command, expected) in examples {
        let version = ctx
            .call(
                "GET",
                "/conversations/{key}",
                &format!("/conversations/{key}"),
                &token,
                None,
                &[],
            )
            .await
            .body["version"]
            .to_string();
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{} -w '\\n%{{http_code}}'",
                command.replacen("curl ", "curl -sS ", 1)
            ))
            .env("DESK", ctx.base())
            .env("TOKEN", &token)
            .env("SUP", &sup)
            .env("KEY", &key)
            .env("VERSION", &version)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_str()));
        let status: u16 = status.trim().parse().unwrap_or(0);
        assert_eq!(
            status,
            expected,
            "{command}\n{body}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap()
        };
        let (method, template) = route_of(&command, &spec_paths);
        ctx.spec.check(&method, &template, status, &body);
    }
    // The example's reply stays undelivered: leave the outbound queue as it was found.
    drain::<Value>(&ctx.sqs, &ctx.run.stack.outbound_queue_url).await;
}

/// Signs every request in as `Bearer <name>`, of the `supervisors` group for `supervisor1`
/// and of `agents` for anyone else (the wire test counts AWS calls, not token checks).
struct AnyAgent;

#[async_trait::async_trait]
impl desk_api::handler::Authenticator for AnyAgent {
    async fn identify(
        &self,
        authorization: Option<&str>,
        _: u64,
    ) -> Result<desk_api::handler::Identity, desk_api::handler::Refusal> {
        Ok(desk_api::handler::Identity {
            username: authorization
                .unwrap()
                .trim_start_matches("Bearer ")
                .to_string(),
            groups: vec![if authorization == Some("Bearer supervisor1") {
                "supervisors".into()
            } else {
                "agents".into()
            }],
        })
    }
}

#[tokio::test]
#[ignore = "needs the running functions' table and queues (make test)"]
async fn each_route_makes_the_aws_calls_it_documents_and_none_scans() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = Ctx::new().await;
    let sup = ctx.login("supervisor1").await;
    let team = ctx.team.clone();
    ctx.agent("wire", &team, &sup).await;
    let agent = format!("wire-{team}");
    let key = ctx
        .customer_writes(&format!("oWire{}", unique_digits()), "你好")
        .await;
    let proxy = WireProxy::start(&endpoint());
    let mut config = desk_api::config::Config::from_env().unwrap();
    config.rules_cache = Duration::from_secs(300);
    let desk = desk_api::wiring::desk(&config, &proxy.sdk().await, Arc::new(AnyAgent));
    let send = |method: &str, path: String, body: Option<Value>, if_match: Option<String>| {
        let mut builder = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://desk.example{path}"))
            .header("authorization", format!("Bearer {agent}"));
        if let Some(v) = if_match {
            builder = builder.header("if-match", v);
        }
        let body = body.map_or(lambda_http::Body::Empty, |b| {
            lambda_http::Body::Text(b.to_string())
        });
        builder.body(body).unwrap()
    };
    let targets = |proxy: &WireProxy| -> Vec<String> {
        proxy
            .take()
            .into_iter()
            .map(|c| c.target.rsplit('.').next().unwrap().to_string())
            .collect()
    };
    // Warm the rules cache (read once per RULES_CACHE_SECS, not per request).
    use desk_api::handler::handle_request;
    let _ = handle_request(&desk, send("GET", "/me".into(), None, None)).await;
    proxy.take();

    let mut seen = Vec::new();
    let list = handle_request(&desk, send("GET", "/conversations".into(), None, None)).await;
    assert_eq!(list.status(), 200);
    seen.push(("list", targets(&proxy), vec!["GetItem", "Query"]));
    let counts = handle_request(
        &desk,
        send("GET", "/conversations/counts".into(), None, None),
    )
    .await;
    assert_eq!(counts.status(), 200);
    seen.push((
        "counts (open, then resolved)",
        targets(&proxy),
        vec!["GetItem", "Query", "Query"],
    ));
    let thread = handle_request(
        &desk,
        send("GET", format!("/conversations/{key}/messages"), None, None),
    )
    .await;
    assert_eq!(thread.status(), 200);
    seen.push((
        "thread",
        targets(&proxy),
        vec!["GetItem", "GetItem", "Query"],
    ));
    // A change, once the rules are cached (they are read once per RULES_CACHE_SECS).
    let mut version = String::new();
    for priority in ["low", "high"] {
        let shown = handle_request(
            &desk,
            send("GET", format!("/conversations/{key}"), None, None),
        )
        .await;
        version = shown.headers()["etag"].to_str().unwrap().to_string();
        proxy.take();
        let patched = handle_request(
            &desk,
            send(
                "PATCH",
                format!("/conversations/{key}"),
                Some(json!({ "priority": priority })),
                Some(version.clone()),
            ),
        )
        .await;
        assert_eq!(patched.status(), 200);
    }
    seen.push((
        "patch",
        targets(&proxy),
        vec!["GetItem", "GetItem", "TransactWriteItems"],
    ));
    assert_ne!(version, "");
    let reply = handle_request(
        &desk,
        send(
            "POST",
            format!("/conversations/{key}/replies"),
            Some(json!({"content": {"type": "text", "text": "好的"}})),
            None,
        ),
    )
    .await;
    assert_eq!(reply.status(), 202);
    seen.push((
        "reply",
        targets(&proxy),
        vec!["GetItem", "GetItem", "SendMessage"],
    ));
    // Take next, for an agent of one team: their own conversations (the capacity) and the
    // candidates, one query each, then the candidate read and its conditional write.
    let taken = handle_request(
        &desk,
        send("POST", "/conversations/next".into(), None, None),
    )
    .await;
    assert_eq!(taken.status(), 200);
    seen.push((
        "take next",
        targets(&proxy),
        vec!["GetItem", "Query", "Query", "GetItem", "TransactWriteItems"],
    ));
    // Statistics (a supervisor): the account's records of the days, then the live gauge (the
    // count of waiting customers, and the oldest escalated and other wait).
    use lambda_http::RequestExt;
    let request = lambda_http::http::Request::builder()
        .method("GET")
        .uri("https://desk.example/stats")
        .header("authorization", "Bearer supervisor1")
        .body(lambda_http::Body::Empty)
        .unwrap()
        .with_query_string_parameters(std::collections::HashMap::from([(
            "account".to_string(),
            "wechat:demo".to_string(),
        )]));
    let stats = handle_request(&desk, request).await;
    assert_eq!(stats.status(), 200);
    seen.push((
        "stats",
        targets(&proxy),
        vec!["GetItem", "Query", "Query", "Query", "Query"],
    ));
    for (route, calls, expected) in &seen {
        assert_eq!(calls, expected, "{route}");
        assert!(!calls.iter().any(|c| c == "Scan"), "{route} scans");
    }
    drain::<Value>(&ctx.sqs, &ctx.run.stack.outbound_queue_url).await;
}

#[tokio::test]
#[ignore = "needs the local stack's table (make test)"]
async fn gatewayctl_desk_agents_puts_lists_and_deletes_profiles_in_the_table() {
    let run = RunningStack::from_env();
    let gatewayctl = gateway_tests::sandbox::function_binary("gatewayctl");
    let id = format!("ops-{}", unique_digits());
    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(&gatewayctl)
            .args(["desk", "agents"])
            .args(args)
            .env("TABLE_NAME", &run.stack.table_name)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let put = |capacity: &str| {
        ctl(&[
            "put",
            &id,
            "--display-name",
            "值班员",
            "--teams",
            "complaints,vip",
            "--accounts",
            "wechat:demo",
            "--capacity",
            capacity,
        ])
    };
    let (code, out, err) = put("4");
    assert_eq!(code, 0, "{err}");
    let first: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (first["version"].as_u64(), first["capacity"].as_u64()),
        (Some(1), Some(4))
    );
    let (code, out, _) = put("6");
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["version"],
        2
    );
    let (code, out, _) = ctl(&["list"]);
    assert_eq!(code, 0);
    let mine: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|p| p["agent_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["teams"], json!(["complaints", "vip"]));
    // Checked as the desk checks a supervisor's edit: exit 2, nothing written.
    let (code, _, err) = put("0");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("capacity"), "{err}");
    let (code, _, _) = ctl(&["delete", &id]);
    assert_eq!(code, 0);
    let (code, _, err) = ctl(&["delete", &id]);
    assert_eq!(code, 1, "{err}");
}
