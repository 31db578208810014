//! The CRM's names for WeChat customers: set, read, deleted, scoped and validated.

use super::*;
use gateway_core::profile::crm::ContactKey;

const PATH: &str = "/contacts/wechat/demo/o6_bmasdasdsad6_2sgVt7hMZOPfL";

fn key() -> ContactKey {
    ContactKey {
        account: "demo".into(),
        unionid: "o6_bmasdasdsad6_2sgVt7hMZOPfL".into(),
    }
}

fn as_client(method: &str, path: &str, client: &str, secret: &str, body: &str) -> Request {
    signed(method, path, client, secret, NOW_MS / 1000, body)
}

fn crm(method: &str, path: &str, body: &str) -> Request {
    as_client(method, path, "crm", SECRET, body)
}

const NAME: &str =
    r#"{"name":"张三","external_id":"C-1001","url":"https://crm.example.com/contacts/1001"}"#;

#[tokio::test]
async fn a_crm_sets_reads_and_deletes_a_customers_name() {
    let f = fixture();
    let (status, body) = call(&f, crm("PUT", PATH, NAME)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "张三");
    assert_eq!(body["unionid"], key().unionid);
    assert_eq!(body["updated_by"], "crm");
    assert_eq!(body["updated_at"], NOW_MS);
    let stored = f.contacts.get(&key()).expect("stored");
    assert_eq!(stored.external_id.as_deref(), Some("C-1001"));

    // Behind a stage prefix, and a new name replaces the old.
    let staged = format!("/prod{PATH}");
    let (status, _) = call(&f, crm("PUT", &staged, r#"{"name":"张三丰"}"#)).await;
    assert_eq!(status, 200);
    let (status, body) = call(&f, crm("GET", PATH, "")).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("张三丰")));
    assert_eq!(body["url"], Value::Null, "the whole contact is replaced");

    let (status, body) = call(&f, crm("DELETE", PATH, "")).await;
    assert_eq!((status, body["deleted"].as_bool()), (200, Some(true)));
    assert_eq!(f.contacts.get(&key()), None);
    let (status, body) = call(&f, crm("DELETE", PATH, "")).await;
    assert_eq!(
        (status, body["deleted"].as_bool()),
        (200, Some(false)),
        "idempotent"
    );
    let (status, body) = call(&f, crm("GET", PATH, "")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn only_a_client_scoped_to_the_account_names_its_customers() {
    let f = fixture();
    // `desk` is scoped to weibo:brand only.
    let request = as_client("PUT", PATH, "desk", "desk-shared-secret-012345", NAME);
    let (status, body) = call(&f, request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("account_not_allowed"))
    );
    let request = as_client("GET", PATH, "desk", "desk-shared-secret-012345", "");
    assert_eq!(call(&f, request).await.0, 403, "nor read them");
    assert_eq!(f.contacts.get(&key()), None);
    let (status, body) = call(&f, crm("PUT", "/contacts/wechat/nope/u1", NAME)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_account"))
    );
}

#[tokio::test]
async fn the_path_is_signed_and_a_v1_signature_is_refused() {
    let f = fixture();
    // Signed for another customer, sent for this one.
    let mut request = crm("PUT", "/contacts/wechat/demo/someone-else", NAME);
    *request.uri_mut() = PATH.parse().expect("uri");
    let (status, body) = call(&f, request).await;
    assert_eq!(status, 401, "{body}");
    // v1 signs the timestamp and body only: not enough to name a customer.
    let ts = NOW_MS / 1000;
    let v1 = gateway_core::delivery::auth::sign_v1(SECRET, ts, NAME.as_bytes());
    let request = lambda_http::http::Request::builder()
        .method("PUT")
        .uri(PATH)
        .header(CLIENT_HEADER, "crm")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, v1)
        .body(Body::Text(NAME.into()))
        .expect("request");
    assert_eq!(call(&f, request).await.0, 401);
    assert_eq!(f.contacts.get(&key()), None);
}

#[tokio::test]
async fn bad_contacts_get_clear_errors_and_store_nothing() {
    let f = fixture();
    for (path, body, status, code) in [
        (PATH, r#"{"name":""}"#, 400, "invalid_contact"),
        (
            PATH,
            r#"{"name":"a","url":"javascript:alert(1)"}"#,
            400,
            "invalid_contact",
        ),
        (PATH, "{", 400, "invalid_contact"),
        (
            "/contacts/wechat/demo/bad%20id",
            NAME,
            400,
            "invalid_unionid",
        ),
        (
            "/contacts/weibo/brand/123",
            NAME,
            400,
            "unsupported_channel",
        ),
    ] {
        let (got, answer) = call(&f, crm("PUT", path, body)).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{path} {body}"
        );
    }
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(5000));
    let (status, body) = call(&f, crm("PUT", PATH, &big)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("body_too_large"))
    );
    let (status, _) = call(&f, crm("POST", PATH, NAME)).await;
    assert_eq!(status, 405);
    assert_eq!(f.contacts.get(&key()), None);
}
