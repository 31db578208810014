//! Media through the desk API end to end (`make test`), with real access tokens: a customer's
//! photo stored in the media bucket shows on the thread with a presigned link that S3 (the
//! emulator) answers with the same bytes, only to agents who may read the thread; the thread
//! still makes no call to S3. The emulator checks neither a link's signature nor its expiry:
//! the tests check what the link asks S3 to enforce (`X-Amz-Date`, `X-Amz-Expires`).
#![allow(clippy::unwrap_used)]

use aws_sdk_cognitoidentityprovider::Client as Cognito;
use aws_sdk_cognitoidentityprovider::types::MessageActionType;
use gateway_aws::DynamoDbRulesStore;
use gateway_core::NormalizedMessage;
use gateway_core::channel::wechat::simulate::Envelope;
use gateway_core::media::{MediaKind, MediaState};
use gateway_tests::openapi::DeskApiSpec;
use gateway_tests::wire::WireProxy;
use gateway_tests::{
    RUNNING_STACK_LOCK, RunningStack, accounts, desk_pool, drain, endpoint, local_desk_users, sdk,
    unique_digits,
};
use gatewayctl::desk::{self, Seed, SeedTarget, seed_media};
use gatewayctl::send;
use gatewayctl::stub::StubAdmin;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// A password that meets Cognito's default policy (test users of the emulator only).
const PASSWORD: &str = "Desk-media-Pass-2026!";
/// The picture the customer sends (desk/tests/fixtures, also the browser tests').
const PHOTO: &[u8] = include_bytes!("../../desk/tests/fixtures/photo.png");

struct Ctx {
    run: RunningStack,
    http: reqwest::Client,
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    cognito: Cognito,
    spec: DeskApiSpec,
    team: String,
    bucket: String,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Ctx {
    async fn new() -> Ctx {
        let sdk = sdk().await;
        let n = unique_digits();
        let ctx = Ctx {
            run: RunningStack::from_env(),
            http: gatewayctl::http_client(),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            ddb: aws_sdk_dynamodb::Client::new(&sdk),
            s3: gateway_aws::s3::client(&sdk),
            cognito: Cognito::new(&sdk),
            spec: DeskApiSpec::load(),
            team: format!("media-{}", &n[n.len() - 8..]),
            bucket: RunningStack::from_env().stack.media_bucket,
        };
        let rules = format!(
            "version: 1\nrules:\n  - id: route\n    when: {{ account: demo }}\n    then: [ {{ assign: {{ team: {} }} }} ]\n",
            ctx.team
        );
        DynamoDbRulesStore::new(ctx.ddb.clone(), &ctx.run.stack.table_name)
            .push(&rules, send::now_secs() * 1000)
            .await
            .unwrap()
            .unwrap();
        drain::<Value>(&ctx.sqs, &ctx.run.stack.queue_url).await;
        drain::<Value>(&ctx.sqs, &ctx.run.stack.outbound_queue_url).await;
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        ctx
    }

    fn base(&self) -> String {
        self.run.webhook_url("desk-api", "")
    }

    async fn login(&self, user: &str) -> String {
        let users = local_desk_users();
        let password = users.user(user).unwrap().password.expose();
        desk::login(&self.cognito, &desk_pool().client_id, user, password)
            .await
            .unwrap()
            .access_token
    }

    /// An agent of `team` (a Cognito user and a desk profile); their access token.
    async fn agent(&self, name: &str, team: &str, supervisor: &str) -> String {
        let pool = desk_pool();
        let username = format!("{name}-{}", self.team);
        let c = &self.cognito;
        c.admin_create_user()
            .user_pool_id(&pool.user_pool_id)
            .username(&username)
            .message_action(MessageActionType::Suppress)
            .send()
            .await
            .unwrap();
        c.admin_set_user_password()
            .user_pool_id(&pool.user_pool_id)
            .username(&username)
            .password(PASSWORD)
            .permanent(true)
            .send()
            .await
            .unwrap();
        c.admin_add_user_to_group()
            .user_pool_id(&pool.user_pool_id)
            .username(&username)
            .group_name("agents")
            .send()
            .await
            .unwrap();
        let profile = json!({
            "agent_id": username, "display_name": name, "teams": [team],
            "accounts": ["wechat:demo"], "capacity": 5, "version": 0,
        });
        let path = format!("/agents/{username}");
        let put = self
            .call(
                "PUT",
                "/agents/{agent_id}",
                &path,
                supervisor,
                Some(profile),
            )
            .await;
        assert_eq!(put.status, 201, "{}", put.body);
        desk::login(c, &pool.client_id, &username, PASSWORD)
            .await
            .unwrap()
            .access_token
    }

    /// `method path` as `token`, the answer checked against docs/desk-api.yaml.
    async fn call(
        &self,
        method: &str,
        template: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base()))
            .header("authorization", format!("Bearer {token}"));
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        self.spec.check(method, template, status, &body);
        Answer { status, body }
    }

    /// A WeChat photo from `openid` through the webhook, routed; the conversation key.
    async fn customer_sends_photo(&self, openid: &str) -> String {
        let xml = send::wechat_image_xml(
            openid,
            &format!("MEDIA_{openid}"),
            &unique_digits(),
            send::now_secs(),
        );
        let request = send::wechat_push(
            &accounts(),
            "demo",
            &xml,
            Envelope::Compatible,
            send::now_secs(),
        )
        .unwrap();
        let url = self.run.webhook_url("wechat-webhook", "/wechat/demo");
        let (status, _) = send::send(&self.http, &url, &request).await.unwrap();
        assert_eq!(status, 200);
        gatewayctl::local::pump(
            &self.sqs,
            &self.http,
            &self.run.stack.queue_url,
            &self.run.invoke_url("message-router"),
        )
        .await
        .unwrap();
        NormalizedMessage::conversation_key_for(gateway_core::Channel::WeChat, "demo", openid)
    }

    /// Records `seed` as `kind` on the conversation's latest message, as the media-fetcher
    /// would.
    async fn seed(&self, key: &str, kind: MediaKind, seed: Seed) {
        let target = SeedTarget {
            table: &self.run.stack.table_name,
            bucket: &self.bucket,
            conversation_key: key,
            kind,
        };
        seed_media(&self.ddb, &self.s3, &target, seed, send::now_secs() * 1000)
            .await
            .unwrap();
    }

    /// `POST /media?{query}` with `body` as the file, checked against docs/desk-api.yaml.
    async fn upload(&self, token: &str, query: &str, body: &[u8]) -> Answer {
        let response = self
            .http
            .post(format!("{}/media?{query}", self.base()))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/octet-stream")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        self.spec.check("POST", "/media", status, &body);
        Answer { status, body }
    }

    async fn thread(&self, key: &str, token: &str) -> Answer {
        self.call(
            "GET",
            "/conversations/{key}/messages",
            &format!("/conversations/{key}/messages"),
            token,
            None,
        )
        .await
    }
}

