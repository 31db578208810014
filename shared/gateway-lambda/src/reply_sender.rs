//! SQS batch driver of the reply sender: decodes each outbound record, runs
//! [`delivery::deliver`], and reports only the records to retry, with exponential backoff.
//!
//! FIFO rule (as the router): once a record of a conversation (message group) must be
//! retried, every later record of that group in the batch is handed back too, so replies to
//! one customer never overtake each other. Undecodable records go to the outbound dead-letter
//! queue as they are; commands the platform refuses for good are dead-lettered by
//! [`delivery::deliver`] with the platform's error code, and commands whose last allowed
//! attempt (`REPLY_MAX_ATTEMPTS`, counted by the record's `ApproximateReceiveCount`) fails
//! transiently by [`delivery::deliver_attempt`] with `gateway:retries_exhausted` and the last
//! failure, before the queue's own redrive (a backstop without a reason) would move them.

use crate::config::ConfigError;
use crate::sqs_batch;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use gateway_aws::sdk::{call_timeouts, load_sdk_config_with_timeouts};
use gateway_aws::tokens::TokenTiming;
use gateway_aws::{
    DynamoDbAccessTokens, DynamoDbConversationStore, DynamoDbDeliveryLedger,
    SecretsManagerAccountDirectory, SqsDeadLetterSink, SqsReplyDeadLetters, SqsRetryScheduler,
};
use gateway_core::delivery::ports::{
    AccessTokens, DeliveryLedger, ReplyDeadLetters, RetryScheduler, WeChatApi, WeiboApi,
    backoff_secs,
};
use gateway_core::delivery::window::{
    ChannelPolicy, ReplyPolicy, UndeliverableReason, WindowLimit,
};
use gateway_core::delivery::{self, DeliveryOutcome, Sender};
use gateway_core::outbound::{ReplyCommand, ReplyOrigin};
use gateway_core::ports::{AccountDirectory, ConversationStore, DeadLetterSink};
use gateway_platforms::{TokenApi, WeChatClient, WeiboClient, http_client};
use lambda_runtime::{LambdaEvent, service_fn};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The longest one reply can take, from the start of its record to its last write, with every
/// call at its timeout (`platform`: one platform request; `aws`: one AWS call with retries):
///
/// | step                                                        | bound        |
/// |-------------------------------------------------------------|--------------|
/// | accounts secret (cold or refreshing cache)                  | aws          |
/// | conversation read (window and quota)                        | aws          |
/// | access token refresh: lease, platform token call, store     | 2 aws + platform |
/// | claim (conditional put)                                     | aws          |
/// | send                                                        | platform     |
/// | token refused: invalidate, refresh (lease, call, store)     | 3 aws + platform |
/// | send again                                                  | platform     |
/// | `mark_sent`, then the delivered commit                      | 2 aws        |
///
/// 9 aws + 4 platform: with the defaults (4 s, 5 s) 56 s. A record is claimed only when at
/// least this much of the invocation is left, so the function never times out between a claim
/// and its final write (which would leave the reply `delivery_uncertain`, neither sent again
/// nor known to be sent).
pub fn worst_case_record(platform: Duration, aws: Duration) -> Duration {
    aws * 9 + platform * 4
}

/// The longest a token refresh can hold its lease: the platform call and the write of the new
/// token (the lease itself is taken before it starts). `TOKEN_LEASE_SECS` must exceed it, or a
/// second instance could refresh at the same time and invalidate the first one's token.
pub fn worst_case_token_refresh(platform: Duration, aws: Duration) -> Duration {
    aws + platform
}

/// Slack added to the worst case before a record is started.
const MARGIN_SLACK: Duration = Duration::from_secs(2);

/// SQS's largest `maxReceiveCount`: an attempt limit at or above it could never be reached.
const SQS_MAX_RECEIVE_COUNT: i64 = 1000;

/// Reads variables through a lookup function, collecting every problem.
pub(crate) struct EnvReader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    pub(crate) problems: Vec<String>,
}

impl<'a, F: Fn(&str) -> Option<String>> EnvReader<'a, F> {
    pub(crate) fn new(lookup: &'a F) -> Self {
        EnvReader {
            lookup,
            problems: Vec::new(),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn required(&mut self, name: &str) -> String {
        self.get(name).unwrap_or_else(|| {
            self.problems.push(format!("{name} is required"));
            String::new()
        })
    }

    pub(crate) fn text(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    pub(crate) fn number(&mut self, name: &str, default: i64, min: i64) -> i64 {
        match self.get(name) {
            None => default,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= min => n,
                _ => {
                    self.problems
                        .push(format!("{name} must be an integer >= {min}, got `{v}`"));
                    default
                }
            },
        }
    }

    /// `true`/`false` (also `1`/`0`), `default` when unset.
    pub(crate) fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => default,
            Some(v) if v == "true" || v == "1" => true,
            Some(v) if v == "false" || v == "0" => false,
            Some(v) => {
                self.problems
                    .push(format!("{name} must be true or false, got `{v}`"));
                default
            }
        }
    }

    pub(crate) fn url(&mut self, name: &str, default: &str) -> String {
        let v = self.text(name, default);
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            self.problems
                .push(format!("{name} must be an http(s) URL, got `{v}`"));
        }
        v
    }

    /// A window class: `{prefix}_WINDOW_SECS` (0 turns the class off) and `{prefix}_QUOTA`
    /// (`unlimited` or a number).
    fn window(
        &mut self,
        prefix: &str,
        default_secs: i64,
        default_quota: Option<u32>,
    ) -> Option<WindowLimit> {
        let secs = self.number(&format!("{prefix}_WINDOW_SECS"), default_secs, 0);
        let quota_name = format!("{prefix}_QUOTA");
        let max_replies = match self.get(&quota_name) {
            None => default_quota,
            Some(v) if v.trim().eq_ignore_ascii_case("unlimited") => None,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(q) => Some(q),
                Err(_) => {
                    self.problems.push(format!(
                        "{quota_name} must be `unlimited` or an integer >= 0, got `{v}`"
                    ));
                    default_quota
                }
            },
        };
        (secs > 0).then_some(WindowLimit {
            window_secs: secs,
            max_replies,
        })
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError(self.problems))
        }
    }
}

