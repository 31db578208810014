use super::*;

const DOC: &str = r#"{
      "wechat": {
        "demo": { "app_id": "wxba5fad812f8e6fb9", "token": "AAAAA",
                  "encoding_aes_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                  "mode": "secure", "app_secret": "s3cret" }
      },
      "weibo": {
        "brand": { "app_key": "123", "app_secret": "xyz123xyz", "receiver_uid": "1902538057" }
      }
    }"#;

#[test]
fn parses_the_documented_format() {
    let doc = AccountsDocument::from_json(DOC).expect("valid");
    let wx = &doc.wechat["demo"];
    assert_eq!(wx.mode, WeChatMode::Secure);
    assert_eq!(wx.reply_mode, ReplyMode::Api);
    assert_eq!(doc.weibo["brand"].format, WeiboFormat::Json);
}

#[test]
fn debug_output_never_contains_secrets() {
    let doc = AccountsDocument::from_json(DOC).expect("valid");
    let dbg = format!("{doc:?}");
    assert!(!dbg.contains("s3cret"));
    assert!(!dbg.contains("xyz123xyz"));
    assert!(!dbg.contains("AAAAAAAAAAAAAAAA"));
    // One account's Debug still shows its non-secret fields, secrets redacted.
    let one = format!("{:?}", doc.wechat["demo"]);
    assert!(
        one.contains("[redacted]") && !one.contains("s3cret"),
        "{one}"
    );
}

#[test]
fn refuses_secure_mode_without_key_and_bad_names() {
    let no_key = r#"{"wechat":{"a":{"app_id":"wx1","token":"t","mode":"secure"}}}"#;
    assert!(matches!(
        AccountsDocument::from_json(no_key),
        Err(AccountsError::Invalid { .. })
    ));
    let bad_name = r#"{"wechat":{"a/b":{"app_id":"wx1","token":"t"}}}"#;
    assert!(matches!(
        AccountsDocument::from_json(bad_name),
        Err(AccountsError::Invalid { .. })
    ));
    let short_key = r#"{"wechat":{"a":{"app_id":"wx1","token":"t","encoding_aes_key":"abc"}}}"#;
    assert!(matches!(
        AccountsDocument::from_json(short_key),
        Err(AccountsError::Invalid { .. })
    ));
}

#[test]
fn ignores_underscore_keys_and_refuses_other_unknown_keys() {
    let generated = r#"{"wechat":{},"weibo":{},"_placeholder":"x9!"}"#;
    assert!(AccountsDocument::from_json(generated).is_ok());
    assert!(matches!(
        AccountsDocument::from_json(r#"{"wechta":{}}"#),
        Err(AccountsError::Syntax(_))
    ));
}

#[test]
fn api_clients_are_validated_and_scoped() {
    let ok = r#"{"wechat":{"demo":{"app_id":"wx1","token":"t"}},
                     "weibo":{"brand":{"app_key":"k","app_secret":"s"}},
                     "api_clients":{"crm":{"secret":"0123456789abcdef","accounts":["wechat:demo"]},
                                    "desk":{"secret":"fedcba9876543210","accounts":["wechat:demo","weibo:brand"]}}}"#;
    let doc = AccountsDocument::from_json(ok).expect("valid");
    let crm = &doc.api_clients["crm"];
    assert!(crm.may_reply_for(crate::message::Channel::WeChat, "demo"));
    assert!(!crm.may_reply_for(crate::message::Channel::Weibo, "demo"));
    assert!(doc.api_clients["desk"].may_reply_for(crate::message::Channel::Weibo, "brand"));
    assert!(!doc.api_clients["desk"].may_reply_for(crate::message::Channel::Weibo, "x"));
    assert!(!format!("{doc:?}").contains("0123456789abcdef"));
    for bad in [
        r#"{"api_clients":{"crm":{"secret":"short"}}}"#,
        r#"{"api_clients":{"crm":{"secret":"0123456789abcdef","accounts":["wechat:nope"]}}}"#,
        r#"{"api_clients":{"c/1":{"secret":"0123456789abcdef"}}}"#,
        // No scope is no longer "every account": it is refused.
        r#"{"wechat":{"demo":{"app_id":"wx1","token":"t"}},"api_clients":{"crm":{"secret":"0123456789abcdef"}}}"#,
    ] {
        let err = AccountsDocument::from_json(bad).expect_err(bad);
        assert!(!err.to_string().contains("0123456789abcdef"), "{err}");
    }
}

const FULL: &str = r#"{
      "wechat": {
        "demo": { "app_id": "wx1", "token": "TOKEN-W", "mode": "secure",
                  "encoding_aes_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                  "app_secret": "APPSECRET-W", "original_id": "gh_0123456789ab" }
      },
      "weibo": { "brand": { "app_key": "k", "app_secret": "SIGNKEY-B", "access_token": "ACCESS-B" } },
      "api_clients": { "crm": { "secret": "CLIENTSECRET-0123", "accounts": ["wechat:demo"] } }
    }"#;

