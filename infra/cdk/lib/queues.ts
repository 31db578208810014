// The stack's SQS queues: the inbound and outbound FIFO queues and their FIFO dead-letter
// queues, sla-monitor's timers queue and its dead-letter queue, the queue of the table stream
// batches its readers gave up on, and media-fetcher's media queue and its dead-letter queue.
// Each visibility timeout follows its consumer's timeout (limits.ts).
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { logicalId } from './common';
import {
  MEDIA_FETCHER_TIMEOUT_SECS,
  MEDIA_MAX_RECEIVE_COUNT,
  OUTBOUND_MAX_RECEIVE_COUNT,
  REPLY_SENDER_TIMEOUT_SECS,
  ROUTER_TIMEOUT_SECS,
  SLA_MONITOR_TIMEOUT_SECS,
  WEBHOOK_MAX_RECEIVE_COUNT,
  WEBHOOK_SENDER_TIMEOUT_SECS,
} from './limits';

/** A queue and the dead-letter queue SQS redrives it to. */
export interface QueueWithDlq {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
}

export interface GatewayQueues {
  /** Webhooks -> router. */
  readonly inbound: QueueWithDlq;
  /** Reply commands: router auto-replies, reply-api -> reply-sender. */
  readonly outbound: QueueWithDlq;
  /** sla-monitor's timers. */
  readonly timers: QueueWithDlq;
  /** The on-failure destination of the table stream's event sources. */
  readonly streamFailures: sqs.Queue;
  /** Media fetch commands: router -> media-fetcher. */
  readonly media: QueueWithDlq;
  /** Event deliveries: the event bus rule and webhook-sender's fan-out -> webhook-sender. */
  readonly webhooks: QueueWithDlq;
}

