//! The caller, agent profiles and canned responses.

use super::{Answer, Call, Desk, Refusal};
use gateway_core::desk::AgentProfile;
use gateway_core::desk::canned::CannedResponse;
use gateway_core::desk::ports::ProfileWrite;
use serde_json::json;

pub(super) fn supervisor_only(call: &Call<'_>) -> Result<(), Refusal> {
    if call.caller.supervises() {
        Ok(())
    } else {
        Err(Refusal::forbidden("supervisors and admins only"))
    }
}

/// `GET /me`.
pub(super) fn me(call: &Call<'_>) -> Result<Answer, Refusal> {
    Ok(Answer::ok(json!({
        "agent_id": call.caller.agent_id,
        "role": call.caller.role.as_str(),
        "profile": call.caller.profile,
    })))
}

/// `GET /agents` (supervisors): the profiles within the caller's accounts.
pub(super) async fn agents(desk: &Desk, call: &Call<'_>) -> Result<Answer, Refusal> {
    supervisor_only(call)?;
    let items: Vec<AgentProfile> = desk
        .store
        .agents()
        .await?
        .into_iter()
        .filter(|p| {
            p.accounts.is_empty() || p.accounts.iter().any(|a| call.caller.covers_account(a))
        })
        .collect();
    Ok(Answer::ok(json!({ "items": items })))
}

/// `PUT /agents/{id}` (supervisors): creates (body `version` 0) or replaces (the stored
/// version) a profile; a supervisor grants only accounts they cover themselves.
pub(super) async fn put_agent(desk: &Desk, call: &Call<'_>, id: &str) -> Result<Answer, Refusal> {
    supervisor_only(call)?;
    let mut profile: AgentProfile = call.json()?;
    if profile.agent_id != id {
        return Err(Refusal::invalid("agent_id", "must be the id in the path"));
    }
    profile
        .validate()
        .map_err(|(field, reason)| Refusal::invalid(field, reason))?;
    if let Some(a) = profile
        .accounts
        .iter()
        .find(|a| !call.caller.covers_account(a))
    {
        return Err(Refusal::forbidden(format!("you may not grant account {a}")));
    }
    profile.version += 1;
    profile.updated_at = call.now_ms;
    profile.updated_by = Some(call.caller.actor());
    match desk.store.put_agent(&profile).await? {
        ProfileWrite::Stored => Ok(Answer::status(
            if profile.version == 1 { 201 } else { 200 },
            json!(profile),
        )),
        ProfileWrite::Stale => {
            let current = desk.store.agent(id).await?;
            Err(Refusal::new(
                409,
                "stale_version",
                "the profile changed (or exists already): send its current version",
            )
            .with("current", json!(current)))
        }
    }
}

/// `DELETE /agents/{id}` (supervisors).
pub(super) async fn delete_agent(
    desk: &Desk,
    call: &Call<'_>,
    id: &str,
) -> Result<Answer, Refusal> {
    supervisor_only(call)?;
    match desk.store.agent(id).await? {
        Some(p) if p.accounts.iter().all(|a| call.caller.covers_account(a)) => {
            if desk.store.delete_agent(id).await? {
                Ok(Answer::empty(204))
            } else {
                Err(Refusal::not_found("agent"))
            }
        }
        Some(_) => Err(Refusal::forbidden("the profile covers accounts you do not")),
        None => Err(Refusal::not_found("agent")),
    }
}

/// `GET /canned-responses[?conversation=KEY]`: those offered to the caller; for a
/// conversation, those meant for it, with the placeholders filled in.
pub(super) async fn canned(desk: &Desk, call: &Call<'_>) -> Result<Answer, Refusal> {
    let mut conversation = None;
    for (k, v) in call.params() {
        match k.as_str() {
            "conversation" => conversation = Some(v),
            other => {
                return Err(Refusal::invalid(other, "unknown parameter (conversation)"));
            }
        }
    }
    let conversation = match conversation {
        Some(key) => match desk.store.conversation(&key).await? {
            Some(c) if call.caller.sees(&c) => Some(c),
            _ => return Err(Refusal::not_found("conversation")),
        },
        None => None,
    };
    let agent_name = call
        .caller
        .profile
        .as_ref()
        .map_or(call.caller.agent_id.clone(), |p| p.display_name.clone());
    let items: Vec<_> = desk
        .store
        .canned_responses()
        .await?
        .into_iter()
        .filter(|r| r.offered_to(&call.caller))
        .filter(|r| conversation.as_ref().is_none_or(|c| r.fits(c)))
        .map(|r| {
            let rendered = conversation.as_ref().map(|c| r.render(c, &agent_name));
            let mut v = json!(r);
            v["rendered"] = json!(rendered);
            v
        })
        .collect();
    Ok(Answer::ok(json!({ "items": items })))
}

/// `POST /canned-responses` (create) and `PUT /canned-responses/{id}` (replace), supervisors.
pub(super) async fn put_canned(
    desk: &Desk,
    call: &Call<'_>,
    id: Option<&str>,
) -> Result<Answer, Refusal> {
    supervisor_only(call)?;
    let mut canned: CannedResponse = call.json()?;
    if let Some(id) = id
        && canned.id != id
    {
        return Err(Refusal::invalid("id", "must be the id in the path"));
    }
    canned
        .validate()
        .map_err(|(field, reason)| Refusal::invalid(field, reason))?;
    // `*` is covered by an admin and by a profile granting every account.
    if canned.accounts.is_empty() && !call.caller.covers_account("*") {
        return Err(Refusal::invalid(
            "accounts",
            "name the accounts it is for (only those who cover every account may leave it empty)",
        ));
    }
    if let Some(a) = canned
        .accounts
        .iter()
        .find(|a| !call.caller.covers_account(a))
    {
        return Err(Refusal::forbidden(format!("account {a} is not yours")));
    }
    canned.updated_at = call.now_ms;
    canned.updated_by = Some(call.caller.actor());
    let create = id.is_none();
    if desk.store.put_canned(&canned, create).await? {
        Ok(Answer::status(
            if create { 201 } else { 200 },
            json!(canned),
        ))
    } else if create {
        Err(Refusal::new(
            409,
            "exists",
            format!(
                "canned response {} exists: PUT /canned-responses/{} replaces it",
                canned.id, canned.id
            ),
        ))
    } else {
        Err(Refusal::not_found("canned response"))
    }
}

/// `DELETE /canned-responses/{id}` (supervisors, within their accounts).
pub(super) async fn delete_canned(
    desk: &Desk,
    call: &Call<'_>,
    id: &str,
) -> Result<Answer, Refusal> {
    supervisor_only(call)?;
    let all = desk.store.canned_responses().await?;
    let Some(canned) = all.iter().find(|c| c.id == id) else {
        return Err(Refusal::not_found("canned response"));
    };
    let mine = if canned.accounts.is_empty() {
        call.caller.covers_account("*")
    } else {
        canned
            .accounts
            .iter()
            .all(|a| call.caller.covers_account(a))
    };
    if !mine {
        return Err(Refusal::forbidden("it is for accounts you do not cover"));
    }
    if desk.store.delete_canned(id).await? {
        Ok(Answer::empty(204))
    } else {
        Err(Refusal::not_found("canned response"))
    }
}