#[test]
fn each_role_holds_only_its_secrets_and_validates_as_that_role() {
    let full = AccountsDocument::from_json(FULL).expect("valid");
    let holds = |role: AccountsRole| {
        let text = serde_json::to_string(&full.project(role)).expect("serializes");
        let back = AccountsDocument::from_json_for(&text, role).expect("projection valid");
        assert_eq!(back, full.project(role));
        [
            "TOKEN-W",
            "AAAAAAAAAA",
            "APPSECRET-W",
            "SIGNKEY-B",
            "ACCESS-B",
            "CLIENTSECRET",
        ]
        .into_iter()
        .filter(|s| text.contains(s))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        holds(AccountsRole::Webhook),
        ["TOKEN-W", "AAAAAAAAAA", "SIGNKEY-B"]
    );
    assert_eq!(holds(AccountsRole::Delivery), ["APPSECRET-W", "ACCESS-B"]);
    assert_eq!(holds(AccountsRole::ApiClients), ["CLIENTSECRET"]);
    // The names, ids and modes stay so that every role knows which accounts exist.
    let api = full.project(AccountsRole::ApiClients);
    assert_eq!(
        api.wechat["demo"].original_id.as_deref(),
        Some("gh_0123456789ab")
    );
    assert!(api.weibo.contains_key("brand"));
    // A role's secret holding more than it should is refused, so a mistake is loud.
    for (role, text) in [
        (AccountsRole::Delivery, FULL),
        (AccountsRole::ApiClients, FULL),
        (AccountsRole::Webhook, FULL),
    ] {
        let err = AccountsDocument::from_json_for(text, role).expect_err(role.as_str());
        assert!(err.to_string().contains("must not hold"), "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }
    // The webhook role still needs its keys.
    let no_token = r#"{"wechat":{"a":{"app_id":"wx1"}}}"#;
    assert!(AccountsDocument::from_json_for(no_token, AccountsRole::Webhook).is_err());
    assert!(AccountsDocument::from_json_for(no_token, AccountsRole::Delivery).is_ok());
}

#[test]
fn original_ids_are_checked() {
    for bad in [
        "gh_",
        "wx123",
        "gh_abc/def",
        "gh_0123456789012345678901234567890123",
    ] {
        let doc =
            format!(r#"{{"wechat":{{"a":{{"app_id":"wx1","token":"t","original_id":"{bad}"}}}}}}"#);
        assert!(AccountsDocument::from_json(&doc).is_err(), "{bad}");
    }
}

#[test]
fn debug_shows_counts_only() {
    let doc = AccountsDocument::from_json(FULL).expect("valid");
    let dbg = format!("{doc:?}");
    for hidden in ["demo", "brand", "crm", "wx1", "gh_0123", "TOKEN", "SECRET"] {
        assert!(!dbg.contains(hidden), "{dbg}");
    }
    assert!(dbg.contains("wechat_accounts: 1"), "{dbg}");
}

#[test]
fn type_errors_do_not_echo_secret_values() {
    let err = AccountsDocument::from_json(
        r#"{"weibo":{"a":{"app_key":"k","app_secret":["TOPSECRET"]}}}"#,
    )
    .expect_err("wrong type");
    assert!(!err.to_string().contains("TOPSECRET"), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn syntax_errors_do_not_echo_secret_values() {
    let err = AccountsDocument::from_json(
        r#"{"weibo":{"a":{"app_key":"k","app_secret":"TOPSECRET","bogus":1}}}"#,
    )
    .expect_err("unknown field");
    assert!(!err.to_string().contains("TOPSECRET"));
}

#[test]
fn a_template_daily_limit_is_a_positive_whole_number_kept_for_the_reply_sender() {
    let doc = |limit: &str| {
        format!(
            r#"{{"wechat":{{"demo":{{"app_id":"wx1","token":"t","app_secret":"s","template_daily_limit":{limit}}}}}}}"#
        )
    };
    let ok = AccountsDocument::from_json(&doc("100000")).expect("valid");
    assert_eq!(ok.wechat["demo"].template_daily_limit, Some(100_000));
    // The reply sender's projection keeps it.
    let delivery = ok.project(AccountsRole::Delivery);
    assert_eq!(delivery.wechat["demo"].template_daily_limit, Some(100_000));
    let zero = AccountsDocument::from_json(&doc("0")).expect_err("zero");
    assert!(
        zero.to_string()
            .contains("template_daily_limit must be at least 1"),
        "{zero}"
    );
    for bad in ["-1", "2.5", "\"10\""] {
        let err = AccountsDocument::from_json(&doc(bad)).expect_err(bad);
        assert!(
            err.to_string().contains("wrong type or value"),
            "{bad}: {err}"
        );
    }
    // Absent: no limit of the gateway's own.
    let none = AccountsDocument::from_json(r#"{"wechat":{"demo":{"app_id":"wx1","token":"t"}}}"#)
        .expect("valid");
    assert_eq!(none.wechat["demo"].template_daily_limit, None);
}
