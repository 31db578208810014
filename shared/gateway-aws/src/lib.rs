//! Driven adapters over the AWS SDK: SQS, DynamoDB and Secrets Manager implementations of the
//! `gateway-core` ports. SDK types never leave this crate.

pub mod api_requests;
pub mod deliveries;
pub mod dynamodb;
mod error;
pub mod outbound_dead_letters;
pub mod outbound_queue;
pub mod retry_backoff;
pub mod rules;
pub mod sdk;
pub mod secrets;
pub mod sqs;
pub mod tokens;
pub mod transactions;

pub use api_requests::DynamoDbApiRequests;
pub use deliveries::DynamoDbDeliveryLedger;
pub use dynamodb::DynamoDbConversationStore;
pub use outbound_dead_letters::SqsReplyDeadLetters;
pub use outbound_queue::SqsReplyQueue;
pub use retry_backoff::SqsRetryScheduler;
pub use rules::{BundledRules, DynamoDbRulesSource, DynamoDbRulesStore};
pub use sdk::load_sdk_config;
pub use secrets::{AccountsObserver, SecretsManagerAccountDirectory};
pub use sqs::{SqsDeadLetterSink, SqsMessagePublisher};
pub use tokens::{DynamoDbAccessTokens, TokenTiming};
