//! An API client's webhook target (`api_clients.{id}.webhook` in the accounts document): where
//! `webhook-sender` POSTs the deployment's events for the accounts the client is scoped to,
//! signed with the client's webhook secret (`docs/webhooks.md`).
//!
//! Pure: the shape and its validation only. The URL must be `https://`; plain `http://` is
//! accepted only for a loopback host (`127.0.0.1`, `[::1]`, `localhost`), so that the local
//! stack's stand-in receiver works and a production document cannot send events in clear.

use super::Secret;
use serde::{Deserialize, Serialize};

/// Shortest accepted webhook signing secret, in bytes.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

/// Longest accepted webhook URL, in bytes.
pub const MAX_WEBHOOK_URL_BYTES: usize = 2048;

/// The event types a webhook may subscribe to (`docs/events.md`, version 1).
pub const EVENT_TYPES: [&str; 8] = [
    "message.received",
    "conversation.opened",
    "conversation.assigned",
    "conversation.escalated",
    "conversation.sla_breached",
    "conversation.resolved",
    "reply.delivered",
    "reply.undeliverable",
];

/// Where and how an API client receives events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// The receiver's URL (`https://…`; `http://` only for a loopback host).
    pub url: String,
    /// The signing secret (at least [`MIN_WEBHOOK_SECRET_BYTES`] bytes), its own: not the
    /// client's `reply-api` secret.
    pub secret: Secret,
    /// The event types delivered; absent means every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

