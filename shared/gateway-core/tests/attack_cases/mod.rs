//! The attack table shared by two tests: `shared/gateway-core/tests/attack_logs.rs` runs every
//! case in process through `WebhookService::handle` with a captured tracing subscriber (status,
//! code, nothing published, one warn log without secrets or body), and
//! `tests/tests/attacks.rs` sends the same cases over HTTP to the webhooks running under
//! `cargo lambda watch` (status, code, nothing on the real queue).
//!
//! Every case is built only with `gateway_core`'s public API (signing, encryption) so that the
//! crypto-level refusals are really reached: each carries a valid `signature`, and the
//! encrypted ones a valid `msg_signature`, unless forging them is the attack.
//!
//! Every attacker-controlled body contains [`BODY_MARKER`], so a log line that quotes the body
//! is caught. Cases that `tests/tests/e2e.rs` already sends over HTTP (forged plaintext
//! signature, stale timestamp, plain DTD, oversize body, plaintext to a secure account, missing
//! nonce, unknown account, PUT) are in the table too, for the log check only (`http: false`).
#![allow(dead_code, clippy::unwrap_used)]

use gateway_core::Channel;
use gateway_core::account::{AccountsDocument, WeChatAccount, WeiboAccount};
use gateway_core::channel::wechat::crypto::{self, AesKey};
use gateway_core::channel::wechat::simulate::{self, Envelope};
use gateway_core::channel::weibo;
use std::collections::BTreeMap;

/// Present in every attacker body; must never appear in a log line.
pub const BODY_MARKER: &str = "Zq7BodyMarker";

/// One hostile request and what the gateway must answer.
#[derive(Debug, Clone)]
pub struct Attack {
    /// Test-table name (also used in `docs/reliability.md`).
    pub name: &'static str,
    /// Which webhook receives it.
    pub channel: Channel,
    /// The account the HTTP edge takes from the path.
    pub account: String,
    /// HTTP method (`GET`, `POST`, `DELETE`, …).
    pub method: &'static str,
    /// Query parameters (decoded).
    pub query: BTreeMap<String, String>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Documented status.
    pub status: u16,
    /// Documented error code (as logged; an unknown account answers `bad_signature`, see
    /// [`Attack::public_code`]).
    pub code: &'static str,
    /// Also sent over HTTP by `tests/tests/attacks.rs` (false: e2e.rs already does).
    pub http: bool,
}

impl Attack {
    /// The code in the HTTP answer: an unknown account answers exactly like a bad signature.
    pub fn public_code(&self) -> &'static str {
        match self.code {
            "unknown_account" => "bad_signature",
            other => other,
        }
    }
}

/// The local accounts document (public test vectors only).
pub fn accounts() -> AccountsDocument {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/accounts.local.json"
    ))
    .or_else(|_| {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/accounts.local.json"
        ))
    })
    .unwrap();
    AccountsDocument::from_json(&text).unwrap()
}

