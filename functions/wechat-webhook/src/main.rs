//! `wechat-webhook`: verifies the platform's webhook, normalizes the message, queues it on SQS and
//! acknowledges within the platform's 5-second window. Wiring only; see `gateway-lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_lambda::webhook::run(gateway_core::Channel::WeChat).await
}
