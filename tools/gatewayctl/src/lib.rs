//! Library behind `gatewayctl`: local-stack provisioning against the AWS emulator, local
//! stand-ins for the Lambda SQS and DynamoDB Streams event source mappings, signed platform
//! requests, readers of stored state, and the statistics report. Shared by the CLI, `make demo`
//! and the integration tests. Never deployed.

pub mod customer;
pub mod desk;
pub mod event_sources;
pub mod events;
pub mod local;
pub mod local_events;
pub mod local_media;
pub mod local_sla;
pub mod local_webhooks;
pub mod report;
pub mod runtime_api;
pub mod send;
pub mod stream_source;
pub mod stub;
pub mod stub_comments;
pub mod stub_media;
pub mod stub_profiles;
pub mod stub_templates;
pub mod stub_timeline;
pub mod stub_upload;
pub mod stub_webhook;

/// An HTTP client for local calls (webhooks, the runtime API, the stand-ins), built after
/// the process's TLS provider is installed ([`gateway_platforms::install_crypto_provider`]).
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().unwrap_or_default()
}

/// [`http_client`]'s builder, for clients with their own settings.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    gateway_platforms::install_crypto_provider();
    reqwest::Client::builder()
}
