//! The fuzz harnesses, shared by the cargo-fuzz targets (`fuzz_targets/`) and by the
//! regression test that replays `fuzz/regressions/<target>/*`
//! (`shared/gateway-core/tests/fuzz_regressions.rs`, which includes this file by path).
//!
//! Each harness must never panic, whatever the input; the gateway's answer (accepted or a
//! refusal) is checked for the invariants that hold for every input.

use base64::Engine;
use gateway_core::account::{Secret, WeChatAccount, WeChatMode, WeiboAccount, WeiboFormat};
use gateway_core::channel::wechat::{self, crypto};
use gateway_core::channel::{HttpMethod, InboundRequest, Limits, WebhookOutcome, weibo, xml};
use gateway_core::rules::RuleSet;
use std::collections::BTreeMap;

const NOW_SECS: i64 = 1_795_038_400;

fn wechat_account() -> WeChatAccount {
    WeChatAccount {
        app_id: "wxb11529c136998cb6".into(),
        token: Secret::new("pamtest"),
        encoding_aes_key: Some(Secret::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")),
        previous_encoding_aes_key: None,
        mode: WeChatMode::Secure,
        app_secret: None,
        reply_mode: Default::default(),
        original_id: None,
        template_daily_limit: None,
    }
}

/// The hardened XML reader, then WeChat message normalization of the same bytes.
pub fn wechat_xml(data: &[u8]) {
    let parsed = xml::parse_fields(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let normalized = wechat::parse::normalize(
            text,
            wechat::parse::Received {
                account_id: "fuzz",
                received_at_ms: NOW_SECS * 1000,
            },
        );
        // Normalization reads through the same reader: it cannot accept what it refuses.
        if parsed.is_err() {
            assert!(normalized.is_err());
        }
        if let Ok(m) = normalized {
            assert_eq!(m.account_id, "fuzz");
            assert!(!m.dedupe_id().is_empty());
        }
    }
}

/// Secure-mode push with valid `signature` and `msg_signature` over an arbitrary `Encrypt`,
/// so the decrypt path is really reached. First byte selects how the rest becomes `Encrypt`:
/// 0: raw text; 1: base64 of arbitrary ciphertext; otherwise the rest is encrypted as the
/// inner message with the account's key (valid padding and framing: the inner XML parser and
/// normalization are reached through decryption).
pub fn wechat_decrypt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let account = wechat_account();
    let key = crypto::AesKey::from_encoding_aes_key(
        account
            .encoding_aes_key
            .as_ref()
            .map(Secret::expose)
            .unwrap_or_default(),
    )
    .ok();
    let Some(key) = key else { return };
    let encrypt = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => base64::engine::general_purpose::STANDARD.encode(rest),
        _ => crypto::encrypt(&key, &account.app_id, rest, &[7u8; 16]),
    };
    // Direct decrypt never panics; a successful one round-trips the framing.
    if let Ok(d) = crypto::decrypt(&key, &encrypt) {
        assert!(d.msg.len() + d.app_id.len() + 20 <= encrypt.len());
    }
    let ts = NOW_SECS.to_string();
    let nonce = "fuzz";
    let mut query = BTreeMap::new();
    query.insert(
        "signature".to_string(),
        crypto::signature("pamtest", &ts, nonce),
    );
    query.insert("timestamp".to_string(), ts.clone());
    query.insert("nonce".to_string(), nonce.to_string());
    query.insert("encrypt_type".to_string(), "aes".to_string());
    query.insert(
        "msg_signature".to_string(),
        crypto::msg_signature("pamtest", &ts, nonce, &encrypt),
    );
    let body = format!(
        "<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        encrypt.replace("]]>", "")
    );
    let request = InboundRequest {
        method: HttpMethod::Post,
        account_id: "fuzz",
        query: &query,
        body: body.as_bytes(),
        received_at_ms: NOW_SECS * 1000,
    };
    let outcome = wechat::handle(&account, &request, &Limits::default());
    if let Err(e) = &outcome {
        assert!((400..500).contains(&e.status()));
    }
    if mode % 3 == 2 && encrypt.len() <= 60_000 {
        // A correctly encrypted payload is never refused by the crypto layer.
        if let Err(e) = &outcome {
            assert!(
                !matches!(
                    e.code(),
                    "bad_base64"
                        | "bad_padding"
                        | "bad_ciphertext"
                        | "appid_mismatch"
                        | "bad_signature"
                ),
                "valid ciphertext refused: {e:?}"
            );
        }
    }
    if let Ok(WebhookOutcome::Message(m)) = outcome {
        assert_eq!(m.account_id, "fuzz");
    }
}

/// A correctly signed Weibo push whose body is the input (JSON account; a body starting
/// with `<` takes the XML path).
pub fn weibo_json(data: &[u8]) {
    let account = WeiboAccount {
        app_key: "1".into(),
        app_secret: Secret::new("xyz123xyz"),
        receiver_uid: None,
        access_token: None,
        format: WeiboFormat::Json,
        listening: None,
    };
    let signed = weibo::simulate::push(&account, data.to_vec(), NOW_SECS * 1000, "57155157");
    match weibo::handle(&account, &signed.inbound("fuzz"), &Limits::default()) {
        Ok(WebhookOutcome::Message(m)) => {
            assert_eq!(m.account_id, "fuzz");
            assert!(!m.dedupe_id().is_empty());
            assert!(!m.sender_id.is_empty());
        }
        Ok(WebhookOutcome::Echo(_)) => panic!("a POST never echoes"),
        Err(e) => assert!((400..500).contains(&e.status())),
    }
}

/// The rules document parser and validator.
pub fn rules_yaml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = RuleSet::from_yaml(text);
    }
}

/// Runs the named harness (for the regression replay).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "wechat_xml" => wechat_xml(data),
        "wechat_decrypt" => wechat_decrypt(data),
        "weibo_json" => weibo_json(data),
        "rules_yaml" => rules_yaml(data),
        other => panic!("unknown fuzz target {other}"),
    }
}