export function gatewayQueues(scope: Construct): GatewayQueues {
  // ---------------------------------------------------------------------------------------
  // Inbound FIFO queue (webhooks -> router) and its FIFO dead-letter queue.
  // ---------------------------------------------------------------------------------------
  const inboundDlq = new sqs.Queue(scope, 'InboundDeadLetterQueue', {
    fifo: true,
    contentBasedDeduplication: false,
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  logicalId(inboundDlq, 'InboundDeadLetterQueue');

  const inboundQueue = new sqs.Queue(scope, 'InboundQueue', {
    fifo: true,
    // The webhooks set MessageDeduplicationId (the platform's message id).
    contentBasedDeduplication: false,
    // High-throughput FIFO: deduplication and throughput per message group (conversation).
    deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
    fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
    visibilityTimeout: Duration.seconds(6 * ROUTER_TIMEOUT_SECS),
    retentionPeriod: Duration.days(4),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    deadLetterQueue: { queue: inboundDlq, maxReceiveCount: 5 },
  });
  logicalId(inboundQueue, 'InboundQueue');

  // ---------------------------------------------------------------------------------------
  // Outbound FIFO queue of reply commands (router auto-replies, reply-api -> reply-sender)
  // and its FIFO dead-letter queue. reply-sender also sends commands the platform refuses
  // for good, and commands whose last allowed attempt (REPLY_MAX_ATTEMPTS) failed
  // transiently, to the DLQ itself (with the error code and the reason as message attributes).
  // ---------------------------------------------------------------------------------------
  const outboundDlq = new sqs.Queue(scope, 'OutboundDeadLetterQueue', {
    fifo: true,
    contentBasedDeduplication: false,
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  logicalId(outboundDlq, 'OutboundDeadLetterQueue');

  const outboundQueue = new sqs.Queue(scope, 'OutboundQueue', {
    fifo: true,
    // The producers set MessageDeduplicationId (the reply command's idempotency key).
    contentBasedDeduplication: false,
    // High-throughput FIFO: deduplication and throughput per message group (conversation).
    deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
    fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
    // Retries of transient failures are made visible later by reply-sender itself
    // (ChangeMessageVisibility, RETRY_BASE_SECS..RETRY_MAX_SECS).
    visibilityTimeout: Duration.seconds(6 * REPLY_SENDER_TIMEOUT_SECS),
    // 4 days (the platforms' reply windows are 48 hours).
    retentionPeriod: Duration.days(4),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    deadLetterQueue: { queue: outboundDlq, maxReceiveCount: OUTBOUND_MAX_RECEIVE_COUNT },
  });
  logicalId(outboundQueue, 'OutboundQueue');

  // ---------------------------------------------------------------------------------------
  // Service levels (sla-monitor): the timers queue, STANDARD (a FIFO queue cannot delay one
  // message): each timer is a message delayed until it comes due (at most 15 minutes,
  // chained on beyond), with its standard dead-letter queue; the queue the table's stream
  // event source sends what it gives up on to. (The contact centre's alerts topic:
  // sla-monitor.ts.)
  // ---------------------------------------------------------------------------------------
  const timersDlq = new sqs.Queue(scope, 'TimersDeadLetterQueue', {
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  logicalId(timersDlq, 'TimersDeadLetterQueue');
  const timersQueue = new sqs.Queue(scope, 'TimersQueue', {
    // No queue-level delay: each timer sets its own.
    visibilityTimeout: Duration.seconds(6 * SLA_MONITOR_TIMEOUT_SECS),
    retentionPeriod: Duration.days(4),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    // An undecodable timer, or one that keeps failing, is kept readable in the DLQ.
    deadLetterQueue: { queue: timersDlq, maxReceiveCount: 5 },
  });
  logicalId(timersQueue, 'TimersQueue');
  // The on-failure destination of the table stream's event sources (sla-monitor's and
  // stats-aggregator's): a record of each batch one gave up on (shard, sequence numbers; the
  // records stay in the stream 24 hours).
  const streamFailuresQueue = new sqs.Queue(scope, 'StreamFailuresQueue', {
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  logicalId(streamFailuresQueue, 'StreamFailuresQueue');

  // ---------------------------------------------------------------------------------------
  // Media (media-fetcher): the queue of fetch commands, STANDARD (each photo, voice note or
  // video is fetched on its own; their order does not matter, and a FIFO group would hold a
  // conversation's later media behind one slow download), and its standard dead-letter
  // queue. The router queues one command per media object of a message (SendMessageBatch);
  // media-fetcher downloads it from the platform into the media bucket and records it on the
  // message. It sends the commands it gives up on (the platform refused for good, or the last
  // attempt, MEDIA_MAX_ATTEMPTS, failed) to the DLQ itself, with the reason.
  // ---------------------------------------------------------------------------------------
  const mediaDlq = new sqs.Queue(scope, 'MediaDeadLetterQueue', {
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  logicalId(mediaDlq, 'MediaDeadLetterQueue');
  const mediaQueue = new sqs.Queue(scope, 'MediaQueue', {
    // Retries of transient failures are made visible later by media-fetcher itself
    // (ChangeMessageVisibility, RETRY_BASE_SECS..RETRY_MAX_SECS).
    visibilityTimeout: Duration.seconds(6 * MEDIA_FETCHER_TIMEOUT_SECS),
    // 4 days: WeChat keeps a temporary media_id 3 days, after which a fetch cannot succeed.
    retentionPeriod: Duration.days(4),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    // A backstop only: media-fetcher gives up first (MEDIA_MAX_ATTEMPTS) and dead-letters the
    // command itself with the reason.
    deadLetterQueue: { queue: mediaDlq, maxReceiveCount: MEDIA_MAX_RECEIVE_COUNT },
  });
  logicalId(mediaQueue, 'MediaQueue');

  // ---------------------------------------------------------------------------------------
  // Events out (webhook-sender, webhook-sender.ts): the webhook queue, STANDARD (each delivery
  // on its own: a receiver's retries hold back no other delivery), fed by the event bus's rule
  // and by webhook-sender's own fan-out (one delivery message per client), and its standard
  // dead-letter queue. webhook-sender dead-letters deliveries refused for good or retried out
  // (WEBHOOK_MAX_ATTEMPTS) itself, with the reason.
  // ---------------------------------------------------------------------------------------
  const webhookDlq = new sqs.Queue(scope, 'WebhookDeadLetterQueue', {
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  logicalId(webhookDlq, 'WebhookDeadLetterQueue');
  const webhookQueue = new sqs.Queue(scope, 'WebhookQueue', {
    // Retries are made visible later by webhook-sender itself (ChangeMessageVisibility,
    // RETRY_BASE_SECS..RETRY_MAX_SECS).
    visibilityTimeout: Duration.seconds(6 * WEBHOOK_SENDER_TIMEOUT_SECS),
    // 4 days: the backoff of WEBHOOK_MAX_ATTEMPTS attempts takes well under an hour.
    retentionPeriod: Duration.days(4),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    // A backstop only: webhook-sender gives up first (WEBHOOK_MAX_ATTEMPTS).
    deadLetterQueue: { queue: webhookDlq, maxReceiveCount: WEBHOOK_MAX_RECEIVE_COUNT },
  });
  logicalId(webhookQueue, 'WebhookQueue');

  return {
    inbound: { queue: inboundQueue, dlq: inboundDlq },
    outbound: { queue: outboundQueue, dlq: outboundDlq },
    timers: { queue: timersQueue, dlq: timersDlq },
    streamFailures: streamFailuresQueue,
    media: { queue: mediaQueue, dlq: mediaDlq },
    webhooks: { queue: webhookQueue, dlq: webhookDlq },
  };
}
