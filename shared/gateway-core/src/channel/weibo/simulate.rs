//! A Weibo platform simulator for tests and tooling: signs requests exactly as the platform
//! does, so a fixture body can be replayed against [`super::handle`] or a deployed webhook.
//!
//! Pure: no I/O, no clock, no randomness (the caller chooses timestamp and nonce).

use crate::account::WeiboAccount;
use crate::channel::{HttpMethod, InboundRequest, sorted_sha1_hex};
use std::collections::BTreeMap;

/// The Weibo request signature: `hex(sha1(sort(app_secret, timestamp, nonce)))`.
///
/// ```
/// use gateway_core::channel::weibo::simulate::signature;
/// // Official vector (open.weibo.com Messages_api_start).
/// assert_eq!(
///     signature("xyz123xyz", "1397022061823", "57155157"),
///     "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
/// );
/// ```
pub fn signature(app_secret: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1_hex(&[app_secret, timestamp, nonce])
}

/// The query parameters the platform sends with every request: `signature`, `timestamp`
/// (Unix milliseconds, as Weibo sends them) and `nonce`.
pub fn signed_query(
    account: &WeiboAccount,
    timestamp_ms: i64,
    nonce: &str,
) -> BTreeMap<String, String> {
    let timestamp = timestamp_ms.to_string();
    let mut query = BTreeMap::new();
    query.insert(
        "signature".to_string(),
        signature(account.app_secret.expose(), &timestamp, nonce),
    );
    query.insert("timestamp".to_string(), timestamp);
    query.insert("nonce".to_string(), nonce.to_string());
    query
}

/// A request as the platform would send it, owning its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedRequest {
    /// `Get` for URL verification, `Post` for a push.
    pub method: HttpMethod,
    /// Query parameters (decoded).
    pub query: BTreeMap<String, String>,
    /// Body (empty for verification).
    pub body: Vec<u8>,
    /// The signing timestamp, used as the arrival time so the request is fresh.
    pub received_at_ms: i64,
}

impl SimulatedRequest {
    /// Borrows the request as the [`InboundRequest`] the webhook receives for `account_id`.
    pub fn inbound<'a>(&'a self, account_id: &'a str) -> InboundRequest<'a> {
        InboundRequest {
            method: self.method,
            account_id,
            query: &self.query,
            body: &self.body,
            received_at_ms: self.received_at_ms,
        }
    }

    /// The query string (`nonce=…&signature=…&timestamp=…`), percent-encoding every byte
    /// outside RFC 3986's unreserved set, for replaying against a URL.
    pub fn query_string(&self) -> String {
        crate::channel::encode_pairs(self.query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// A signed push (POST) carrying `body`.
pub fn push(
    account: &WeiboAccount,
    body: impl Into<Vec<u8>>,
    timestamp_ms: i64,
    nonce: &str,
) -> SimulatedRequest {
    SimulatedRequest {
        method: HttpMethod::Post,
        query: signed_query(account, timestamp_ms, nonce),
        body: body.into(),
        received_at_ms: timestamp_ms,
    }
}

/// A signed URL-verification GET carrying `echostr`.
pub fn verification(
    account: &WeiboAccount,
    echostr: &str,
    timestamp_ms: i64,
    nonce: &str,
) -> SimulatedRequest {
    let mut query = signed_query(account, timestamp_ms, nonce);
    query.insert("echostr".to_string(), echostr.to_string());
    SimulatedRequest {
        method: HttpMethod::Get,
        query,
        body: Vec::new(),
        received_at_ms: timestamp_ms,
    }
}

/// Formats Unix seconds as a Weibo `created_at` in China Standard Time
/// (`Mon Jul 16 18:09:20 +0800 2012`). `None` when out of chrono's range.
pub fn created_at(unix_secs: i64) -> Option<String> {
    let offset = chrono::FixedOffset::east_opt(8 * 3600)?;
    let utc = chrono::DateTime::from_timestamp(unix_secs, 0)?;
    Some(
        utc.with_timezone(&offset)
            .format("%a %b %d %H:%M:%S %z %Y")
            .to_string(),
    )
}

/// A JSON text-message push body like the platform's (IDs as JSON numbers).
pub fn text_body(receiver_id: u64, sender_id: u64, created_at: &str, text: &str) -> String {
    serde_json::json!({
        "type": "text",
        "receiver_id": receiver_id,
        "sender_id": sender_id,
        "created_at": created_at,
        "text": text,
        "data": {},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{Secret, WeiboFormat};

    fn account() -> WeiboAccount {
        WeiboAccount {
            app_key: "123".into(),
            app_secret: Secret::new("xyz123xyz"),
            receiver_uid: None,
            access_token: None,
            format: WeiboFormat::Json,
            listening: None,
        }
    }

    #[test]
    fn verification_reproduces_the_official_request() {
        // http://yoururl?nonce=57155157&timestamp=1397022061823&echostr=dnPdpTZz85
        //   &signature=90e4c22c90a58f26526c2dd5b6c56c8822edeaa1
        let req = verification(&account(), "dnPdpTZz85", 1_397_022_061_823, "57155157");
        assert_eq!(req.method, HttpMethod::Get);
        assert_eq!(
            req.query_string(),
            "echostr=dnPdpTZz85&nonce=57155157\
             &signature=90e4c22c90a58f26526c2dd5b6c56c8822edeaa1&timestamp=1397022061823"
        );
    }

    #[test]
    fn push_signs_without_echostr_and_keeps_the_body() {
        let req = push(&account(), "{}", 1_397_022_061_823, "57155157");
        assert_eq!(req.method, HttpMethod::Post);
        assert!(!req.query.contains_key("echostr"));
        assert_eq!(req.body, b"{}");
        assert_eq!(req.inbound("brand").received_at_ms, 1_397_022_061_823);
    }

    #[test]
    fn created_at_matches_the_documented_example() {
        assert_eq!(
            created_at(1_342_433_360).as_deref(),
            Some("Mon Jul 16 18:09:20 +0800 2012")
        );
        assert_eq!(created_at(i64::MAX), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let req = verification(&account(), "a b&c=d/é", 1, "n");
        assert!(
            req.query_string()
                .starts_with("echostr=a%20b%26c%3Dd%2F%C3%A9&")
        );
    }
}
