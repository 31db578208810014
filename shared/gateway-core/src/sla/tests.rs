//! The SLA monitor's decisions over scripted conversations.

use super::*;
use crate::conversation::Responder;
use crate::testing::{InMemoryConversationStore, RecordingSla, event_message, text_message};
use monitor::{Monitor, TimerOutcome};

const T0: i64 = 1_800_000_000_000;
const GRACE: i64 = 10_000;

/// A customer waiting since `T0` with an answer due in a minute.
fn waiting() -> Conversation {
    let m = text_message("demo", "u1", "1", "在吗", T0);
    let mut c = Conversation::new_for(&m);
    c.record_inbound(&m);
    c.response_due_at = Some(T0 + 60_000);
    c
}

#[test]
fn a_new_due_time_schedules_a_timer_once() {
    let c = waiting();
    let r = react(None, &c, None);
    assert_eq!(
        r.timers,
        [Timer {
            schema_version: TIMER_SCHEMA_VERSION,
            conversation_key: c.key.clone(),
            kind: TimerKind::FirstResponse,
            due_at: T0 + 60_000,
            since: T0,
        }]
    );
    assert!(r.alerts.is_empty());
    // The same conversation written again (another message in the same wait): nothing new.
    let mut later = c.clone();
    later.inbound_count += 1;
    assert_eq!(react(Some(&c), &later, None), Reaction::default());
}

#[test]
fn an_escalation_alerts_at_once_and_a_new_wait_gets_a_new_clock() {
    let mut before = waiting();
    before.response_due_at = Some(T0 + 3_600_000);
    let mut c = before.clone();
    c.escalate(T0 + 1_000, 60);
    let r = react(Some(&before), &c, None);
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(r.alerts[0].kind(), "escalation");
    assert_eq!(r.timers.len(), 1, "the escalation's earlier due time");
    assert_eq!(r.timers[0].due_at, T0 + 61_000);
    // The same episode written again: no second alert.
    assert!(react(Some(&c), &c, None).alerts.is_empty());

    // Answered, then waiting again: a new clock.
    let mut answered = c.clone();
    answered.record_outbound(T0 + 30_000, Responder::Person);
    assert!(react(Some(&c), &answered, None).timers.is_empty());
    let mut again = answered.clone();
    let m = text_message("demo", "u1", "2", "还有一个问题", T0 + 600_000);
    again.record_inbound(&m);
    again.response_due_at = Some(T0 + 660_000);
    let r = react(Some(&answered), &again, None);
    assert_eq!(r.timers.len(), 1);
    assert_eq!(
        (r.timers[0].since, r.timers[0].due_at),
        (T0 + 600_000, T0 + 660_000)
    );
}

#[test]
fn a_timer_breaches_once_only_if_the_wait_it_timed_is_still_on() {
    let c = waiting();
    let timer = react(None, &c, None).timers.remove(0);
    // Early, and within the grace: not yet.
    assert_eq!(judge(&timer, Some(&c), T0 + 30_000, GRACE), Verdict::NotYet);
    assert_eq!(judge(&timer, Some(&c), T0 + 65_000, GRACE), Verdict::NotYet);
    // Past the grace and still waiting: a breach.
    let Verdict::Breach(alert) = judge(&timer, Some(&c), T0 + 70_000, GRACE) else {
        panic!("a breach");
    };
    assert_eq!(alert.kind(), "breach");
    assert_eq!(alert.subject(), "No answer in time on wechat/demo");
    // Recorded: a redelivered timer changes nothing.
    let mut breached = c.clone();
    breached.sla_breached_at = Some(T0 + 70_000);
    assert!(matches!(
        judge(&timer, Some(&breached), T0 + 80_000, GRACE),
        Verdict::Stale(_)
    ));
    // Answered before the timer came up (or during the grace): no breach.
    let mut answered = c.clone();
    answered.record_outbound(T0 + 59_000, Responder::Person);
    assert!(matches!(
        judge(&timer, Some(&answered), T0 + 70_000, GRACE),
        Verdict::Stale(_)
    ));
    // An automatic reply does not stop the clock.
    let mut acknowledged = c.clone();
    acknowledged.record_outbound(T0 + 1_000, Responder::Automation);
    assert!(matches!(
        judge(&timer, Some(&acknowledged), T0 + 70_000, GRACE),
        Verdict::Breach(_)
    ));
    // The conversation is gone: dropped.
    assert_eq!(judge(&timer, None, T0 + 70_000, GRACE), Verdict::Gone);
}

