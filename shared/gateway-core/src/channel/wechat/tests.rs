//! End-to-end tests of [`handle`](super::handle): official vectors, every negative path, the
//! fixtures in `events/wechat/messages` in all three modes, and tamper properties.

use super::simulate::{self, Envelope, SimulatedRequest};
use super::*;
use crate::account::{ReplyMode, Secret};
use crate::message::{Content, NormalizedMessage};
use proptest::prelude::*;
use std::collections::BTreeMap;

const V4_ENCRYPT: &str =
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
const KEY_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const KEY_V4: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const TS: i64 = 1714112445;
const NOW_MS: i64 = TS * 1000 + 1234;

fn account(mode: WeChatMode) -> WeChatAccount {
    WeChatAccount {
        app_id: "wxba5fad812f8e6fb9".into(),
        token: Secret::new("AAAAA"),
        encoding_aes_key: Some(Secret::new(KEY_A)),
        previous_encoding_aes_key: None,
        mode,
        app_secret: None,
        reply_mode: ReplyMode::Api,
        original_id: None,
        template_daily_limit: None,
    }
}

/// The account that takes `envelope`: plaintext for plaintext pushes, compatible otherwise.
fn for_envelope(envelope: Envelope) -> WeChatAccount {
    match envelope {
        Envelope::Plaintext => account(WeChatMode::Plaintext),
        Envelope::Compatible | Envelope::Secure => account(WeChatMode::Compatible),
    }
}

fn limits() -> Limits {
    Limits::default()
}

fn run(acc: &WeChatAccount, req: &SimulatedRequest) -> Result<WebhookOutcome, WebhookError> {
    handle(acc, &req.as_inbound("demo", NOW_MS), &limits())
}

fn run_at(
    acc: &WeChatAccount,
    query: &BTreeMap<String, String>,
    method: HttpMethod,
    body: &[u8],
    now_ms: i64,
) -> Result<WebhookOutcome, WebhookError> {
    let req = InboundRequest {
        method,
        account_id: "demo",
        query,
        body,
        received_at_ms: now_ms,
    };
    handle(acc, &req, &limits())
}

