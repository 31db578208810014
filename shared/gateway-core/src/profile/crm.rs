//! The name a company's CRM knows a WeChat customer by, joined to conversations by `unionid`
//! (`docs/profiles.md`, "A CRM's name for the customer").
//!
//! WeChat's `user/info` no longer answers nicknames (since 2021-12-27, 关于公众号用户信息
//! 获取接口调整的公告), so a desk knows a follower by the operator's remark at best. A CRM
//! that knows its customers by `unionid` (the id WeChat gives one person across the official
//! accounts, mini programs and apps of one open platform account,
//! <https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html>)
//! sets the name it holds through `reply-api` (`PUT …/contacts/wechat/{account}/{unionid}`);
//! the desk API joins it to every conversation whose profile carries that `unionid`, and
//! shows it before the remark.
//!
//! A contact is kept per WeChat account and `unionid`, so that an API client scoped to one
//! account can neither read nor set what another account's customers are called. Pure: the
//! shape, its validation and the port.

use crate::account::check_url;
use crate::conversation::Conversation;
use crate::message::Channel;
use crate::ports::PortError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The most characters of a CRM name.
pub const CRM_NAME_MAX_CHARS: usize = 64;

/// The most characters of the CRM's own id for the customer.
pub const CRM_EXTERNAL_ID_MAX_CHARS: usize = 128;

/// The most bytes of a `unionid` taken (WeChat's are 28 characters; this only bounds a key).
pub const UNIONID_MAX_BYTES: usize = 64;

/// Which customer a contact names: a WeChat account's follower known by `unionid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactKey {
    /// The WeChat account (its id in the accounts document).
    pub account: String,
    /// WeChat's `unionid`.
    pub unionid: String,
}

impl ContactKey {
    /// The key of the contact joined to `conversation`: a WeChat conversation whose profile
    /// carries a `unionid`; `None` otherwise.
    pub fn of(conversation: &Conversation) -> Option<ContactKey> {
        if conversation.channel != Channel::WeChat {
            return None;
        }
        let unionid = conversation.profile.as_ref()?.unionid.as_deref()?;
        check_unionid(unionid).ok()?;
        Some(ContactKey {
            account: conversation.account_id.clone(),
            unionid: unionid.to_string(),
        })
    }
}

/// What a CRM says about a customer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmContact {
    /// The name the desk shows.
    pub name: String,
    /// The CRM's own id for the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// A link to the customer's record in the CRM (`https://` only: the desk renders it as a
    /// link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When it was last set, Unix ms.
    pub updated_at: i64,
    /// The API client that set it.
    pub updated_by: String,
}

/// The body of `PUT …/contacts/wechat/{account}/{unionid}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBody {
    name: String,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// Why a contact was refused (a 400 with this as its message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    /// The path's `unionid` is not one.
    #[error("invalid unionid: {0}")]
    Unionid(String),
    /// The body is not the documented shape, or a field is out of bounds.
    #[error("invalid contact: {0}")]
    Body(String),
}

impl ContactError {
    /// The error code of the answer.
    pub fn code(&self) -> &'static str {
        match self {
            ContactError::Unionid(_) => "invalid_unionid",
            ContactError::Body(_) => "invalid_contact",
        }
    }
}

/// Checks a `unionid` from a path: 1 to [`UNIONID_MAX_BYTES`] of `A-Z a-z 0-9 _ -` (WeChat's
/// ids are URL-safe base64-like strings).
pub fn check_unionid(unionid: &str) -> Result<(), ContactError> {
    if unionid.is_empty() || unionid.len() > UNIONID_MAX_BYTES {
        return Err(ContactError::Unionid(format!(
            "1 to {UNIONID_MAX_BYTES} characters"
        )));
    }
    if !unionid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ContactError::Unionid(
            "only letters, digits, `_` and `-`".into(),
        ));
    }
    Ok(())
}

/// A text field: trimmed, not blank, at most `max` characters, no control characters.
fn text(field: &str, value: &str, max: usize) -> Result<String, ContactError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(ContactError::Body(format!(
            "{field}: 1 to {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ContactError::Body(format!(
            "{field}: no control characters"
        )));
    }
    Ok(v.to_string())
}

/// Parses and checks a contact body set by `client_id` at `now_ms`.
pub fn parse_contact(
    body: &[u8],
    client_id: &str,
    now_ms: i64,
) -> Result<CrmContact, ContactError> {
    let b: ContactBody = serde_json::from_slice(body).map_err(|e| {
        ContactError::Body(format!(
            "expected {{\"name\", \"external_id\"?, \"url\"?}}: {e}"
        ))
    })?;
    let name = text("name", &b.name, CRM_NAME_MAX_CHARS)?;
    let external_id = b
        .external_id
        .as_deref()
        .map(|e| text("external_id", e, CRM_EXTERNAL_ID_MAX_CHARS))
        .transpose()?;
    let url = match b.url {
        None => None,
        Some(u) => {
            if !u.starts_with("https://") {
                return Err(ContactError::Body("url: must start with https://".into()));
            }
            check_url(&u).map_err(|e| ContactError::Body(format!("url: {e}")))?;
            Some(u)
        }
    };
    Ok(CrmContact {
        name,
        external_id,
        url,
        updated_at: now_ms,
        updated_by: client_id.to_string(),
    })
}