#[test]
fn an_answered_conversation_is_resolved_automatically_if_nothing_happens() {
    let mut c = waiting();
    let before = c.clone();
    c.record_outbound(T0 + 30_000, Responder::Person);
    let day = 86_400_000;
    let r = react(Some(&before), &c, Some(day));
    let timer = r
        .timers
        .iter()
        .find(|t| t.kind == TimerKind::AutoResolve)
        .expect("an auto-resolve timer")
        .clone();
    assert_eq!(timer.due_at, T0 + 30_000 + day);
    assert_eq!(judge(&timer, Some(&c), T0 + day, GRACE), Verdict::NotYet);
    assert_eq!(
        judge(&timer, Some(&c), T0 + 30_000 + day, GRACE),
        Verdict::AutoResolve
    );
    // The customer wrote again in the meantime: stale.
    let mut again = c.clone();
    again.record_inbound(&text_message("demo", "u1", "2", "还在吗", T0 + 60_000));
    assert!(matches!(
        judge(&timer, Some(&again), T0 + 30_000 + day, GRACE),
        Verdict::Stale(_)
    ));
    // An event (an unfollow) does not make them wait: still auto-resolved.
    let mut event = c.clone();
    event.record_inbound(&event_message("demo", "u1", "unfollow", T0 + 60_000));
    assert_eq!(
        judge(&timer, Some(&event), T0 + 30_000 + day, GRACE),
        Verdict::AutoResolve
    );
    // Without the setting, no timer.
    assert!(react(Some(&before), &c, None).timers.is_empty());
}

#[test]
fn a_resolution_timer_breaches_once_for_its_episode() {
    let mut c = waiting();
    c.resolution_due_at = Some(T0 + 3_600_000);
    let timer = react(None, &c, None)
        .timers
        .into_iter()
        .find(|t| t.kind == TimerKind::Resolution)
        .expect("a resolution timer");
    assert_eq!(timer.since, T0);
    assert!(matches!(
        judge(&timer, Some(&c), T0 + 3_600_000, GRACE),
        Verdict::Breach(Alert::Breach {
            kind: TimerKind::Resolution,
            ..
        })
    ));
    let mut resolved = c.clone();
    resolved.resolve(T0 + 1_000_000, "agent:alice", &[]);
    assert!(matches!(
        judge(&timer, Some(&resolved), T0 + 3_600_000, GRACE),
        Verdict::Stale(_)
    ));
}

#[test]
fn a_timer_longer_than_the_queue_s_delay_is_chained() {
    let timer = Timer {
        schema_version: TIMER_SCHEMA_VERSION,
        conversation_key: "wechat:demo:u1".into(),
        kind: TimerKind::FirstResponse,
        due_at: T0 + 3_600_000,
        since: T0,
    };
    assert_eq!(delay_secs(&timer, T0, GRACE, 900), 900);
    assert_eq!(delay_secs(&timer, T0 + 3_000_000, GRACE, 900), 610);
    assert_eq!(delay_secs(&timer, T0 + 4_000_000, GRACE, 900), 0);
    // The wire form round-trips, and refuses unknown fields.
    let json = serde_json::to_string(&timer).expect("json");
    assert_eq!(serde_json::from_str::<Timer>(&json).expect("parses"), timer);
    assert!(
        serde_json::from_str::<Timer>(&json.replace("\"since\"", "\"x\":1,\"since\"")).is_err()
    );
}

#[test]
fn a_recorded_breach_alerts_from_the_stream_once() {
    let c = waiting();
    let mut breached = c.clone();
    breached.sla_breached_at = Some(T0 + 70_000);
    breached.version += 1;
    let r = react(Some(&c), &breached, None);
    assert_eq!(r.alerts.len(), 1);
    assert!(matches!(
        &r.alerts[0],
        Alert::Breach { kind: TimerKind::FirstResponse, due_at, .. } if *due_at == T0 + 60_000
    ));
    assert!(r.timers.is_empty());
    // The same image again (a redelivered stream record is the caller's; a later write that
    // keeps the breach): no second alert.
    assert!(react(Some(&breached), &breached, None).alerts.is_empty());
}

