//! The routes over in-memory ports: identity, roles and scope, each refusal's status and
//! code, changes with their audit entries, replies checked before they are queued.
#![allow(clippy::unwrap_used)]

use super::*;
use gateway_core::conversation::Conversation;
use gateway_core::desk::AgentProfile;
use gateway_core::desk::testing::MemoryDesk;
use gateway_core::profile::crm::InMemoryCrmContacts;
use gateway_core::rules::RuleSet;
use gateway_core::sla::InboxGauge;
use gateway_core::testing::{RecordingReplyQueue, text_message};
use std::collections::HashMap;

pub(super) const NOW: i64 = 1_714_000_100_000;

struct FakeAuth;

#[async_trait]
impl Authenticator for FakeAuth {
    async fn identify(&self, header: Option<&str>, _: u64) -> Result<Identity, Refusal> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| Refusal::new(401, "missing_token", "no token"))?;
        let groups = match token {
            "agent1" | "agent2" | "agent3" | "nobody" => vec!["agents".to_string()],
            "boss" => vec!["supervisors".to_string()],
            "stranger" => vec!["marketing".to_string()],
            _ => return Err(Refusal::new(401, "bad_signature", "forged")),
        };
        Ok(Identity {
            username: token.to_string(),
            groups,
        })
    }
}

struct Rules(Arc<RuleSet>);

#[async_trait]
impl RulesSource for Rules {
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
        Ok(self.0.clone())
    }
}

struct NoStats;

#[async_trait]
impl DailyStats for NoStats {
    async fn days(
        &self,
        _: Channel,
        _: &str,
        _: chrono::NaiveDate,
        _: chrono::NaiveDate,
    ) -> Result<Vec<DailyRecord>, PortError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Inboxes for NoStats {
    async fn register(&self, _: Channel, _: &str) -> Result<(), PortError> {
        Ok(())
    }
    async fn accounts(&self) -> Result<Vec<(Channel, String)>, PortError> {
        Ok(Vec::new())
    }
    async fn gauge(&self, channel: Channel, account: &str) -> Result<InboxGauge, PortError> {
        Ok(InboxGauge {
            channel,
            account_id: account.into(),
            unanswered: 2,
            oldest_waiting_since: Some(NOW - 90_000),
        })
    }
}

fn profile(id: &str, teams: &[&str], capacity: u32) -> AgentProfile {
    AgentProfile {
        agent_id: id.into(),
        display_name: id.to_uppercase(),
        teams: teams.iter().map(|s| s.to_string()).collect(),
        accounts: ["wechat:demo".to_string()].into(),
        capacity,
        updated_at: 0,
        updated_by: None,
        version: 1,
    }
}

/// Three waiting customers of team complaints (c1 waited longest, c3 is escalated) and one of
/// team sales.
pub(super) fn fixture() -> (Desk, Arc<MemoryDesk>, Arc<RecordingReplyQueue>) {
    let store = Arc::new(MemoryDesk::default());
    for (who, at, team, escalated) in [
        ("c1", 1_000, "complaints", false),
        ("c2", 2_000, "complaints", false),
        ("c3", 3_000, "complaints", true),
        ("s1", 500, "sales", false),
    ] {
        let m = text_message("demo", who, "1", "你好", NOW - 100_000 + at);
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.team = Some(team.into());
        if escalated {
            c.escalate(m.received_at_ms, 60);
        }
        c.version = 1;
        store.insert(c);
    }
    for p in [
        profile("agent1", &["complaints"], 5),
        profile("agent2", &["complaints"], 1),
        profile("agent3", &["sales"], 5),
        AgentProfile {
            teams: Default::default(),
            ..profile("boss", &[], 5)
        },
    ] {
        store.agents.lock().unwrap().insert(p.agent_id.clone(), p);
    }
    let queue = Arc::new(RecordingReplyQueue::default());
    let rules =
        RuleSet::from_yaml("version: 1\nlifecycle:\n  resolve_removes_tags: [crisis]\nrules: []\n")
            .unwrap();
    let desk = Desk {
        auth: Arc::new(FakeAuth),
        store: store.clone(),
        queue: queue.clone(),
        rules: Arc::new(Rules(Arc::new(rules))),
        stats: Arc::new(NoStats),
        inboxes: Arc::new(NoStats),
        contacts: Arc::new(InMemoryCrmContacts::default()),
        policy: ReplyPolicy::default(),
        max_body_bytes: 4096,
        media: Default::default(),
    };
    (desk, store, queue)
}

pub(super) struct Sent {
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) headers: lambda_http::http::HeaderMap,
}

