//! `desk-api`: the API of the agents' and supervisors' desk. Agents and supervisors sign in
//! with Amazon Cognito; every request carries the pool's access token, validated here
//! (issuer, client, use, expiry, signature against the pool's keys) as well as by the HTTP
//! API's JWT authorizer, so the function behaves the same locally and on AWS.
//!
//! The library (`lib.rs`) holds the parts, which the integration tests and the benchmark use
//! too: `config`, `auth`, `handler` (routes and answers) and `wiring` (the ports on their AWS
//! adapters).

use desk_api::{auth, config, handler, wiring};
use gateway_aws::sdk::{call_timeouts, consumer_timeouts, load_sdk_config_with_timeouts};
use lambda_http::{Request, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = config::Config::from_env()?;
    let timeouts = match config.aws_operation_timeout {
        Some(aws) => call_timeouts(aws / 2, aws),
        None => consumer_timeouts(),
    };
    let sdk = load_sdk_config_with_timeouts(timeouts).await?;
    let verifier = Arc::new(auth::TokenVerifier::from_config(&config)?);
    let desk = wiring::desk(&config, &sdk, verifier);
    let desk = &desk;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(handler::handle_request(desk, request).await)
    }))
    .await
}