fn message(outcome: Result<WebhookOutcome, WebhookError>) -> NormalizedMessage {
    match outcome {
        Ok(WebhookOutcome::Message(m)) => *m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn text_xml(msg_id: &str, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\
         <FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\
         <CreateTime>{TS}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

fn push(acc: &WeChatAccount, inner: &str, envelope: Envelope) -> SimulatedRequest {
    simulate::push_with_random(acc, inner, TS, "415670741", envelope, b"0123456789abcdef")
        .expect("simulated")
}

/// A secure-mode request whose `Encrypt` is `encrypt`, correctly signed.
fn secure_with_encrypt(acc: &WeChatAccount, encrypt: &str) -> SimulatedRequest {
    let ts = TS.to_string();
    let token = acc.token.expose();
    let mut q = BTreeMap::new();
    q.insert("signature".into(), crypto::signature(token, &ts, "n1"));
    q.insert("timestamp".into(), ts.clone());
    q.insert("nonce".into(), "n1".into());
    q.insert("encrypt_type".into(), "aes".into());
    q.insert(
        "msg_signature".into(),
        crypto::msg_signature(token, &ts, "n1", encrypt),
    );
    SimulatedRequest {
        method: HttpMethod::Post,
        query: q,
        body: format!(
            "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        )
        .into_bytes(),
    }
}

// ---------------------------------------------------------------- official vectors

#[test]
fn v1_wechatpy_signature_and_negative() {
    let acc = WeChatAccount {
        token: Secret::new("test"),
        ..account(WeChatMode::Plaintext)
    };
    let ok = query(&[
        ("signature", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"),
        ("timestamp", "1410685589"),
        ("nonce", "test"),
        ("echostr", "hello"),
    ]);
    assert_eq!(
        run_at(&acc, &ok, HttpMethod::Get, b"", 1_410_685_589_000),
        Ok(WebhookOutcome::Echo("hello".into()))
    );
    let mut bad = ok.clone();
    bad.insert(
        "signature".into(),
        "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe".into(),
    );
    assert_eq!(
        run_at(&acc, &bad, HttpMethod::Get, b"", 1_410_685_589_000),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn v2_official_get_verification_echoes_exactly() {
    let q = query(&[
        ("signature", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
        ("timestamp", "1714036504"),
        ("nonce", "1514711492"),
        ("echostr", "4375120948345356249"),
    ]);
    for mode in [
        WeChatMode::Plaintext,
        WeChatMode::Compatible,
        WeChatMode::Secure,
    ] {
        assert_eq!(
            run_at(&account(mode), &q, HttpMethod::Get, b"", 1_714_036_504_000),
            Ok(WebhookOutcome::Echo("4375120948345356249".into()))
        );
    }
}

#[test]
fn v2_official_plain_post_signature_verifies() {
    // The official example's body is JSON (mini program format), so it is refused as
    // malformed XML only after the signature and mode checks passed.
    let body = br#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714037059,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;
    let q = query(&[
        ("signature", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
        ("timestamp", "1714037059"),
        ("nonce", "486452656"),
    ]);
    assert!(matches!(
        run_at(
            &account(WeChatMode::Plaintext),
            &q,
            HttpMethod::Post,
            body,
            1_714_037_059_000
        ),
        Err(WebhookError::MalformedBody(_))
    ));
    // A compatible account never takes it: the platform always encrypts in that mode, and
    // the plain signature does not cover the body.
    assert_eq!(
        run_at(
            &account(WeChatMode::Compatible),
            &q,
            HttpMethod::Post,
            body,
            1_714_037_059_000
        ),
        Err(WebhookError::ModeNotAllowed("plaintext"))
    );
}

#[test]
fn v4_official_java_sample_through_handle() {
    // The sample's message is plain text, not XML: everything up to and including decryption
    // and the app id check passes, then the inner parse refuses it.
    let acc = WeChatAccount {
        app_id: "wxb11529c136998cb6".into(),
        token: Secret::new("pamtest"),
        encoding_aes_key: Some(Secret::new(KEY_V4)),
        ..account(WeChatMode::Secure)
    };
    let q = query(&[
        (
            "signature",
            &crypto::signature("pamtest", "1409304348", "xxxxxx"),
        ),
        ("timestamp", "1409304348"),
        ("nonce", "xxxxxx"),
        ("encrypt_type", "aes"),
        ("msg_signature", "82c962d39941aa48552f90ef55aa323dc620cc10"),
    ]);
    let body = format!(
        "<xml><ToUserName><![CDATA[toUser]]></ToUserName><Encrypt><![CDATA[{V4_ENCRYPT}]]></Encrypt></xml>"
    );
    assert!(matches!(
        run_at(
            &acc,
            &q,
            HttpMethod::Post,
            body.as_bytes(),
            1_409_304_348_000
        ),
        Err(WebhookError::MalformedBody(_))
    ));
    let wrong_appid = WeChatAccount {
        app_id: "wx0000000000000000".into(),
        ..acc.clone()
    };
    assert_eq!(
        run_at(
            &wrong_appid,
            &q,
            HttpMethod::Post,
            body.as_bytes(),
            1_409_304_348_000
        ),
        Err(WebhookError::AppIdMismatch)
    );
}

// ---------------------------------------------------------------- GET negatives

#[test]
fn get_missing_parameters_stale_and_oversized_echostr() {
    let acc = account(WeChatMode::Compatible);
    let good = simulate::verification(&acc, TS, "1514711492", "4375120948345356249");
    assert_eq!(
        run(&acc, &good),
        Ok(WebhookOutcome::Echo("4375120948345356249".into()))
    );
    for name in ["signature", "timestamp", "nonce", "echostr"] {
        let mut r = good.clone();
        r.query.remove(name);
        assert_eq!(
            run(&acc, &r),
            Err(WebhookError::MissingParameter(name)),
            "{name}"
        );
        r.query.insert(name.into(), String::new());
        assert_eq!(
            run(&acc, &r),
            Err(WebhookError::MissingParameter(name)),
            "{name} empty"
        );
    }
    let stale = simulate::verification(&acc, TS - 301, "1", "e");
    assert_eq!(run(&acc, &stale), Err(WebhookError::StaleTimestamp));
    let future = simulate::verification(&acc, TS + 302, "1", "e");
    assert_eq!(run(&acc, &future), Err(WebhookError::StaleTimestamp));
    let long = simulate::verification(&acc, TS, "1", &"9".repeat(limits().max_echostr_bytes + 1));
    assert_eq!(
        run(&acc, &long),
        Err(WebhookError::BodyTooLarge {
            limit: limits().max_echostr_bytes
        })
    );
    let mut other = good.clone();
    other.method = HttpMethod::Other;
    assert_eq!(run(&acc, &other), Err(WebhookError::MethodNotAllowed));
}

#[test]
fn an_encrypted_get_is_never_decrypted_so_a_captured_push_cannot_be_read() {
    // The attack: a captured secure push (its query and its `Encrypt`) replayed as a GET with
    // the `Encrypt` as `echostr`. Answering with the decryption would reveal the message.
    let acc = account(WeChatMode::Secure);
    let secret = text_xml("1", "my order number is 12345");
    let captured = push(&acc, &secret, Envelope::Secure);
    let body = String::from_utf8(captured.body.clone()).expect("utf8");
    let encrypt = body
        .split("<Encrypt><![CDATA[")
        .nth(1)
        .and_then(|rest| rest.split("]]>").next())
        .expect("Encrypt");
    let mut replay = captured.clone();
    replay.method = HttpMethod::Get;
    replay.body.clear();
    replay.query.insert("echostr".into(), encrypt.to_string());
    // With the push's `signature` the GET is a plain verification: the echo is the
    // ciphertext as sent, never its decryption.
    match run(&acc, &replay) {
        Ok(WebhookOutcome::Echo(echo)) => assert_eq!(echo, encrypt),
        other => panic!("expected the ciphertext echoed unchanged, got {other:?}"),
    }
    // Without `signature` (the WeCom-style `msg_signature` verification) it is refused.
    replay.query.remove("signature");
    assert_eq!(
        run(&acc, &replay),
        Err(WebhookError::MissingParameter("signature"))
    );
    let wecom_style = simulate::encrypted_verification_with_random(
        &acc,
        TS,
        "n",
        "1616140317555161061",
        &[9; 16],
    )
    .expect("simulated");
    assert_eq!(
        run(&acc, &wecom_style),
        Err(WebhookError::MissingParameter("signature"))
    );
}

// ---------------------------------------------------------------- POST negatives

#[test]
fn post_missing_parameters() {
    let inner = text_xml("1", "hi");
    for envelope in [Envelope::Plaintext, Envelope::Secure] {
        let acc = for_envelope(envelope);
        let good = push(&acc, &inner, envelope);
        assert!(run(&acc, &good).is_ok());
        let mut names = vec!["signature", "timestamp", "nonce"];
        if envelope == Envelope::Secure {
            names.push("msg_signature");
        }
        for name in names {
            let mut r = good.clone();
            r.query.remove(name);
            assert_eq!(
                run(&acc, &r),
                Err(WebhookError::MissingParameter(name)),
                "{name}"
            );
        }
    }
    let acc = account(WeChatMode::Plaintext);
    let mut odd = push(&acc, &inner, Envelope::Plaintext);
    odd.query.insert("encrypt_type".into(), "rsa".into());
    assert_eq!(
        run(&acc, &odd),
        Err(WebhookError::InvalidParameter("encrypt_type"))
    );
    let mut raw = push(&acc, &inner, Envelope::Plaintext);
    raw.query.insert("encrypt_type".into(), "raw".into());
    assert!(run(&acc, &raw).is_ok());
    let mut bad_ts = push(&acc, &inner, Envelope::Plaintext);
    bad_ts.query.insert("timestamp".into(), "17141124x5".into());
    // Signed over another timestamp: the signature fails first.
    assert_eq!(run(&acc, &bad_ts), Err(WebhookError::BadSignature));
    let nonce = bad_ts.query["nonce"].clone();
    bad_ts.query.insert(
        "signature".into(),
        crypto::signature(acc.token.expose(), "17141124x5", &nonce),
    );
    assert_eq!(
        run(&acc, &bad_ts),
        Err(WebhookError::InvalidParameter("timestamp"))
    );
}

#[test]
fn post_signature_failures() {
    let acc = account(WeChatMode::Compatible);
    let inner = text_xml("1", "hi");
    let mut r = push(&acc, &inner, Envelope::Secure);
    r.query.insert("signature".into(), "0".repeat(40));
    assert_eq!(run(&acc, &r), Err(WebhookError::BadSignature));

    let mut r = push(&acc, &inner, Envelope::Secure);
    r.query
        .insert("msg_signature".into(), crypto::signature("AAAAA", "1", "2"));
    assert_eq!(run(&acc, &r), Err(WebhookError::BadSignature));

    let acc = account(WeChatMode::Plaintext);
    let other_token = WeChatAccount {
        token: Secret::new("BBBBB"),
        ..acc.clone()
    };
    assert_eq!(
        run(&other_token, &push(&acc, &inner, Envelope::Plaintext)),
        Err(WebhookError::BadSignature)
    );

    let stale = simulate::push(&acc, &inner, TS - 3600, "n", Envelope::Plaintext).expect("sim");
    assert_eq!(run(&acc, &stale), Err(WebhookError::StaleTimestamp));
    // The signature is checked before the window: a stale, unsigned request learns nothing.
    let mut stale_unsigned = stale.clone();
    stale_unsigned
        .query
        .insert("signature".into(), "0".repeat(40));
    assert_eq!(run(&acc, &stale_unsigned), Err(WebhookError::BadSignature));
    // An account whose document holds no token (another role's projection) never verifies,
    // not even a signature over just the timestamp and nonce.
    let no_token = WeChatAccount {
        token: Secret::new(""),
        ..acc.clone()
    };
    assert_eq!(
        run(&no_token, &push(&no_token, &inner, Envelope::Plaintext)),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn modes_are_enforced_per_account() {
    let inner = text_xml("1", "hi");
    let secure = account(WeChatMode::Secure);
    let plaintext = account(WeChatMode::Plaintext);
    let compatible = account(WeChatMode::Compatible);
    assert_eq!(
        run(&secure, &push(&secure, &inner, Envelope::Plaintext)),
        Err(WebhookError::ModeNotAllowed("plaintext"))
    );
    assert_eq!(
        run(&plaintext, &push(&compatible, &inner, Envelope::Secure)),
        Err(WebhookError::ModeNotAllowed("aes"))
    );
    assert_eq!(
        run(&plaintext, &push(&compatible, &inner, Envelope::Compatible)),
        Err(WebhookError::ModeNotAllowed("aes"))
    );
    // The downgrade: a compatible account takes only the encrypted envelope. A plaintext push
    // signed with a captured query (the signature does not cover the body) is refused.
    assert_eq!(
        run(&compatible, &push(&compatible, &inner, Envelope::Plaintext)),
        Err(WebhookError::ModeNotAllowed("plaintext"))
    );
    for envelope in [Envelope::Compatible, Envelope::Secure] {
        assert!(run(&compatible, &push(&compatible, &inner, envelope)).is_ok());
    }
    assert!(run(&secure, &push(&secure, &inner, Envelope::Compatible)).is_ok());
    assert!(run(&plaintext, &push(&plaintext, &inner, Envelope::Plaintext)).is_ok());
}

#[test]
fn compatible_mode_ignores_unauthenticated_plain_siblings() {
    let acc = account(WeChatMode::Compatible);
    let inner = text_xml("1", "authentic");
    let mut r = push(&acc, &inner, Envelope::Compatible);
    let body = String::from_utf8(r.body.clone()).expect("utf8");
    r.body = body.replace("authentic", "forged").into_bytes();
    let m = message(run(&acc, &r));
    assert_eq!(
        m.content,
        Content::Text {
            text: "authentic".into()
        }
    );
}

#[test]
fn crypto_failures_after_a_valid_msg_signature() {
    let acc = account(WeChatMode::Secure);
    let key = AesKey::from_encoding_aes_key(KEY_A).expect("key");
    let good = crypto::encrypt(&key, &acc.app_id, text_xml("1", "hi").as_bytes(), &[1; 16]);
    assert!(run(&acc, &secure_with_encrypt(&acc, &good)).is_ok());

    assert_eq!(
        run(&acc, &secure_with_encrypt(&acc, "%%%not-base64%%%")),
        Err(WebhookError::BadBase64)
    );
    // Truncated: drop the last 32-byte block (re-encoded so the base64 stays valid).
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&good)
        .expect("b64");
    let truncated = base64::engine::general_purpose::STANDARD.encode(&raw[..raw.len() - 16]);
    assert_eq!(
        run(&acc, &secure_with_encrypt(&acc, &truncated)),
        Err(WebhookError::BadCiphertext)
    );
    let other_appid = crypto::encrypt(
        &key,
        "wx0000000000000000",
        text_xml("1", "hi").as_bytes(),
        &[1; 16],
    );
    assert_eq!(
        run(&acc, &secure_with_encrypt(&acc, &other_appid)),
        Err(WebhookError::AppIdMismatch)
    );
    let mut r = secure_with_encrypt(&acc, &good);
    r.body = b"<xml><ToUserName>gh</ToUserName></xml>".to_vec();
    assert_eq!(run(&acc, &r), Err(WebhookError::MissingField("Encrypt")));
}

#[test]
fn previous_key_is_tried_after_rotation() {
    let old = account(WeChatMode::Secure);
    let rotated = WeChatAccount {
        encoding_aes_key: Some(Secret::new(KEY_V4)),
        previous_encoding_aes_key: Some(Secret::new(KEY_A)),
        ..old.clone()
    };
    let r = push(&old, &text_xml("77", "before rotation"), Envelope::Secure);
    assert_eq!(message(run(&rotated, &r)).dedupe_key, "msg:77");
    let new = push(
        &rotated,
        &text_xml("78", "after rotation"),
        Envelope::Secure,
    );
    assert_eq!(message(run(&rotated, &new)).dedupe_key, "msg:78");
    // Without the previous key, the old ciphertext fails (the current key's error).
    let forgot = WeChatAccount {
        previous_encoding_aes_key: None,
        ..rotated
    };
    assert!(matches!(
        run(&forgot, &r),
        Err(WebhookError::BadPadding | WebhookError::BadCiphertext | WebhookError::AppIdMismatch)
    ));
}

#[test]
fn dtd_and_billion_laughs_are_refused_plain_and_encrypted() {
    let lol = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
               <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
               <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">]>\
               <xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>\
               <MsgType>text</MsgType><Content>&lol2;</Content></xml>";
    let xxe = "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><Content>&x;</Content></xml>";
    let acc = account(WeChatMode::Compatible);
    let plain_acc = account(WeChatMode::Plaintext);
    for body in [lol, xxe] {
        let plain = push(&plain_acc, &text_xml("1", "x"), Envelope::Plaintext);
        let r = SimulatedRequest {
            body: body.as_bytes().to_vec(),
            ..plain
        };
        assert_eq!(run(&plain_acc, &r), Err(WebhookError::DoctypeForbidden));

        let key = AesKey::from_encoding_aes_key(KEY_A).expect("key");
        let enc = crypto::encrypt(&key, &acc.app_id, body.as_bytes(), &[3; 16]);
        assert_eq!(
            run(&acc, &secure_with_encrypt(&acc, &enc)),
            Err(WebhookError::DoctypeForbidden)
        );
    }
    // The outer envelope too.
    let mut r = secure_with_encrypt(&acc, "AAAA");
    r.body = lol.as_bytes().to_vec();
    assert_eq!(run(&acc, &r), Err(WebhookError::DoctypeForbidden));
}

#[test]
fn malformed_and_incomplete_bodies() {
    let acc = account(WeChatMode::Plaintext);
    let base = push(&acc, &text_xml("1", "x"), Envelope::Plaintext);
    let with_body = |b: &[u8]| SimulatedRequest {
        body: b.to_vec(),
        ..base.clone()
    };
    for b in [
        &b"<xml><ToUserName>a</ToUserName"[..],
        b"<xml><A></B></xml>",
        b"",
        b"\xff\xfe<xml/>",
        b"<xml><?evil?></xml>",
    ] {
        assert!(
            matches!(
                run(&acc, &with_body(b)),
                Err(WebhookError::MalformedBody(_))
            ),
            "{b:?}"
        );
    }
    let no_from = "<xml><ToUserName>gh</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>";
    assert_eq!(
        run(&acc, &with_body(no_from.as_bytes())),
        Err(WebhookError::MissingField("FromUserName"))
    );
    let big = with_body(&vec![b' '; limits().max_body_bytes + 1]);
    assert_eq!(
        run(&acc, &big),
        Err(WebhookError::BodyTooLarge {
            limit: limits().max_body_bytes
        })
    );
}

#[test]
fn long_msg_ids_survive_every_mode() {
    for id in [
        "1234567890123456789",
        "12345678901234567890",
        "99999999999999999999",
    ] {
        for envelope in [Envelope::Plaintext, Envelope::Compatible, Envelope::Secure] {
            let acc = for_envelope(envelope);
            let m = message(run(&acc, &push(&acc, &text_xml(id, "x"), envelope)));
            assert_eq!(m.platform_message_id.as_deref(), Some(id));
            assert_eq!(m.dedupe_key, format!("msg:{id}"));
        }
    }
}

#[test]
fn secure_message_keeps_the_decrypted_inner_xml_as_raw() {
    let acc = account(WeChatMode::Secure);
    let inner = text_xml("5", "原文 & <raw>");
    let m = message(run(&acc, &push(&acc, &inner, Envelope::Secure)));
    assert_eq!(m.raw.body, inner);
    assert_eq!(
        m.content,
        Content::Text {
            text: "原文 & <raw>".into()
        }
    );
    assert_eq!(m.received_at_ms, NOW_MS);
    assert_eq!(m.account_id, "demo");
}

// ---------------------------------------------------------------- fixtures

fn fixtures() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/wechat/messages");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("fixture text"))
        })
        .collect();
    out.sort();
    out
}

/// (kind, normalized event name or platform type)
fn expected(name: &str) -> (&'static str, &'static str) {
    match name {
        "text" => ("text", ""),
        "image" => ("image", ""),
        "voice" | "voice-with-recognition" => ("voice", ""),
        "video" | "shortvideo" => ("video", ""),
        "location" => ("location", ""),
        "link" => ("link", ""),
        "miniprogrampage" => ("other", "miniprogrampage"),
        "futuretype" => ("other", "futuretype"),
        "event-subscribe" => ("event", "follow"),
        "event-subscribe-qrscene" => ("event", "follow_by_scan"),
        "event-unsubscribe" => ("event", "unfollow"),
        "event-SCAN" => ("event", "scan"),
        "event-LOCATION" => ("event", "location"),
        "event-CLICK" => ("event", "click"),
        "event-VIEW" => ("event", "view"),
        "event-TEMPLATESENDJOBFINISH" => ("event", "template_send_finished"),
        "event-MASSSENDJOBFINISH" => ("event", "mass_send_finished"),
        "event-scancode_push" => ("event", "scancode_push"),
        "event-pic_sysphoto" => ("event", "pic_sysphoto"),
        "event-location_select" => ("event", "location_select"),
        "event-kf_create_session" => ("event", "kf_create_session"),
        other => panic!("fixture `{other}` has no expectation in tests.rs"),
    }
}

#[test]
fn every_fixture_parses_in_every_mode_with_one_dedupe_key() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 23, "found {} fixtures", fixtures.len());
    let plaintext = account(WeChatMode::Plaintext);
    let compatible = account(WeChatMode::Compatible);
    let secure = account(WeChatMode::Secure);
    let mut all_keys = Vec::new();
    for (name, xml) in &fixtures {
        let (kind, label) = expected(name);
        let deliveries = [
            (&plaintext, Envelope::Plaintext),
            (&compatible, Envelope::Compatible),
            (&secure, Envelope::Secure),
        ];
        let mut keys = Vec::new();
        for (i, (acc, envelope)) in deliveries.into_iter().enumerate() {
            // Each delivery differs in timestamp, nonce and random, like a platform retry.
            let r = simulate::push(acc, xml, TS + i as i64 * 5, &format!("nonce{i}"), envelope)
                .expect("simulated");
            let m = message(handle(acc, &r.as_inbound("demo", NOW_MS + 5000), &limits()));
            assert_eq!(m.kind(), kind, "{name} {envelope:?}");
            match &m.content {
                Content::Event { event, .. } => assert_eq!(event, label, "{name}"),
                Content::Other { platform_type } => assert_eq!(platform_type, label, "{name}"),
                _ => {}
            }
            assert_eq!(m.sender_id, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", "{name}");
            assert_eq!(m.recipient_id, "gh_97417a04a28d", "{name}");
            assert_eq!(m.raw.body, *xml, "{name}");
            check_details(name, &m.content);
            keys.push(m.dedupe_key);
        }
        keys.dedup();
        assert_eq!(keys.len(), 1, "{name}: {keys:?}");
        all_keys.push(keys.remove(0));
    }
    let n = all_keys.len();
    all_keys.sort();
    all_keys.dedup();
    assert_eq!(all_keys.len(), n, "fixtures must have distinct dedupe keys");
}

fn check_details(name: &str, content: &Content) {
    let d = |detail: &BTreeMap<String, String>, k: &str| detail.get(k).cloned();
    match (name, content) {
        (
            "voice",
            Content::Voice {
                recognition,
                format,
                ..
            },
        ) => {
            assert_eq!(*recognition, None);
            assert_eq!(format.as_deref(), Some("amr"));
        }
        ("voice-with-recognition", Content::Voice { recognition, .. }) => {
            assert_eq!(recognition.as_deref(), Some("腾讯微信团队"));
        }
        ("video", Content::Video { short, .. }) => assert!(!short),
        ("shortvideo", Content::Video { short, .. }) => assert!(short),
        (
            "location",
            Content::Location {
                latitude,
                longitude,
                ..
            },
        ) => {
            assert_eq!((*latitude, *longitude), (23.134521, 113.358803));
        }
        ("link", Content::Link { url, .. }) => assert_eq!(url, "https://mp.weixin.qq.com/"),
        ("event-subscribe-qrscene", Content::Event { key, detail, .. }) => {
            assert_eq!(key.as_deref(), Some("123123"));
            assert_eq!(d(detail, "Ticket").as_deref(), Some("TICKET"));
        }
        ("event-subscribe", Content::Event { key, detail, .. }) => {
            assert_eq!(*key, None);
            assert!(detail.is_empty(), "{detail:?}");
        }
        ("event-VIEW", Content::Event { key, detail, .. }) => {
            assert_eq!(key.as_deref(), Some("www.qq.com"));
            assert_eq!(d(detail, "MenuId").as_deref(), Some("MENUID"));
        }
        ("event-LOCATION", Content::Event { detail, .. }) => {
            assert_eq!(d(detail, "Latitude").as_deref(), Some("23.137466"));
            assert_eq!(d(detail, "Longitude").as_deref(), Some("113.352425"));
            assert_eq!(d(detail, "Precision").as_deref(), Some("119.385040"));
        }
        ("event-TEMPLATESENDJOBFINISH", Content::Event { detail, .. }) => {
            assert_eq!(d(detail, "MsgID").as_deref(), Some("200163836"));
            assert_eq!(d(detail, "Status").as_deref(), Some("success"));
        }
        ("event-scancode_push", Content::Event { key, detail, .. }) => {
            assert_eq!(key.as_deref(), Some("6"));
            assert_eq!(
                d(detail, "ScanCodeInfo/ScanType").as_deref(),
                Some("qrcode")
            );
        }
        ("event-pic_sysphoto", Content::Event { detail, .. }) => {
            assert_eq!(
                d(detail, "SendPicsInfo/PicList/item/PicMd5Sum").as_deref(),
                Some("1b5f7c23b5bf75682a53e7b6d163e185")
            );
        }
        ("event-location_select", Content::Event { detail, .. }) => {
            assert_eq!(d(detail, "SendLocationInfo/Poiname").as_deref(), Some(""));
            assert_eq!(d(detail, "SendLocationInfo/Scale").as_deref(), Some("15"));
        }
        ("event-kf_create_session", Content::Event { detail, .. }) => {
            assert_eq!(d(detail, "KfAccount").as_deref(), Some("test1@test"));
        }
        _ => {}
    }
}

#[test]
fn three_deliveries_of_an_unknown_type_without_msg_id_share_one_key() {
    let acc = account(WeChatMode::Compatible);
    let xml = fixtures()
        .into_iter()
        .find(|(n, _)| n == "futuretype")
        .map(|(_, x)| x)
        .expect("futuretype fixture");
    let keys: Vec<String> = (0..3)
        .map(|i| {
            let r = simulate::push(&acc, &xml, TS + i, "n", Envelope::Secure).expect("sim");
            message(run(&acc, &r)).dedupe_key
        })
        .collect();
    assert!(keys[0].starts_with("raw:o9AgO5Kd5ggOC-bXrbNODIiE3bGY:1714112410:futuretype:"));
    assert!(keys.iter().all(|k| *k == keys[0]));
}

// ---------------------------------------------------------------- tamper properties

/// `s` with the char at `pos` (mod len) replaced by `c`; `None` when that changes nothing
/// (case-insensitively, since hex signatures are compared that way).
fn tamper(s: &str, pos: usize, c: char) -> Option<String> {
    let mut chars: Vec<char> = s.chars().collect();
    let i = pos % chars.len();
    if chars[i].eq_ignore_ascii_case(&c) {
        return None;
    }
    chars[i] = c;
    Some(chars.into_iter().collect())
}

proptest! {
    #[test]
    fn any_single_tampered_char_is_refused(
        field in 0usize..5,
        pos in any::<usize>(),
        c in "[A-Za-z0-9+/=]",
    ) {
        let c = c.chars().next().expect("one char");
        let acc = account(WeChatMode::Secure);
        let good = push(&acc, &text_xml("1", "hi"), Envelope::Secure);
        prop_assert!(run(&acc, &good).is_ok());
        let mut r = good.clone();
        let name = ["signature", "timestamp", "nonce", "msg_signature", "Encrypt"][field];
        if name == "Encrypt" {
            let outer = xml::parse_fields(&good.body).expect("outer");
            let enc = outer.get("Encrypt").expect("Encrypt").to_string();
            let Some(t) = tamper(&enc, pos, c) else { return Ok(()) };
            r.body = String::from_utf8(good.body.clone()).expect("utf8").replace(&enc, &t).into_bytes();
            prop_assert_eq!(run(&acc, &r), Err(WebhookError::BadSignature));
        } else {
            let Some(t) = tamper(&good.query[name], pos, c) else { return Ok(()) };
            r.query.insert(name.into(), t);
            let result = run(&acc, &r);
            if name == "timestamp" {
                prop_assert!(matches!(
                    result,
                    Err(WebhookError::BadSignature | WebhookError::StaleTimestamp | WebhookError::InvalidParameter("timestamp"))
                ), "{:?}", result);
            } else {
                prop_assert_eq!(result, Err(WebhookError::BadSignature));
            }
        }
    }

    #[test]
    fn tampered_parts_fail_the_plain_signature(part in 0usize..3, pos in any::<usize>(), c in any::<char>()) {
        let mut parts = ["test".to_string(), "1410685589".to_string(), "test".to_string()];
        let Some(t) = tamper(&parts[part], pos, c) else { return Ok(()) };
        parts[part] = t;
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        // Swapping the two equal-length parts "test"/"test" is the only way to keep the
        // sorted concatenation; a single changed char cannot do it.
        prop_assert_eq!(
            verify_sorted_sha1(&refs, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let acc = account(WeChatMode::Compatible);
        let mut r = push(&acc, &text_xml("1", "x"), Envelope::Plaintext);
        r.body = body.clone();
        let _ = run(&acc, &r);
        let mut s = push(&acc, &text_xml("1", "x"), Envelope::Secure);
        s.body = body;
        let _ = run(&acc, &s);
    }
}
