//! The desk API's work per request, AWS calls excluded: the whole handler (the access token's
//! RS256 signature and claims checked with the pool's keys held, the caller's profile, the
//! route, the JSON answer) over in-memory ports. docs/benchmarks.md has the figures.
//!
//!   cargo bench -p desk-api --bench handler
#![allow(clippy::unwrap_used, missing_docs)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use desk_api::auth::{JwksFetchError, JwksSource, TokenVerifier, VerifierSettings};
use desk_api::handler::{DailyStats, Desk, handle_request_at};
use gateway_core::conversation::Conversation;
use gateway_core::delivery::window::ReplyPolicy;
use gateway_core::desk::AgentProfile;
use gateway_core::desk::ports::{ThreadEntry, ThreadItem};
use gateway_core::desk::testing::MemoryDesk;
use gateway_core::ports::{PortError, ReplyQueue, RulesSource};
use gateway_core::rules::RuleSet;
use gateway_core::sla::InboxGauge;
use gateway_core::sla::ports::Inboxes;
use gateway_core::testing::text_message;
use gateway_core::{Channel, outbound::ReplyCommand};
use lambda_http::{Body, Request};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench";
const CLIENT: &str = "desk-web";
/// Inside the token's validity.
const NOW_MS: i64 = 1_796_083_200_000 + 60_000;

struct Keys(String);

#[async_trait::async_trait]
impl JwksSource for Keys {
    async fn fetch(&self) -> Result<String, JwksFetchError> {
        Ok(self.0.clone())
    }
}

struct Rules(Arc<RuleSet>);

#[async_trait::async_trait]
impl RulesSource for Rules {
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
        Ok(self.0.clone())
    }
}

struct Nothing;

#[async_trait::async_trait]
impl ReplyQueue for Nothing {
    async fn enqueue(&self, _: &ReplyCommand) -> Result<(), PortError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl DailyStats for Nothing {
    async fn days(
        &self,
        _: Channel,
        _: &str,
        _: chrono::NaiveDate,
        _: chrono::NaiveDate,
    ) -> Result<Vec<gateway_core::stats::DailyRecord>, PortError> {
        Ok(Vec::new())
    }
}

#[async_trait::async_trait]
impl Inboxes for Nothing {
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
            unanswered: 0,
            oldest_waiting_since: None,
        })
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A pool key made for this run, its JWKS, and an agent's access token signed with it.
fn token_and_keys() -> (String, String) {
    let private = rsa::PrivateKey::new(&mut rand::rngs::SysRng, 2048).unwrap();
    let public = private.to_public_key();
    let jwks = json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench",
        "n": URL_SAFE_NO_PAD.encode(public.n_bytes()),
        "e": URL_SAFE_NO_PAD.encode(public.e_bytes()),
    }]});
    let t0 = NOW_MS / 1000 - 60;
    let claims = json!({
        "sub": "5b3c0f6e-1111-4222-8333-944455556666", "cognito:groups": ["agents"],
        "iss": ISSUER, "client_id": CLIENT, "token_use": "access",
        "scope": "aws.cognito.signin.user.admin", "auth_time": t0, "iat": t0,
        "exp": t0 + 3600, "jti": "j", "username": "agent1",
    });
    let message = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "kid": "bench"})),
        b64(&claims)
    );
    let signature = SigningKey::<rsa::sha2::Sha256>::new(private)
        .sign(message.as_bytes())
        .to_vec();
    (
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)),
        jwks.to_string(),
    )
}

