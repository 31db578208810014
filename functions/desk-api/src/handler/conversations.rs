//! Conversation routes: list, take next, one conversation, its thread and audit trail, a
//! change, a reply, a note.

use super::crm;
use super::views::{audit_entry, thread_item};
use super::{Answer, Call, Desk, Refusal};
use gateway_core::conversation::Conversation;
use gateway_core::delivery::window;
use gateway_core::desk::change::{self, ConversationPatch};
use gateway_core::desk::counts::{COUNT_CAP, CountsQuery, QueueCounts};
use gateway_core::desk::list::{AssigneeFilter, ListQuery, PlanError};
use gateway_core::outbound::{REPLY_SCHEMA_VERSION, ReplyCommand, ReplyOrigin};
use gateway_core::ports::CommitOutcome;
use gateway_core::reply::ReplyContent;
use serde::Deserialize;
use serde_json::json;

/// How many times a change is retried over a conversation that kept moving (a note, take next).
const CONFLICT_RETRIES: usize = 3;
/// Candidates read per team by "take next".
const NEXT_CANDIDATES: u32 = 10;
/// The longest client idempotency key of a reply.
const MAX_IDEMPOTENCY_KEY: usize = 128;

fn plan_refusal(e: PlanError) -> Refusal {
    match e {
        PlanError::Invalid(field, reason) => Refusal::invalid(field, reason),
        PlanError::Forbidden(message) => Refusal::forbidden(message),
    }
}

fn page_params(call: &Call<'_>) -> Result<(u32, Option<String>), Refusal> {
    let (mut limit, mut cursor) = (50, None);
    for (k, v) in call.params() {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| Refusal::invalid("limit", "an integer from 1 to 100"))?
            }
            "cursor" => cursor = Some(v),
            other => {
                return Err(Refusal::invalid(other, "unknown parameter (limit, cursor)"));
            }
        }
    }
    Ok((limit, cursor))
}

/// The conversation `key` if the caller sees it; 404 alike when absent or outside scope.
async fn visible(desk: &Desk, call: &Call<'_>, key: &str) -> Result<Conversation, Refusal> {
    match desk.store.conversation(key).await? {
        Some(c) if call.caller.sees(&c) => Ok(c),
        _ => Err(Refusal::not_found("conversation")),
    }
}

/// `GET /conversations`.
pub(super) async fn list(desk: &Desk, call: &Call<'_>) -> Result<Answer, Refusal> {
    let params = call.params();
    let query = ListQuery::parse(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &call.caller,
    )
    .map_err(|(field, reason)| Refusal::invalid(field, reason))?;
    let plan = query.plan(&call.caller).map_err(plan_refusal)?;
    let page = desk.store.list(&plan, query.cursor.as_deref()).await?;
    // The scope filters ran in the query; this keeps an item the index served stale out.
    let seen: Vec<&Conversation> = page.items.iter().filter(|c| call.caller.sees(c)).collect();
    let contacts = crm::contacts_for(desk, &seen).await;
    let items: Vec<_> = seen.iter().map(|c| crm::row(c, &contacts)).collect();
    Ok(Answer::ok(json!({
        "items": items,
        "next_cursor": page.next_cursor,
    })))
}

/// `GET /conversations/counts`: the counts of a list's scope, from its open and resolved
/// partitions (one index query each per page, at most [`COUNT_CAP`] conversations read each).
pub(super) async fn counts(desk: &Desk, call: &Call<'_>) -> Result<Answer, Refusal> {
    let params = call.params();
    let query = CountsQuery::parse(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|(field, reason)| Refusal::invalid(field, reason))?;
    let (open, resolved) = query.plans(&call.caller).map_err(plan_refusal)?;
    let open = desk.store.queue_entries(&open, COUNT_CAP).await?;
    let resolved = desk.store.queue_entries(&resolved, COUNT_CAP).await?;
    let counts = QueueCounts::count(&open.entries, &resolved.entries, &call.caller);
    Ok(Answer::ok(json!({
        "counts": counts,
        "capped": open.capped || resolved.capped,
    })))
}