/// The CRM contacts (`CRM#wechat#{account}#{unionid}` items).
#[async_trait]
pub trait CrmContacts: Send + Sync {
    /// Stores `contact` under `key`, replacing an earlier one.
    async fn put(&self, key: &ContactKey, contact: &CrmContact) -> Result<(), PortError>;

    /// Deletes the contact under `key`; true when there was one.
    async fn delete(&self, key: &ContactKey) -> Result<bool, PortError>;

    /// The contacts stored under `keys` (absent ones are left out).
    async fn get_many(
        &self,
        keys: &[ContactKey],
    ) -> Result<HashMap<ContactKey, CrmContact>, PortError>;
}

/// An in-memory [`CrmContacts`] for the functions' unit tests.
#[derive(Default)]
pub struct InMemoryCrmContacts {
    contacts: std::sync::Mutex<HashMap<ContactKey, CrmContact>>,
    reads: std::sync::atomic::AtomicUsize,
}

impl InMemoryCrmContacts {
    /// The contact under `key`.
    pub fn get(&self, key: &ContactKey) -> Option<CrmContact> {
        self.lock().get(key).cloned()
    }

    /// How many `get_many` calls were made.
    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContactKey, CrmContact>> {
        self.contacts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl CrmContacts for InMemoryCrmContacts {
    async fn put(&self, key: &ContactKey, contact: &CrmContact) -> Result<(), PortError> {
        self.lock().insert(key.clone(), contact.clone());
        Ok(())
    }

    async fn delete(&self, key: &ContactKey) -> Result<bool, PortError> {
        Ok(self.lock().remove(key).is_some())
    }

    async fn get_many(
        &self,
        keys: &[ContactKey],
    ) -> Result<HashMap<ContactKey, CrmContact>, PortError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let all = self.lock();
        Ok(keys
            .iter()
            .filter_map(|k| all.get(k).map(|c| (k.clone(), c.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::CustomerProfile;

    #[test]
    fn a_contact_is_trimmed_and_stamped() {
        let c = parse_contact(
            r#"{"name":"  张三 ","external_id":"C-1001","url":"https://crm.example.com/c/1001"}"#
                .as_bytes(),
            "crm",
            7,
        )
        .expect("valid");
        assert_eq!(c.name, "张三");
        assert_eq!(c.external_id.as_deref(), Some("C-1001"));
        assert_eq!(c.url.as_deref(), Some("https://crm.example.com/c/1001"));
        assert_eq!((c.updated_at, c.updated_by.as_str()), (7, "crm"));
        let bare = parse_contact(r#"{"name":"李四"}"#.as_bytes(), "crm", 7).expect("name only");
        assert_eq!((bare.external_id, bare.url), (None, None));
    }

    #[test]
    fn bad_contacts_are_refused_with_the_field() {
        let long = format!(r#"{{"name":"{}"}}"#, "名".repeat(CRM_NAME_MAX_CHARS + 1));
        for (body, field) in [
            (r#"{"name":"   "}"#.to_string(), "name"),
            (long, "name"),
            (r#"{"name":"a\u0007b"}"#.into(), "name"),
            (r#"{"name":"a","external_id":""}"#.into(), "external_id"),
            (r#"{"name":"a","url":"javascript:alert(1)"}"#.into(), "url"),
            (
                r#"{"name":"a","url":"http://crm.example.com/"}"#.into(),
                "url",
            ),
            (
                r#"{"name":"a","url":"https://u:p@crm.example.com/"}"#.into(),
                "url",
            ),
            (r#"{"name":"a","nickname":"b"}"#.into(), "unknown field"),
            (r#"{}"#.into(), "name"),
            ("not json".into(), "expected"),
        ] {
            let err = parse_contact(body.as_bytes(), "crm", 1).expect_err(&body);
            assert_eq!(err.code(), "invalid_contact", "{body}");
            assert!(err.to_string().contains(field), "{body}: {err}");
        }
    }

    #[test]
    fn a_unionid_is_checked() {
        check_unionid("o6_bmasdasdsad6_2sgVt7hMZOPfL").expect("WeChat's example");
        for bad in ["", "a/b", "a b", "a#b", &"x".repeat(UNIONID_MAX_BYTES + 1)] {
            let err = check_unionid(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_unionid");
        }
    }

    fn profile(unionid: Option<&str>) -> CustomerProfile {
        crate::testing::wechat_profile(1, None, unionid)
    }

    #[test]
    fn only_wechat_conversations_with_a_unionid_are_joined() {
        let m = crate::testing::text_message("acct", "openid-1", "1", "hi", 1);
        let mut c = Conversation::new_for(&m);
        assert_eq!(ContactKey::of(&c), None, "no profile");
        c.profile = Some(profile(None));
        assert_eq!(ContactKey::of(&c), None, "no unionid");
        c.profile = Some(profile(Some("u-1")));
        assert_eq!(
            ContactKey::of(&c),
            Some(ContactKey {
                account: "acct".into(),
                unionid: "u-1".into()
            })
        );
        c.profile = Some(profile(Some("bad id")));
        assert_eq!(
            ContactKey::of(&c),
            None,
            "a malformed unionid joins nothing"
        );
        c.profile = Some(profile(Some("u-1")));
        c.channel = Channel::Weibo;
        assert_eq!(ContactKey::of(&c), None, "Weibo has no unionid");
    }
}
