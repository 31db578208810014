//! `reply-sender`: consumes the outbound queue and delivers each reply command through the
//! WeChat or Weibo API, at most once. Wiring only; see `gateway-lambda::reply_sender`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    gateway_lambda::reply_sender::run().await
}