/// `POST /conversations/next`: assigns the caller the most urgent unanswered, unassigned
/// conversation of their teams. 204 when there is none; 409 at capacity.
pub(super) async fn take_next(desk: &Desk, call: &Call<'_>) -> Result<Answer, Refusal> {
    let caller = &call.caller;
    let Some(profile) = &caller.profile else {
        return Err(Refusal::forbidden(
            "no desk profile: a supervisor adds you (PUT /agents/{id})",
        ));
    };
    if profile.teams.is_empty() {
        return Err(Refusal::forbidden("your profile names no team"));
    }
    let mut held = 0usize;
    let mut candidates: Vec<Conversation> = Vec::new();
    for team in &profile.teams {
        let mine = ListQuery {
            team: Some(team.clone()),
            assignee: Some(AssigneeFilter::Agent(caller.agent_id.clone())),
            limit: 100,
            ..Default::default()
        };
        let plan = mine.plan(caller).map_err(plan_refusal)?;
        held += desk.store.list(&plan, None).await?.items.len();
        let waiting = ListQuery {
            team: Some(team.clone()),
            assignee: Some(AssigneeFilter::Nobody),
            unanswered: true,
            limit: NEXT_CANDIDATES,
            ..Default::default()
        };
        let plan = waiting.plan(caller).map_err(plan_refusal)?;
        candidates.extend(desk.store.list(&plan, None).await?.items);
    }
    if held >= profile.capacity as usize {
        return Err(Refusal::new(
            409,
            "at_capacity",
            format!(
                "you hold {held} open conversations; your capacity is {}",
                profile.capacity
            ),
        ));
    }
    // Escalated first, then the longest wait.
    candidates.sort_by_key(|c| (!c.escalated, c.waiting_since.unwrap_or(i64::MAX)));
    for candidate in candidates {
        for _ in 0..CONFLICT_RETRIES {
            let Some(current) = desk.store.conversation(&candidate.key).await? else {
                break;
            };
            let Some((next, entry)) = change::take(&current, caller, call.now_ms) else {
                break;
            };
            match desk
                .store
                .commit_change(&current, &next, &entry, None)
                .await?
            {
                CommitOutcome::Stored => {
                    let view = crm::detail(desk, &next, call.now_ms).await;
                    return Ok(Answer::ok(view).etag(next.version));
                }
                // Someone else changed it first: look again (it may be taken now).
                _ => continue,
            }
        }
    }
    Ok(Answer::empty(204))
}

/// `GET /conversations/{key}`.
pub(super) async fn show(desk: &Desk, call: &Call<'_>, key: &str) -> Result<Answer, Refusal> {
    let c = visible(desk, call, key).await?;
    Ok(Answer::ok(crm::detail(desk, &c, call.now_ms).await).etag(c.version))
}

/// `If-Match: "<version>"` (or a bare number).
fn if_match(call: &Call<'_>) -> Result<u64, Refusal> {
    let Some(v) = call.header("if-match") else {
        return Err(Refusal::new(
            428,
            "precondition_required",
            "send If-Match with the conversation's version (its ETag)",
        ));
    };
    v.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .map_err(|_| Refusal::invalid("If-Match", "the conversation's version, e.g. \"7\""))
}

async fn stale(c: &Conversation, desk: &Desk, now_ms: i64) -> Refusal {
    Refusal::new(
        409,
        "stale_version",
        format!("the conversation changed: it is at version {}", c.version),
    )
    .with("current", crm::detail(desk, c, now_ms).await)
}

/// `PATCH /conversations/{key}` with `If-Match`.
pub(super) async fn patch(desk: &Desk, call: &Call<'_>, key: &str) -> Result<Answer, Refusal> {
    let expected = if_match(call)?;
    let patch: ConversationPatch = call.json()?;
    let c = visible(desk, call, key).await?;
    if c.version != expected {
        return Err(stale(&c, desk, call.now_ms).await);
    }
    if let Some(Some(a)) = &patch.assignee
        && a != "me"
        && *a != call.caller.agent_id
        && desk.store.agent(a).await?.is_none()
    {
        return Err(Refusal::invalid("assignee", format!("no agent `{a}`")));
    }
    let rules = desk.rules.rules().await?;
    let applied = patch
        .apply(&c, &call.caller, call.now_ms, rules.resolve_removes_tags())
        .map_err(|e| match e {
            change::ChangeError::Invalid(field, reason) => Refusal::invalid(field, reason),
            change::ChangeError::Forbidden(m) => Refusal::forbidden(m),
        })?;
    let Some((next, entry)) = applied else {
        return Ok(Answer::ok(crm::detail(desk, &c, call.now_ms).await).etag(c.version));
    };
    match desk.store.commit_change(&c, &next, &entry, None).await? {
        CommitOutcome::Stored => {
            Ok(Answer::ok(crm::detail(desk, &next, call.now_ms).await).etag(next.version))
        }
        _ => {
            let current = visible(desk, call, key).await?;
            Err(stale(&current, desk, call.now_ms).await)
        }
    }
}

/// `GET /conversations/{key}/messages`: one read of the state (scope), one query of the
/// thread; each stored media object gets a presigned link (computed, no call).
pub(super) async fn messages(desk: &Desk, call: &Call<'_>, key: &str) -> Result<Answer, Refusal> {
    let (limit, cursor) = page_params(call)?;
    visible(desk, call, key).await?;
    let page = desk.store.thread(key, limit, cursor.as_deref()).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for item in &page.items {
        // Links only here, after `visible`: whoever cannot read the thread gets none.
        let media = desk.media.views(&item.media, call.now_ms).await;
        items.push(thread_item(item, &media));
    }
    Ok(Answer::ok(
        json!({ "items": items, "next_cursor": page.next_cursor }),
    ))
}

