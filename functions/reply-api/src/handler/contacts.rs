//! `…/contacts/wechat/{account}/{unionid}`: the name a CRM knows a WeChat customer by, joined
//! by the desk to every conversation whose profile carries that `unionid`
//! ([`gateway_core::profile::crm`], `docs/profiles.md`).
//!
//! * `PUT` `{"name", "external_id"?, "url"?}`: 200 with the stored contact (replacing an
//!   earlier one).
//! * `GET`: 200 with the contact, 404 `not_found` when none is set.
//! * `DELETE`: 200 `{"deleted": true|false}` (idempotent).
//!
//! Signed with `v2` only (the path, naming the customer, is signed); the client must be scoped
//! to the account (`api_clients.{id}.accounts` lists `wechat:{account}`), as for its replies.
//! Its log lines name the client and the account, not the contact.

use super::{Caller, Refusal, ReplyApi, authenticated, bounded_body};
use gateway_core::delivery::auth::Version;
use gateway_core::message::Channel;
use gateway_core::profile::crm::{ContactKey, CrmContact, check_unionid, parse_contact};
use lambda_http::Request;
use lambda_http::http::Method;
use serde_json::{Value, json};

/// The customer a contact route names, as written in the path.
pub(super) struct ContactPath {
    pub channel: String,
    pub account: String,
    pub unionid: String,
}

fn view(key: &ContactKey, c: &CrmContact) -> Value {
    json!({
        "channel": "wechat",
        "account": key.account,
        "unionid": key.unionid,
        "name": c.name,
        "external_id": c.external_id,
        "url": c.url,
        "updated_at": c.updated_at,
        "updated_by": c.updated_by,
    })
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(503, "unavailable", format!("contacts unavailable: {e}"))
}

/// Checks who may touch which contact; the key on success.
fn authorize(caller: &Caller, path: &ContactPath) -> Result<ContactKey, Refusal> {
    if path.channel != Channel::WeChat.as_str() {
        return Err(Refusal::new(
            400,
            "unsupported_channel",
            "CRM names are joined by WeChat unionid (…/contacts/wechat/{account}/{unionid}); \
             a Weibo customer's screen name is on its profile",
        ));
    }
    check_unionid(&path.unionid).map_err(|e| Refusal::new(400, e.code(), e.to_string()))?;
    if !caller.accounts.wechat.contains_key(&path.account) {
        return Err(Refusal::new(
            404,
            "unknown_account",
            format!("no wechat account `{}`", path.account),
        ));
    }
    let allowed = caller
        .accounts
        .api_clients
        .get(&caller.client_id)
        .is_some_and(|c| c.may_reply_for(Channel::WeChat, &path.account));
    if !allowed {
        return Err(Refusal::new(
            403,
            "account_not_allowed",
            format!(
                "client `{}` may not name customers of wechat:{}",
                caller.client_id, path.account
            ),
        ));
    }
    Ok(ContactKey {
        account: path.account.clone(),
        unionid: path.unionid.clone(),
    })
}

/// Handles one contact request.
pub(super) async fn handle(
    api: &ReplyApi,
    request: &Request,
    path: &ContactPath,
    now_ms: i64,
) -> Result<(u16, Value, Version), Refusal> {
    let method = request.method().clone();
    if !matches!(method, Method::PUT | Method::GET | Method::DELETE) {
        return Err(Refusal::new(
            405,
            "method_not_allowed",
            "use PUT, GET or DELETE …/contacts/wechat/{account}/{unionid}",
        ));
    }
    let body = bounded_body(api, request)?;
    // A contact's path names the customer: only v2 signs it.
    let caller = authenticated(api, request, body, now_ms, false).await?;
    let key = authorize(&caller, path)?;
    let answer = match method {
        Method::PUT => {
            let contact = parse_contact(body, &caller.client_id, now_ms)
                .map_err(|e| Refusal::new(400, e.code(), e.to_string()))?;
            api.contacts
                .put(&key, &contact)
                .await
                .map_err(unavailable)?;
            tracing::info!(client = %caller.client_id, account = %key.account, "crm contact set");
            (200, view(&key, &contact))
        }
        Method::GET => {
            let found = api
                .contacts
                .get_many(std::slice::from_ref(&key))
                .await
                .map_err(unavailable)?;
            match found.get(&key) {
                Some(c) => (200, view(&key, c)),
                None => {
                    return Err(Refusal::new(
                        404,
                        "not_found",
                        "no contact is set for this customer",
                    ));
                }
            }
        }
        _ => {
            let deleted = api.contacts.delete(&key).await.map_err(unavailable)?;
            tracing::info!(client = %caller.client_id, account = %key.account, deleted, "crm contact deleted");
            (200, json!({ "deleted": deleted }))
        }
    };
    Ok((answer.0, answer.1, caller.version))
}