#[tokio::test]
#[ignore = "needs the running functions, the media bucket and the emulator's Cognito (make test)"]
async fn a_stored_photo_shows_on_the_thread_with_a_link_only_its_readers_get() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = Ctx::new().await;
    let sup = ctx.login("supervisor1").await;
    let mia = ctx.agent("mia", &ctx.team, &sup).await;
    let ned = ctx.agent("ned", "elsewhere", &sup).await;
    let key = ctx
        .customer_sends_photo(&format!("oPhoto{}", unique_digits()))
        .await;
    ctx.seed(
        &key,
        MediaKind::Image,
        Seed::Stored {
            body: PHOTO.to_vec(),
            content_type: "image/png".into(),
        },
    )
    .await;
    // A thumbnail the platform called HTML: served as a download, never as a page.
    ctx.seed(
        &key,
        MediaKind::Thumb,
        Seed::Stored {
            body: b"<script>alert(1)</script>".to_vec(),
            content_type: "text/html".into(),
        },
    )
    .await;

    let before = send::now_secs() * 1000;
    let thread = ctx.thread(&key, &mia).await;
    assert_eq!(thread.status, 200, "{}", thread.body);
    let message = &thread.body["items"][0];
    assert_eq!(message["kind"], "image");
    let media = message["media"].as_array().unwrap();
    assert_eq!(media.len(), 2, "{message}");
    let image = &media[0];
    assert_eq!(
        (
            &image["kind"],
            &image["state"],
            &image["content_type"],
            &image["bytes"]
        ),
        (
            &json!("image"),
            &json!("stored"),
            &json!("image/png"),
            &json!(PHOTO.len())
        )
    );
    let expires = image["url_expires_at_ms"].as_i64().unwrap();
    assert!(
        expires >= before + 300_000 && expires <= before + 600_000 + 1_000,
        "at least half of MEDIA_URL_TTL_SECS (600) left: {expires} vs {before}"
    );

    // The link, fetched as a browser would (no token): the photo's bytes, as a PNG.
    let url = image["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let got = ctx.http.get(url).send().await.unwrap();
    assert_eq!(got.status(), 200, "{url}");
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.bytes().await.unwrap().as_ref(), PHOTO);
    let thumb = ctx
        .http
        .get(media[1]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.status(), 200);
    assert_eq!(thumb.headers()["content-type"], "application/octet-stream");

    // What S3 checks: signed at the start of the window, for MEDIA_URL_TTL_SECS (600 s);
    // the emulator serves it without checking either.
    assert_eq!(link_expiry_ms(url), expires, "{url}");
    assert!(
        url.split(['?', '&']).any(|p| p == "X-Amz-Expires=600"),
        "{url}"
    );

    // Read again within the window: the same link (the browser keeps its image).
    let again = ctx.thread(&key, &mia).await;
    assert_eq!(again.body["items"][0]["media"][0]["url"], image["url"]);

    // An agent of another team: the thread does not exist for them, no link either.
    let other = ctx.thread(&key, &ned).await;
    assert_eq!(other.status, 404);
    assert!(other.body.get("items").is_none());
    assert!(!other.body.to_string().contains("X-Amz"));

    // Pending, too large and expired records show as they are, without links.
    for (state, expected) in [
        (
            MediaState::TooLarge {
                bytes: 12_582_912,
                limit: 10_485_760,
            },
            json!({"kind": "image", "state": "too_large", "bytes": 12_582_912, "limit": 10_485_760}),
        ),
        (
            MediaState::Unavailable {
                platform_code: 40007,
                message: "invalid media_id".into(),
            },
            json!({"kind": "image", "state": "unavailable", "platform_code": 40007, "message": "invalid media_id"}),
        ),
        (
            MediaState::Pending,
            json!({"kind": "image", "state": "pending"}),
        ),
    ] {
        ctx.seed(&key, MediaKind::Image, Seed::State(state)).await;
        let thread = ctx.thread(&key, &mia).await;
        assert_eq!(thread.body["items"][0]["media"][0], expected);
    }
}

