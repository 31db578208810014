//! Passive replies through the whole webhook pipeline, and the encrypted reply against the
//! official vector (reference §6 V11).

use super::*;
use crate::account::AccountsDocument;
use crate::channel::wechat::crypto::{self, AesKey};
use crate::channel::wechat::simulate::{self, Envelope};
use crate::channel::xml;
use crate::ports::PortError;
use crate::testing::{RecordingPublisher, StaticAccounts};
use async_trait::async_trait;

const RULES: &str = r#"
version: 1
rules:
  - id: first
    when: { first_message: true }
    then: [ { reply: { type: text, text: "needs state: never passive" } } ]
    stop: false
  - id: public
    when: { text_contains_any: "在公开" }
    then: [ { reply: { type: public_comment, text: "never passive: Weibo's, and public" } } ]
  - id: help
    when: { text_contains_any: ["help", "帮助"] }
    then:
      - reply: { type: text, text: "您好 <help> & ]]> more" }
      - reply: { type: text, text: "second reply: not passive" }
  - id: price
    when: { text_contains_any: "price" }
    then:
      - reply:
          type: articles
          articles:
            - { title: "A", url: "https://example.com/a" }
            - { title: "B", url: "https://example.com/b" }
"#;

const ACCOUNTS: &str = r#"{"wechat": {
  "plain": {"app_id": "wx0000000000000001", "token": "test", "reply_mode": "passive"},
  "secure": {"app_id": "wxba5fad812f8e6fb9", "token": "AAAAA",
             "encoding_aes_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             "mode": "secure", "reply_mode": "passive"},
  "api": {"app_id": "wx0000000000000002", "token": "test"}
}}"#;

struct StaticRules(Arc<RuleSet>);

#[async_trait]
impl RulesSource for StaticRules {
    async fn rules(&self) -> Result<Arc<RuleSet>, PortError> {
        Ok(self.0.clone())
    }
}

const NOW: i64 = 1_795_000_000;

fn docs() -> AccountsDocument {
    AccountsDocument::from_json(ACCOUNTS).expect("accounts")
}

fn service(publisher: Arc<RecordingPublisher>) -> WebhookService {
    WebhookService {
        channel: Channel::WeChat,
        accounts: Arc::new(StaticAccounts(Arc::new(docs()))),
        publisher,
        limits: Limits::default(),
        passive: Some(Arc::new(passive())),
    }
}

fn passive() -> PassiveReplies {
    PassiveReplies::new(Arc::new(StaticRules(Arc::new(
        RuleSet::from_yaml(RULES).expect("rules"),
    ))))
}

fn text_xml(text: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
         <CreateTime>{NOW}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>\
         <MsgId>1234567890</MsgId></xml>"
    )
}

async fn push(
    account: &str,
    envelope: Envelope,
    text: &str,
) -> (HttpReply, Arc<RecordingPublisher>) {
    let publisher = Arc::new(RecordingPublisher::default());
    let svc = service(publisher.clone());
    let request = simulate::push(
        &docs().wechat[account],
        &text_xml(text),
        NOW,
        "nonce42",
        envelope,
    )
    .expect("push");
    let reply = svc.handle(&request.as_inbound(account, NOW * 1000)).await;
    (reply, publisher)
}

#[test]
fn the_encrypted_reply_matches_the_official_vector() {
    // V11: token AAAAA, EncodingAESKey 43 × A, appid wxba5fad812f8e6fb9; reply plaintext
    // {"demo_resp":"good luck"}, random 707722b803182950, TimeStamp 1713424427, Nonce 415670741.
    let account = &docs().wechat["secure"];
    let envelope = passive::encrypt_with_random(
        account,
        r#"{"demo_resp":"good luck"}"#,
        1713424427,
        "415670741",
        b"707722b803182950",
    )
    .expect("encrypts");
    let d = xml::parse_fields(envelope.as_bytes()).expect("envelope");
    assert_eq!(
        d.get("Encrypt"),
        Some(
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        )
    );
    assert_eq!(
        d.get("MsgSignature"),
        Some("1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1")
    );
    assert_eq!(d.get("TimeStamp"), Some("1713424427"));
    assert_eq!(d.get("Nonce"), Some("415670741"));
}

