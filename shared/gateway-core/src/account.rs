//! Accounts as data: the one JSON document that lists every WeChat and Weibo account a
//! deployment serves, with its credentials. In AWS it is a Secrets Manager secret; locally a
//! file seeded into the emulator. The format is documented in the README.
//!
//! Pure: parsing and validation only. Secrets are wrapped in [`Secret`], whose `Debug` never
//! shows the value.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

mod listening;
mod webhook;
pub use listening::{Listening, ListeningApi, Timeline};
pub use webhook::{EVENT_TYPES, MIN_WEBHOOK_SECRET_BYTES, WebhookTarget, check_url};

/// A secret string (token, key, app secret). `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value. Call only where the value is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Secret {
    /// True when the value is the empty string (a field a role's projection leaves out).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every account a deployment serves, keyed by the account name used in webhook paths.
///
/// Top-level keys other than `wechat` and `weibo` must start with `_` (comments, the
/// placeholder key of a generated secret) and are ignored; any other unknown key is an error.
///
/// `Debug` shows only how many accounts and clients there are: never names, ids or secrets.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountsDocument {
    /// WeChat Official Accounts.
    #[serde(default)]
    pub wechat: BTreeMap<String, WeChatAccount>,
    /// Weibo fan-service (blue-V) accounts.
    #[serde(default)]
    pub weibo: BTreeMap<String, WeiboAccount>,
    /// Clients of the `reply-api` (agent desks, CRM systems), keyed by client id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub api_clients: BTreeMap<String, ApiClient>,
    /// Ignored keys (must start with `_`).
    #[serde(flatten, default, skip_serializing)]
    pub ignored: BTreeMap<String, serde_json::Value>,
}

impl fmt::Debug for AccountsDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountsDocument")
            .field("wechat_accounts", &self.wechat.len())
            .field("weibo_accounts", &self.weibo.len())
            .field("api_clients", &self.api_clients.len())
            .finish_non_exhaustive()
    }
}

/// Which function reads a document: each role's secret holds only what that role needs
/// (`gatewayctl accounts push` writes the projections of one full document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountsRole {
    /// The whole document as ops write it (`gatewayctl accounts check`).
    Full,
    /// The webhooks: verification and decryption keys, modes; no API credentials.
    Webhook,
    /// The reply sender: API credentials (WeChat AppSecret, Weibo access token); no
    /// verification keys, no API clients.
    Delivery,
    /// The reply API: the API clients and which accounts exist; no platform secret at all, no
    /// webhook secrets.
    ApiClients,
    /// `webhook-sender`: each API client's webhook target and account scope, which accounts
    /// exist; no platform secret, no `reply-api` secret.
    WebhookTargets,
}

impl AccountsRole {
    /// The role's name in messages and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountsRole::Full => "full",
            AccountsRole::Webhook => "webhook",
            AccountsRole::Delivery => "delivery",
            AccountsRole::ApiClients => "api",
            AccountsRole::WebhookTargets => "webhook-targets",
        }
    }
}

/// Message mode configured for a WeChat account in the console (消息加解密方式).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeChatMode {
    /// 明文模式: plain XML only.
    #[default]
    Plaintext,
    /// 兼容模式: plain or encrypted.
    Compatible,
    /// 安全模式: encrypted only (plain pushes are refused).
    Secure,
}

/// How auto-replies reach a WeChat user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyMode {
    /// Through the customer-service message API (the default).
    #[default]
    Api,
    /// In the webhook's HTTP response (accounts without the customer-service API).
    Passive,
}

