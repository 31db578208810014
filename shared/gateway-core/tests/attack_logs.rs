//! The attack table (`attack_cases`) in process, through `WebhookService::handle` with a
//! captured tracing subscriber: each case gets its documented status and error code, nothing
//! is published, and exactly one `warn` event is logged, carrying the code, channel and
//! account, and neither a secret of the accounts document nor any part of the body.
#![allow(clippy::unwrap_used)]

mod attack_cases;

use async_trait::async_trait;
use attack_cases::{Attack, BODY_MARKER, accounts, attacks, secrets};
use gateway_core::NormalizedMessage;
use gateway_core::account::AccountsDocument;
use gateway_core::channel::{HttpMethod, InboundRequest, Limits};
use gateway_core::ports::{AccountDirectory, MessagePublisher, PortError};
use gateway_core::webhook::WebhookService;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured event: its level and every field as `name=value`.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    text: String,
}

/// A minimal subscriber that keeps every event (no spans needed here).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        // Raw, unescaped: what a plain formatter could print.
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            text: fields.0,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

struct Accounts(Arc<AccountsDocument>);

#[async_trait]
impl AccountDirectory for Accounts {
    async fn accounts(&self) -> Result<Arc<AccountsDocument>, PortError> {
        Ok(self.0.clone())
    }
}

#[derive(Default)]
struct Recording(Mutex<Vec<NormalizedMessage>>);

#[async_trait]
impl MessagePublisher for Recording {
    async fn publish(&self, message: &NormalizedMessage) -> Result<(), PortError> {
        self.0.lock().unwrap().push(message.clone());
        Ok(())
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn method(m: &str) -> HttpMethod {
    match m {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        _ => HttpMethod::Other,
    }
}

/// Substrings of the body an echoing log would contain: the marker, and for bodies long
/// enough, a few 24-byte windows of the raw text (the ciphertext of encrypted ones).
fn body_fragments(a: &Attack) -> Vec<String> {
    let mut out = vec![BODY_MARKER.to_string()];
    if let Ok(text) = std::str::from_utf8(&a.body) {
        let chars: Vec<char> = text.chars().collect();
        for start in [0, chars.len() / 3, chars.len() / 2] {
            if chars.len() >= start + 24 {
                out.push(chars[start..start + 24].iter().collect());
            }
        }
    }
    if let Some(encrypt) = a.body.windows(9).position(|w| w == b"<![CDATA[") {
        let rest = &a.body[encrypt + 9..];
        if let Some(end) = rest.windows(3).position(|w| w == b"]]>") {
            let value = String::from_utf8_lossy(&rest[..end]).to_string();
            if value.len() >= 12 {
                out.push(value);
            }
        }
    }
    out
}

#[tokio::test]
async fn every_attack_gets_its_status_and_code_queues_nothing_and_logs_one_clean_warning() {
    let doc = Arc::new(accounts());
    let forbidden = secrets(&doc);
    assert!(forbidden.len() >= 5, "{forbidden:?}");
    let now = now_secs();
    let table = attacks(now);
    assert!(table.len() >= 50, "{} cases", table.len());

    let mut failures = Vec::new();
    for attack in &table {
        let publisher = Arc::new(Recording::default());
        let service = WebhookService {
            channel: attack.channel,
            accounts: Arc::new(Accounts(doc.clone())),
            publisher: publisher.clone(),
            limits: Limits::default(),
            passive: None,
        };
        let capture = Capture::default();
        let request = InboundRequest {
            method: method(attack.method),
            account_id: &attack.account,
            query: &attack.query,
            body: &attack.body,
            received_at_ms: now * 1000,
        };
        let reply = {
            let _guard = tracing::subscriber::set_default(capture.clone());
            service.handle(&request).await
        };
        let events = capture.0.lock().unwrap().clone();
        let name = attack.name;

        if reply.status != attack.status
            || reply.body != format!("{{\"error\":\"{}\"}}", attack.public_code())
        {
            failures.push(format!(
                "{name}: got {} {}, want {} {}",
                reply.status, reply.body, attack.status, attack.code
            ));
            continue;
        }
        if !publisher.0.lock().unwrap().is_empty() {
            failures.push(format!("{name}: a message was published"));
        }
        let warns: Vec<_> = events.iter().filter(|e| e.level == Level::WARN).collect();
        if warns.len() != 1 || events.iter().any(|e| e.level < Level::WARN) {
            // Level ordering: ERROR < WARN in tracing's Ord (more verbose is greater).
            failures.push(format!("{name}: events {events:?}"));
            continue;
        }
        let line = &warns[0].text;
        for want in [
            format!("error.code={}", attack.code),
            format!("channel={}", attack.channel),
            format!("status={}", attack.status),
        ] {
            if !line.contains(&want) {
                failures.push(format!("{name}: `{want}` missing from {line}"));
            }
        }
        if !attack.account.is_empty() && !line.contains(&attack.account) {
            failures.push(format!("{name}: account missing from {line}"));
        }
        for all in events.iter().map(|e| &e.text) {
            for s in &forbidden {
                if all.contains(s.as_str()) {
                    failures.push(format!("{name}: a secret is logged: {all}"));
                }
            }
            for f in body_fragments(attack) {
                if all.contains(&f) {
                    failures.push(format!("{name}: body text `{f}` is logged: {all}"));
                }
            }
            for (k, v) in &attack.query {
                if v.len() >= 16 && all.contains(v.as_str()) {
                    failures.push(format!("{name}: query `{k}` is logged: {all}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn table_names_are_unique_and_cover_the_issue_list() {
    let table = attacks(now_secs());
    let mut names: Vec<_> = table.iter().map(|a| a.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicate case names");
    for needed in [
        "forged",
        "replayed",
        "stale",
        "future",
        "oversize",
        "billion_laughs",
        "external_entity",
        "truncated",
        "bad_padding",
        "wrong_appid",
        "unknown_account",
        "method",
        "dot_dot",
        "long_account",
        "nested_json",
        "in_seconds",
        "missing_signature",
        "missing_timestamp",
        "missing_nonce",
        "missing_msg_signature",
    ] {
        assert!(
            names.iter().any(|n| n.contains(needed)),
            "no case for {needed}"
        );
    }
}
