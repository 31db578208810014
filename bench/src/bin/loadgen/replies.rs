//! The reply reconciliation: per customer, the sends the platform stand-ins accepted against
//! what the gateway's delivery records say, so that a reply sent twice, or recorded delivered
//! but never sent, fails the run.
//!
//! Each delivery record counts as one of:
//!
//! * **sent**: `delivered`, or `sent` (the platform accepted it; recording it is pending). The
//!   platform must have accepted it exactly once.
//! * **not sent**: `undeliverable` with a definite reason (`window_closed`, `quota_exhausted`,
//!   `no_interaction`, `unfollowed`, `no_reply_api`: the gateway decided not to send, or the
//!   platform refused the call), or `failed` (a permanent refusal, or the attempt limit after
//!   refusals: the command was dead-lettered). The platform accepted it zero times.
//! * **uncertain**: `undeliverable` with `delivery_uncertain` (no usable answer from the
//!   platform, or an attempt that died during the call), or `calling` (an attempt in flight).
//!   Accepted zero times or once.
//! * **unrecognised**: any other state, or `undeliverable` with any other reason (or none).
//!
//! Per customer (channel and recipient id), with `accepted` the sends the stand-in accepted:
//! `delivered ≤ accepted ≤ delivered + uncertain`, so with no uncertain record
//! `accepted == delivered` exactly. `accepted` above the upper bound counts as sent twice,
//! below `delivered` as delivered but never accepted (lost). The check passes only with both
//! at zero and no unrecognised record. Calls the stand-in refused (scripted errors, the
//! WeChat quota `45047`, expired tokens) are no sends.

use crate::env;
use crate::pump::queue_depth;
use anyhow::Result;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The reasons of an `undeliverable` record that say the platform did not take the reply.
const DEFINITE_REASONS: [&str; 5] = [
    "window_closed",
    "quota_exhausted",
    "no_interaction",
    "unfollowed",
    "no_reply_api",
];

/// What one delivery record says about the platform's accepted sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Sent,
    NotSent,
    Uncertain,
    Unrecognised,
}

fn classify(state: &str, reason: Option<&str>) -> Recorded {
    match (state, reason) {
        ("delivered" | "sent", _) => Recorded::Sent,
        ("failed", _) => Recorded::NotSent,
        ("calling", _) | ("undeliverable", Some("delivery_uncertain")) => Recorded::Uncertain,
        ("undeliverable", Some(r)) if DEFINITE_REASONS.contains(&r) => Recorded::NotSent,
        _ => Recorded::Unrecognised,
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct PerCustomer {
    accepted: usize,
    delivered: usize,
    not_sent: usize,
    uncertain: usize,
}

/// The outcome of [`check_sends`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SendCheck {
    /// Accepted sends above `delivered + uncertain`, summed over the customers.
    pub sent_twice: usize,
    /// `delivered` above the accepted sends, summed over the customers.
    pub lost: usize,
    /// Records neither sent, not sent nor uncertain, by `state/reason`.
    pub unrecognised: BTreeMap<String, usize>,
    /// Records counted sent, not sent and uncertain.
    pub delivered: usize,
    pub not_sent: usize,
    pub uncertain: usize,
    /// Platform calls accepted, and refused by kind (`scripted_error`, `quota`, `token`,
    /// `other`).
    pub accepted: usize,
    pub refused: BTreeMap<&'static str, usize>,
    /// The first customers failing the bounds, with their figures.
    pub first_mismatches: Vec<Value>,
}

impl SendCheck {
    pub fn ok(&self) -> bool {
        self.sent_twice == 0 && self.lost == 0 && self.unrecognised.is_empty()
    }

    /// Platform calls refused by a scripted error (WeChat `-1`; every refused Weibo call: the
    /// Weibo stand-in refuses only scripted ones).
    pub fn refused_by_scripted_errors(&self) -> usize {
        self.refused.get("scripted_error").copied().unwrap_or(0)
    }
}

/// Reconciles the delivery records among `items` (the table) with the stand-ins' request log
/// (`GET /admin/requests`).
pub fn check_sends(items: &[Value], requests: &Value) -> SendCheck {
    let mut out = SendCheck::default();
    let mut customers: BTreeMap<String, PerCustomer> = BTreeMap::new();
    for item in items.iter().filter(|i| i["entity"] == "delivery") {
        let state = item["state"].as_str().unwrap_or_default();
        let reason = item["reason"].as_str();
        let channel = item["channel"]
            .as_str()
            .or_else(|| item["command"]["channel"].as_str())
            .unwrap_or_default();
        let to = item["command"]["recipient_id"].as_str().unwrap_or_default();
        let c = customers.entry(format!("{channel}:{to}")).or_default();
        match classify(state, reason) {
            Recorded::Sent => c.delivered += 1,
            Recorded::NotSent => c.not_sent += 1,
            Recorded::Uncertain => c.uncertain += 1,
            Recorded::Unrecognised => {
                *out.unrecognised
                    .entry(format!("{state}/{}", reason.unwrap_or("")))
                    .or_default() += 1;
            }
        }
    }
    let calls = [
        ("wechat", &requests["wechat"]["messages"], "/body/touser"),
        ("weibo", &requests["weibo"]["replies"], "/receiver_id"),
    ];
    for (channel, list, recipient) in calls {
        for call in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            if call["accepted"] == true {
                out.accepted += 1;
                let to = call.pointer(recipient).and_then(Value::as_str);
                let key = format!("{channel}:{}", to.unwrap_or_default());
                customers.entry(key).or_default().accepted += 1;
                continue;
            }
            let kind = match (channel, call["errcode"].as_i64()) {
                ("weibo", _) | (_, Some(-1)) => "scripted_error",
                (_, Some(45047)) => "quota",
                (_, None) => "token",
                _ => "other",
            };
            *out.refused.entry(kind).or_default() += 1;
        }
    }
    for (customer, c) in &customers {
        let twice = c.accepted.saturating_sub(c.delivered + c.uncertain);
        let lost = c.delivered.saturating_sub(c.accepted);
        out.sent_twice += twice;
        out.lost += lost;
        out.delivered += c.delivered;
        out.not_sent += c.not_sent;
        out.uncertain += c.uncertain;
        if (twice > 0 || lost > 0) && out.first_mismatches.len() < 10 {
            out.first_mismatches.push(json!({
                "customer": customer,
                "accepted": c.accepted,
                "delivered": c.delivered,
                "uncertain": c.uncertain,
                "not_sent": c.not_sent,
            }));
        }
    }
    out
}