/// A WeChat Official Account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChatAccount {
    /// AppID (`wx…`), checked after secure-mode decryption.
    pub app_id: String,
    /// The console's Token, used for both signatures (webhook role only).
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub token: Secret,
    /// EncodingAESKey (43 characters), required for compatible and secure modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_aes_key: Option<Secret>,
    /// The previous EncodingAESKey, tried when the current one fails (key rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_encoding_aes_key: Option<Secret>,
    /// Message mode.
    #[serde(default)]
    pub mode: WeChatMode,
    /// AppSecret, for the platform API (access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<Secret>,
    /// How auto-replies are delivered.
    #[serde(default)]
    pub reply_mode: ReplyMode,
    /// The account's original id (原始ID, `gh_…`): when set, a push addressed to any other
    /// `ToUserName` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_id: Option<String>,
    /// The account's daily quota of template messages, as the MP admin console shows it (开发
    /// → 接口权限 → 模板消息, 日调用上限): once that many were accepted on a quota day (Beijing
    /// time), further template messages are held until the next reset instead of being sent
    /// (`gateway_core::delivery::template_quota`). At least 1; absent, only WeChat's 45009
    /// answer holds them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_daily_limit: Option<u32>,
}

/// Push format a Weibo account has chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeiboFormat {
    /// JSON pushes (the platform default).
    #[default]
    Json,
    /// WeChat-compatible XML pushes.
    Xml,
}

/// A Weibo fan-service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeiboAccount {
    /// The AppKey designated in 开发模式.
    pub app_key: String,
    /// That AppKey's App Secret: the signature key (webhook role only).
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub app_secret: Secret,
    /// The blue-V account's UID; pushes for another receiver are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_uid: Option<String>,
    /// Access token for the reply API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    /// Push format.
    #[serde(default)]
    pub format: WeiboFormat,
    /// Reading the account's public timelines (`weibo-poller`): present = on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listening: Option<Listening>,
}

/// Shortest accepted `reply-api` client secret, in bytes.
pub const MIN_API_CLIENT_SECRET_BYTES: usize = 16;

/// A client of the `reply-api`: it signs its requests with the shared secret (HMAC-SHA256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiClient {
    /// The shared signing secret (at least [`MIN_API_CLIENT_SECRET_BYTES`] bytes; absent from
    /// the webhook targets' projection).
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub secret: Secret,
    /// The accounts it may reply for, as `wechat:{account}` / `weibo:{account}`. Required
    /// and never empty: a client is scoped explicitly to the accounts it serves.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Where the client receives the deployment's events (`docs/webhooks.md`); none when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
}

impl ApiClient {
    /// True when this client may reply for `channel`'s `account`.
    pub fn may_reply_for(&self, channel: crate::message::Channel, account: &str) -> bool {
        self.accounts
            .iter()
            .any(|a| a.split_once(':') == Some((channel.as_str(), account)))
    }
}

/// Why an accounts document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountsError {
    /// Not valid JSON or not the documented shape.
    #[error("accounts document is invalid: {0}")]
    Syntax(String),
    /// Valid JSON but an account (or API client) is unusable.
    #[error("account `{channel}/{account}`: {reason}")]
    Invalid {
        /// `wechat`, `weibo` or `api_clients`.
        channel: &'static str,
        /// Account name.
        account: String,
        /// What is wrong.
        reason: String,
    },
}

/// True when `name` may name an account in a path and a key: 1–64 of `[A-Za-z0-9_-]`.
pub fn is_valid_account_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Describes a JSON error without quoting any value from the document (values may be secrets
/// or a customer's words): field-name errors keep their message, others give only the
/// category and position. Used for every JSON the gateway refuses and logs or dead-letters.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let names_only = message.starts_with("unknown field") || message.starts_with("missing field");
    if names_only {
        message
    } else {
        let category = match e.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "JSON syntax error",
            serde_json::error::Category::Data => "wrong type or value",
            serde_json::error::Category::Eof => "unexpected end of document",
        };
        format!("{category} at line {} column {}", e.line(), e.column())
    }
}