/// Configuration of the reply-sender function.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplySenderConfig {
    /// `TABLE_NAME`: conversations, delivery records, token cache.
    pub table_name: String,
    /// `OUTBOUND_QUEUE_URL`: the queue this function consumes (for retry backoff).
    pub outbound_queue_url: String,
    /// `OUTBOUND_DEAD_LETTER_QUEUE_URL`: where commands that can never be delivered go.
    pub outbound_dead_letter_queue_url: String,
    /// `DELIVERY_SECRET_ID`: the reply sender's accounts secret (API credentials only).
    pub accounts_secret_id: String,
    /// `ACCOUNTS_CACHE_SECS` (default 60).
    pub accounts_cache: Duration,
    /// `WECHAT_API_BASE_URL` (default `https://api.weixin.qq.com`).
    pub wechat_api_base_url: String,
    /// `WEIBO_API_BASE_URL` (default `https://m.api.weibo.com`).
    pub weibo_api_base_url: String,
    /// `WECHAT_TOKEN_API`: `stable` (default) or `classic`.
    pub wechat_token_api: TokenApi,
    /// `PLATFORM_TIMEOUT_SECS` (default 5): whole platform request.
    pub platform_timeout: Duration,
    /// `AWS_OPERATION_TIMEOUT_MS` (default 4000): one AWS call with its retries (each
    /// attempt at most half of it).
    pub aws_operation_timeout: Duration,
    /// `TOKEN_REFRESH_AHEAD_SECS` (300), `TOKEN_LEASE_SECS` (20), `TOKEN_WAIT_MS` (3000).
    /// The lease must exceed [`worst_case_token_refresh`].
    pub token_timing: TokenTiming,
    /// `DELIVERY_CLAIM_TIMEOUT_SECS` (default 180; above the function timeout, 120 s in the
    /// templates): a `calling` record younger than this may still be in flight.
    pub claim_timeout: Duration,
    /// `DELIVERY_RECORD_TTL_DAYS` (default 30).
    pub delivery_record_ttl_days: i64,
    /// `MESSAGE_TTL_DAYS` (default 90; 0 keeps outbound messages forever).
    pub message_ttl_days: i64,
    /// `RETRY_BASE_SECS` (default 10) and `RETRY_MAX_SECS` (default 300): backoff of
    /// transient failures.
    pub retry_base_secs: u32,
    /// See `retry_base_secs`.
    pub retry_max_secs: u32,
    /// `REPLY_MAX_ATTEMPTS` (default 4): deliveries of one command before a transient failure
    /// dead-letters it with `gateway:retries_exhausted`. Keep it below the outbound queue's
    /// `maxReceiveCount`, so that the queue's redrive (which records no reason) stays a
    /// backstop.
    pub max_attempts: u32,
    /// Reply windows: `WECHAT_MESSAGE_WINDOW_SECS` / `WECHAT_MESSAGE_QUOTA`,
    /// `WECHAT_EVENT_…`, `WEIBO_MESSAGE_…`, `WEIBO_EVENT_…`, `WEIBO_MENTION_…`.
    pub policy: ReplyPolicy,
}

