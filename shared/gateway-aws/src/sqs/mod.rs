//! SQS adapters: the inbound queue (webhooks publish, the router's dead letters), the outbound
//! queue (replies queued, retry backoff) and its dead-letter queue (undeliverable commands with
//! their reason).

pub mod inbound;
pub mod replies;
pub mod reply_dead_letters;
pub mod retry_backoff;
