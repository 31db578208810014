//! Public comments ([`ReplyContent::PublicComment`]): their limits, their checks, and where
//! one goes when a rule answers a message in public.
//!
//! Weibo takes a comment of at most 140 Chinese characters ("评论内容，必须做URLencode，内容不超过
//! 140个汉字", <https://open.weibo.com/wiki/2/comments/reply> and
//! <https://open.weibo.com/wiki/2/comments/create>). Post and comment ids are int64 numbers,
//! carried as digit strings (`idstr`).
//!
//! Pure.

use super::{ReplyContent, TextLimit, TextUnit, not_blank};
use crate::message::{Channel, Content, NormalizedMessage};

/// The longest public comment, in characters.
pub const MAX_CHARS: usize = 140;

/// The most digits a Weibo id has (an int64 has 19).
const MAX_ID_DIGITS: usize = 20;

/// The text limit of a public comment: [`MAX_CHARS`] characters.
pub fn text_limit() -> TextLimit {
    TextLimit {
        max: MAX_CHARS,
        unit: TextUnit::Chars,
    }
}

/// `Err` when `text` is longer than [`MAX_CHARS`] characters.
pub fn check_text_length(text: &str) -> Result<(), String> {
    let length = text.chars().count();
    if length <= MAX_CHARS {
        Ok(())
    } else {
        Err(format!(
            "`text` is {length} characters; a public comment is limited to {MAX_CHARS} characters"
        ))
    }
}

fn digits(field: &str, value: &str) -> Result<(), String> {
    if !value.is_empty()
        && value.len() <= MAX_ID_DIGITS
        && value.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(())
    } else {
        // Not echoed: ids are short, but a wrong field may carry anything.
        Err(format!(
            "`{field}` must be a Weibo id: 1 to {MAX_ID_DIGITS} digits"
        ))
    }
}

/// Checks a public comment as a reply command carries it: text not blank and at most
/// [`MAX_CHARS`] characters, `post_id` present and digits, `comment_id` digits when given.
pub fn validate(text: &str, post_id: &str, comment_id: Option<&str>) -> Result<(), String> {
    not_blank("text", text)?;
    check_text_length(text)?;
    if post_id.is_empty() {
        return Err("`post_id` is required: the Weibo post the public comment goes under".into());
    }
    digits("post_id", post_id)?;
    if let Some(c) = comment_id {
        digits("comment_id", c)?;
    }
    Ok(())
}

/// Checks a reply as a rule writes it: like [`ReplyContent::validate`], except that a public
/// comment names no post or comment (the router fills them from the message that triggered
/// the rule: [`place`]).
pub fn validate_in_rule(content: &ReplyContent) -> Result<(), String> {
    match content {
        ReplyContent::PublicComment {
            text,
            post_id,
            comment_id,
        } => {
            if !post_id.is_empty() || comment_id.is_some() {
                return Err(
                    "a rule's public_comment names no `post_id` or `comment_id`: they \
                            come from the comment or mention that triggered the rule"
                        .into(),
                );
            }
            not_blank("text", text)?;
            check_text_length(text)
        }
        other => other.validate(),
    }
}

/// Where a public answer to `message` goes: the post and, when the customer wrote a comment,
/// that comment. A comment: its id under its post. A mention in a comment: the comment
/// (`target_id`) under the post. A mention in a post: that post (`target_id`), no comment.
/// `Err` (why not, for the rule trace) for a private message, and for a mention that came
/// without its post (one pushed by the fan service rather than polled).
pub fn place(message: &NormalizedMessage) -> Result<(String, Option<String>), &'static str> {
    if message.channel != Channel::Weibo {
        return Err("public comments are Weibo only");
    }
    match &message.content {
        Content::Comment {
            comment_id, post, ..
        } => Ok((post.id.clone(), Some(comment_id.clone()))),
        Content::Mention {
            subtype,
            target_id,
            post: Some(post),
            ..
        } => match (subtype.as_str(), target_id) {
            ("comment", Some(cid)) => Ok((post.id.clone(), Some(cid.clone()))),
            ("comment", None) => Err("the mention names no comment to answer"),
            (_, Some(status)) => Ok((status.clone(), None)),
            (_, None) => Ok((post.id.clone(), None)),
        },
        Content::Mention { post: None, .. } => {
            Err("the mention came without its post (pushed, not polled): no public place to answer")
        }
        _ => Err("the message is private: it has no public place to answer"),
    }
}

