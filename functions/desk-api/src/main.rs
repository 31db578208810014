//! `desk-api`: the API of the agents' and supervisors' desk. Agents and supervisors sign in
//! with Amazon Cognito; every request carries the pool's access token, validated here
//! (issuer, client, use, expiry, signature against the pool's keys) as well as by the HTTP
//! API's JWT authorizer, so the function behaves the same locally and on AWS.
//!
//! - `config.rs`: the environment it reads;
//! - `auth.rs`: the access token and who it names;
//! - `handler.rs`: routes and answers.
//!
//! `config` and `auth` are in the crate's library (`lib.rs`), which the integration tests use.

use desk_api::config;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let _config = config::Config::from_env()?;
    Err("desk-api: not wired yet".into())
}