/// 200 waiting conversations of team complaints (every tenth escalated), one of them with a
/// thread of 50 messages, and agent1's profile.
fn desk(jwks: String) -> (Desk, Arc<MemoryDesk>) {
    let store = Arc::new(MemoryDesk::default());
    for i in 0..200i64 {
        let m = text_message(
            "demo",
            &format!("c{i:03}"),
            "1",
            "请问我的订单什么时候到？",
            NOW_MS - 3_600_000 + i * 1000,
        );
        let mut c = Conversation::new_for(&m);
        c.record_inbound(&m);
        c.team = Some("complaints".into());
        if i % 10 == 0 {
            c.escalate(m.received_at_ms, 60);
        }
        c.version = 1;
        store.insert(c);
    }
    let key = "wechat:demo:c001";
    for seq in 1..=50u64 {
        let m = text_message(
            "demo",
            "c001",
            &seq.to_string(),
            "还在吗？我需要帮助。",
            NOW_MS - 1_000_000 + seq as i64,
        );
        store.add_thread(
            key,
            ThreadItem {
                seq,
                id: m.dedupe_id(),
                entry: ThreadEntry::Inbound(m),
                media: Vec::new(),
            },
        );
    }
    store.agents.lock().unwrap().insert(
        "agent1".into(),
        AgentProfile {
            agent_id: "agent1".into(),
            display_name: "Agent One".into(),
            teams: ["complaints".to_string()].into(),
            accounts: ["wechat:demo".to_string()].into(),
            capacity: 5,
            updated_at: 0,
            updated_by: None,
            version: 1,
        },
    );
    let verifier = TokenVerifier::new(
        VerifierSettings {
            issuer: ISSUER.into(),
            client_id: CLIENT.into(),
            jwks_cache: Duration::from_secs(3600),
        },
        Arc::new(Keys(jwks)),
    );
    let rules =
        RuleSet::from_yaml("version: 1\nlifecycle:\n  resolve_removes_tags: [crisis]\nrules: []\n")
            .unwrap();
    let desk = Desk {
        auth: Arc::new(verifier),
        store: store.clone(),
        queue: Arc::new(Nothing),
        rules: Arc::new(Rules(Arc::new(rules))),
        stats: Arc::new(Nothing),
        inboxes: Arc::new(Nothing),
        contacts: Arc::new(gateway_core::profile::crm::InMemoryCrmContacts::default()),
        policy: ReplyPolicy::default(),
        max_body_bytes: 16_384,
        media: Default::default(),
    };
    (desk, store)
}

fn request(
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
    if_match: Option<u64>,
) -> Request {
    use lambda_http::RequestExt;
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://desk.example{path}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(v) = if_match {
        builder = builder.header("if-match", v.to_string());
    }
    let params: std::collections::HashMap<String, String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    builder
        .body(body.map_or(Body::Empty, |b| Body::Text(b.to_string())))
        .unwrap()
        .with_query_string_parameters(params)
}

fn bench(c: &mut Criterion) {
    let (token, jwks) = token_and_keys();
    let (desk, store) = desk(jwks);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let run = |r: Request| {
        let response = rt.block_on(handle_request_at(&desk, r, NOW_MS));
        assert!(response.status().is_success(), "{:?}", response.body());
        response
    };
    // The keys are fetched once, on the first request, and held (as in a warm function).
    run(request("GET", "/me", &token, None, None));

    let mut group = c.benchmark_group("desk");
    group.bench_function("list_unanswered_25", |b| {
        b.iter(|| {
            run(request(
                "GET",
                "/conversations?unanswered=true",
                &token,
                None,
                None,
            ))
        })
    });
    group.bench_function("thread_50", |b| {
        b.iter(|| {
            run(request(
                "GET",
                "/conversations/wechat:demo:c001/messages",
                &token,
                None,
                None,
            ))
        })
    });
    group.bench_function("show", |b| {
        b.iter(|| {
            run(request(
                "GET",
                "/conversations/wechat:demo:c002",
                &token,
                None,
                None,
            ))
        })
    });
    let mut high = false;
    group.bench_function("patch_priority", |b| {
        b.iter(|| {
            high = !high;
            let version = store.conversations.lock().unwrap()["wechat:demo:c003"].version;
            let body = if high {
                r#"{"priority":"high"}"#
            } else {
                r#"{"priority":"low"}"#
            };
            run(request(
                "PATCH",
                "/conversations/wechat:demo:c003",
                &token,
                Some(body),
                Some(version),
            ))
        })
    });
    group.bench_function("reply", |b| {
        b.iter(|| {
            run(request(
                "POST",
                "/conversations/wechat:demo:c004/replies",
                &token,
                Some(r#"{"content":{"type":"text","text":"您好，已为您查询。"}}"#),
                None,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