#[tokio::test]
async fn the_monitor_schedules_records_once_and_resolves_automatically() {
    let store = InMemoryConversationStore::default();
    let sla = RecordingSla::default();
    let now = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(T0));
    let clock = {
        let now = now.clone();
        move || now.load(std::sync::atomic::Ordering::SeqCst)
    };
    let tags = ["crisis".to_string()];
    let monitor = Monitor {
        records: &store,
        timers: &sla,
        alerts: &sla,
        inboxes: &store,
        grace_ms: GRACE,
        max_delay_secs: 900,
        auto_resolve_after_ms: Some(3_600_000),
        resolve_removes_tags: &tags,
        now: &clock,
    };
    let c = waiting();
    store.put(c.clone());
    monitor.on_change(None, &c).await.expect("scheduled");
    let (timer, delay) = sla.timers.lock().expect("lock")[0].clone();
    assert_eq!(delay, 70, "due in 60 s, plus the grace");

    // It comes up, the customer still waiting: a breach, recorded once.
    now.store(T0 + 70_000, std::sync::atomic::Ordering::SeqCst);
    let outcome = monitor.on_timer(&timer).await.expect("judged");
    assert!(
        matches!(outcome, TimerOutcome::Breached(TimerKind::FirstResponse, _)),
        "{outcome:?}"
    );
    let stored = store.conversation(&c.key).expect("stored");
    assert_eq!(stored.sla_breached_at, Some(T0 + 70_000));
    assert_eq!(stored.version, c.version + 1, "the version moves on");
    assert!(matches!(
        monitor.on_timer(&timer).await.expect("judged"),
        TimerOutcome::Dropped(_)
    ));

    // The stream then shows the breach: its alert.
    monitor.on_change(Some(&c), &stored).await.expect("alerted");
    assert_eq!(sla.alerts.lock().expect("lock").len(), 1);

    // An agent answers; an hour later nobody wrote back: resolved as `auto`.
    let mut answered = stored.clone();
    answered.tags.insert("crisis".into());
    answered.record_outbound(T0 + 120_000, Responder::Person);
    answered.version += 1;
    store.put(answered.clone());
    monitor
        .on_change(Some(&stored), &answered)
        .await
        .expect("scheduled");
    let (auto, _) = sla
        .timers
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("a timer");
    assert_eq!(auto.kind, TimerKind::AutoResolve);
    now.store(
        T0 + 120_000 + 3_600_000,
        std::sync::atomic::Ordering::SeqCst,
    );
    let outcome = monitor.on_timer(&auto).await.expect("judged");
    let TimerOutcome::AutoResolved(resolved) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(resolved.resolved_by.as_deref(), Some("auto"));
    assert!(!resolved.tags.contains("crisis"), "the document's tags go");
    assert_eq!(
        store.conversation(&c.key).expect("stored").status,
        crate::conversation::Status::Resolved
    );

    // A timer for a conversation that no longer exists is dropped.
    let mut orphan = timer.clone();
    orphan.conversation_key = "wechat:demo:nobody".into();
    assert_eq!(
        monitor.on_timer(&orphan).await.expect("judged"),
        TimerOutcome::Gone
    );
}

#[test]
fn a_resolution_reports_how_long_the_episode_took_once() {
    let c = waiting();
    let mut resolved = c.clone();
    resolved.resolve(T0 + 7_200_000, "agent:alice", &[]);
    assert_eq!(
        react(Some(&c), &resolved, None).resolution_ms,
        Some(7_200_000)
    );
    // Written again while resolved: not a second resolution.
    assert_eq!(react(Some(&resolved), &resolved, None).resolution_ms, None);
}

#[tokio::test]
async fn the_gauges_count_who_waits_and_since_when_per_account() {
    let store = InMemoryConversationStore::default();
    let sla = RecordingSla::default();
    let clock = || T0 + 120_000;
    let monitor = Monitor {
        records: &store,
        timers: &sla,
        alerts: &sla,
        inboxes: &store,
        grace_ms: GRACE,
        max_delay_secs: 900,
        auto_resolve_after_ms: None,
        resolve_removes_tags: &[],
        now: &clock,
    };
    let first = waiting();
    let m = text_message("demo", "u2", "9", "在吗", T0 + 60_000);
    let mut second = Conversation::new_for(&m);
    second.record_inbound(&m);
    let mut answered = Conversation::new_for(&text_message("demo", "u3", "8", "hi", T0));
    answered.record_inbound(&text_message("demo", "u3", "8", "hi", T0));
    answered.record_outbound(T0 + 1_000, Responder::Person);
    for c in [first, second, answered] {
        store.put(c);
    }
    let gauges = monitor.gauges().await.expect("gauges");
    assert_eq!(gauges.len(), 1);
    assert_eq!(gauges[0].unanswered, 2);
    assert_eq!(gauges[0].oldest_waiting_since, Some(T0));
    assert_eq!(gauges[0].oldest_waiting_secs(T0 + 120_000), 120.0);
}
