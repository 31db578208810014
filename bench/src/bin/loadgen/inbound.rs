//! The inbound reconciliation: every distinct message stored exactly once.

use crate::env;
use crate::pump::queue_depth;
use crate::push::Push;
use anyhow::Result;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub async fn reconcile(
    sqs: &aws_sdk_sqs::Client,
    items: &[Value],
    pushes: &[Push],
) -> Result<Value> {
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    let mut inbound_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut metas: BTreeMap<String, &Value> = BTreeMap::new();
    for item in items {
        let sk = item["SK"].as_str().unwrap_or_default();
        if sk.starts_with("MSG#") && item["direction"].as_str() != Some("out") {
            let id = item["dedupe_id"].as_str().unwrap_or_default().to_string();
            *stored.entry(id).or_default() += 1;
        } else if sk == "META" {
            let key = item["key"].as_str().unwrap_or_default().to_string();
            inbound_counts.insert(key.clone(), item["inbound_count"].as_u64().unwrap_or(0));
            metas.insert(key, item);
        }
    }
    let expected: BTreeSet<&str> = pushes.iter().map(|p| p.dedupe_id.as_str()).collect();
    let mut per_conversation: BTreeMap<&str, u64> = BTreeMap::new();
    for p in pushes {
        *per_conversation
            .entry(p.conversation_key.as_str())
            .or_default() += 1;
    }
    let lost = expected
        .iter()
        .filter(|id| !stored.contains_key(**id))
        .count();
    let duplicated: usize = stored.values().map(|n| n - 1).sum();
    let unexpected = stored
        .keys()
        .filter(|id| !expected.contains(id.as_str()))
        .count();
    let wrong_counts = per_conversation
        .iter()
        .filter(|(k, n)| inbound_counts.get(**k) != Some(n))
        .count();
    // What the conversation says about the first lost messages: whether it counted them and
    // remembers their dedupe id (written, then lost) or never saw them (never routed).
    let first_lost: Vec<Value> = pushes
        .iter()
        .filter(|p| !stored.contains_key(&p.dedupe_id))
        .take(10)
        .map(|p| {
            let meta = metas.get(&p.conversation_key);
            json!({
                "kind": p.kind,
                "conversation": p.conversation_key,
                "dedupe_id": p.dedupe_id,
                "sent": per_conversation.get(p.conversation_key.as_str()),
                "inbound_count": meta.map(|m| &m["inbound_count"]),
                "conversation_remembers_it": meta.map(|m| m.to_string().contains(&p.dedupe_id)),
            })
        })
        .collect();
    let dead_letters = queue_depth(sqs, &env("DEAD_LETTER_QUEUE_URL")?).await?;
    let left_in_queue = queue_depth(sqs, &env("QUEUE_URL")?).await?;
    Ok(json!({
        "expected_messages": expected.len(),
        "stored_messages": stored.values().sum::<usize>(),
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "conversations_expected": per_conversation.len(),
        "conversations_stored": inbound_counts.len(),
        "conversations_with_wrong_inbound_count": wrong_counts,
        "first_lost": first_lost,
        "dead_lettered": dead_letters,
        "left_in_queue": left_in_queue,
        "ok": lost == 0 && duplicated == 0 && unexpected == 0 && wrong_counts == 0
            && dead_letters == 0 && left_in_queue == 0,
    }))
}
