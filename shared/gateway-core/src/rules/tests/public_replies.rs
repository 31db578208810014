//! The `public_comment` reply of a rule: filled from the message that triggered it, skipped
//! (with a note in the decision and in `explain`) when that message has no public place.

use super::*;
use crate::message::PostRef;
use crate::reply::ReplyContent;

const RULES: &str = r#"
version: 1
rules:
  - id: public-thanks
    when: { channel: weibo }
    then: [ { reply: { type: public_comment, text: "感谢反馈，已私信您" } } ]
"#;

fn weibo(content: Content) -> NormalizedMessage {
    message(Channel::Weibo, "brand", "2001", content)
}

fn post() -> PostRef {
    PostRef::new("4900000000000001", "新品发布", None)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 28, 2, 0, 0).unwrap()
}

fn public(post_id: &str, comment_id: Option<&str>) -> ReplyContent {
    ReplyContent::PublicComment {
        text: "感谢反馈，已私信您".into(),
        post_id: post_id.into(),
        comment_id: comment_id.map(String::from),
    }
}

#[test]
fn a_rule_s_public_comment_answers_where_the_customer_wrote() {
    let set = rules(RULES);
    let cases = [
        (
            "a comment: the comment under its post",
            Content::Comment {
                comment_id: "4900000000000777".into(),
                text: "太差了".into(),
                post: post(),
                reply_to_comment_id: None,
            },
            public("4900000000000001", Some("4900000000000777")),
        ),
        (
            "a mention in a comment: that comment under the post",
            Content::Mention {
                subtype: "comment".into(),
                target_id: Some("4900000000000888".into()),
                text: "@brand".into(),
                post: Some(post()),
            },
            public("4900000000000001", Some("4900000000000888")),
        ),
        (
            "a mention in a post: a comment on that post",
            Content::Mention {
                subtype: "status".into(),
                target_id: Some("4900000000000999".into()),
                text: "@brand".into(),
                post: Some(PostRef::new("4900000000000999", "@brand", None)),
            },
            public("4900000000000999", None),
        ),
    ];
    for (desc, content, want) in cases {
        let d = evaluate(&set, &weibo(content), None, now());
        assert_eq!(d.replies.len(), 1, "{desc}");
        assert_eq!(d.replies[0].content, want, "{desc}");
        assert!(d.replies[0].content.validate().is_ok(), "{desc}");
        assert!(d.skipped_replies.is_empty(), "{desc}");
    }
}

#[test]
fn a_public_comment_without_a_public_place_is_skipped_with_a_note() {
    let set = rules(RULES);
    for (desc, content, why) in [
        (
            "a private message",
            Content::Text { text: "hi".into() },
            "private",
        ),
        (
            "a pushed mention without its post",
            Content::Mention {
                subtype: "status".into(),
                target_id: Some("5".into()),
                text: "@brand".into(),
                post: None,
            },
            "without its post",
        ),
    ] {
        let m = weibo(content);
        let d = evaluate(&set, &m, None, now());
        assert_eq!(d.fired_ids(), ["public-thanks"], "{desc}: the rule fired");
        assert!(d.replies.is_empty(), "{desc}: nothing to send");
        assert_eq!(d.skipped_replies.len(), 1, "{desc}");
        assert_eq!(d.skipped_replies[0].kind, "public_comment");
        assert!(d.skipped_replies[0].reason.contains(why), "{desc}");
        let report = explain(&set, &m, None, now()).to_string();
        assert!(
            report.contains("skipped:  [public-thanks] public_comment reply"),
            "{desc}: {report}"
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["skipped_replies"][0]["rule_id"], "public-thanks");
    }
}

#[test]
fn a_rule_names_no_post_or_comment_and_keeps_to_140_characters() {
    let err = RuleSet::from_yaml(
        r#"
version: 1
rules:
  - id: fixed
    then: [ { reply: { type: public_comment, text: "x", post_id: "1" } } ]
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("names no `post_id`"), "{err}");
    let long = "好".repeat(141);
    let err = RuleSet::from_yaml(&format!(
        "version: 1\nrules:\n  - id: long\n    then: [ {{ reply: {{ type: public_comment, text: \"{long}\" }} }} ]\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("limited to 140"), "{err}");
}