impl WebhookTarget {
    /// True when this target subscribes to `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == event_type))
    }

    /// Checks the URL, the secret's length and the event types; the message never quotes the
    /// secret.
    pub fn validate(&self) -> Result<(), String> {
        check_url(&self.url).map_err(|e| format!("webhook url: {e}"))?;
        if self.secret.expose().len() < MIN_WEBHOOK_SECRET_BYTES {
            return Err(format!(
                "webhook secret must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes"
            ));
        }
        if let Some(types) = &self.events {
            if types.is_empty() {
                return Err(
                    "webhook events is empty: leave it out for every event type, or list some"
                        .into(),
                );
            }
            if let Some(unknown) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
                return Err(format!(
                    "webhook events: unknown event type `{unknown}` (known: {})",
                    EVENT_TYPES.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// True when `host` (as written in a URL's authority, without the port) is a loopback host.
fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Checks a webhook URL: `https://HOST[:PORT][/PATH]`, or `http://` with a loopback host; no
/// user information, no fragment, no whitespace or control characters.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_WEBHOOK_URL_BYTES {
        return Err(format!("longer than {MAX_WEBHOOK_URL_BYTES} bytes"));
    }
    if url
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("contains whitespace or control characters".into());
    }
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("must start with https://".into());
    };
    if url.contains('#') {
        return Err("must not have a fragment".into());
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry user information (user:password@)".into());
    }
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => return Err("unterminated IPv6 address".into()),
        }
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    let port = &authority[host.len()..];
    if !port.is_empty()
        && !port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("has a malformed port".into());
    }
    if !https && !is_loopback(host) {
        return Err("must be https:// (http:// only for 127.0.0.1, [::1] or localhost)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, secret: &str, events: Option<&[&str]>) -> WebhookTarget {
        WebhookTarget {
            url: url.into(),
            secret: Secret::new(secret),
            events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn accepts_https_and_loopback_http_only() {
        for ok in [
            "https://crm.example.com/hooks/gateway",
            "https://crm.example.com:8443/h?x=1",
            "http://127.0.0.1:8080/webhook/crm",
            "http://localhost/webhook",
            "http://[::1]:9000/w",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://crm.example.com/hook", "https"),
            ("http://127.0.0.1.evil.com/hook", "https"),
            ("ftp://crm.example.com", "https"),
            ("https://user:pw@crm.example.com/", "user information"),
            ("https://", "no host"),
            ("https://crm.example.com:x/", "port"),
            ("https://crm.example.com/a b", "whitespace"),
            ("https://crm.example.com/#frag", "fragment"),
        ] {
            let err = check_url(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn validates_secret_length_and_event_types() {
        let secret = "0123456789abcdef";
        assert_eq!(target("https://a.example", secret, None).validate(), Ok(()));
        let short = target("https://a.example", "short", None).validate();
        assert!(short.expect_err("short").contains("at least 16 bytes"));
        let unknown = target(
            "https://a.example",
            secret,
            Some(&["conversation.escalated", "conversation.exploded"]),
        )
        .validate()
        .expect_err("unknown type");
        assert!(unknown.contains("`conversation.exploded`"), "{unknown}");
        assert!(
            target("https://a.example", secret, Some(&[]))
                .validate()
                .is_err()
        );
        let bad_url = target("http://crm.example.com", secret, None)
            .validate()
            .expect_err("http");
        assert!(bad_url.starts_with("webhook url:"), "{bad_url}");
    }

    #[test]
    fn events_filter_defaults_to_every_type() {
        let all = target("https://a.example", "0123456789abcdef", None);
        assert!(EVENT_TYPES.iter().all(|t| all.wants(t)));
        let some = target(
            "https://a.example",
            "0123456789abcdef",
            Some(&["conversation.escalated"]),
        );
        assert!(some.wants("conversation.escalated"));
        assert!(!some.wants("message.received"));
    }

    const DOC: &str = r#"{
      "wechat": { "demo": { "app_id": "wx1", "token": "TOKEN-W", "app_secret": "APPSECRET-W" } },
      "weibo": { "brand": { "app_key": "k", "app_secret": "SIGNKEY-B", "access_token": "ACCESS-B" } },
      "api_clients": {
        "crm": { "secret": "CLIENTSECRET-0123", "accounts": ["wechat:demo"],
                 "webhook": { "url": "https://crm.example.com/hooks", "secret": "HOOKSECRET-01234",
                              "events": ["conversation.escalated"] } },
        "desk": { "secret": "DESKSECRET-012345", "accounts": ["weibo:brand"] }
      }
    }"#;

    #[test]
    fn the_targets_role_holds_webhooks_and_scopes_only() {
        use crate::account::{AccountsDocument, AccountsRole};
        let full = AccountsDocument::from_json(DOC).expect("valid");
        let targets = full.project(AccountsRole::WebhookTargets);
        let text = serde_json::to_string(&targets).expect("serializes");
        for absent in [
            "TOKEN-W",
            "APPSECRET-W",
            "SIGNKEY-B",
            "ACCESS-B",
            "CLIENTSECRET",
            "DESKSECRET",
        ] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
        assert!(text.contains("HOOKSECRET-01234"));
        // Only clients with a webhook, with their scope; the accounts' names stay.
        assert_eq!(targets.api_clients.keys().collect::<Vec<_>>(), ["crm"]);
        assert_eq!(targets.api_clients["crm"].accounts, ["wechat:demo"]);
        let back = AccountsDocument::from_json_for(&text, AccountsRole::WebhookTargets)
            .expect("projection valid");
        assert_eq!(back, targets);
        // The reply API's projection keeps no webhook secret.
        let api = serde_json::to_string(&full.project(AccountsRole::ApiClients)).expect("json");
        assert!(
            !api.contains("HOOKSECRET") && api.contains("CLIENTSECRET"),
            "{api}"
        );
        // A role's secret holding more than it should is refused.
        for role in [AccountsRole::WebhookTargets, AccountsRole::ApiClients] {
            let err = AccountsDocument::from_json_for(DOC, role).expect_err(role.as_str());
            assert!(err.to_string().contains("must not hold"), "{err}");
        }
    }

    #[test]
    fn a_bad_webhook_is_refused_at_load_with_a_clear_error() {
        use crate::account::AccountsDocument;
        let doc = DOC.replace("conversation.escalated", "conversation.escalate");
        let err = AccountsDocument::from_json(&doc).expect_err("unknown type");
        let text = err.to_string();
        assert!(text.contains("api_clients/crm"), "{text}");
        assert!(
            text.contains("unknown event type `conversation.escalate`"),
            "{text}"
        );
        let doc = DOC.replace("https://crm.example.com", "http://crm.example.com");
        let text = AccountsDocument::from_json(&doc)
            .expect_err("http")
            .to_string();
        assert!(text.contains("webhook url: must be https://"), "{text}");
        let doc = DOC.replace("HOOKSECRET-01234", "short");
        let text = AccountsDocument::from_json(&doc)
            .expect_err("short")
            .to_string();
        assert!(
            text.contains("webhook secret") && !text.contains("short\""),
            "{text}"
        );
    }
}
