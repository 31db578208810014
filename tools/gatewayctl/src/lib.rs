//! Library behind `gatewayctl`: local-stack provisioning against the AWS emulator, a local
//! stand-in for the Lambda SQS event source mapping, signed platform requests, and readers of
//! stored state. Shared by the CLI, `make demo` and the integration tests. Never deployed.

pub mod events;
pub mod local;
pub mod send;
pub mod stub;
