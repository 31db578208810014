//! The desk's DynamoDB adapter against the emulator, through the real SDK client: threads in
//! the order things happened, lists in the order a desk works (escalated waits first, then the
//! oldest wait) with scope filters and cursors bound to their list, changes written with their
//! audit entry only over the version read, profiles and canned responses. Each test gets a
//! fresh table.
#![allow(clippy::unwrap_used)]

use gateway_aws::{DynamoDbConversationStore, DynamoDbDesk};
use gateway_core::conversation::{Conversation, Responder};
use gateway_core::desk::canned::CannedResponse;
use gateway_core::desk::change::{self, ConversationPatch};
use gateway_core::desk::list::ListQuery;
use gateway_core::desk::ports::{DeskStore, PageError, ProfileWrite, ThreadEntry};
use gateway_core::desk::{AgentProfile, Caller, Role};
use gateway_core::ports::{CommitOutcome, ConversationStore};
use gateway_core::testing::text_message;
use gateway_tests::{fresh_stack, sdk};

async fn desk() -> (DynamoDbConversationStore, DynamoDbDesk) {
    let sdk = sdk().await;
    let stack = fresh_stack(&sdk).await;
    let store = DynamoDbConversationStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &stack.table_name,
        None,
    );
    (store.clone(), DynamoDbDesk::new(store))
}

fn profile(id: &str, teams: &[&str], accounts: &[&str]) -> AgentProfile {
    AgentProfile {
        agent_id: id.into(),
        display_name: id.to_uppercase(),
        teams: teams.iter().map(|s| s.to_string()).collect(),
        accounts: accounts.iter().map(|s| s.to_string()).collect(),
        capacity: 5,
        updated_at: 0,
        updated_by: None,
        version: 1,
    }
}

fn agent(id: &str, teams: &[&str]) -> Caller {
    Caller {
        agent_id: id.into(),
        role: Role::Agent,
        profile: Some(profile(id, teams, &["wechat:desk"])),
    }
}

/// Stores one customer message (as the router does) and returns the conversation.
async fn inbound(
    store: &DynamoDbConversationStore,
    customer: &str,
    msg_id: &str,
    at: i64,
    setup: impl FnOnce(&mut Conversation),
) -> Conversation {
    let m = text_message("desk", customer, msg_id, "你好", at);
    let previous = store.load(&m.conversation_key).await.unwrap();
    let mut next = previous
        .clone()
        .unwrap_or_else(|| Conversation::new_for(&m));
    next.record_inbound(&m);
    setup(&mut next);
    next.version += 1;
    assert_eq!(
        store
            .commit_inbound(&m, previous.as_ref(), &next)
            .await
            .unwrap(),
        CommitOutcome::Stored
    );
    next
}