/// The auto-reply commands (idempotency keys `rule:{message}:{rule}:{index}`) that the committed
/// decision recorded for their message on its conversation (`decided_replies`, reply ids cut to
/// 16 hex characters) does not contain: queued by a router attempt that lost a conflict, they
/// are acknowledged by the sender as superseded and never get a delivery record. A command whose
/// message has no recorded decision is not counted here (it must have a record).
fn superseded(items: &[Value], commands_seen: &BTreeSet<String>) -> BTreeSet<String> {
    let mut decided: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for item in items.iter().filter(|i| i["entity"] == "conversation") {
        if let Some(map) = item["decided_replies"].as_object() {
            for (message, ids) in map {
                let ids = ids
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                decided.insert(message.as_str(), ids);
            }
        }
    }
    commands_seen
        .iter()
        .filter(|key| {
            let Some(rest) = key.strip_prefix("rule:") else {
                return false;
            };
            // The message's dedupe id may hold ':' itself: the rule and index are the last two.
            let mut parts = rest.rsplitn(3, ':');
            let (_, _, message) = (parts.next(), parts.next(), parts.next());
            let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
            message
                .and_then(|m| decided.get(m))
                .is_some_and(|ids| !ids.contains(&&id[..16]))
        })
        .cloned()
        .collect()
}