/// `GET /conversations/{key}/audit`.
pub(super) async fn audit(desk: &Desk, call: &Call<'_>, key: &str) -> Result<Answer, Refusal> {
    let (limit, cursor) = page_params(call)?;
    visible(desk, call, key).await?;
    let page = desk.store.audit(key, limit, cursor.as_deref()).await?;
    let items: Vec<_> = page.items.iter().map(audit_entry).collect();
    Ok(Answer::ok(
        json!({ "items": items, "next_cursor": page.next_cursor }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    content: ReplyContent,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// `POST /conversations/{key}/replies`: checked against the channel's limits and the reply
/// windows (a public comment: its own limits, no window), then queued for the reply sender as
/// the caller's answer.
pub(super) async fn reply(desk: &Desk, call: &Call<'_>, key: &str) -> Result<Answer, Refusal> {
    let body: ReplyBody = call.json()?;
    let client_key = match body.idempotency_key {
        Some(k) if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY => {
            return Err(Refusal::invalid(
                "idempotency_key",
                format!("1 to {MAX_IDEMPOTENCY_KEY} bytes"),
            ));
        }
        k => k,
    };
    body.content
        .validate()
        .map_err(|reason| Refusal::invalid("content", reason))?;
    let c = visible(desk, call, key).await?;
    // A file of the gateway's (`POST /media`'s `upload_key`) only for its own account.
    if let Some(upload) = super::media::upload_of(&body.content) {
        super::media::check_upload_account(upload, &c)?;
    }
    let undeliverable = |code: &'static str, message: String| Refusal::new(422, code, message);
    if !body.content.supported_on(c.channel) {
        return Err(undeliverable(
            "unsupported_content",
            format!("{} cannot be sent on {}", body.content.kind(), c.channel),
        ));
    }
    body.content
        .check_length(c.channel)
        .map_err(|reason| undeliverable("too_long", reason))?;
    let policy = desk.policy.for_channel(c.channel);
    // A public comment goes under a post, a template message is its own channel: the private
    // window does not apply to them.
    if !body.content.bypasses_window()
        && let Err(reason) = window::check(policy, &c.reply_windows, call.now_ms)
    {
        return Err(undeliverable(
            "outside_reply_window",
            format!(
                "the platform would refuse this reply now: {}",
                reason.as_str()
            ),
        )
        .with("reason", json!(reason.as_str())));
    }
    let agent = &call.caller.agent_id;
    let idempotency_key = match &client_key {
        Some(k) => format!("desk:{agent}:{k}"),
        None => format!("desk:{agent}:{}:{}", c.key, call.now_ms),
    };
    let command = ReplyCommand {
        schema_version: REPLY_SCHEMA_VERSION,
        idempotency_key,
        channel: c.channel,
        account_id: c.account_id.clone(),
        conversation_key: c.key.clone(),
        recipient_id: c.customer_id.clone(),
        content: body.content,
        origin: ReplyOrigin::Agent {
            client_id: "desk".into(),
            agent_id: Some(agent.clone()),
        },
        created_at_ms: call.now_ms,
    };
    desk.queue.enqueue(&command).await?;
    Ok(Answer::status(
        202,
        json!({
            "reply_id": command.dedupe_id(),
            "status": "queued",
            "conversation_key": c.key,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

/// `POST /conversations/{key}/notes`: an internal note, never sent to the customer.
pub(super) async fn note(desk: &Desk, call: &Call<'_>, key: &str) -> Result<Answer, Refusal> {
    let body: NoteBody = call.json()?;
    for _ in 0..CONFLICT_RETRIES {
        let c = visible(desk, call, key).await?;
        let (next, note, entry) = change::add_note(&c, &call.caller, &body.text, call.now_ms)
            .map_err(|e| match e {
                change::ChangeError::Invalid(f, r) => Refusal::invalid(f, r),
                change::ChangeError::Forbidden(m) => Refusal::forbidden(m),
            })?;
        if desk
            .store
            .commit_change(&c, &next, &entry, Some(&note))
            .await?
            == CommitOutcome::Stored
        {
            return Ok(Answer::status(
                201,
                json!({
                    "seq": note.seq,
                    "id": format!("note-{}", note.seq),
                    "type": "note",
                    "kind": "text",
                    "author": note.author,
                    "text": note.text,
                    "at": note.at,
                }),
            )
            .etag(next.version));
        }
    }
    Err(Refusal::new(
        503,
        "busy",
        "the conversation kept changing; try again",
    ))
}
