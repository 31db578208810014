// Timeouts and limits of the functions, shared with the queues that feed them (a queue's
// visibility timeout follows its consumer's timeout) and the HTTP API routes in front of them.

/** WeChat drops the connection after 5 s and retries: the webhooks answer well before. */
export const WEBHOOK_TIMEOUT_SECS = 4;
/** The router's timeout; the inbound queue's visibility timeout is 6x this. */
export const ROUTER_TIMEOUT_SECS = 30;
/**
 * reply-sender's timeout; the outbound queue's visibility timeout is 6x this (1080 s), as AWS
 * recommends for event source mappings. reply-sender starts a reply only while the worst case
 * of one delivery is still left of the invocation (13 AWS calls at AWS_OPERATION_TIMEOUT_MS + 5
 * platform calls at PLATFORM_TIMEOUT_SECS: 77 s, a reply naming an agent's file included):
 * 180 s fits two worst cases.
 */
export const REPLY_SENDER_TIMEOUT_SECS = 180;
/**
 * reply-sender's attempt limit: a command whose last allowed attempt fails transiently is
 * dead-lettered by reply-sender itself, with the code and reason. Receives of an outbound
 * record before SQS redrives it to the outbound DLQ (a backstop: no reason is recorded) leave
 * room after it for a reply the last attempt left unsettled: one receive waits out the claim,
 * one settles it.
 */
export const REPLY_MAX_ATTEMPTS = 4;
export const OUTBOUND_MAX_RECEIVE_COUNT = 10;
/** reply-api's timeout, and the HTTP API's integration timeout of its routes (a bit more). */
export const REPLY_API_TIMEOUT_SECS = 6;
export const REPLY_API_INTEGRATION_TIMEOUT_SECS = 8;
/** sla-monitor's timeout; the timers queue's visibility timeout is 6x this. */
export const SLA_MONITOR_TIMEOUT_SECS = 30;
/**
 * media-fetcher's timeout: above the worst case of one command (12 AWS calls at
 * AWS_OPERATION_TIMEOUT_MS + 6 platform calls at PLATFORM_TIMEOUT_SECS + 2 s: 140 s). The media
 * queue's visibility timeout is 6x this (1080 s).
 */
export const MEDIA_FETCHER_TIMEOUT_SECS = 180;
/**
 * weibo-poller's timeout: below its schedule's period (WEIBO_POLL_PERIOD_MINUTES), so that a run
 * ends before the next one starts (its reserved concurrency is 1).
 */
export const WEIBO_POLLER_TIMEOUT_SECS = 50;
export const WEIBO_POLL_PERIOD_MINUTES = 1;
/** Commands per media-fetcher invocation (one object in memory at a time). */
export const MEDIA_BATCH_SIZE = 5;
/**
 * media-fetcher's attempt limit (it dead-letters a command itself, with the reason, when its
 * last attempt fails transiently), and the receives of a media command before SQS redrives it
 * to the media DLQ: a backstop that never comes first.
 */
export const MEDIA_MAX_ATTEMPTS = 4;
export const MEDIA_MAX_RECEIVE_COUNT = 10;
/**
 * The largest file an agent uploads through desk-api (POST /media): Lambda takes at most
 * 6 MiB per synchronous request and API Gateway hands it a file base64-encoded (4/3 of its
 * size), so 4 MiB is the largest round size that fits with the request's headers (not
 * WeChat's 10 MB).
 */
export const DESK_MAX_UPLOAD_BYTES = 4 * 1024 * 1024;
/**
 * webhook-sender's timeout: above the worst case of one record (3 AWS calls at
 * AWS_OPERATION_TIMEOUT_MS + 1 POST at WEBHOOK_TIMEOUT_SECS + 2 s: 19 s). The webhook queue's
 * visibility timeout is 6x this (360 s).
 */
export const WEBHOOK_SENDER_TIMEOUT_SECS = 60;
/** Records per webhook-sender invocation (delivered one after the other). */
export const WEBHOOK_BATCH_SIZE = 10;
/**
 * webhook-sender's attempt limit (it dead-letters a delivery itself, with the reason, when its
 * last attempt fails transiently), and the receives before SQS redrives a record to the
 * webhook DLQ: a backstop that never comes first.
 */
export const WEBHOOK_MAX_ATTEMPTS = 6;
export const WEBHOOK_MAX_RECEIVE_COUNT = 10;
/** Memory of every function. */
export const MEMORY_MB = 256;
