//! Placeholder until the Cognito token verifier lands: refuses every request.

use crate::config::Config;
use crate::handler::{Authenticator, Identity, Refusal};

/// Validates access tokens.
pub struct TokenVerifier;

impl TokenVerifier {
    /// A verifier for the configured pool.
    pub fn new(_config: &Config) -> Self {
        TokenVerifier
    }
}

#[async_trait::async_trait]
impl Authenticator for TokenVerifier {
    async fn identify(&self, _: Option<&str>, _: u64) -> Result<Identity, Refusal> {
        Err(Refusal::new(401, "missing_token", "not wired yet"))
    }
}
