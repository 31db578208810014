//! Requests to the running `reply-api`, signed `v2` as an API client signs them
//! (`docs/replies.md`, "The reply API").

use crate::RunningStack;
use gateway_core::delivery::auth;

/// `method path` (the route from `/replies` or `/contacts` on) with `body`, by `client` holding
/// `secret`, signed at `ts` (Unix seconds): the answer as received.
#[allow(clippy::too_many_arguments)]
pub async fn signed(
    http: &reqwest::Client,
    run: &RunningStack,
    method: &str,
    path: &str,
    client: &str,
    secret: &str,
    ts: i64,
    body: &str,
) -> reqwest::Response {
    let method_value = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http
        .request(method_value, run.webhook_url("reply-api", path))
        .header(auth::CLIENT_HEADER, client)
        .header(auth::TIMESTAMP_HEADER, ts.to_string())
        .header(
            auth::SIGNATURE_HEADER,
            auth::sign(secret, method, path, client, ts, body.as_bytes()),
        );
    if !body.is_empty() {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}