pub(super) async fn send(
    desk: &Desk,
    method: &str,
    path_and_query: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Sent {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://desk.example{path}"));
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let body = body.map_or(Body::Empty, |b| Body::Text(b.to_string()));
    let params: HashMap<String, String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let request = builder
        .body(body)
        .unwrap()
        .with_query_string_parameters(params);
    let response = handle_request_at(desk, request, NOW).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    };
    Sent {
        status,
        body,
        headers,
    }
}

#[tokio::test]
async fn no_or_forged_token_is_401_and_no_desk_group_403() {
    let (desk, _, _) = fixture();
    let r = send(&desk, "GET", "/me", None, None, &[]).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("missing_token"))
    );
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = send(&desk, "GET", "/me", Some("forged"), None, &[]).await;
    assert_eq!(r.status, 401);
    let r = send(&desk, "GET", "/me", Some("stranger"), None, &[]).await;
    assert_eq!(r.status, 403);
    let r = send(&desk, "GET", "/me", Some("agent1"), None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["role"], "agent");
    assert_eq!(r.body["profile"]["teams"], json!(["complaints"]));
}

#[tokio::test]
async fn an_agent_lists_their_team_escalated_first_then_oldest_and_nothing_outside_it() {
    let (desk, _, _) = fixture();
    let r = send(
        &desk,
        "GET",
        "/conversations?unanswered=true",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let keys: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["c3", "c1", "c2"]);
    assert_eq!(r.body["items"][0]["last_message"]["text"], "你好");
    let r = send(
        &desk,
        "GET",
        "/conversations?team=sales",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        &desk,
        "GET",
        "/conversations?limit=500",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("limit")));
    // A conversation of another team is not found, exactly like one that does not exist.
    let other = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:s1",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    let none = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:zz",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!((other.status, &other.body), (404, &none.body));
    // Percent-encoded keys read the same.
    let r = send(
        &desk,
        "GET",
        "/conversations/wechat%3Ademo%3Ac1",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["etag"], "\"1\"");
    assert_eq!(r.body["reply"]["can_reply"], true);
    assert_eq!(r.body["reply"]["windows"][0]["left"], 5);
}