/// `content` ready to send in answer to `message`: a rule's public comment gets its post and
/// comment ([`place`]); anything else is returned as is. `Err` (why) when a public comment
/// has nowhere to go.
pub fn for_message(
    content: &ReplyContent,
    message: &NormalizedMessage,
) -> Result<ReplyContent, &'static str> {
    let ReplyContent::PublicComment { text, .. } = content else {
        return Ok(content.clone());
    };
    let (post_id, comment_id) = place(message)?;
    Ok(ReplyContent::PublicComment {
        text: text.clone(),
        post_id,
        comment_id,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::message::PostRef;
    use crate::testing::text_message;

    fn weibo(content: Content) -> NormalizedMessage {
        let mut m = text_message("brand", "123", "1", "x", 0);
        m.channel = Channel::Weibo;
        m.content = content;
        m
    }

    fn post() -> PostRef {
        PostRef::new("4900000000000001", "新品发布", Some("7000".into()))
    }

    #[test]
    fn a_rule_reply_goes_to_the_comment_or_post_that_triggered_it() {
        let comment = weibo(Content::Comment {
            comment_id: "4900000000000777".into(),
            text: "质量太差".into(),
            post: post(),
            reply_to_comment_id: None,
        });
        assert_eq!(
            place(&comment),
            Ok(("4900000000000001".into(), Some("4900000000000777".into())))
        );
        let in_comment = weibo(Content::Mention {
            subtype: "comment".into(),
            target_id: Some("4900000000000888".into()),
            text: "@brand".into(),
            post: Some(post()),
        });
        assert_eq!(
            place(&in_comment),
            Ok(("4900000000000001".into(), Some("4900000000000888".into())))
        );
        let in_post = weibo(Content::Mention {
            subtype: "status".into(),
            target_id: Some("4900000000000999".into()),
            text: "@brand".into(),
            post: Some(PostRef::new("4900000000000999", "@brand 坏了", None)),
        });
        assert_eq!(place(&in_post), Ok(("4900000000000999".into(), None)));
        let filled = for_message(
            &ReplyContent::PublicComment {
                text: "已私信您".into(),
                post_id: String::new(),
                comment_id: None,
            },
            &comment,
        )
        .unwrap();
        assert!(filled.validate().is_ok(), "{filled:?}");
    }

    #[test]
    fn a_private_message_or_a_pushed_mention_has_no_public_place() {
        let private = weibo(Content::Text { text: "hi".into() });
        assert!(place(&private).unwrap_err().contains("private"));
        let pushed = weibo(Content::Mention {
            subtype: "status".into(),
            target_id: Some("5".into()),
            text: "@brand".into(),
            post: None,
        });
        assert!(place(&pushed).unwrap_err().contains("without its post"));
        let wechat = text_message("demo", "u", "1", "x", 0);
        assert!(place(&wechat).is_err());
        // Other content passes through untouched.
        let text = ReplyContent::text("x");
        assert_eq!(for_message(&text, &private), Ok(text));
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = "好".repeat(MAX_CHARS);
        assert!(validate(&ok, "123", Some("456")).is_ok());
        for (text, post, comment, want) in [
            (" ", "1", None, "`text` is empty"),
            (&*"好".repeat(MAX_CHARS + 1), "1", None, "limited to 140"),
            ("hi", "", None, "`post_id` is required"),
            ("hi", "12a", None, "`post_id` must be a Weibo id"),
            ("hi", "1", Some(""), "`comment_id` must be a Weibo id"),
            ("hi", &*"1".repeat(21), None, "`post_id` must be"),
        ] {
            let e = validate(text, post, comment).unwrap_err();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        let in_rule = ReplyContent::PublicComment {
            text: "hi".into(),
            post_id: "1".into(),
            comment_id: None,
        };
        assert!(validate_in_rule(&in_rule).unwrap_err().contains("names no"));
    }
}
