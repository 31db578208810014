//! Driven adapters over the AWS SDK, grouped by service: [`sqs`], [`dynamodb`], [`sns`],
//! [`eventbridge`] (the deployment's event bus),
//! [`secrets`] (Secrets Manager), [`s3`] (the media store), [`s3_links`] and [`s3_uploads`]
//! (the desk's presigned links and agents' files): implementations of the `gateway-core`
//! ports; and [`sdk`], the SDK configuration they share (trust store, timeouts). SDK types
//! never leave this crate.

pub mod dynamodb;
pub mod error;
pub mod eventbridge;
pub mod s3;
pub mod s3_links;
pub mod s3_uploads;
pub mod sdk;
pub mod secrets;
pub mod sns;
pub mod sqs;

pub use dynamodb::api_requests::DynamoDbApiRequests;
pub use dynamodb::conversations::DynamoDbConversationStore;
pub use dynamodb::crm_contacts::DynamoDbCrmContacts;
pub use dynamodb::deliveries::DynamoDbDeliveryLedger;
pub use dynamodb::desk::DynamoDbDesk;
pub use dynamodb::media::DynamoDbMediaRecords;
pub use dynamodb::poll_cursors::DynamoDbPollCursors;
pub use dynamodb::profiles::DynamoDbProfileRecords;
pub use dynamodb::published_changes::DynamoDbPublishedChanges;
pub use dynamodb::rules::{BundledRules, DynamoDbRulesSource, DynamoDbRulesStore};
pub use dynamodb::stats::DynamoDbStats;
pub use dynamodb::template_sends::DynamoDbTemplateSends;
pub use dynamodb::tokens::{DynamoDbAccessTokens, TokenTiming};
pub use dynamodb::uploads::DynamoDbUploadedIds;
pub use eventbridge::EventBridgePublisher;
pub use s3::S3MediaStore;
pub use s3_links::S3MediaLinks;
pub use s3_uploads::S3Uploads;
pub use sdk::load_sdk_config;
pub use secrets::{AccountsObserver, SecretsManagerAccountDirectory};
pub use sns::SnsAlerts;
pub use sqs::dead_letters::SqsDeadLetters;
pub use sqs::inbound::SqsMessagePublisher;
pub use sqs::media::SqsMediaQueue;
pub use sqs::profile_notices::SqsProfileNotices;
pub use sqs::replies::SqsReplyQueue;
pub use sqs::retry_backoff::SqsRetryScheduler;
pub use sqs::timers::SqsTimers;
pub use sqs::webhooks::SqsWebhookFanOut;