fn is_valid_encoding_aes_key(key: &str) -> bool {
    key.len() == 43 && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl AccountsDocument {
    /// Parses and validates a whole document (what ops write). Error messages never contain
    /// secret values.
    pub fn from_json(text: &str) -> Result<Self, AccountsError> {
        Self::from_json_for(text, AccountsRole::Full)
    }

    /// Parses and validates the document `role` reads.
    pub fn from_json_for(text: &str, role: AccountsRole) -> Result<Self, AccountsError> {
        let doc: AccountsDocument = serde_json::from_str(text)
            .map_err(|e| AccountsError::Syntax(describe_json_error(&e)))?;
        doc.validate_for(role)?;
        Ok(doc)
    }

    /// Checks a whole document for internal consistency.
    pub fn validate(&self) -> Result<(), AccountsError> {
        self.validate_for(AccountsRole::Full)
    }

    /// The part of this (whole) document that `role` needs, every other secret left out.
    pub fn project(&self, role: AccountsRole) -> AccountsDocument {
        let keep_verification = matches!(role, AccountsRole::Full | AccountsRole::Webhook);
        let keep_api = matches!(role, AccountsRole::Full | AccountsRole::Delivery);
        let wechat = self
            .wechat
            .iter()
            .map(|(name, a)| {
                let mut a = a.clone();
                if !keep_verification {
                    a.token = Secret::new("");
                    a.encoding_aes_key = None;
                    a.previous_encoding_aes_key = None;
                }
                if !keep_api {
                    a.app_secret = None;
                }
                (name.clone(), a)
            })
            .collect();
        let weibo = self
            .weibo
            .iter()
            .map(|(name, a)| {
                let mut a = a.clone();
                if !keep_verification {
                    a.app_secret = Secret::new("");
                }
                if !keep_api {
                    a.access_token = None;
                }
                (name.clone(), a)
            })
            .collect();
        let api_clients = match role {
            AccountsRole::Full => self.api_clients.clone(),
            AccountsRole::ApiClients => self
                .api_clients
                .iter()
                .map(|(id, c)| {
                    let mut c = c.clone();
                    c.webhook = None;
                    (id.clone(), c)
                })
                .collect(),
            AccountsRole::WebhookTargets => self
                .api_clients
                .iter()
                .filter(|(_, c)| c.webhook.is_some())
                .map(|(id, c)| {
                    let mut c = c.clone();
                    c.secret = Secret::new("");
                    (id.clone(), c)
                })
                .collect(),
            AccountsRole::Webhook | AccountsRole::Delivery => BTreeMap::new(),
        };
        AccountsDocument {
            wechat,
            weibo,
            api_clients,
            ignored: BTreeMap::new(),
        }
    }

    /// Checks the document `role` reads: the verification keys are required where the
    /// webhooks read them, and nothing a role must not hold is present.
    pub fn validate_for(&self, role: AccountsRole) -> Result<(), AccountsError> {
        if let Some(key) = self.ignored.keys().find(|k| !k.starts_with('_')) {
            return Err(AccountsError::Syntax(format!(
                "unknown top-level key `{key}` (expected `wechat`, `weibo`, `api_clients`, or keys starting with `_`)"
            )));
        }
        let verification = matches!(role, AccountsRole::Full | AccountsRole::Webhook);
        let api = matches!(role, AccountsRole::Full | AccountsRole::Delivery);
        let must_not_hold =
            |channel: &'static str, name: &str, field: &str| AccountsError::Invalid {
                channel,
                account: name.to_string(),
                reason: format!("the {} document must not hold `{field}`", role.as_str()),
            };
        for (name, acc) in &self.wechat {
            let invalid = |reason: &str| AccountsError::Invalid {
                channel: "wechat",
                account: name.clone(),
                reason: reason.to_string(),
            };
            if !is_valid_account_name(name) {
                return Err(invalid("account names are 1-64 of [A-Za-z0-9_-]"));
            }
            if acc.app_id.is_empty() {
                return Err(invalid("app_id is empty"));
            }
            if let Some(id) = &acc.original_id
                && !is_valid_original_id(id)
            {
                return Err(invalid(
                    "original_id is `gh_` followed by 1-32 of [A-Za-z0-9]",
                ));
            }
            if verification {
                if acc.token.is_empty() {
                    return Err(invalid("token is empty"));
                }
                for key in [&acc.encoding_aes_key, &acc.previous_encoding_aes_key]
                    .into_iter()
                    .flatten()
                {
                    if !is_valid_encoding_aes_key(key.expose()) {
                        return Err(invalid(
                            "encoding_aes_key must be 43 characters of [A-Za-z0-9]",
                        ));
                    }
                }
                if acc.mode != WeChatMode::Plaintext && acc.encoding_aes_key.is_none() {
                    return Err(invalid(
                        "compatible and secure modes need an encoding_aes_key",
                    ));
                }
            } else if !acc.token.is_empty() {
                return Err(must_not_hold("wechat", name, "token"));
            } else if acc.encoding_aes_key.is_some() || acc.previous_encoding_aes_key.is_some() {
                return Err(must_not_hold("wechat", name, "encoding_aes_key"));
            }
            if !api && acc.app_secret.is_some() {
                return Err(must_not_hold("wechat", name, "app_secret"));
            }
            if acc.template_daily_limit == Some(0) {
                return Err(invalid(
                    "template_daily_limit must be at least 1 (leave it out for no limit of the gateway's own)",
                ));
            }
        }
        for (name, acc) in &self.weibo {
            let invalid = |reason: &str| AccountsError::Invalid {
                channel: "weibo",
                account: name.clone(),
                reason: reason.to_string(),
            };
            if !is_valid_account_name(name) {
                return Err(invalid("account names are 1-64 of [A-Za-z0-9_-]"));
            }
            if verification && acc.app_secret.is_empty() {
                return Err(invalid("app_secret is empty"));
            }
            if !verification && !acc.app_secret.is_empty() {
                return Err(must_not_hold("weibo", name, "app_secret"));
            }
            if !api && acc.access_token.is_some() {
                return Err(must_not_hold("weibo", name, "access_token"));
            }
            if let Some(listening) = &acc.listening {
                listening.validate().map_err(|reason| invalid(&reason))?;
                if acc.receiver_uid.is_none() {
                    return Err(invalid(
                        "listening needs receiver_uid (the account's own posts and comments are told apart by it)",
                    ));
                }
                if api && acc.access_token.is_none() {
                    return Err(invalid(
                        "listening needs an access_token (the timelines are read with it)",
                    ));
                }
            }
        }
        let clients = matches!(
            role,
            AccountsRole::Full | AccountsRole::ApiClients | AccountsRole::WebhookTargets
        );
        let client_secret = matches!(role, AccountsRole::Full | AccountsRole::ApiClients);
        let webhooks = matches!(role, AccountsRole::Full | AccountsRole::WebhookTargets);
        if !clients && let Some(name) = self.api_clients.keys().next() {
            return Err(must_not_hold("api_clients", name, "api_clients"));
        }
        for (name, client) in &self.api_clients {
            let invalid = |reason: String| AccountsError::Invalid {
                channel: "api_clients",
                account: name.clone(),
                reason,
            };
            if !is_valid_account_name(name) {
                return Err(invalid("client ids are 1-64 of [A-Za-z0-9_-]".into()));
            }
            if !client_secret && !client.secret.is_empty() {
                return Err(must_not_hold("api_clients", name, "secret"));
            }
            if client_secret && client.secret.expose().len() < MIN_API_CLIENT_SECRET_BYTES {
                return Err(invalid(format!(
                    "secret must be at least {MIN_API_CLIENT_SECRET_BYTES} bytes"
                )));
            }
            match &client.webhook {
                Some(_) if !webhooks => {
                    return Err(must_not_hold("api_clients", name, "webhook"));
                }
                Some(target) => target.validate().map_err(invalid)?,
                None => {}
            }
            if client.accounts.is_empty() {
                return Err(invalid(
                    "accounts is required: list the accounts this client may reply for (wechat:NAME, weibo:NAME)"
                        .into(),
                ));
            }
            for entry in &client.accounts {
                let known = match entry.split_once(':') {
                    Some(("wechat", a)) => self.wechat.contains_key(a),
                    Some(("weibo", a)) => self.weibo.contains_key(a),
                    _ => false,
                };
                if !known {
                    return Err(invalid(format!(
                        "accounts entry `{entry}` names no configured account (use wechat:NAME or weibo:NAME)"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `gh_` and 1-32 ASCII letters or digits: the shape of an Official Account's original id.
fn is_valid_original_id(id: &str) -> bool {
    id.strip_prefix("gh_").is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests;