impl ReplySenderConfig {
    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(&lookup);
        let table_name = r.required("TABLE_NAME");
        let outbound_queue_url = r.required("OUTBOUND_QUEUE_URL");
        let outbound_dead_letter_queue_url = r.required("OUTBOUND_DEAD_LETTER_QUEUE_URL");
        let accounts_secret_id = r.required("DELIVERY_SECRET_ID");
        let accounts_cache = r.number("ACCOUNTS_CACHE_SECS", 60, 0);
        let wechat_api_base_url = r.url(
            "WECHAT_API_BASE_URL",
            gateway_platforms::WECHAT_DEFAULT_BASE_URL,
        );
        let weibo_api_base_url = r.url(
            "WEIBO_API_BASE_URL",
            gateway_platforms::WEIBO_DEFAULT_BASE_URL,
        );
        let wechat_token_api = match r.text("WECHAT_TOKEN_API", "stable").as_str() {
            "stable" => TokenApi::Stable,
            "classic" => TokenApi::Classic,
            other => {
                r.problems.push(format!(
                    "WECHAT_TOKEN_API must be `stable` or `classic`, got `{other}`"
                ));
                TokenApi::Stable
            }
        };
        let timeout = r.number("PLATFORM_TIMEOUT_SECS", 5, 1);
        let aws_ms = r.number("AWS_OPERATION_TIMEOUT_MS", 4000, 100);
        let refresh_ahead = r.number("TOKEN_REFRESH_AHEAD_SECS", 300, 0);
        let lease = r.number("TOKEN_LEASE_SECS", 20, 1);
        let wait = r.number("TOKEN_WAIT_MS", 3000, 0);
        let claim = r.number("DELIVERY_CLAIM_TIMEOUT_SECS", 180, 1);
        let platform = Duration::from_secs(u64::try_from(timeout).unwrap_or(5));
        let aws = Duration::from_millis(u64::try_from(aws_ms).unwrap_or(4000));
        let refresh = worst_case_token_refresh(platform, aws);
        if u128::from(u64::try_from(lease).unwrap_or(0)) * 1000 <= refresh.as_millis() {
            r.problems.push(format!(
                "TOKEN_LEASE_SECS must exceed the longest token refresh ({} ms: AWS_OPERATION_TIMEOUT_MS + PLATFORM_TIMEOUT_SECS), got `{lease}`",
                refresh.as_millis()
            ));
        }
        let record = worst_case_record(platform, aws);
        if u128::from(u64::try_from(claim).unwrap_or(0)) * 1000 <= record.as_millis() {
            r.problems.push(format!(
                "DELIVERY_CLAIM_TIMEOUT_SECS must exceed the longest delivery ({} ms), got `{claim}`",
                record.as_millis()
            ));
        }
        let record_ttl = r.number("DELIVERY_RECORD_TTL_DAYS", 30, 1);
        let message_ttl = r.number("MESSAGE_TTL_DAYS", 90, 0);
        let retry_base = r.number("RETRY_BASE_SECS", 10, 0);
        let retry_max = r.number("RETRY_MAX_SECS", 300, 0);
        let max_attempts = r.number("REPLY_MAX_ATTEMPTS", 4, 1);
        if max_attempts >= SQS_MAX_RECEIVE_COUNT {
            r.problems.push(format!(
                "REPLY_MAX_ATTEMPTS must be below the queue's maxReceiveCount (at most {}), got `{max_attempts}`",
                SQS_MAX_RECEIVE_COUNT - 1
            ));
        }
        let defaults = ReplyPolicy::default();
        let limit =
            |w: Option<WindowLimit>| w.map_or((0, None), |l| (l.window_secs, l.max_replies));
        let (d, q) = limit(defaults.wechat.message);
        let wechat_message = r.window("WECHAT_MESSAGE", d, q);
        let (d, q) = limit(defaults.wechat.event);
        let wechat_event = r.window("WECHAT_EVENT", d, q);
        let (d, q) = limit(defaults.weibo.message);
        let weibo_message = r.window("WEIBO_MESSAGE", d, q);
        let (d, q) = limit(defaults.weibo.event);
        let weibo_event = r.window("WEIBO_EVENT", d, q);
        let (d, q) = limit(defaults.weibo.mention);
        let weibo_mention = r.window("WEIBO_MENTION", d, q);
        let secs = |v: i64| Duration::from_secs(u64::try_from(v).unwrap_or(0));
        r.finish(ReplySenderConfig {
            table_name,
            outbound_queue_url,
            outbound_dead_letter_queue_url,
            accounts_secret_id,
            accounts_cache: secs(accounts_cache),
            wechat_api_base_url,
            weibo_api_base_url,
            wechat_token_api,
            platform_timeout: secs(timeout),
            aws_operation_timeout: aws,
            token_timing: TokenTiming {
                refresh_ahead: secs(refresh_ahead),
                lease: secs(lease),
                wait: Duration::from_millis(u64::try_from(wait).unwrap_or(0)),
            },
            claim_timeout: secs(claim),
            delivery_record_ttl_days: record_ttl,
            message_ttl_days: message_ttl,
            retry_base_secs: u32::try_from(retry_base).unwrap_or(u32::MAX),
            retry_max_secs: u32::try_from(retry_max).unwrap_or(u32::MAX),
            max_attempts: u32::try_from(max_attempts).unwrap_or(1),
            policy: ReplyPolicy {
                wechat: ChannelPolicy {
                    message: wechat_message,
                    event: wechat_event,
                    mention: None,
                },
                weibo: ChannelPolicy {
                    message: weibo_message,
                    event: weibo_event,
                    mention: weibo_mention,
                },
            },
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// What the reply sender needs.
#[derive(Clone)]
pub struct ReplySenderDeps {
    /// Accounts document.
    pub accounts: Arc<dyn AccountDirectory>,
    /// Conversations.
    pub conversations: Arc<dyn ConversationStore>,
    /// Delivery records.
    pub ledger: Arc<dyn DeliveryLedger>,
    /// WeChat access tokens.
    pub tokens: Arc<dyn AccessTokens>,
    /// WeChat API.
    pub wechat: Arc<dyn WeChatApi>,
    /// Weibo API.
    pub weibo: Arc<dyn WeiboApi>,
    /// Outbound dead-letter queue (commands, with their error code).
    pub dead_letters: Arc<dyn ReplyDeadLetters>,
    /// Outbound dead-letter queue (undecodable records, as received).
    pub poison: Arc<dyn DeadLetterSink>,
    /// Backoff of transient failures.
    pub retries: Arc<dyn RetryScheduler>,
    /// Reply windows.
    pub policy: ReplyPolicy,
    /// See [`ReplySenderConfig::claim_timeout`].
    pub claim_timeout: Duration,
    /// Backoff base and cap, seconds.
    pub retry_base_secs: u32,
    /// See `retry_base_secs`.
    pub retry_max_secs: u32,
    /// See [`ReplySenderConfig::max_attempts`].
    pub max_attempts: u32,
    /// Records are started only with at least this much of the invocation left:
    /// [`worst_case_record`] plus slack.
    pub start_margin: Duration,
}

/// Cold start of the reply-sender function.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ReplySenderConfig::from_env()?;
    // A hung dependency fails the record (or request) quickly instead of stalling.
    let aws = config.aws_operation_timeout;
    let sdk = load_sdk_config_with_timeouts(call_timeouts(aws / 2, aws)).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = http_client(config.platform_timeout)?;
    let wechat = Arc::new(WeChatClient::new(
        http.clone(),
        &config.wechat_api_base_url,
        config.wechat_token_api,
    ));
    let store = DynamoDbConversationStore::new(
        dynamodb.clone(),
        config.table_name.clone(),
        (config.message_ttl_days > 0).then(|| config.message_ttl_days * 86_400),
    );
    let owner = format!(
        "reply-sender-{}",
        gateway_core::channel::wechat::crypto::random_prefix()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let deps = ReplySenderDeps {
        accounts: Arc::new(
            SecretsManagerAccountDirectory::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                config.accounts_secret_id.clone(),
                config.accounts_cache,
            )
            .for_role(gateway_core::account::AccountsRole::Delivery)
            .with_observer(crate::metrics::accounts_observer("reply-sender")),
        ),
        conversations: Arc::new(store.clone()),
        ledger: Arc::new(DynamoDbDeliveryLedger::new(
            store,
            config.delivery_record_ttl_days * 86_400,
        )),
        tokens: Arc::new(DynamoDbAccessTokens::new(
            dynamodb,
            config.table_name.clone(),
            wechat.clone(),
            config.token_timing,
            owner,
            Arc::new(crate::now_ms),
        )),
        wechat,
        weibo: Arc::new(WeiboClient::new(http, &config.weibo_api_base_url)),
        dead_letters: Arc::new(SqsReplyDeadLetters::new(
            sqs.clone(),
            config.outbound_dead_letter_queue_url.clone(),
        )),
        poison: Arc::new(SqsDeadLetterSink::new(
            sqs.clone(),
            config.outbound_dead_letter_queue_url.clone(),
        )),
        retries: Arc::new(SqsRetryScheduler::new(
            sqs,
            config.outbound_queue_url.clone(),
        )),
        policy: config.policy,
        claim_timeout: config.claim_timeout,
        retry_base_secs: config.retry_base_secs,
        retry_max_secs: config.retry_max_secs,
        max_attempts: config.max_attempts,
        start_margin: worst_case_record(config.platform_timeout, aws) + MARGIN_SLACK,
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let time_left = sqs_batch::time_left(event.context.deadline());
        let failures = handle_batch(deps, &event.payload.records, time_left).await;
        Ok::<_, lambda_runtime::Error>(sqs_batch::response(failures))
    }))
    .await
}

