//! `message-router`: consumes the inbound queue, applies routing and auto-reply rules and
//! persists conversations and messages. Wiring only; see `gateway-lambda::router`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    gateway_lambda::router::run().await
}