#[tokio::test]
async fn a_plaintext_push_gets_the_first_stateless_reply_as_xml_after_it_is_queued() {
    let (reply, publisher) = push("plain", Envelope::Plaintext, "help me").await;
    assert_eq!(publisher.messages().len(), 1, "still queued for the router");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/xml; charset=utf-8");
    let d = xml::parse_fields(reply.body.as_bytes()).expect("reply xml");
    assert_eq!(d.get("ToUserName"), Some("oUser"));
    assert_eq!(d.get("FromUserName"), Some("gh_account"));
    assert_eq!(d.get("MsgType"), Some("text"));
    assert_eq!(d.get("Content"), Some("您好 <help> & ]]> more"));
    assert_eq!(d.get("CreateTime"), Some(NOW.to_string().as_str()));
}

#[tokio::test]
async fn a_secure_push_gets_an_encrypted_reply_signed_with_the_request_nonce() {
    let (reply, publisher) = push("secure", Envelope::Secure, "帮助").await;
    assert_eq!(publisher.messages().len(), 1);
    let d = xml::parse_fields(reply.body.as_bytes()).expect("envelope");
    let encrypt = d.get("Encrypt").expect("Encrypt");
    assert_eq!(d.get("Nonce"), Some("nonce42"));
    let ts = d.get("TimeStamp").expect("TimeStamp");
    assert_eq!(
        d.get("MsgSignature"),
        Some(crypto::msg_signature("AAAAA", ts, "nonce42", encrypt).as_str())
    );
    let key =
        AesKey::from_encoding_aes_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("key");
    let inner = crypto::decrypt_for(&key, "wxba5fad812f8e6fb9", encrypt).expect("decrypts");
    let inner = xml::parse_fields(&inner).expect("inner");
    assert_eq!(inner.get("Content"), Some("您好 <help> & ]]> more"));
}

#[tokio::test]
async fn news_to_a_user_message_is_cut_to_one_article() {
    let (reply, _) = push("plain", Envelope::Plaintext, "price?").await;
    let d = xml::parse_fields(reply.body.as_bytes()).expect("reply xml");
    assert_eq!(d.get("MsgType"), Some("news"));
    assert_eq!(d.get("ArticleCount"), Some("1"));
}

#[tokio::test]
async fn no_stateless_match_or_an_api_account_acknowledges_with_success() {
    let (reply, publisher) = push("plain", Envelope::Plaintext, "hello").await;
    assert_eq!(publisher.messages().len(), 1);
    assert_eq!(reply.body, "success", "the first_message rule needs state");
    let (reply, _) = push("api", Envelope::Plaintext, "help").await;
    assert_eq!(
        reply.body, "success",
        "api accounts are answered by the reply sender"
    );
}

#[tokio::test]
async fn nothing_is_answered_when_the_message_cannot_be_queued() {
    let publisher = Arc::new(RecordingPublisher::default());
    publisher.set_failing(true);
    let svc = service(publisher.clone());
    let request = simulate::push(
        &docs().wechat["plain"],
        &text_xml("help"),
        NOW,
        "n",
        Envelope::Plaintext,
    )
    .expect("push");
    let reply = svc.handle(&request.as_inbound("plain", NOW * 1000)).await;
    assert_eq!(reply.status, 503);
}

#[tokio::test]
async fn a_public_comment_is_never_a_passive_reply() {
    let (reply, publisher) = push("plain", Envelope::Plaintext, "在公开").await;
    assert_eq!(publisher.messages().len(), 1, "still queued");
    assert_eq!(reply.body, "success");
    assert_eq!(
        passive_content(
            &ReplyContent::PublicComment {
                text: "x".into(),
                post_id: "1".into(),
                comment_id: None,
            },
            &publisher.messages()[0],
        ),
        None
    );
}

#[tokio::test]
async fn a_template_finish_report_is_acknowledged_never_answered() {
    // Even a rule written to answer the event: a report from WeChat is not a follower's
    // message, and the answer would go to the follower.
    let rules = r#"
version: 1
rules:
  - id: echo-finish
    when: { event: template_send_finished }
    then: [ { reply: { type: text, text: "never sent" } } ]
"#;
    let publisher = Arc::new(RecordingPublisher::default());
    let mut svc = service(publisher.clone());
    svc.passive = Some(Arc::new(PassiveReplies::new(Arc::new(StaticRules(
        Arc::new(RuleSet::from_yaml(rules).expect("rules")),
    )))));
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
         <CreateTime>{NOW}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200228332</MsgID>\
         <Status><![CDATA[success]]></Status></xml>"
    );
    let request =
        simulate::push(&docs().wechat["plain"], &xml, NOW, "n", Envelope::Plaintext).expect("push");
    let reply = svc.handle(&request.as_inbound("plain", NOW * 1000)).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "success"));
    assert_eq!(publisher.messages().len(), 1, "queued for the router");
}