#[tokio::test]
async fn take_next_gives_two_agents_different_conversations_and_stops_at_capacity() {
    let (desk, store, _) = fixture();
    let first = send(
        &desk,
        "POST",
        "/conversations/next",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["customer_id"], "c3", "the escalated one first");
    let second = send(
        &desk,
        "POST",
        "/conversations/next",
        Some("agent2"),
        None,
        &[],
    )
    .await;
    assert_eq!(second.body["customer_id"], "c1", "then the longest wait");
    // agent2's capacity is 1.
    let full = send(
        &desk,
        "POST",
        "/conversations/next",
        Some("agent2"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        (full.status, full.body["error"].as_str()),
        (409, Some("at_capacity"))
    );
    let third = send(
        &desk,
        "POST",
        "/conversations/next",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(third.body["customer_id"], "c2");
    let none = send(
        &desk,
        "POST",
        "/conversations/next",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(none.status, 204);
    let audit = store
        .audits
        .lock()
        .unwrap()
        .get("wechat:demo:c3")
        .cloned()
        .unwrap();
    assert_eq!(audit[0].action, "take");
    assert_eq!(audit[0].actor, "agent:agent1");
}

#[tokio::test]
async fn patch_needs_the_current_version_and_records_the_change() {
    let (desk, store, _) = fixture();
    let path = "/conversations/wechat:demo:c3";
    let body = r#"{"status":"resolved"}"#;
    let r = send(&desk, "PATCH", path, Some("agent1"), Some(body), &[]).await;
    assert_eq!(r.status, 428);
    let r = send(
        &desk,
        "PATCH",
        path,
        Some("agent1"),
        Some(body),
        &[("if-match", "\"7\"")],
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("stale_version"))
    );
    assert_eq!(r.body["current"]["version"], 1);
    let r = send(
        &desk,
        "PATCH",
        path,
        Some("agent1"),
        Some(r#"{"stauts":"x"}"#),
        &[("if-match", "1")],
    )
    .await;
    assert_eq!(r.status, 400);
    let r = send(
        &desk,
        "PATCH",
        path,
        Some("agent1"),
        Some(body),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "resolved");
    assert_eq!(r.headers["etag"], "\"2\"");
    let stored = store.conversations.lock().unwrap()["wechat:demo:c3"].clone();
    assert_eq!(stored.resolved_by.as_deref(), Some("agent:agent1"));
    assert!(!stored.escalated);
    // The same request again is stale: the version moved.
    let r = send(
        &desk,
        "PATCH",
        path,
        Some("agent2"),
        Some(body),
        &[("if-match", "1")],
    )
    .await;
    assert_eq!(r.status, 409);
    // An agent may not assign a colleague.
    let r = send(
        &desk,
        "PATCH",
        path,
        Some("agent1"),
        Some(r#"{"assignee":"agent2"}"#),
        &[("if-match", "2")],
    )
    .await;
    assert_eq!(r.status, 403);
    let trail = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:c3/audit",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(
        trail.body["items"][0]["changes"]["status"]["after"],
        "resolved"
    );
}

#[tokio::test]
async fn a_reply_is_checked_before_it_is_queued_as_the_agents_answer() {
    let (desk, store, queue) = fixture();
    let path = "/conversations/wechat:demo:c1/replies";
    let ok = r#"{"content":{"type":"text","text":"您好"},"idempotency_key":"k1"}"#;
    let r = send(&desk, "POST", path, Some("agent1"), Some(ok), &[]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let again = send(&desk, "POST", path, Some("agent1"), Some(ok), &[]).await;
    assert_eq!(
        again.body["reply_id"], r.body["reply_id"],
        "same key, same reply"
    );
    let commands = queue.commands();
    assert_eq!(
        commands.len(),
        2,
        "queued twice, delivered once (same dedupe id)"
    );
    assert_eq!(commands[0].dedupe_id(), commands[1].dedupe_id());
    assert_eq!(
        commands[0].origin,
        gateway_core::outbound::ReplyOrigin::Agent {
            client_id: "desk".into(),
            agent_id: Some("agent1".into())
        }
    );
    let long = format!(
        r#"{{"content":{{"type":"text","text":"{}"}}}}"#,
        "长".repeat(700)
    );
    let r = send(&desk, "POST", path, Some("agent1"), Some(&long), &[]).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("too_long"))
    );
    // Outside the 48-hour window.
    store
        .conversations
        .lock()
        .unwrap()
        .get_mut("wechat:demo:c1")
        .unwrap()
        .reply_windows
        .message
        .as_mut()
        .unwrap()
        .opened_at = NOW - 49 * 3_600_000;
    let r = send(&desk, "POST", path, Some("agent1"), Some(ok), &[]).await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (422, Some("window_closed"))
    );
    let r = send(&desk, "POST", path, Some("agent1"), Some("{}"), &[]).await;
    assert_eq!(r.status, 400);
    let big = format!(
        r#"{{"content":{{"type":"text","text":"{}"}}}}"#,
        "x".repeat(5000)
    );
    let r = send(&desk, "POST", path, Some("agent1"), Some(&big), &[]).await;
    assert_eq!(r.status, 413);
    assert_eq!(queue.commands().len(), 2, "nothing queued by a refusal");
}

#[tokio::test]
async fn notes_join_the_thread_and_canned_responses_belong_to_supervisors() {
    let (desk, _, _) = fixture();
    let r = send(
        &desk,
        "POST",
        "/conversations/wechat:demo:c1/notes",
        Some("agent1"),
        Some(r#"{"text":"VIP"}"#),
        &[],
    )
    .await;
    assert_eq!(r.status, 201);
    let thread = send(
        &desk,
        "GET",
        "/conversations/wechat:demo:c1/messages",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(thread.body["items"][0]["type"], "note");
    assert_eq!(thread.body["items"][0]["author"], "agent:agent1");

    let canned = r#"{"id":"hello","title":"Hello","text":"您好，我是{{agent_name}}","accounts":["wechat:demo"]}"#;
    let r = send(
        &desk,
        "POST",
        "/canned-responses",
        Some("agent1"),
        Some(canned),
        &[],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        &desk,
        "POST",
        "/canned-responses",
        Some("boss"),
        Some(canned),
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = send(
        &desk,
        "POST",
        "/canned-responses",
        Some("boss"),
        Some(canned),
        &[],
    )
    .await;
    assert_eq!(r.status, 409);
    let r = send(
        &desk,
        "GET",
        "/canned-responses?conversation=wechat:demo:c1",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.body["items"][0]["rendered"], "您好，我是AGENT1");
    let r = send(
        &desk,
        "GET",
        "/stats?account=wechat:demo",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        &desk,
        "GET",
        "/stats?account=wechat:demo",
        Some("boss"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["live"]["oldest_wait_seconds"], 90);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let (desk, _, _) = fixture();
    assert_eq!(
        send(&desk, "GET", "/nothing", Some("agent1"), None, &[])
            .await
            .status,
        404
    );
    assert_eq!(
        send(&desk, "DELETE", "/conversations", Some("agent1"), None, &[])
            .await
            .status,
        405
    );
    let r = send(
        &desk,
        "PUT",
        "/agents/agent9",
        Some("agent1"),
        Some("{}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 403, "agents do not manage profiles");
}

#[tokio::test]
async fn the_text_limit_a_conversation_shows_is_the_one_a_reply_is_held_to() {
    let (desk, _, queue) = fixture();
    let path = "/conversations/wechat:demo:c1";
    let shown = send(&desk, "GET", path, Some("agent1"), None, &[]).await;
    assert_eq!(
        shown.body["reply"]["text_limit"],
        json!({"max": 2048, "unit": "bytes"})
    );
    let max = shown.body["reply"]["text_limit"]["max"].as_u64().unwrap() as usize;
    let reply = |text: String| json!({"content": {"type": "text", "text": text}}).to_string();
    let replies = format!("{path}/replies");
    // Exactly the limit in bytes (a Chinese character is 3): queued; one byte more: refused.
    let at = format!("{}{}", "长".repeat(max / 3), "a".repeat(max % 3));
    assert_eq!(at.len(), max);
    let r = send(
        &desk,
        "POST",
        &replies,
        Some("agent1"),
        Some(&reply(at.clone())),
        &[],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = send(
        &desk,
        "POST",
        &replies,
        Some("agent1"),
        Some(&reply(format!("{at}a"))),
        &[],
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("too_long"))
    );
    assert_eq!(queue.commands().len(), 1);
}

#[tokio::test]
async fn counts_are_of_the_lists_scope_and_follow_take_resolve_and_breach() {
    let (desk, store, _) = fixture();
    let counts = |token: &'static str, query: &'static str| {
        let desk = &desk;
        async move {
            let r = send(
                desk,
                "GET",
                &format!("/conversations/counts{query}"),
                Some(token),
                None,
                &[],
            )
            .await;
            (r.status, r.body)
        }
    };
    let (status, body) = counts("agent1", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"counts": {"open": 3, "unanswered": 3, "escalated": 1, "breached": 0,
            "mine": 0, "unassigned": 3, "resolved": 0}, "capped": false})
    );
    // Take next (the escalated one), c1 resolved, c2's wait breached.
    let taken = send(
        &desk,
        "POST",
        "/conversations/next",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(taken.body["customer_id"], "c3");
    {
        let mut all = store.conversations.lock().unwrap();
        all.get_mut("wechat:demo:c1")
            .unwrap()
            .resolve(NOW, "agent:agent1", &[]);
        all.get_mut("wechat:demo:c2").unwrap().sla_breached_at = Some(NOW);
    }
    let (_, body) = counts("agent1", "").await;
    assert_eq!(
        body["counts"],
        json!({"open": 2, "unanswered": 2, "escalated": 1, "breached": 1,
            "mine": 1, "unassigned": 1, "resolved": 1})
    );
    // The same as the list with the same filter.
    let mine = send(
        &desk,
        "GET",
        "/conversations?assignee=me",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    // A supervisor's account inbox: every team's; an agent's is theirs and unrouted only.
    let (_, body) = counts("boss", "?account=wechat:demo").await;
    assert_eq!(
        (
            body["counts"]["open"].as_u64(),
            body["counts"]["mine"].as_u64()
        ),
        (Some(3), Some(0))
    );
    // The list's refusals.
    assert_eq!(counts("agent1", "?team=sales").await.0, 403);
    let (status, body) = counts("agent1", "?status=open").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("status")));
    let (status, body) = counts("boss", "").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("team")));
}

struct SomeStats(Vec<DailyRecord>);

#[async_trait]
impl DailyStats for SomeStats {
    async fn days(
        &self,
        _: Channel,
        _: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<DailyRecord>, PortError> {
        Ok(self
            .0
            .iter()
            .filter(|r| (from..=to).contains(&r.key.day))
            .cloned()
            .collect())
    }
}

#[tokio::test]
async fn stats_give_each_day_each_hour_and_each_agent_of_the_account_or_a_team() {
    use gateway_core::stats::{DailyDelta, RecordKey};
    let record = |day: &str, team: Option<&str>, counters: &[(&str, i64)]| DailyRecord {
        key: RecordKey {
            day: day.parse().unwrap(),
            team: team.map(str::to_string),
        },
        counts: DailyDelta::from_attributes(counters.iter().map(|(k, n)| (k.to_string(), *n))),
    };
    let (mut desk, _, _) = fixture();
    desk.stats = Arc::new(SomeStats(vec![
        record(
            "2026-03-02",
            None,
            &[
                ("inbound", 5),
                ("inbound_hour:09", 5),
                ("agent:agent1:replies", 4),
            ],
        ),
        record(
            "2026-03-02",
            Some("complaints"),
            &[
                ("inbound", 2),
                ("inbound_hour:23", 2),
                ("first_response_met", 1),
                ("agent:agent1:first_response_met", 1),
                ("agent:agent1:first_response_time:le_1m", 1),
                ("agent:agent1:replies", 1),
            ],
        ),
    ]));
    let get = |query: &'static str| send(&desk, "GET", query, Some("boss"), None, &[]);
    let all = get("/stats?account=wechat:demo&from=2026-03-01&to=2026-03-02").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["team"], Value::Null);
    assert_eq!(all.body["report"]["total"]["inbound"], 5);
    assert_eq!(all.body["report"]["teams"]["complaints"]["inbound"], 2);
    // The 1st has no record: zeros.
    assert_eq!(all.body["daily"][0]["day"], "2026-03-01");
    assert_eq!(all.body["daily"][0]["inbound"], 0);
    assert_eq!(all.body["daily"][1]["inbound"], 5);
    let hours = all.body["hourly_inbound"].as_array().unwrap();
    assert_eq!(hours.len(), 48);
    assert_eq!(hours[33], json!({"hour": "2026-03-02T09", "inbound": 5}));
    assert_eq!(all.body["agents"]["agent1"]["replies"], 4);
    // One team: its figures, its days, its agents.
    let team =
        get("/stats?account=wechat:demo&from=2026-03-01&to=2026-03-02&team=complaints").await;
    assert_eq!(team.status, 200, "{}", team.body);
    assert_eq!(team.body["team"], "complaints");
    assert_eq!(team.body["report"]["total"]["inbound"], 2);
    assert_eq!(team.body["report"]["teams"], json!({}));
    assert_eq!(
        team.body["hourly_inbound"][47],
        json!({"hour": "2026-03-02T23", "inbound": 2})
    );
    assert_eq!(
        team.body["agents"],
        json!({"agent1": {"first_responses": 1, "first_responses_met": 1, "replies": 1,
            "resolved": 0, "first_response_time": {"count": 1, "p50": "le_1m", "p90": "le_1m"}}})
    );
    let bad = get("/stats?account=wechat:demo&team=a%20b").await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (400, Some("team"))
    );
}

#[tokio::test]
async fn a_conversation_shows_the_customers_profile_name_and_opinion_leader_badge() {
    let (desk, store, _) = fixture();
    let key = "wechat:demo:c1";
    let shown = send(
        &desk,
        "GET",
        &format!("/conversations/{key}"),
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(shown.body["profile"], Value::Null, "not fetched yet");
    assert_eq!(shown.body["display_name"], "c1", "the OpenID until then");
    assert_eq!(shown.body["opinion_leader"], false);
    let mut c = store.conversation(key).await.unwrap().unwrap();
    c.profile = Some(gateway_core::conversation::CustomerProfile {
        fetched_at: NOW,
        source: Channel::WeChat,
        language: Some("en".into()),
        subscribed: Some(true),
        subscribe_time: Some(1_700_000_000_000),
        subscribe_scene: Some("ADD_SCENE_QR_CODE".into()),
        remark: Some("VIP 张先生".into()),
        tag_ids: vec![2, 105],
        unionid: Some("uUnion".into()),
        screen_name: None,
        followers_count: None,
        verified: None,
        verified_reason: None,
    });
    store.insert(c.clone());
    let shown = send(
        &desk,
        "GET",
        &format!("/conversations/{key}"),
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(shown.body["display_name"], "VIP 张先生");
    assert_eq!(shown.body["profile"]["unionid"], "uUnion");
    assert_eq!(shown.body["profile"]["tag_ids"], json!([2, 105]));
    assert_eq!(
        shown.body["profile"]["subscribe_scene"],
        "ADD_SCENE_QR_CODE"
    );
    assert_eq!(shown.body["opinion_leader"], false);
    let listed = send(
        &desk,
        "GET",
        "/conversations?team=complaints",
        Some("agent1"),
        None,
        &[],
    )
    .await;
    let row = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap()
        .clone();
    assert_eq!(row["display_name"], "VIP 张先生");
    assert_eq!(row["profile"]["language"], "en");
    if let Some(p) = c.profile.as_mut() {
        p.followers_count = Some(150_000);
    }
    store.insert(c);
    let shown = send(
        &desk,
        "GET",
        &format!("/conversations/{key}"),
        Some("agent1"),
        None,
        &[],
    )
    .await;
    assert_eq!(shown.body["opinion_leader"], true);
}