fn query(q: &str, caller: &Caller) -> gateway_core::desk::list::ListPlan {
    let pairs: Vec<(&str, &str)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap())
        .collect();
    ListQuery::parse(pairs, caller)
        .unwrap()
        .plan(caller)
        .unwrap()
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn a_thread_reads_in_the_order_things_happened_even_within_one_second() {
    let (store, desk) = desk().await;
    // Two messages with the same platform second: the second one's id sorts first by hash
    // or by text, so only the recorded order can put them right.
    let mut pairs = Vec::new();
    for id in ["9", "1"] {
        let m = text_message("desk", "u1", id, id, 1_714_000_000_500);
        pairs.push(m.dedupe_id());
        inbound(&store, "u1", id, 1_714_000_000_500, |_| {}).await;
    }
    let c = store.load("wechat:desk:u1").await.unwrap().unwrap();
    let caller = agent("agent1", &[]);
    let (next, note, entry) =
        change::add_note(&c, &caller, "called twice", 1_714_000_000_900).unwrap();
    assert_eq!(
        desk.commit_change(&c, &next, &entry, Some(&note))
            .await
            .unwrap(),
        CommitOutcome::Stored
    );
    // The same message again (an SQS redelivery past the recent ids): still stored once.
    let again = text_message("desk", "u1", "9", "9", 1_714_000_000_500);
    let current = store.load("wechat:desk:u1").await.unwrap().unwrap();
    let mut bumped = current.clone();
    bumped.recent_dedupe_ids.clear();
    bumped.record_inbound(&again);
    bumped.version += 1;
    assert_eq!(
        store
            .commit_inbound(&again, Some(&current), &bumped)
            .await
            .unwrap(),
        CommitOutcome::Duplicate
    );

    let first = desk.thread("wechat:desk:u1", 2, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = desk
        .thread("wechat:desk:u1", 2, Some(&cursor))
        .await
        .unwrap();
    let all: Vec<_> = first.items.iter().chain(&second.items).collect();
    assert_eq!(all.iter().map(|i| i.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        all.iter().take(2).map(|i| i.id.clone()).collect::<Vec<_>>(),
        pairs,
        "arrival order, not id order"
    );
    assert!(matches!(&all[2].entry, ThreadEntry::Note(n) if n.text == "called twice"));
    // A cursor of another conversation is refused.
    assert!(matches!(
        desk.thread("wechat:desk:other", 2, Some(&cursor)).await,
        Err(PageError::Cursor(_))
    ));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn lists_put_escalated_waits_first_then_the_oldest_and_filter_by_scope() {
    let (store, desk) = desk().await;
    // old: waiting longest; crisis: escalated, waiting less long; done: answered;
    // sales: another team; free: no team yet.
    inbound(&store, "old", "1", 1_000, |c| {
        c.team = Some("complaints".into())
    })
    .await;
    inbound(&store, "crisis", "2", 3_000, |c| {
        c.team = Some("complaints".into());
        c.tags.insert("crisis".into());
        c.escalate(3_000, 60);
    })
    .await;
    inbound(&store, "done", "3", 500, |c| {
        c.team = Some("complaints".into());
        c.record_outbound(600, Responder::Person);
        c.status = gateway_core::conversation::Status::Open;
    })
    .await;
    inbound(&store, "sales", "4", 200, |c| c.team = Some("sales".into())).await;
    inbound(&store, "free", "5", 100, |_| {}).await;
    let who = |cs: &[Conversation]| cs.iter().map(|c| c.customer_id.clone()).collect::<Vec<_>>();
    let caller = agent("agent1", &["complaints"]);

    let queue = desk.list(&query("", &caller), None).await.unwrap();
    assert_eq!(who(&queue.items), ["crisis", "old", "done"]);
    let unanswered = desk
        .list(&query("unanswered=true", &caller), None)
        .await
        .unwrap();
    assert_eq!(who(&unanswered.items), ["crisis", "old"]);
    let escalated = desk
        .list(&query("unanswered=true&escalated=true", &caller), None)
        .await
        .unwrap();
    assert_eq!(who(&escalated.items), ["crisis"]);
    let tagged = desk
        .list(&query("tag=crisis", &caller), None)
        .await
        .unwrap();
    assert_eq!(who(&tagged.items), ["crisis"]);
    // The account's inbox: the agent's team and the unrouted one, not sales.
    let inbox = desk
        .list(&query("account=wechat:desk&unanswered=true", &caller), None)
        .await
        .unwrap();
    assert_eq!(who(&inbox.items), ["crisis", "free", "old"]);

    // Page by page: a cursor continues its own list and no other.
    let one = desk.list(&query("limit=1", &caller), None).await.unwrap();
    assert_eq!(who(&one.items), ["crisis"]);
    let cursor = one.next_cursor.unwrap();
    let two = desk
        .list(&query("limit=1", &caller), Some(&cursor))
        .await
        .unwrap();
    assert_eq!(who(&two.items), ["old"]);
    let supervisor = Caller {
        role: Role::Supervisor,
        ..agent("boss", &[])
    };
    assert!(matches!(
        desk.list(&query("team=sales&limit=1", &supervisor), Some(&cursor))
            .await,
        Err(PageError::Cursor(_))
    ));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn a_filtered_page_reads_on_until_it_is_full_and_its_cursor_skips_nothing() {
    let (store, desk) = desk().await;
    // Twelve waiting customers of the team; the agent holds the 4th, 9th, 10th and 12th.
    let mine = [4, 9, 10, 12];
    for i in 1..=12 {
        inbound(
            &store,
            &format!("c{i:02}"),
            &i.to_string(),
            i * 1_000,
            |c| {
                c.team = Some("complaints".into());
                if mine.contains(&i) {
                    c.assignee = Some("agent1".into());
                }
            },
        )
        .await;
    }
    let who = |cs: &[Conversation]| cs.iter().map(|c| c.customer_id.clone()).collect::<Vec<_>>();
    let caller = agent("agent1", &["complaints"]);
    // Pages of 3 index items would hold 1 or 0 of hers; the page is filled anyway.
    let first = desk
        .list(&query("assignee=me&limit=3", &caller), None)
        .await
        .unwrap();
    assert_eq!(who(&first.items), ["c04", "c09", "c10"]);
    // The last index page read held more of hers than fitted: the cursor continues after the
    // last one kept, and nothing is skipped.
    let cursor = first.next_cursor.expect("more follow");
    let second = desk
        .list(&query("assignee=me&limit=3", &caller), Some(&cursor))
        .await
        .unwrap();
    assert_eq!(who(&second.items), ["c12"]);
    assert_eq!(second.next_cursor, None);
    // A filter matching nothing in a long queue stops after 8 index pages, with a cursor.
    let none = desk
        .list(&query("assignee=nobody&limit=1", &caller), None)
        .await
        .unwrap();
    assert!(none.items.is_empty());
    assert!(
        none.next_cursor.is_some(),
        "12 items, 8 read: the list goes on"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn counts_read_only_what_they_count_within_scope_and_stop_at_the_cap() {
    use gateway_core::desk::counts::{CountsQuery, QueueCounts};
    let (store, desk) = desk().await;
    for (who, at) in [("c1", 1_000), ("c2", 2_000), ("c3", 3_000)] {
        inbound(&store, who, "1", at, |c| c.team = Some("complaints".into())).await;
    }
    inbound(&store, "crisis", "1", 4_000, |c| {
        c.team = Some("complaints".into());
        c.escalate(4_000, 60);
        c.sla_breached_at = Some(4_100);
        c.assignee = Some("agent1".into());
    })
    .await;
    inbound(&store, "done", "1", 500, |c| {
        c.team = Some("complaints".into());
        c.resolve(600, "agent:agent1", &[]);
    })
    .await;
    inbound(&store, "sales", "1", 200, |c| c.team = Some("sales".into())).await;
    let caller = agent("agent1", &["complaints"]);
    let (open, resolved) = CountsQuery::parse([]).unwrap().plans(&caller).unwrap();
    let all = desk.queue_entries(&open, 1000).await.unwrap();
    assert!(!all.capped);
    let done = desk.queue_entries(&resolved, 1000).await.unwrap();
    assert_eq!(
        QueueCounts::count(&all.entries, &done.entries, &caller),
        QueueCounts {
            open: 4,
            unanswered: 4,
            escalated: 1,
            breached: 1,
            mine: 1,
            unassigned: 3,
            resolved: 1,
        }
    );
    // Escalated first, as the queue reads; the attributes a count needs, nothing else.
    assert_eq!(all.entries[0].key, "wechat:desk:crisis");
    assert_eq!(all.entries[0].assignee.as_deref(), Some("agent1"));
    // At most `max_read` read: the first ones in queue order, and `capped`.
    let two = desk.queue_entries(&open, 2).await.unwrap();
    assert!(two.capped);
    assert_eq!(
        two.entries
            .iter()
            .map(|e| e.key.as_str())
            .collect::<Vec<_>>(),
        ["wechat:desk:crisis", "wechat:desk:c1"]
    );
    // Exactly as many as there are: not capped once the partition ends.
    let four = desk.queue_entries(&open, 5).await.unwrap();
    assert_eq!((four.entries.len(), four.capped), (4, false));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn a_change_is_written_with_its_audit_entry_only_over_the_version_read() {
    let (store, desk) = desk().await;
    let c = inbound(&store, "u1", "1", 1_000, |c| {
        c.team = Some("complaints".into());
        c.tags.insert("crisis".into());
    })
    .await;
    let caller = agent("agent1", &["complaints"]);
    let (taken, entry) = change::take(&c, &caller, 2_000).unwrap();
    assert_eq!(
        desk.commit_change(&c, &taken, &entry, None).await.unwrap(),
        CommitOutcome::Stored
    );
    // A second agent who read the same version loses.
    let other = agent("agent2", &["complaints"]);
    let (theirs, their_entry) = change::take(&c, &other, 2_001).unwrap();
    assert_eq!(
        desk.commit_change(&c, &theirs, &their_entry, None)
            .await
            .unwrap(),
        CommitOutcome::Conflict
    );
    let patch: ConversationPatch =
        serde_json::from_str(r#"{"status":"resolved","tags":{"add":["refund"]}}"#).unwrap();
    let (resolved, entry) = patch
        .apply(&taken, &caller, 3_000, &["crisis".to_string()])
        .unwrap()
        .unwrap();
    assert_eq!(
        desk.commit_change(&taken, &resolved, &entry, None)
            .await
            .unwrap(),
        CommitOutcome::Stored
    );
    let stored = store.load(&c.key).await.unwrap().unwrap();
    assert_eq!(stored, resolved);
    assert_eq!(stored.assignee.as_deref(), Some("agent1"));
    // The tag items follow the tags (the tag index no longer lists it under crisis).
    let crisis = store
        .tagged(gateway_core::Channel::WeChat, "desk", "crisis", 10)
        .await
        .unwrap();
    assert!(crisis.is_empty());
    let trail = desk.audit(&c.key, 10, None).await.unwrap();
    let steps: Vec<_> = trail
        .items
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.version))
        .collect();
    assert_eq!(
        steps,
        [
            ("take", "agent:agent1", c.version + 1),
            ("update", "agent:agent1", c.version + 2)
        ]
    );
    assert_eq!(trail.items[1].changes["status"].after, "resolved");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator (make test)"]
async fn profiles_and_canned_responses_are_written_only_as_their_callers_expect() {
    let (_, desk) = desk().await;
    let p = profile("agent1", &["complaints"], &["wechat:desk"]);
    assert_eq!(desk.put_agent(&p).await.unwrap(), ProfileWrite::Stored);
    assert_eq!(
        desk.put_agent(&p).await.unwrap(),
        ProfileWrite::Stale,
        "created once"
    );
    let mut next = p.clone();
    next.capacity = 8;
    next.version = 2;
    assert_eq!(desk.put_agent(&next).await.unwrap(), ProfileWrite::Stored);
    assert_eq!(
        desk.put_agent(&next).await.unwrap(),
        ProfileWrite::Stale,
        "over version 1 only"
    );
    assert_eq!(desk.agent("agent1").await.unwrap(), Some(next.clone()));
    assert_eq!(desk.agents().await.unwrap(), [next]);
    assert!(desk.delete_agent("agent1").await.unwrap());
    assert!(!desk.delete_agent("agent1").await.unwrap());
    assert_eq!(desk.agent("agent1").await.unwrap(), None);

    let canned = CannedResponse {
        id: "greet".into(),
        title: "Greeting".into(),
        text: "您好，我是{{agent_name}}".into(),
        accounts: ["wechat:desk".to_string()].into(),
        teams: Default::default(),
        updated_at: 1,
        updated_by: Some("agent:boss".into()),
    };
    assert!(desk.put_canned(&canned, true).await.unwrap());
    assert!(!desk.put_canned(&canned, true).await.unwrap(), "exists");
    let missing = CannedResponse {
        id: "other".into(),
        ..canned.clone()
    };
    assert!(!desk.put_canned(&missing, false).await.unwrap(), "absent");
    assert_eq!(desk.canned_responses().await.unwrap(), [canned]);
    assert!(desk.delete_canned("greet").await.unwrap());
    assert!(desk.canned_responses().await.unwrap().is_empty());
}
