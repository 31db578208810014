//! `public` and `post`: what a customer wrote in public (Weibo comments and @mentions, read by
//! `weibo-poller`), and which post it concerns.

use super::conditions::PRELUDE;
use super::*;
use crate::message::PostRef;

fn weibo(content: Content) -> NormalizedMessage {
    message(Channel::Weibo, "brand", "2001", content)
}

fn comment(post: &str, text: &str) -> NormalizedMessage {
    weibo(Content::Comment {
        comment_id: "4200".into(),
        text: text.into(),
        post: PostRef::new(post, "新品上市", Some("1902538057".into())),
        reply_to_comment_id: None,
    })
}

fn mention(post: Option<&str>) -> NormalizedMessage {
    weibo(Content::Mention {
        subtype: "comment".into(),
        target_id: Some("4300".into()),
        text: "@品牌 在吗".into(),
        post: post.map(|p| PostRef::new(p, "新品上市", None)),
    })
}

fn private_text() -> NormalizedMessage {
    weibo(Content::Text {
        text: "在吗".into(),
    })
}

/// `(fired, the rule's reason or why it did not match)`.
fn check(when: &str, m: &NormalizedMessage) -> (bool, String) {
    let set = rules(&format!(
        "{PRELUDE}  - id: r\n    when: {when}\n    then: [ {{ add_tags: [hit] }} ]\n"
    ));
    let fired = !evaluate(&set, m, None, working_morning()).fired.is_empty();
    let e = explain(&set, m, None, working_morning());
    let reason = match &e.rules[0].outcome {
        RuleOutcome::Fired { why, .. } => why.clone(),
        RuleOutcome::NotMatched { reason } => reason.clone(),
        other => format!("{other:?}"),
    };
    (fired, reason)
}

#[test]
fn public_tells_comments_and_mentions_from_private_messages() {
    for (desc, when, m, want, fact) in [
        (
            "a comment is public",
            "{ public: true }",
            comment("3900", "多少钱"),
            true,
            "message is public (a comment)",
        ),
        (
            "a mention is public",
            "{ public: true }",
            mention(None),
            true,
            "message is public (a mention)",
        ),
        (
            "a private text is not",
            "{ public: true }",
            private_text(),
            false,
            "message is private (a text)",
        ),
        (
            "public: false holds for a private text",
            "{ public: false }",
            private_text(),
            true,
            "message is private (a text)",
        ),
        (
            "public: false fails for a comment",
            "{ public: false }",
            comment("3900", "x"),
            false,
            "message is public (a comment)",
        ),
    ] {
        let (fired, reason) = check(when, &m);
        assert_eq!(fired, want, "{desc}: {reason}");
        assert_eq!(reason, fact, "{desc}");
    }
}

#[test]
fn post_matches_the_post_a_comment_or_mention_concerns() {
    for (desc, when, m, want, fact) in [
        (
            "one id",
            r#"{ post: "3900" }"#,
            comment("3900", "x"),
            true,
            "post is 3900",
        ),
        (
            "a list",
            r#"{ post: ["3800", "3900"] }"#,
            comment("3900", "x"),
            true,
            "post is 3900",
        ),
        (
            "another post",
            r#"{ post: "3800" }"#,
            comment("3900", "x"),
            false,
            "post is 3900, not 3800",
        ),
        (
            "a mention under the post",
            r#"{ post: "3900" }"#,
            mention(Some("3900")),
            true,
            "post is 3900",
        ),
        (
            "a pushed mention knows no post",
            r#"{ post: "3900" }"#,
            mention(None),
            false,
            "message (mention) concerns no post",
        ),
        (
            "a private message concerns none",
            r#"{ post: "3900" }"#,
            private_text(),
            false,
            "message (text) concerns no post",
        ),
    ] {
        let (fired, reason) = check(when, &m);
        assert_eq!(fired, want, "{desc}: {reason}");
        assert_eq!(reason, fact, "{desc}");
    }
}

#[test]
fn a_crisis_keyword_in_a_public_comment_fires_like_in_a_private_message() {
    let set = rules(&format!(
        "{PRELUDE}  - id: crisis\n    when: {{ text_contains_any: \"@crisis\" }}\n    then: [ escalate ]\n    stop: false\n  - id: public-crisis\n    when: {{ public: true, kind: comment, text_contains_any: \"@crisis\" }}\n    then: [ {{ add_tags: [public] }} ]\n"
    ));
    let d = evaluate(
        &set,
        &comment("3900", "我要投诉你们"),
        None,
        working_morning(),
    );
    assert_eq!(d.fired_ids(), ["crisis", "public-crisis"], "{d:?}");
    assert!(d.escalation.is_some());
    let d = evaluate(
        &set,
        &weibo(Content::Text {
            text: "我要投诉".into(),
        }),
        None,
        working_morning(),
    );
    assert_eq!(d.fired_ids(), ["crisis"]);
}

#[test]
fn bad_values_are_refused() {
    for (doc, expected) in [
        ("{ public: yes_please }", "public"),
        ("{ post: [] }", "post"),
        (r#"{ post: "" }"#, "post"),
    ] {
        let text = format!("{PRELUDE}  - id: r\n    when: {doc}\n    then: []\n");
        let err = RuleSet::from_yaml(&text).expect_err(doc).to_string();
        assert!(err.contains(expected), "{doc}: {err}");
    }
}
