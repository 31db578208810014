//! The parts of `desk-api` that its binary and the integration tests share:
//!
//! - `config`: the environment it reads;
//! - `auth`: the Cognito access token of a request and who it names.

pub mod auth;
pub mod config;