/// The reply reconciliation: [`check_sends`], every reply command seen by the reply pump has a
/// delivery record (except those [`superseded`] by the committed decision), none is left
/// `calling` or `sent`, and the outbound queue and its dead-letter queue are empty.
pub async fn reconcile_replies(
    sqs: &aws_sdk_sqs::Client,
    items: &[Value],
    stub: &gatewayctl::stub::StubAdmin,
    commands_seen: &BTreeSet<String>,
) -> Result<(Value, SendCheck)> {
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut recorded: BTreeSet<&str> = BTreeSet::new();
    for item in items.iter().filter(|i| i["entity"] == "delivery") {
        let state = item["state"].as_str().unwrap_or_default();
        let reason = item["reason"].as_str();
        let label = match (state, reason) {
            ("undeliverable", Some(r)) => format!("undeliverable/{r}"),
            _ => state.to_string(),
        };
        *states.entry(label).or_default() += 1;
        recorded.insert(
            item["command"]["idempotency_key"]
                .as_str()
                .unwrap_or_default(),
        );
    }
    let sends = check_sends(items, &stub.requests().await?);
    let superseded = superseded(items, commands_seen);
    let without_record = commands_seen
        .iter()
        .filter(|k| !recorded.contains(k.as_str()) && !superseded.contains(*k))
        .count();
    let stuck =
        states.get("calling").copied().unwrap_or(0) + states.get("sent").copied().unwrap_or(0);
    let dead_letters = queue_depth(sqs, &env("OUTBOUND_DEAD_LETTER_QUEUE_URL")?).await?;
    let left = queue_depth(sqs, &env("OUTBOUND_QUEUE_URL")?).await?;
    let ok = sends.ok() && without_record == 0 && stuck == 0 && left == 0 && dead_letters == 0;
    let json = json!({
        "commands": commands_seen.len(),
        "records_by_state": states,
        "records_sent": sends.delivered,
        "records_not_sent": sends.not_sent,
        "records_uncertain": sends.uncertain,
        "records_unrecognised": sends.unrecognised,
        "platform_sends_accepted": sends.accepted,
        "platform_calls_refused": sends.refused,
        "sent_twice": sends.sent_twice,
        "delivered_but_never_accepted": sends.lost,
        "first_mismatches": sends.first_mismatches,
        "commands_superseded": superseded.len(),
        "commands_without_record": without_record,
        "stuck_in_flight": stuck,
        "dead_lettered": dead_letters,
        "left_in_queue": left,
        "ok": ok,
    });
    Ok((json, sends))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_command_missing_from_its_messages_decision_is_superseded() {
        let key = |m: &str, rule: &str| format!("rule:{m}:{rule}:0");
        let short = |k: &str| {
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(k.as_bytes()))[..16].to_string()
        };
        let kept = key("msg:1", "fallback");
        let lost = key("msg:1", "welcome");
        let no_decision = key("msg:2", "welcome");
        let items = vec![json!({
            "entity": "conversation",
            "decided_replies": { "msg:1": [short(&kept)] },
        })];
        let seen: BTreeSet<String> = [
            kept.clone(),
            lost.clone(),
            no_decision.clone(),
            "agent:crm:key:1".into(),
        ]
        .into_iter()
        .collect();
        assert_eq!(superseded(&items, &seen), [lost].into_iter().collect());
    }

    /// A delivery record of a reply to `to` on `channel`.
    fn record(channel: &str, to: &str, state: &str, reason: Option<&str>) -> Value {
        let mut item = json!({
            "entity": "delivery",
            "state": state,
            "channel": channel,
            "command": { "recipient_id": to, "idempotency_key": format!("{to}-{state}") },
        });
        if let Some(r) = reason {
            item["reason"] = json!(r);
        }
        item
    }

    /// The stand-ins' request log: WeChat sends as `(to, accepted, errcode)`, Weibo replies as
    /// `(to, accepted)`.
    fn log(wechat: &[(&str, bool, Option<i64>)], weibo: &[(&str, bool)]) -> Value {
        let messages: Vec<Value> = wechat
            .iter()
            .map(|(to, accepted, errcode)| {
                let mut call = json!({ "body": { "touser": to }, "accepted": accepted });
                if let Some(code) = errcode {
                    call["errcode"] = json!(code);
                }
                call
            })
            .collect();
        let replies: Vec<Value> = weibo
            .iter()
            .map(|(to, accepted)| json!({ "receiver_id": to, "accepted": accepted }))
            .collect();
        json!({ "wechat": { "messages": messages }, "weibo": { "replies": replies } })
    }

    #[test]
    fn every_delivered_reply_accepted_once_passes() {
        let items = [
            record("wechat", "oA", "delivered", None),
            record("wechat", "oA", "delivered", None),
            record("weibo", "3001", "delivered", None),
        ];
        let check = check_sends(
            &items,
            &log(&[("oA", true, None), ("oA", true, None)], &[("3001", true)]),
        );
        assert!(check.ok(), "{check:?}");
        assert_eq!((check.delivered, check.accepted), (3, 3));
    }

    #[test]
    fn a_double_send_fails_the_check() {
        let items = [record("wechat", "oA", "delivered", None)];
        let check = check_sends(&items, &log(&[("oA", true, None), ("oA", true, None)], &[]));
        assert!(!check.ok());
        assert_eq!((check.sent_twice, check.lost), (1, 0));
        assert_eq!(check.first_mismatches[0]["customer"], "wechat:oA");
    }

    /// The review's case: the old check counted the quota refusal as "uncertain", which
    /// hid the second send.
    #[test]
    fn a_double_send_next_to_a_quota_refusal_fails_the_check() {
        let items = [
            record("wechat", "oA", "delivered", None),
            record("wechat", "oA", "undeliverable", Some("quota_exhausted")),
        ];
        let check = check_sends(&items, &log(&[("oA", true, None), ("oA", true, None)], &[]));
        assert!(!check.ok());
        assert_eq!(check.sent_twice, 1);
    }

    #[test]
    fn a_lost_send_fails_the_check() {
        let items = [
            record("weibo", "3001", "delivered", None),
            record("weibo", "3001", "delivered", None),
        ];
        let check = check_sends(&items, &log(&[], &[("3001", true), ("3001", false)]));
        assert!(!check.ok());
        assert_eq!((check.sent_twice, check.lost), (0, 1));
    }

    #[test]
    fn a_quota_refusal_is_not_a_send() {
        // One refused by the gateway's own quota check (no call), one by the platform (45047).
        let items = [
            record("wechat", "oA", "delivered", None),
            record("wechat", "oA", "undeliverable", Some("quota_exhausted")),
            record("wechat", "oA", "undeliverable", Some("quota_exhausted")),
        ];
        let calls = log(&[("oA", true, None), ("oA", false, Some(45047))], &[]);
        let check = check_sends(&items, &calls);
        assert!(check.ok(), "{check:?}");
        assert_eq!(
            (check.delivered, check.not_sent, check.uncertain),
            (1, 2, 0)
        );
        assert_eq!(check.refused.get("quota"), Some(&1));
    }

    #[test]
    fn every_definite_refusal_is_not_a_send() {
        let mut items: Vec<Value> = DEFINITE_REASONS
            .iter()
            .map(|r| record("wechat", "oA", "undeliverable", Some(r)))
            .collect();
        items.push(record("wechat", "oA", "failed", None));
        assert!(check_sends(&items, &log(&[], &[])).ok());
        let check = check_sends(&items, &log(&[("oA", true, None)], &[]));
        assert_eq!(check.sent_twice, 1, "{check:?}");
    }

    #[test]
    fn an_uncertain_reply_allows_zero_or_one_send_but_not_two() {
        let items = [
            record("wechat", "oA", "delivered", None),
            record("wechat", "oA", "undeliverable", Some("delivery_uncertain")),
        ];
        let accepted = |n: usize| log(&vec![("oA", true, None); n], &[]);
        assert!(check_sends(&items, &accepted(1)).ok());
        assert!(check_sends(&items, &accepted(2)).ok());
        assert_eq!(check_sends(&items, &accepted(3)).sent_twice, 1);
        assert_eq!(check_sends(&items, &accepted(0)).lost, 1);
    }

    #[test]
    fn customers_are_reconciled_one_by_one() {
        // Two sends to oA and none to oB balance in total, not per customer.
        let items = [
            record("wechat", "oA", "delivered", None),
            record("wechat", "oB", "delivered", None),
        ];
        let check = check_sends(&items, &log(&[("oA", true, None), ("oA", true, None)], &[]));
        assert_eq!((check.sent_twice, check.lost), (1, 1));
    }

    #[test]
    fn an_unknown_state_or_reason_fails_the_check() {
        for item in [
            record("wechat", "oA", "undeliverable", Some("maybe_sent")),
            record("wechat", "oA", "undeliverable", None),
            record("wechat", "oA", "queued", None),
        ] {
            let check = check_sends(&[item], &log(&[], &[]));
            assert!(!check.ok(), "{check:?}");
        }
    }

    #[test]
    fn scripted_errors_are_counted_apart_from_other_refusals() {
        let calls = log(
            &[
                ("oA", false, Some(-1)),
                ("oA", false, None),
                ("oA", true, None),
            ],
            &[("3001", false)],
        );
        let check = check_sends(&[record("wechat", "oA", "delivered", None)], &calls);
        assert!(check.ok(), "{check:?}");
        assert_eq!(check.refused_by_scripted_errors(), 2);
        assert_eq!(check.refused.get("token"), Some(&1));
    }
}