/// Handles a batch in order and returns the ids of the records to retry.
pub async fn handle_batch(
    deps: &ReplySenderDeps,
    records: &[SqsMessage],
    time_left: impl Fn() -> Duration,
) -> Vec<String> {
    let now = crate::now_ms;
    let claim_timeout_ms = i64::try_from(deps.claim_timeout.as_millis()).unwrap_or(i64::MAX);
    let sender = Sender {
        accounts: deps.accounts.as_ref(),
        conversations: deps.conversations.as_ref(),
        ledger: deps.ledger.as_ref(),
        tokens: deps.tokens.as_ref(),
        wechat: deps.wechat.as_ref(),
        weibo: deps.weibo.as_ref(),
        dead_letters: deps.dead_letters.as_ref(),
        policy: &deps.policy,
        claim_timeout_ms,
        now: &now,
    };
    // Records whose retry is useless before a known time (an earlier attempt's claim).
    let mut not_before: HashMap<String, Duration> = HashMap::new();
    let retry = sqs_batch::drive(
        records,
        time_left,
        deps.start_margin,
        async |record, id, group| match handle_record(deps, &sender, record, id, group).await {
            Handled::Done => true,
            Handled::Retry(hint) => {
                if let Some(hint) = hint {
                    not_before.insert(id.to_string(), hint);
                }
                false
            }
        },
    )
    .await;
    for record in &retry {
        let hint = record
            .message_id
            .as_deref()
            .and_then(|id| not_before.get(id).copied());
        schedule_retry(deps, record, hint).await;
    }
    sqs_batch::ids(&retry)
}

/// What became of one record.
enum Handled {
    /// Acknowledge it (delivered, settled, dead-lettered).
    Done,
    /// Hand it back; when known, not worth retrying before this much time.
    Retry(Option<Duration>),
}

/// The visibility delay of a record handed back for its `receive_count`th time: the backoff,
/// or the time until its outcome can settle when that is later (so that an unsettled reply
/// spends one receive waiting, not one per backoff step, and the queue's redrive, which counts
/// receives, does not move it before its claim runs out). SQS caps a visibility timeout at
/// 12 hours.
pub fn retry_delay_secs(
    receive_count: u32,
    base_secs: u32,
    max_secs: u32,
    not_before: Option<Duration>,
) -> u32 {
    const SQS_MAX_VISIBILITY_SECS: u64 = 12 * 3600;
    let backoff = backoff_secs(receive_count, base_secs, max_secs);
    let settle = not_before.map_or(0, |d| {
        // Rounded up: a retry a fraction of a second early would find the claim still held.
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        u32::try_from(secs.min(SQS_MAX_VISIBILITY_SECS)).unwrap_or(u32::MAX)
    });
    backoff.max(settle)
}

/// How many times the queue has delivered this record, this delivery included.
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1)
}

async fn schedule_retry(deps: &ReplySenderDeps, record: &SqsMessage, not_before: Option<Duration>) {
    let Some(handle) = record.receipt_handle.as_deref() else {
        return;
    };
    let count = receive_count(record);
    let delay = retry_delay_secs(count, deps.retry_base_secs, deps.retry_max_secs, not_before);
    if delay == 0 {
        return;
    }
    if let Err(e) = deps.retries.retry_after(handle, delay).await {
        // The queue's visibility timeout applies instead.
        tracing::warn!(error.message = %e, "could not set the retry backoff");
    }
}

async fn handle_record(
    deps: &ReplySenderDeps,
    sender: &Sender<'_>,
    record: &SqsMessage,
    id: &str,
    group: &str,
) -> Handled {
    let body = record.body.as_deref().unwrap_or_default();
    let command: ReplyCommand = match serde_json::from_str(body) {
        Ok(c) => c,
        Err(e) => {
            let reason = format!(
                "undecodable reply command: {}",
                gateway_core::account::describe_json_error(&e)
            );
            let group = if group.is_empty() { "poison" } else { group };
            return match deps.poison.dead_letter(body, group, id, &reason).await {
                Ok(()) => {
                    tracing::error!(
                        sqs.message_id = id,
                        reason,
                        "record moved to the dead-letter queue"
                    );
                    emit(
                        &[("ReplyCommandsUndecodable", 1.0)],
                        "unknown",
                        "unknown",
                        &[],
                    );
                    Handled::Done
                }
                Err(e) => {
                    tracing::error!(sqs.message_id = id, error.message = %e, "could not dead-letter the record; it will be retried");
                    Handled::Retry(None)
                }
            };
        }
    };
    let origin = match command.origin {
        ReplyOrigin::Rule { .. } => "rule",
        ReplyOrigin::Agent { .. } => "agent",
    };
    let reply_id = command.dedupe_id();
    let attempt = delivery::Attempt {
        number: receive_count(record),
        limit: deps.max_attempts,
    };
    match delivery::deliver_attempt(sender, &command, attempt).await {
        Ok(outcome) => {
            report(&command, origin, &reply_id, &outcome);
            Handled::Done
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(
                sqs.message_id = id,
                reply_id,
                channel = %command.channel,
                account = %command.account_id,
                error.message = %e,
                "reply not delivered yet; it will be retried with backoff"
            );
            emit(
                &[("ReplyRetries", 1.0)],
                command.channel.as_str(),
                &command.account_id,
                &[],
            );
            Handled::Retry(e.retry_not_before())
        }
        Err(e) => {
            let reason = format!("permanent failure: {e}");
            let group = if group.is_empty() { "poison" } else { group };
            match deps.poison.dead_letter(body, group, id, &reason).await {
                Ok(()) => {
                    tracing::error!(
                        sqs.message_id = id,
                        reply_id,
                        reason,
                        "record moved to the dead-letter queue"
                    );
                    Handled::Done
                }
                Err(_) => Handled::Retry(None),
            }
        }
    }
}