/// Signs every request in as an agent named by the bearer value.
struct AnyAgent;

#[async_trait::async_trait]
impl desk_api::handler::Authenticator for AnyAgent {
    async fn identify(
        &self,
        authorization: Option<&str>,
        _: u64,
    ) -> Result<desk_api::handler::Identity, desk_api::handler::Refusal> {
        Ok(desk_api::handler::Identity {
            username: authorization
                .unwrap_or_default()
                .trim_start_matches("Bearer ")
                .to_string(),
            groups: vec!["agents".into()],
        })
    }
}

#[tokio::test]
#[ignore = "needs the running functions, the media bucket and the emulator's Cognito (make test)"]
async fn links_are_computed_without_a_call_to_s3_for_their_lifetime() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = Ctx::new().await;
    let sup = ctx.login("supervisor1").await;
    ctx.agent("wire", &ctx.team, &sup).await;
    let agent = format!("wire-{}", ctx.team);
    let key = ctx
        .customer_sends_photo(&format!("oWirePhoto{}", unique_digits()))
        .await;
    ctx.seed(
        &key,
        MediaKind::Image,
        Seed::Stored {
            body: PHOTO.to_vec(),
            content_type: "image/png".into(),
        },
    )
    .await;
    let proxy = WireProxy::start(&endpoint());
    let mut config = desk_api::config::Config::from_env().unwrap();
    config.media_bucket = Some(ctx.bucket.clone());
    config.media_url_ttl = Duration::from_secs(2);
    let request = || {
        lambda_http::http::Request::builder()
            .method("GET")
            .uri(format!("https://desk.example/conversations/{key}/messages"))
            .header("authorization", format!("Bearer {agent}"))
            .body(lambda_http::Body::Empty)
            .unwrap()
    };
    let wired = desk_api::wiring::desk(&config, &proxy.sdk().await, Arc::new(AnyAgent));
    let _ = desk_api::handler::handle_request(&wired, request()).await;
    proxy.take();
    let response = desk_api::handler::handle_request(&wired, request()).await;
    assert_eq!(response.status(), 200);
    let calls: Vec<String> = proxy
        .take()
        .into_iter()
        .map(|c| c.target.rsplit('.').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        calls,
        ["GetItem", "GetItem", "Query"],
        "profile, conversation, thread: presigning is no call"
    );

    // MEDIA_URL_TTL_SECS=2: signed for 2 s from the start of a window of 1 s (at least a
    // second): the link says so to S3.
    let desk = desk_api::wiring::desk(&config, &sdk().await, Arc::new(AnyAgent));
    let before = send::now_secs() * 1000;
    let response = desk_api::handler::handle_request(&desk, request()).await;
    let body: Value = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    };
    let media = &body["items"][0]["media"][0];
    let url = media["url"].as_str().unwrap();
    assert!(
        url.split(['?', '&']).any(|p| p == "X-Amz-Expires=2"),
        "{url}"
    );
    let expires = media["url_expires_at_ms"].as_i64().unwrap();
    assert_eq!(link_expiry_ms(url), expires);
    assert!(
        (before + 1_000..=before + 3_000).contains(&expires),
        "{expires} vs {before}"
    );
    assert_eq!(ctx.http.get(url).send().await.unwrap().status(), 200);
}

