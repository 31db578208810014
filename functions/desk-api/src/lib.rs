//! The parts of `desk-api`, shared by its binary, the integration tests and the benchmark:
//!
//! - `config`: the environment it reads;
//! - `auth`: the Cognito access token of a request and who it names;
//! - `handler`: routes and answers, over the desk's ports;
//! - `wiring`: the ports on their AWS adapters.

pub mod auth;
pub mod config;
pub mod handler;
pub mod wiring;