fn report(command: &ReplyCommand, origin: &str, reply_id: &str, outcome: &DeliveryOutcome) {
    let channel = command.channel.as_str();
    let account = command.account_id.as_str();
    match outcome {
        DeliveryOutcome::Delivered {
            window,
            first_response_ms,
            answered_waiting,
        } => {
            // The dashboard's contact-centre figures: first response time, and the router's
            // UnansweredConversations (+1 when a customer starts waiting) brought back down.
            if let Some(ms) = first_response_ms {
                crate::metrics::emit(
                    &[("FirstResponseTime", *ms as f64, "Milliseconds")],
                    &[("Channel", channel), ("Account", account)],
                    &[&["Channel"], &["Channel", "Account"]],
                );
            }
            if *answered_waiting {
                emit(&[("UnansweredConversations", -1.0)], channel, account, &[]);
            }
            let latency = (crate::now_ms() - command.created_at_ms).max(0) as f64;
            tracing::info!(
                reply_id,
                channel,
                account,
                origin,
                kind = command.content.kind(),
                window = window.map_or("none", |w| w.as_str()),
                "reply delivered"
            );
            emit(
                &[
                    ("RepliesDelivered", 1.0),
                    ("ReplyDeliveryLatencyMs", latency),
                ],
                channel,
                account,
                &[("Origin", origin)],
            );
        }
        DeliveryOutcome::AlreadyHandled(state) => {
            tracing::info!(
                reply_id,
                channel,
                account,
                state = state.as_str(),
                "duplicate reply command; already handled"
            );
            emit(&[("ReplyDuplicates", 1.0)], channel, account, &[]);
        }
        DeliveryOutcome::Undeliverable {
            reason,
            platform_code,
        } => {
            tracing::warn!(
                reply_id,
                channel,
                account,
                origin,
                conversation = %command.conversation_key,
                reason = reason.as_str(),
                platform_code = platform_code.as_deref().unwrap_or(""),
                "reply undeliverable; marked on the conversation"
            );
            emit(
                &[("RepliesUndeliverable", 1.0)],
                channel,
                account,
                &[("Reason", reason.as_str())],
            );
            if *reason == UndeliverableReason::DeliveryUncertain {
                // Needs a person (was it sent?): an aggregate the alarm watches.
                crate::metrics::emit(
                    &[("DeliveryUncertain", 1.0, "Count")],
                    &[("Channel", channel), ("Account", account)],
                    &[&[], &["Channel", "Account"]],
                );
            }
        }
        DeliveryOutcome::SkippedPassive => {
            tracing::info!(
                reply_id,
                channel,
                account,
                "auto-reply for a passive-mode account; answered by the webhook, not sent"
            );
            emit(&[("AutoRepliesSkippedPassive", 1.0)], channel, account, &[]);
        }
        DeliveryOutcome::Superseded => {
            tracing::info!(
                reply_id,
                channel,
                account,
                "auto-reply not in the committed decision for its message (the router re-evaluated after a conflict); not sent"
            );
            emit(&[("AutoRepliesSuperseded", 1.0)], channel, account, &[]);
        }
        DeliveryOutcome::DeadLettered { code } => {
            if code == delivery::RETRIES_EXHAUSTED {
                tracing::error!(
                    reply_id,
                    channel,
                    account,
                    origin,
                    error.code = %code,
                    "reply not delivered within the attempt limit; command moved to the outbound dead-letter queue"
                );
            } else {
                tracing::error!(
                    reply_id,
                    channel,
                    account,
                    origin,
                    error.code = %code,
                    "reply refused for good; command moved to the outbound dead-letter queue"
                );
            }
            emit(
                &[("RepliesDeadLettered", 1.0)],
                channel,
                account,
                &[("Code", code.as_str())],
            );
        }
    }
}