/// When S3 stops answering a presigned link: its `X-Amz-Date` plus `X-Amz-Expires`, in ms.
fn link_expiry_ms(url: &str) -> i64 {
    let param = |name: &str| {
        url.split(['?', '&'])
            .find_map(|p| p.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {url}"))
            .to_string()
    };
    let signed = chrono::NaiveDateTime::parse_from_str(&param("X-Amz-Date="), "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc()
        .timestamp_millis();
    signed + param("X-Amz-Expires=").parse::<i64>().unwrap() * 1000
}

fn stub() -> StubAdmin {
    gateway_tests::platforms::stub()
}

/// The stand-in's record of the upload of the bytes with `sha256` (the last one).
async fn upload_received(sha256: &str) -> Vec<Value> {
    gatewayctl::stub_upload::received(&stub().base_url)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u["sha256"] == sha256)
        .collect()
}

#[tokio::test]
#[ignore = "needs the running functions, the media bucket, the platform stand-ins and the emulator's Cognito (make test)"]
async fn an_agent_uploads_a_photo_and_replies_with_it() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = Ctx::new().await;
    let sup = ctx.login("supervisor1").await;
    let mia = ctx.agent("uploader", &ctx.team, &sup).await;
    let key = ctx
        .customer_sends_photo(&format!("oUpload{}", unique_digits()))
        .await;
    // A picture of this run: bytes no other test sends.
    let mut photo = PHOTO.to_vec();
    photo.extend_from_slice(unique_digits().as_bytes());
    let sha = hex::encode(Sha256::digest(&photo));

    let up = ctx.upload(&mia, "account=wechat:demo", &photo).await;
    assert_eq!(up.status, 201, "{}", up.body);
    assert_eq!(up.body["type"], "image");
    assert_eq!(up.body["sha256"], sha);
    assert_eq!(up.body["bytes"], photo.len());
    assert_eq!(up.body["content_type"], "image/png");
    assert_eq!(up.body["upload_key"], format!("uploads/wechat/demo/{sha}"));
    let media_id = up.body["media_id"].as_str().unwrap().to_string();
    let expires = up.body["expires_at_ms"].as_i64().unwrap();
    let now = send::now_secs() * 1000;
    assert!(
        (now + 259_200_000 - 5_000..=now + 259_200_000 + 1_000).contains(&expires),
        "3 days after WeChat created it: {expires} vs {now}"
    );

    // The stand-in received the file as it was, as the form field `media`, with WeChat's type.
    let received = upload_received(&sha).await;
    let accepted: Vec<&Value> = received
        .iter()
        .filter(|u| u["media_id"] == media_id)
        .collect();
    assert_eq!(accepted.len(), 1, "{received:?}");
    assert_eq!(accepted[0]["type"], "image");
    assert_eq!(accepted[0]["bytes"], photo.len());
    assert_eq!(accepted[0]["content_type"], "image/png");
    // The copy in the bucket.
    let object = ctx
        .s3
        .get_object()
        .bucket(&ctx.bucket)
        .key(format!("uploads/wechat/demo/{sha}"))
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("image/png"));
    assert_eq!(
        object.body.collect().await.unwrap().into_bytes().as_ref(),
        photo.as_slice()
    );
    // The same file again, once the token the desk API holds has expired at WeChat: refused
    // once (42001), replaced, sent; the same object, a new media_id.
    stub().expire_tokens().await.unwrap();
    let again = ctx.upload(&mia, "account=wechat:demo", &photo).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["upload_key"], up.body["upload_key"]);
    assert_ne!(again.body["media_id"], up.body["media_id"]);
    let received = upload_received(&sha).await;
    let codes: Vec<Value> = received
        .iter()
        .map(|u| u.get("errcode").cloned().unwrap_or(json!(0)))
        .collect();
    assert_eq!(codes, [json!(0), json!(42001), json!(0)], "{received:?}");
    assert_ne!(received[1]["access_token"], received[2]["access_token"]);

    // The agent replies with it: the customer-service message carries the media_id.
    let reply = ctx
        .call(
            "POST",
            "/conversations/{key}/replies",
            &format!("/conversations/{key}/replies"),
            &mia,
            Some(json!({"content": {"type": "image", "media_id": media_id}})),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    gatewayctl::local::pump(
        &ctx.sqs,
        &ctx.http,
        &ctx.run.stack.outbound_queue_url,
        &ctx.run.invoke_url("reply-sender"),
    )
    .await
    .unwrap();
    let requests = stub().requests().await.unwrap();
    let sent: Vec<&Value> = requests["wechat"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        // (The reply sender's token may have expired with the others: refused once first.)
        .filter(|m| m["body"]["image"]["media_id"] == media_id.as_str() && m["accepted"] == true)
        .collect();
    assert_eq!(sent.len(), 1, "{requests:#}");
    assert_eq!(sent[0]["body"]["msgtype"], "image");
    let openid = key.rsplit(':').next().unwrap();
    assert_eq!(sent[0]["body"]["touser"], openid);
}

#[tokio::test]
#[ignore = "needs the running functions, the media bucket, the platform stand-ins and the emulator's Cognito (make test)"]
async fn uploads_are_refused_with_their_reason() {
    let _guard = RUNNING_STACK_LOCK.lock().await;
    let ctx = Ctx::new().await;
    let agent = ctx.login("agent1").await;
    let png = |n: usize| {
        let mut v = PHOTO.to_vec();
        v.resize(n, 0);
        v
    };
    // Not a file WeChat takes, whatever it claims to be.
    let html = ctx
        .upload(
            &agent,
            "account=wechat:demo",
            b"<html><script>alert(1)</script>",
        )
        .await;
    assert_eq!(
        (html.status, html.body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    // A PNG is no thumbnail; a JPEG thumbnail over 64 KiB is too large.
    let thumb = ctx
        .upload(&agent, "account=wechat:demo&type=thumb", &png(100))
        .await;
    assert_eq!(thumb.status, 415, "{}", thumb.body);
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.resize(65_537, 1);
    let big = ctx
        .upload(&agent, "account=wechat:demo&type=thumb", &jpeg)
        .await;
    assert_eq!(
        (big.status, big.body["limit"].as_i64()),
        (413, Some(65_536)),
        "{}",
        big.body
    );
    // Weibo's replies carry no media.
    let weibo = ctx.upload(&agent, "account=weibo:brand", &png(100)).await;
    assert_eq!(
        (weibo.status, weibo.body["error"].as_str()),
        (422, Some("unsupported_channel"))
    );
    // An account that is not the agent's.
    let other = ctx.upload(&agent, "account=wechat:other", &png(100)).await;
    assert_eq!(other.status, 403);
    // WeChat refuses: 502 with its code.
    stub().fail("wechat_upload", 45009, 1).await.unwrap();
    let refused = ctx.upload(&agent, "account=wechat:demo", &png(200)).await;
    assert_eq!(
        (refused.status, refused.body["platform_code"].as_i64()),
        (502, Some(45009)),
        "{}",
        refused.body
    );
    // None of the refused files was sent.
    for body in [png(100), jpeg] {
        let sha = hex::encode(Sha256::digest(&body));
        assert!(upload_received(&sha).await.is_empty(), "{sha}");
    }
}
