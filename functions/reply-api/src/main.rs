//! `reply-api`: agents and CRM systems submit replies over HTTPS (HMAC-signed); each becomes a
//! command on the outbound queue. Wiring only; see `gateway-lambda::reply_api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_lambda::reply_api::run().await
}