/// EMF line: metrics by Channel and by Channel+Account, plus one extra dimension when given.
fn emit(metrics: &[(&str, f64)], channel: &str, account: &str, extra: &[(&str, &str)]) {
    let metrics: Vec<(&str, f64, &str)> = metrics
        .iter()
        .map(|(name, v)| {
            (
                *name,
                *v,
                if name.ends_with("Ms") {
                    "Milliseconds"
                } else {
                    "Count"
                },
            )
        })
        .collect();
    let mut dims = vec![("Channel", channel), ("Account", account)];
    dims.extend_from_slice(extra);
    let extra_set: Vec<&str> = std::iter::once("Channel")
        .chain(extra.iter().map(|(k, _)| *k))
        .collect();
    let mut sets: Vec<&[&str]> = vec![&["Channel"], &["Channel", "Account"]];
    if !extra.is_empty() {
        sets.push(&extra_set);
    }
    crate::metrics::emit(&metrics, &dims, &sets);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const REQUIRED: [(&str, &str); 4] = [
        ("TABLE_NAME", "t"),
        ("OUTBOUND_QUEUE_URL", "q"),
        ("OUTBOUND_DEAD_LETTER_QUEUE_URL", "d"),
        ("DELIVERY_SECRET_ID", "s"),
    ];

    #[test]
    fn defaults_follow_the_documentation() {
        let c = ReplySenderConfig::from_lookup(env(&REQUIRED)).expect("valid");
        assert_eq!(c.wechat_api_base_url, "https://api.weixin.qq.com");
        assert_eq!(c.weibo_api_base_url, "https://m.api.weibo.com");
        assert_eq!(c.wechat_token_api, TokenApi::Stable);
        assert_eq!(c.policy, ReplyPolicy::default());
        assert_eq!(c.max_attempts, 4);
    }

    #[test]
    fn the_attempt_limit_is_at_least_one_and_below_what_sqs_can_count() {
        let with = |v: &str| {
            let mut pairs = REQUIRED.to_vec();
            pairs.push(("REPLY_MAX_ATTEMPTS", v));
            ReplySenderConfig::from_lookup(env(&pairs))
        };
        assert_eq!(with("1").expect("valid").max_attempts, 1);
        assert_eq!(with(" 9 ").expect("valid").max_attempts, 9);
        for bad in ["0", "-3", "four", "1000"] {
            let err = with(bad).expect_err(bad);
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(err.0[0].contains("REPLY_MAX_ATTEMPTS"), "{err}");
        }
    }

    #[test]
    fn the_worst_case_sets_the_start_margin_and_bounds_the_lease_and_the_claim() {
        // 9 AWS calls at 4 s + 4 platform calls at 5 s: the figure the templates are built on.
        let worst = worst_case_record(Duration::from_secs(5), Duration::from_secs(4));
        assert_eq!(worst, Duration::from_secs(56));
        let defaults = ReplySenderConfig::from_lookup(env(&REQUIRED)).expect("valid");
        assert_eq!(
            worst_case_record(defaults.platform_timeout, defaults.aws_operation_timeout),
            worst
        );
        assert!(defaults.claim_timeout > worst);
        assert!(
            defaults.token_timing.lease
                > worst_case_token_refresh(
                    defaults.platform_timeout,
                    defaults.aws_operation_timeout
                )
        );
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut all = REQUIRED.to_vec();
            all.extend_from_slice(pairs);
            ReplySenderConfig::from_lookup(env(&all))
        };
        let err = with(&[("TOKEN_LEASE_SECS", "9")]).expect_err("lease too short");
        assert!(
            err.to_string().contains("TOKEN_LEASE_SECS must exceed"),
            "{err}"
        );
        let err = with(&[("DELIVERY_CLAIM_TIMEOUT_SECS", "56")]).expect_err("claim too short");
        assert!(
            err.to_string()
                .contains("DELIVERY_CLAIM_TIMEOUT_SECS must exceed"),
            "{err}"
        );
        assert!(
            with(&[
                ("TOKEN_LEASE_SECS", "10"),
                ("DELIVERY_CLAIM_TIMEOUT_SECS", "57")
            ])
            .is_ok()
        );
    }

    #[test]
    fn windows_and_quotas_are_configuration() {
        let mut pairs = REQUIRED.to_vec();
        pairs.extend([
            ("WECHAT_MESSAGE_QUOTA", "20"),
            ("WECHAT_EVENT_WINDOW_SECS", "0"),
            ("WEIBO_MESSAGE_QUOTA", "99"),
            ("WEIBO_MENTION_QUOTA", "unlimited"),
            ("WECHAT_API_BASE_URL", "http://127.0.0.1:9999"),
        ]);
        let c = ReplySenderConfig::from_lookup(env(&pairs)).expect("valid");
        assert_eq!(
            c.policy.wechat.message.and_then(|w| w.max_replies),
            Some(20)
        );
        assert_eq!(c.policy.wechat.event, None);
        assert_eq!(c.policy.weibo.message.and_then(|w| w.max_replies), Some(99));
        assert_eq!(c.policy.weibo.mention.map(|w| w.max_replies), Some(None));
        assert_eq!(c.wechat_api_base_url, "http://127.0.0.1:9999");
    }

    mod batch {
        use super::super::*;
        use async_trait::async_trait;
        use gateway_core::account::AccountsDocument;
        use gateway_core::conversation::Conversation;
        use gateway_core::delivery::platform::{CallError, Disposition, PlatformError};
        use gateway_core::delivery::testing::{
            CountingTokens, InMemoryDeliveryLedger, RecordingReplyDeadLetters, ScriptedPlatform,
        };
        use gateway_core::message::Channel;
        use gateway_core::ports::PortError;
        use gateway_core::reply::ReplyContent;
        use gateway_core::testing::{StaticAccounts, text_message};
        use std::sync::Mutex;

        #[derive(Default)]
        struct Recorder(Mutex<Vec<String>>);

        #[async_trait]
        impl DeadLetterSink for Recorder {
            async fn dead_letter(
                &self,
                _body: &str,
                _group: &str,
                _dedupe: &str,
                reason: &str,
            ) -> Result<(), PortError> {
                self.0.lock().expect("lock").push(reason.to_string());
                Ok(())
            }
        }

        #[async_trait]
        impl RetryScheduler for Recorder {
            async fn retry_after(&self, handle: &str, delay: u32) -> Result<(), PortError> {
                self.0
                    .lock()
                    .expect("lock")
                    .push(format!("{handle}:{delay}"));
                Ok(())
            }
        }

        fn deps(
            ledger: &Arc<InMemoryDeliveryLedger>,
            platform: &Arc<ScriptedPlatform>,
            poison: &Arc<Recorder>,
            retries: &Arc<Recorder>,
            start_margin: Duration,
        ) -> ReplySenderDeps {
            ReplySenderDeps {
                accounts: Arc::new(StaticAccounts(Arc::new(
                    AccountsDocument::from_json(
                        r#"{"wechat":{"demo":{"app_id":"wx1","token":"t","app_secret":"s"}}}"#,
                    )
                    .expect("accounts"),
                ))),
                conversations: ledger.clone(),
                ledger: ledger.clone(),
                tokens: Arc::new(CountingTokens::default()),
                wechat: platform.clone(),
                weibo: platform.clone(),
                dead_letters: Arc::new(RecordingReplyDeadLetters::default()),
                poison: poison.clone(),
                retries: retries.clone(),
                policy: ReplyPolicy::default(),
                claim_timeout: Duration::from_secs(60),
                retry_base_secs: 10,
                retry_max_secs: 300,
                max_attempts: 4,
                start_margin,
            }
        }

        #[tokio::test]
        async fn no_reply_is_started_unless_its_worst_case_fits_in_the_time_left() {
            let ledger = Arc::new(InMemoryDeliveryLedger::default());
            let now = crate::now_ms();
            let m = text_message("demo", "u1", "u1", "hi", now - 1_000);
            let mut c = Conversation::new_for(&m);
            c.record_inbound(&m);
            c.version = 1;
            ledger.put_conversation(c);
            let command =
                ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), m.received_at_ms);
            let body = serde_json::to_string(&command).expect("json");
            let records = vec![record("a", "wechat:demo:u1", &body, "1")];
            let platform = Arc::new(ScriptedPlatform::default());
            let (poison, retries) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
            let margin =
                worst_case_record(Duration::from_secs(5), Duration::from_secs(4)) + MARGIN_SLACK;
            let deps = deps(&ledger, &platform, &poison, &retries, margin);
            // One second short of the worst case: handed back unclaimed, no platform call.
            let short = margin - Duration::from_secs(1);
            assert_eq!(handle_batch(&deps, &records, || short).await, ["a"]);
            assert!(platform.wechat_calls.lock().expect("lock").is_empty());
            assert!(
                ledger.record(&command.dedupe_id()).is_none(),
                "never claimed"
            );
            // With the worst case left it is delivered.
            assert!(handle_batch(&deps, &records, || margin).await.is_empty());
            assert_eq!(platform.wechat_calls.lock().expect("lock").len(), 1);
        }

        fn record(id: &str, group: &str, body: &str, receives: &str) -> SqsMessage {
            let mut r = SqsMessage::default();
            r.message_id = Some(id.into());
            r.receipt_handle = Some(format!("rh-{id}"));
            r.body = Some(body.into());
            r.attributes.insert("MessageGroupId".into(), group.into());
            r.attributes
                .insert("ApproximateReceiveCount".into(), receives.into());
            r
        }

        #[tokio::test]
        async fn a_transient_failure_holds_back_its_conversation_only_and_backs_off() {
            let ledger = Arc::new(InMemoryDeliveryLedger::default());
            let now = crate::now_ms();
            let commands: Vec<ReplyCommand> = ["u1", "u2"]
                .iter()
                .map(|u| {
                    let m = text_message("demo", u, u, "hi", now - 1_000);
                    let mut c = Conversation::new_for(&m);
                    c.record_inbound(&m);
                    c.version = 1;
                    ledger.put_conversation(c);
                    ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), m.received_at_ms)
                })
                .collect();
            let later = ReplyCommand::auto_reply(
                &text_message("demo", "u1", "u1", "hi", now - 1_000),
                "r",
                1,
                ReplyContent::text("y"),
                now - 1_000,
            );
            let platform = Arc::new(ScriptedPlatform::default());
            platform.then(Err(CallError::Platform(PlatformError {
                channel: Channel::WeChat,
                code: -1,
                message: "busy".into(),
                disposition: Disposition::Transient,
            })));
            let poison = Arc::new(Recorder::default());
            let retries = Arc::new(Recorder::default());
            let deps = deps(
                &ledger,
                &platform,
                &poison,
                &retries,
                Duration::from_secs(5),
            );
            let json = |c: &ReplyCommand| serde_json::to_string(c).expect("json");
            let records = vec![
                record("a", "wechat:demo:u1", &json(&commands[0]), "2"),
                record("b", "wechat:demo:u2", &json(&commands[1]), "1"),
                record("c", "wechat:demo:u1", &json(&later), "1"),
                record("d", "wechat:demo:u3", "{not a command", "1"),
            ];

            let failures = handle_batch(&deps, &records, || Duration::from_secs(60)).await;

            assert_eq!(failures, ["a", "c"]);
            assert_eq!(
                platform.wechat_calls.lock().expect("lock").len(),
                2,
                "a and b"
            );
            assert_eq!(
                *retries.0.lock().expect("lock"),
                ["rh-a:20", "rh-c:10"],
                "exponential backoff by receive count"
            );
            let dead = poison.0.lock().expect("lock");
            assert_eq!(dead.len(), 1);
            assert!(
                dead[0].starts_with("undecodable reply command"),
                "{}",
                dead[0]
            );
        }
        #[tokio::test]
        async fn a_reply_another_attempt_holds_is_handed_back_until_its_claim_runs_out() {
            use gateway_core::delivery::ports::{DeliveryRecord, DeliveryState};
            let ledger = Arc::new(InMemoryDeliveryLedger::default());
            let now = crate::now_ms();
            let m = text_message("demo", "u1", "u1", "hi", now - 1_000);
            let command =
                ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), m.received_at_ms);
            // Claimed 15.5 s ago by an attempt that never wrote again (claim timeout 60 s).
            ledger.set(DeliveryRecord {
                reply_id: command.dedupe_id(),
                state: DeliveryState::Calling,
                calling_since_ms: Some(now - 15_500),
                sent_at_ms: None,
                reason: None,
                error_code: None,
                updated_at_ms: now - 15_500,
            });
            let platform = Arc::new(ScriptedPlatform::default());
            let (poison, retries) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
            let deps = deps(
                &ledger,
                &platform,
                &poison,
                &retries,
                Duration::from_secs(5),
            );
            let body = serde_json::to_string(&command).expect("json");
            let records = vec![record("a", "wechat:demo:u1", &body, "2")];

            let failures = handle_batch(&deps, &records, || Duration::from_secs(60)).await;

            assert_eq!(failures, ["a"]);
            assert!(platform.wechat_calls.lock().expect("lock").is_empty());
            // Not the 20 s backoff of a second receive: the 44.5 s (rounded up) the claim has
            // left, so the next receive settles it instead of spending the queue's receives.
            let retried = retries.0.lock().expect("lock").clone();
            let delay: u32 = retried[0]
                .strip_prefix("rh-a:")
                .expect("a")
                .parse()
                .expect("secs");
            assert!((44..=45).contains(&delay), "{retried:?}");
        }

        #[test]
        fn the_retry_delay_is_the_backoff_or_the_time_to_settle_whichever_is_later() {
            assert_eq!(retry_delay_secs(1, 10, 300, None), 10);
            assert_eq!(retry_delay_secs(3, 10, 300, None), 40);
            assert_eq!(retry_delay_secs(9, 10, 300, None), 300);
            assert_eq!(
                retry_delay_secs(1, 10, 300, Some(Duration::from_millis(170_001))),
                171
            );
            assert_eq!(
                retry_delay_secs(5, 10, 300, Some(Duration::from_secs(5))),
                160
            );
            assert_eq!(retry_delay_secs(1, 0, 0, Some(Duration::ZERO)), 0);
            assert_eq!(
                retry_delay_secs(1, 10, 300, Some(Duration::from_secs(86_400))),
                43_200,
                "SQS's longest visibility timeout"
            );
        }
    }

    mod attempts {
        use super::super::*;
        use gateway_core::account::AccountsDocument;
        use gateway_core::conversation::Conversation;
        use gateway_core::delivery::platform::{CallError, Disposition, PlatformError};
        use gateway_core::delivery::ports::DeliveryState;
        use gateway_core::delivery::testing::{
            CountingTokens, InMemoryDeliveryLedger, RecordingReplyDeadLetters, ScriptedPlatform,
        };
        use gateway_core::message::Channel;
        use gateway_core::ports::PortError;
        use gateway_core::reply::ReplyContent;
        use gateway_core::testing::{StaticAccounts, text_message};
        use std::sync::Mutex;

        #[derive(Default)]
        struct Retries(Mutex<Vec<String>>);

        #[async_trait::async_trait]
        impl RetryScheduler for Retries {
            async fn retry_after(&self, handle: &str, _delay: u32) -> Result<(), PortError> {
                self.0.lock().expect("lock").push(handle.to_string());
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl DeadLetterSink for Retries {
            async fn dead_letter(
                &self,
                _: &str,
                _: &str,
                _: &str,
                _: &str,
            ) -> Result<(), PortError> {
                Ok(())
            }
        }

        fn busy() -> Result<(), CallError> {
            Err(CallError::Platform(PlatformError {
                channel: Channel::WeChat,
                code: -1,
                message: "system busy".into(),
                disposition: Disposition::Transient,
            }))
        }

        fn record(id: &str, body: &str, receives: &str) -> SqsMessage {
            let mut r = SqsMessage::default();
            r.message_id = Some(id.into());
            r.receipt_handle = Some(format!("rh-{id}"));
            r.body = Some(body.into());
            r.attributes
                .insert("MessageGroupId".into(), "wechat:demo:u1".into());
            r.attributes
                .insert("ApproximateReceiveCount".into(), receives.into());
            r
        }

        #[tokio::test]
        async fn the_last_allowed_receive_dead_letters_instead_of_handing_the_record_back() {
            let ledger = Arc::new(InMemoryDeliveryLedger::default());
            let now = crate::now_ms();
            let m = text_message("demo", "u1", "u1", "hi", now - 1_000);
            let mut c = Conversation::new_for(&m);
            c.record_inbound(&m);
            c.version = 1;
            ledger.put_conversation(c);
            let first =
                ReplyCommand::auto_reply(&m, "r", 0, ReplyContent::text("x"), m.received_at_ms);
            let second =
                ReplyCommand::auto_reply(&m, "r", 1, ReplyContent::text("y"), m.received_at_ms);
            let platform = Arc::new(ScriptedPlatform::default());
            let dead = Arc::new(RecordingReplyDeadLetters::default());
            let retries = Arc::new(Retries::default());
            let deps = ReplySenderDeps {
                accounts: Arc::new(StaticAccounts(Arc::new(
                    AccountsDocument::from_json(
                        r#"{"wechat":{"demo":{"app_id":"wx1","token":"t","app_secret":"s"}}}"#,
                    )
                    .expect("accounts"),
                ))),
                conversations: ledger.clone(),
                ledger: ledger.clone(),
                tokens: Arc::new(CountingTokens::default()),
                wechat: platform.clone(),
                weibo: platform.clone(),
                dead_letters: dead.clone(),
                poison: retries.clone(),
                retries: retries.clone(),
                policy: ReplyPolicy::default(),
                claim_timeout: Duration::from_secs(60),
                retry_base_secs: 10,
                retry_max_secs: 300,
                max_attempts: 3,
                start_margin: Duration::from_secs(5),
            };
            let json = |c: &ReplyCommand| serde_json::to_string(c).expect("json");

            // Received twice before: the third receive is the last allowed attempt.
            platform.then(busy());
            let failures = handle_batch(
                &deps,
                &[
                    record("a", &json(&first), "2"),
                    record("b", &json(&second), "2"),
                ],
                || Duration::from_secs(60),
            )
            .await;
            assert_eq!(failures, ["a", "b"], "attempt 2 of 3: handed back in order");
            assert!(dead.0.lock().expect("lock").is_empty());

            platform.then(busy());
            let failures = handle_batch(
                &deps,
                &[
                    record("a", &json(&first), "3"),
                    record("b", &json(&second), "3"),
                ],
                || Duration::from_secs(60),
            )
            .await;

            assert!(failures.is_empty(), "{failures:?}");
            let dead = dead.0.lock().expect("lock").clone();
            assert_eq!(dead.len(), 1);
            assert_eq!(dead[0].0, first);
            assert_eq!(dead[0].1, delivery::RETRIES_EXHAUSTED);
            assert_eq!(
                dead[0].2,
                "not delivered after 3 attempts: wechat error -1: system busy"
            );
            assert_eq!(
                ledger.record(&first.dedupe_id()).map(|r| r.state),
                Some(DeliveryState::Failed)
            );
            // The conversation's next reply is no longer held back behind it.
            assert_eq!(
                ledger.record(&second.dedupe_id()).map(|r| r.state),
                Some(DeliveryState::Delivered)
            );
            assert_eq!(platform.wechat_calls.lock().expect("lock").len(), 3);
            assert_eq!(*retries.0.lock().expect("lock"), ["rh-a", "rh-b"]);
        }
    }

    #[test]
    fn reports_every_problem_at_once() {
        let err = ReplySenderConfig::from_lookup(env(&[
            ("WECHAT_MESSAGE_QUOTA", "lots"),
            ("WECHAT_TOKEN_API", "magic"),
            ("WEIBO_API_BASE_URL", "m.api.weibo.com"),
        ]))
        .expect_err("invalid");
        assert_eq!(err.0.len(), 7, "{err}");
    }
}
