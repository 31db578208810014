//! The `template` reply of a rule: a WeChat template message, checked when the rules are
//! loaded, sent to the customer who triggered the rule, and flagged on Weibo.

use super::*;
use crate::reply::ReplyContent;

const RULES: &str = r##"
version: 1
rules:
  - id: ticket-follow-up
    when: { channel: wechat, text_contains_any: [工单] }
    then:
      - reply:
          type: template
          template_id: tpl-ticket
          data:
            first: { value: "我们已收到您的工单" }
            keyword1: { value: "处理中", color: "#173177" }
          url: https://example.com/tickets
"##;

#[test]
fn a_rule_s_template_reply_is_sent_as_written() {
    let set = rules(RULES);
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    let m = message(
        Channel::WeChat,
        "demo",
        "oUser",
        Content::Text {
            text: "我的工单呢".into(),
        },
    );
    let d = evaluate(
        &set,
        &m,
        None,
        Utc.with_ymd_and_hms(2026, 9, 28, 2, 0, 0).unwrap(),
    );
    assert_eq!(d.replies.len(), 1);
    let content = &d.replies[0].content;
    assert!(content.is_template(), "{content:?}");
    let ReplyContent::Template { data, url, .. } = content else {
        unreachable!()
    };
    assert_eq!(data["keyword1"].color.as_deref(), Some("#173177"));
    assert_eq!(url.as_deref(), Some("https://example.com/tickets"));
}

#[test]
fn a_rule_s_template_is_checked_and_flagged_on_weibo() {
    let err = RuleSet::from_yaml(
        r#"
version: 1
rules:
  - id: bad
    when: { channel: wechat }
    then: [ { reply: { type: template, template_id: t, data: { "k.DATA": { value: x } } } } ]
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("write `k`"), "{err}");
    let set = rules(
        r#"
version: 1
rules:
  - id: anywhere
    then: [ { reply: { type: template, template_id: t, data: { k: { value: x } } } } ]
"#,
    );
    let warnings: Vec<String> = set.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("template replies cannot be delivered on weibo")),
        "{warnings:?}"
    );
}
