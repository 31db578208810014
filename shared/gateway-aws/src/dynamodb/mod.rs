//! DynamoDB adapters, all over the one conversations table: conversations and messages, reply
//! delivery records, reply-API request records, the media records of messages, the leased WeChat token cache, `weibo-poller`'s cursors, the rules
//! document, the daily statistics, and the transaction wrapper they share.

pub mod api_requests;
pub(crate) mod attrs;
pub mod conversations;
pub mod crm_contacts;
pub mod deliveries;
pub mod desk;
pub(crate) mod desk_query;
pub mod inboxes;
pub mod media;
pub mod poll_cursors;
pub mod profiles;
pub mod published_changes;
pub mod rules;
pub mod sla_records;
pub mod stats;
pub mod template_quotas;
pub mod template_sends;
pub mod tokens;
pub mod transactions;
pub mod uploads;
