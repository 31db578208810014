//! The AWS adapters against mocked SDK clients (`aws-smithy-mocks`, AWS's own mocking of the
//! generated clients): the requests they build (tables, keys, condition expressions, FIFO
//! group and deduplication ids, message attributes) and how each service error maps to an
//! answer or to a transient or permanent [`PortError`](gateway_core::ports::PortError).
//!
//! `cargo test -p gateway-aws --features mocked-tests` (a build of its own: see the feature in
//! `Cargo.toml`); `make test` runs it.
//!
//! No emulator and no network: every call is answered by a mock rule, which also records the
//! request and counts the calls. The SDK's own retries are switched off in these clients
//! (`support::dynamodb` and its siblings), so one adapter attempt is one call; in the
//! functions the SDK retries throttling and 5xx itself before the adapter sees the error. The
//! emulator tests (`tests/`, `make test`) still check the same adapters against a real API.
//!
//! Service errors are given as the services send them (status, JSON `__type`, message, SQS's
//! `x-amzn-query-error`), so the SDK's own error parsing is part of what is tested; the
//! cancellation reasons of a transaction are also given as modeled errors, one per documented
//! reason code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "mocked_adapters/conversations.rs"]
mod conversations;
#[path = "mocked_adapters/crm_contacts.rs"]
mod crm_contacts;
#[path = "mocked_adapters/deliveries.rs"]
mod deliveries;
#[path = "mocked_adapters/events.rs"]
mod events;
#[path = "mocked_adapters/poll_cursors.rs"]
mod poll_cursors;
#[path = "mocked_adapters/secrets.rs"]
mod secrets;
#[path = "mocked_adapters/sqs.rs"]
mod sqs;
#[path = "mocked_adapters/stats.rs"]
mod stats;
#[path = "mocked_adapters/support.rs"]
mod support;
#[path = "mocked_adapters/template_quotas.rs"]
mod template_quotas;
#[path = "mocked_adapters/template_sends.rs"]
mod template_sends;
#[path = "mocked_adapters/transactions.rs"]
mod transactions;