/// Every secret of the accounts document: none may appear in a log line.
pub fn secrets(doc: &AccountsDocument) -> Vec<String> {
    let mut out = Vec::new();
    for a in doc.wechat.values() {
        out.push(a.token.expose().to_string());
        for s in [
            &a.encoding_aes_key,
            &a.previous_encoding_aes_key,
            &a.app_secret,
        ]
        .into_iter()
        .flatten()
        {
            out.push(s.expose().to_string());
        }
    }
    for a in doc.weibo.values() {
        out.push(a.app_secret.expose().to_string());
        if let Some(t) = &a.access_token {
            out.push(t.expose().to_string());
        }
    }
    out.retain(|s| s.len() >= 4);
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64 (the tests crate has no base64 dependency).
pub fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(B64[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard padded base64.
pub fn b64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&b| b == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn nonce() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// A WeChat text message carrying the body marker.
pub fn wechat_text(from: &str, msg_id: &str, now: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{BODY_MARKER} hi]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

/// Billion laughs around a WeChat message.
pub fn billion_laughs() -> String {
    let mut dtd = String::from("<!DOCTYPE xml [<!ENTITY l0 \"Zq7BodyMarker\">");
    for i in 1..10 {
        let p = i - 1;
        dtd.push_str(&format!(
            "<!ENTITY l{i} \"&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};\">"
        ));
    }
    dtd.push_str("]>");
    format!(
        "<?xml version=\"1.0\"?>{dtd}<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[oAttacker]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>&l9;</Content><MsgId>1</MsgId></xml>"
    )
}

/// An external entity reading a local file into the message.
pub fn external_entity() -> String {
    "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[oAttacker]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>Zq7BodyMarker &xxe;</Content><MsgId>1</MsgId></xml>".to_string()
}

fn wechat(doc: &AccountsDocument, name: &str) -> WeChatAccount {
    doc.wechat[name].clone()
}

fn weibo_account(doc: &AccountsDocument, name: &str) -> WeiboAccount {
    doc.weibo[name].clone()
}

/// `signature`, `timestamp`, `nonce` for a WeChat account.
pub fn wechat_query(account: &WeChatAccount, timestamp: &str) -> BTreeMap<String, String> {
    let nonce = nonce();
    let mut q = BTreeMap::new();
    q.insert(
        "signature".into(),
        crypto::signature(account.token.expose(), timestamp, &nonce),
    );
    q.insert("timestamp".into(), timestamp.to_string());
    q.insert("nonce".into(), nonce);
    q
}

/// A correctly signed encrypted (secure-mode envelope) push whose `Encrypt` is `encrypt`,
/// whatever that is: the attacker holds the token, so the decrypt path is reached.
pub fn wechat_signed_encrypt(
    account: &WeChatAccount,
    now: i64,
    encrypt: &str,
) -> (BTreeMap<String, String>, Vec<u8>) {
    let ts = now.to_string();
    let mut q = wechat_query(account, &ts);
    q.insert("encrypt_type".into(), "aes".into());
    q.insert(
        "msg_signature".into(),
        crypto::msg_signature(account.token.expose(), &ts, &q["nonce"], encrypt),
    );
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    (q, body.into_bytes())
}

fn key_of(account: &WeChatAccount) -> AesKey {
    AesKey::from_encoding_aes_key(account.encoding_aes_key.as_ref().unwrap().expose()).unwrap()
}

/// Encrypts `inner` for `app_id` with the account's key.
pub fn encrypt_for(account: &WeChatAccount, app_id: &str, inner: &str) -> String {
    crypto::encrypt(&key_of(account), app_id, inner.as_bytes(), &[7u8; 16])
}

fn weibo_text(receiver: &str, sender: &str) -> String {
    format!(
        "{{\"type\":\"text\",\"receiver_id\":{receiver},\"sender_id\":{sender},\"created_at\":\"Mon Jul 16 18:09:20 +0800 2012\",\"text\":\"{BODY_MARKER}\",\"data\":{{}}}}"
    )
}

fn weibo_signed(account: &WeiboAccount, timestamp_ms: i64, body: Vec<u8>) -> Attack {
    let r = weibo::simulate::push(account, body, timestamp_ms, &nonce());
    Attack {
        name: "",
        channel: Channel::Weibo,
        account: "brand".into(),
        method: "POST",
        query: r.query,
        body: r.body,
        status: 0,
        code: "",
        http: true,
    }
}

/// The whole table, signed at `now` (Unix seconds).
pub fn attacks(now: i64) -> Vec<Attack> {
    let doc = accounts();
    let demo = wechat(&doc, "demo");
    let secure = wechat(&doc, "secure-demo");
    let plain = wechat(&doc, "plain-demo");
    let brand = weibo_account(&doc, "brand");
    let brand_xml = weibo_account(&doc, "brand-xml");
    let ts = now.to_string();
    let mut out = Vec::new();

    let wechat_case = |name, account: &str, method, query, body: Vec<u8>, status, code| Attack {
        name,
        channel: Channel::WeChat,
        account: account.to_string(),
        method,
        query,
        body,
        status,
        code,
        http: true,
    };
    let text = wechat_text("oAttacker", "424242", now);
    let secure_push = |account: &WeChatAccount, ts: i64, envelope| {
        simulate::push(account, &text, ts, &nonce(), envelope).unwrap()
    };

    // --- WeChat: signatures and replay ------------------------------------------------------
    let good = secure_push(&secure, now, Envelope::Secure);
    let mut forged_msg = good.query.clone();
    forged_msg.insert("msg_signature".into(), "0".repeat(40));
    out.push(wechat_case(
        "wechat_forged_msg_signature",
        "secure-demo",
        "POST",
        forged_msg,
        good.body.clone(),
        401,
        "bad_signature",
    ));
    // Both signatures of a genuine request, replayed with another (validly encrypted) body:
    // msg_signature covers the ciphertext, so the swap is refused.
    let other = simulate::push(
        &secure,
        &wechat_text("oVictim", "434343", now),
        now,
        &nonce(),
        Envelope::Secure,
    )
    .unwrap();
    out.push(wechat_case(
        "wechat_replayed_signatures_other_ciphertext",
        "secure-demo",
        "POST",
        good.query.clone(),
        other.body.clone(),
        401,
        "bad_signature",
    ));
    let mut forged_plain = wechat_query(&plain, &ts);
    forged_plain.insert("signature".into(), "f".repeat(40));
    out.push(Attack {
        http: false, // e2e.rs: forged signature
        ..wechat_case(
            "wechat_forged_signature",
            "plain-demo",
            "POST",
            forged_plain,
            text.clone().into_bytes(),
            401,
            "bad_signature",
        )
    });
    // A genuine demo request sent to another account's path: that account's token fails it.
    let demo_push = secure_push(&demo, now, Envelope::Compatible);
    out.push(wechat_case(
        "wechat_signature_of_another_account",
        "secure-demo",
        "POST",
        demo_push.query.clone(),
        demo_push.body.clone(),
        401,
        "bad_signature",
    ));

    // --- WeChat: timestamps -----------------------------------------------------------------
    for (name, t, http) in [
        ("wechat_stale_timestamp", now - 3_600, false), // e2e.rs: plaintext, -1 h
        ("wechat_stale_timestamp_secure", now - 400, true),
        ("wechat_far_future_timestamp", now + 3_600, true),
    ] {
        let r = secure_push(&secure, t, Envelope::Secure);
        out.push(Attack {
            http,
            ..wechat_case(
                name,
                "secure-demo",
                "POST",
                r.query,
                r.body,
                401,
                "stale_timestamp",
            )
        });
    }
    for (name, t) in [
        ("wechat_timestamp_not_a_number", "17x"),
        ("wechat_timestamp_overflows_i64", "99999999999999999999"),
        ("wechat_timestamp_overflows_millis", "9223372036854776"),
    ] {
        out.push(wechat_case(
            name,
            "plain-demo",
            "POST",
            wechat_query(&plain, t),
            text.clone().into_bytes(),
            400,
            "invalid_parameter",
        ));
    }

    // --- WeChat: hostile XML, plain and inside the ciphertext ------------------------------
    out.push(wechat_case(
        "wechat_billion_laughs_plaintext",
        "plain-demo",
        "POST",
        wechat_query(&plain, &ts),
        billion_laughs().into_bytes(),
        400,
        "doctype_forbidden",
    ));
    out.push(wechat_case(
        "wechat_external_entity_plaintext",
        "plain-demo",
        "POST",
        wechat_query(&plain, &ts),
        external_entity().into_bytes(),
        400,
        "doctype_forbidden",
    ));
    let (q, b) = wechat_signed_encrypt(
        &secure,
        now,
        &encrypt_for(&secure, &secure.app_id, &billion_laughs()),
    );
    out.push(wechat_case(
        "wechat_billion_laughs_in_ciphertext",
        "secure-demo",
        "POST",
        q,
        b,
        400,
        "doctype_forbidden",
    ));
    let (q, b) = wechat_signed_encrypt(
        &demo,
        now,
        &encrypt_for(&demo, &demo.app_id, &external_entity()),
    );
    out.push(wechat_case(
        "wechat_external_entity_in_ciphertext",
        "demo",
        "POST",
        q,
        b,
        400,
        "doctype_forbidden",
    ));
    let mut outer_dtd = String::from_utf8(good.body.clone()).unwrap();
    outer_dtd.insert_str(0, "<!DOCTYPE xml [<!ENTITY e \"Zq7BodyMarker\">]>");
    out.push(wechat_case(
        "wechat_dtd_in_encrypted_envelope",
        "secure-demo",
        "POST",
        good.query.clone(),
        outer_dtd.into_bytes(),
        400,
        "doctype_forbidden",
    ));
    out.push(wechat_case(
        "wechat_malformed_xml",
        "plain-demo",
        "POST",
        wechat_query(&plain, &ts),
        b"<xml><Content>Zq7BodyMarker<MsgId></xml>".to_vec(),
        400,
        "malformed_body",
    ));
    let mut not_utf8 = text.clone().into_bytes();
    not_utf8.extend_from_slice(&[0xff, 0xfe, 0x80]);
    // Over HTTP, a binary body reaches the function base64-encoded (API Gateway v2
    // `isBase64Encoded`); `tests/tests/attacks.rs` sends it as such an event.
    out.push(Attack {
        http: false,
        ..wechat_case(
            "wechat_body_not_utf8",
            "plain-demo",
            "POST",
            wechat_query(&plain, &ts),
            not_utf8,
            400,
            "malformed_body",
        )
    });
    let (q, b) = wechat_signed_encrypt(
        &secure,
        now,
        &encrypt_for(&secure, &secure.app_id, "Zq7BodyMarker not xml"),
    );
    out.push(wechat_case(
        "wechat_ciphertext_decrypts_to_non_xml",
        "secure-demo",
        "POST",
        q,
        b,
        400,
        "malformed_body",
    ));

    // --- WeChat: ciphertext ----------------------------------------------------------------
    let valid = encrypt_for(&secure, &secure.app_id, &text);
    let (q, b) = wechat_signed_encrypt(&secure, now, &valid[..32]);
    out.push(wechat_case(
        "wechat_truncated_ciphertext",
        "secure-demo",
        "POST",
        q,
        b,
        422,
        "bad_ciphertext",
    ));
    // CBC: flipping byte i of block n-1 flips byte i of plaintext block n. Make the last
    // plaintext byte (the pad length) 0.
    let mut raw = b64_decode(&valid);
    let unpadded = 16 + 4 + text.len() + secure.app_id.len();
    let pad = (32 - unpadded % 32) as u8;
    let n = raw.len();
    raw[n - 17] ^= pad;
    let (q, b) = wechat_signed_encrypt(&secure, now, &b64_encode(&raw));
    out.push(wechat_case(
        "wechat_bad_padding",
        "secure-demo",
        "POST",
        q,
        b,
        422,
        "bad_padding",
    ));
    let (q, b) = wechat_signed_encrypt(&secure, now, "Zq7Body*Marker!!");
    out.push(wechat_case(
        "wechat_bad_base64",
        "secure-demo",
        "POST",
        q,
        b,
        422,
        "bad_base64",
    ));
    // A frame whose msg_len points past the end: encrypt 96 message bytes whose bytes
    // 44..76 are 0x20, then keep the first 96 ciphertext bytes. CBC decrypts a prefix to the
    // plaintext prefix, whose last 32 bytes are now a valid 32-byte pad, and whose length
    // field (96) exceeds the 44 bytes left: the framing check must catch it.
    let mut long = vec![b'x'; 44];
    long.extend_from_slice(&[b' '; 32]);
    long.extend_from_slice(&[b'x'; 20]);
    let c = crypto::encrypt(&key_of(&secure), &secure.app_id, &long, &[7u8; 16]);
    let mut raw = b64_decode(&c);
    raw.truncate(96);
    let (q, b) = wechat_signed_encrypt(&secure, now, &b64_encode(&raw));
    out.push(wechat_case(
        "wechat_length_field_past_end",
        "secure-demo",
        "POST",
        q,
        b,
        422,
        "bad_ciphertext",
    ));
    let (q, b) =
        wechat_signed_encrypt(&demo, now, &encrypt_for(&demo, "wx0000000000000bad", &text));
    out.push(wechat_case(
        "wechat_wrong_appid",
        "demo",
        "POST",
        q,
        b,
        403,
        "appid_mismatch",
    ));
    let mut q = wechat_query(&secure, &ts);
    q.insert("encrypt_type".into(), "aes".into());
    q.insert("msg_signature".into(), "0".repeat(40));
    out.push(wechat_case(
        "wechat_encrypt_element_missing",
        "secure-demo",
        "POST",
        q,
        b"<xml><ToUserName><![CDATA[Zq7BodyMarker]]></ToUserName></xml>".to_vec(),
        422,
        "missing_field",
    ));

    // --- WeChat: modes and parameters -------------------------------------------------------
    let (mut q, b) = wechat_signed_encrypt(&demo, now, &encrypt_for(&demo, &demo.app_id, &text));
    // Re-sign with plain-demo's token: a genuine-looking encrypted push to a plaintext account.
    let fresh = wechat_query(&plain, &ts);
    q.extend(fresh);
    out.push(wechat_case(
        "wechat_encrypted_to_plaintext_account",
        "plain-demo",
        "POST",
        q,
        b,
        403,
        "mode_not_allowed",
    ));
    let mut q = good.query.clone();
    q.insert("encrypt_type".into(), "des".into());
    out.push(wechat_case(
        "wechat_unknown_encrypt_type",
        "secure-demo",
        "POST",
        q,
        good.body.clone(),
        400,
        "invalid_parameter",
    ));
    for p in ["signature", "timestamp", "msg_signature"] {
        let mut q = good.query.clone();
        q.remove(p);
        out.push(wechat_case(
            match p {
                "signature" => "wechat_missing_signature",
                "timestamp" => "wechat_missing_timestamp",
                _ => "wechat_missing_msg_signature",
            },
            "secure-demo",
            "POST",
            q,
            good.body.clone(),
            400,
            "missing_parameter",
        ));
    }
    let mut q = good.query.clone();
    q.insert("signature".into(), String::new());
    out.push(wechat_case(
        "wechat_empty_signature",
        "secure-demo",
        "POST",
        q,
        good.body.clone(),
        400,
        "missing_parameter",
    ));
    let mut q = good.query.clone();
    q.remove("nonce");
    out.push(Attack {
        http: false, // e2e.rs: missing nonce
        ..wechat_case(
            "wechat_missing_nonce",
            "secure-demo",
            "POST",
            q,
            good.body.clone(),
            400,
            "missing_parameter",
        )
    });
    let verify = simulate::verification(&demo, now, &nonce(), "Zq7BodyMarker-echo");
    let mut q = verify.query.clone();
    q.remove("echostr");
    out.push(wechat_case(
        "wechat_verification_missing_echostr",
        "demo",
        "GET",
        q,
        Vec::new(),
        400,
        "missing_parameter",
    ));
    let big = simulate::verification(&demo, now, &nonce(), &"Zq7BodyMarker".repeat(200));
    out.push(wechat_case(
        "wechat_verification_oversize_echostr",
        "demo",
        "GET",
        big.query,
        Vec::new(),
        413,
        "body_too_large",
    ));
    let mut q = verify.query.clone();
    q.insert("signature".into(), "0".repeat(40));
    out.push(wechat_case(
        "wechat_verification_forged_signature",
        "demo",
        "GET",
        q,
        Vec::new(),
        401,
        "bad_signature",
    ));
    let downgrade = secure_push(&secure, now, Envelope::Plaintext);
    out.push(Attack {
        http: false, // e2e.rs: plaintext to a secure account
        ..wechat_case(
            "wechat_plaintext_to_secure_account",
            "secure-demo",
            "POST",
            downgrade.query,
            downgrade.body,
            403,
            "mode_not_allowed",
        )
    });
    let mut huge = text.clone().into_bytes();
    huge.resize(70 * 1024, b' ');
    out.push(Attack {
        http: false, // e2e.rs: oversize body
        ..wechat_case(
            "wechat_oversize_body",
            "plain-demo",
            "POST",
            wechat_query(&plain, &ts),
            huge,
            413,
            "body_too_large",
        )
    });

    // --- WeChat: method, accounts, path -----------------------------------------------------
    out.push(wechat_case(
        "wechat_method_delete",
        "demo",
        "DELETE",
        demo_push.query.clone(),
        demo_push.body.clone(),
        405,
        "method_not_allowed",
    ));
    out.push(Attack {
        http: false, // e2e.rs: unknown account
        ..wechat_case(
            "wechat_unknown_account",
            "nobody",
            "POST",
            demo_push.query.clone(),
            demo_push.body.clone(),
            401,
            "unknown_account",
        )
    });
    out.push(wechat_case(
        "wechat_weibo_account_on_wechat_path",
        "brand",
        "POST",
        demo_push.query.clone(),
        demo_push.body.clone(),
        401,
        "unknown_account",
    ));
    out.push(wechat_case(
        "wechat_empty_account",
        "",
        "POST",
        demo_push.query.clone(),
        demo_push.body.clone(),
        404,
        "missing_account",
    ));
    out.push(wechat_case(
        "wechat_very_long_account",
        &"a".repeat(4_000),
        "POST",
        demo_push.query.clone(),
        demo_push.body.clone(),
        401,
        "unknown_account",
    ));
    // Over HTTP the `..` segment is resolved before the function sees the path; see
    // `path_tricks_never_reach_an_account_they_do_not_name`.
    out.push(Attack {
        http: false,
        ..wechat_case(
            "wechat_dot_dot_account",
            "..",
            "POST",
            demo_push.query.clone(),
            demo_push.body.clone(),
            401,
            "unknown_account",
        )
    });

    // --- Weibo ------------------------------------------------------------------------------
    let weibo_case = |name, attack: Attack, status, code| Attack {
        name,
        status,
        code,
        ..attack
    };
    let body = weibo_text("1902538057", "2489518277");
    let now_ms = now * 1000;
    let mut forged = weibo_signed(&brand, now_ms, body.clone().into_bytes());
    forged.query.insert("signature".into(), "0".repeat(40));
    out.push(weibo_case(
        "weibo_forged_signature",
        forged,
        401,
        "bad_signature",
    ));
    out.push(weibo_case(
        "weibo_signature_of_another_account",
        Attack {
            account: "brand".into(),
            ..weibo_signed(&brand_xml, now_ms, body.clone().into_bytes())
        },
        401,
        "bad_signature",
    ));
    out.push(weibo_case(
        "weibo_timestamp_in_seconds",
        weibo_signed(&brand, now, body.clone().into_bytes()),
        401,
        "stale_timestamp",
    ));
    out.push(weibo_case(
        "weibo_stale_timestamp",
        weibo_signed(&brand, now_ms - 400_000, body.clone().into_bytes()),
        401,
        "stale_timestamp",
    ));
    out.push(weibo_case(
        "weibo_far_future_timestamp",
        weibo_signed(&brand, now_ms + 3_600_000, body.clone().into_bytes()),
        401,
        "stale_timestamp",
    ));
    for p in ["signature", "timestamp", "nonce"] {
        let mut a = weibo_signed(&brand, now_ms, body.clone().into_bytes());
        a.query.remove(p);
        out.push(weibo_case(
            match p {
                "signature" => "weibo_missing_signature",
                "timestamp" => "weibo_missing_timestamp",
                _ => "weibo_missing_nonce",
            },
            a,
            400,
            "missing_parameter",
        ));
    }
    let mut huge = body.clone().into_bytes();
    huge.resize(70 * 1024, b' ');
    out.push(weibo_case(
        "weibo_oversize_body",
        weibo_signed(&brand, now_ms, huge),
        413,
        "body_too_large",
    ));
    let deep = format!(
        "{}\"{BODY_MARKER}\"{}",
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    out.push(weibo_case(
        "weibo_deeply_nested_json",
        weibo_signed(&brand, now_ms, deep.into_bytes()),
        400,
        "malformed_body",
    ));
    let nested_data = body.replace(
        "\"data\":{}",
        &format!("\"data\":{{\"x\":{}1{}}}", "[".repeat(40), "]".repeat(40)),
    );
    out.push(weibo_case(
        "weibo_nested_json_in_data",
        weibo_signed(&brand, now_ms, nested_data.into_bytes()),
        400,
        "malformed_body",
    ));
    // Many keys, under the size limit: parsed, then refused for its receiver. Parsing
    // 60 KB of keys must not be what takes the time.
    let mut wide = String::from(
        "{\"type\":\"text\",\"receiver_id\":1,\"sender_id\":2,\"created_at\":\"Mon Jul 16 18:09:20 +0800 2012\",\"text\":\"Zq7BodyMarker\",\"data\":{",
    );
    for i in 0..5_000 {
        wide.push_str(&format!("\"k{i}\":{i},"));
    }
    wide.push_str("\"end\":0}}");
    out.push(weibo_case(
        "weibo_wide_json_other_receiver",
        weibo_signed(&brand, now_ms, wide.into_bytes()),
        403,
        "receiver_mismatch",
    ));
    out.push(weibo_case(
        "weibo_receiver_mismatch",
        weibo_signed(
            &brand,
            now_ms,
            weibo_text("1111111111", "2489518277").into_bytes(),
        ),
        403,
        "receiver_mismatch",
    ));
    out.push(weibo_case(
        "weibo_billion_laughs_xml_account",
        Attack {
            account: "brand-xml".into(),
            ..weibo_signed(&brand_xml, now_ms, billion_laughs().into_bytes())
        },
        400,
        "doctype_forbidden",
    ));
    out.push(weibo_case(
        "weibo_external_entity_json_account",
        weibo_signed(&brand, now_ms, external_entity().into_bytes()),
        400,
        "doctype_forbidden",
    ));
    out.push(weibo_case(
        "weibo_empty_body",
        weibo_signed(&brand, now_ms, Vec::new()),
        400,
        "malformed_body",
    ));
    out.push(weibo_case(
        "weibo_not_json",
        weibo_signed(&brand, now_ms, b"{Zq7BodyMarker: 1,}".to_vec()),
        400,
        "malformed_body",
    ));
    let mut bad_utf8 = body.clone().into_bytes();
    bad_utf8.insert(1, 0xff);
    out.push(weibo_case(
        "weibo_body_not_utf8",
        Attack {
            http: false, // see wechat_body_not_utf8
            ..weibo_signed(&brand, now_ms, bad_utf8)
        },
        400,
        "malformed_body",
    ));
    out.push(weibo_case(
        "weibo_missing_type",
        weibo_signed(
            &brand,
            now_ms,
            body.replace("\"type\":\"text\",", "").into_bytes(),
        ),
        422,
        "missing_field",
    ));
    out.push(weibo_case(
        "weibo_id_beyond_u64",
        weibo_signed(
            &brand,
            now_ms,
            weibo_text("1902538057", "99999999999999999999999999").into_bytes(),
        ),
        422,
        "missing_field",
    ));
    out.push(weibo_case(
        "weibo_method_patch",
        Attack {
            method: "PATCH",
            ..weibo_signed(&brand, now_ms, body.clone().into_bytes())
        },
        405,
        "method_not_allowed",
    ));
    out.push(weibo_case(
        "weibo_wechat_account_on_weibo_path",
        Attack {
            account: "demo".into(),
            ..weibo_signed(&brand, now_ms, body.clone().into_bytes())
        },
        401,
        "unknown_account",
    ));
    out
}
