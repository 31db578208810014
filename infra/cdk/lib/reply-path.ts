// The reply path: reply-api (agent desks and CRM systems -> outbound queue; delivery state)
// and reply-sender (outbound queue -> WeChat/Weibo APIs -> table), in the fixed-egress VPC
// when EnableFixedEgress (egress.ts, functionInEgressVpc). The router's auto-replies take the
// same queue.
import { CfnParameter } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { GatewayFunctionFactory, leadingKeys, logicalId } from './common';
import { UPLOADS_PREFIX } from './media';
import { REPLY_API_TIMEOUT_SECS, REPLY_MAX_ATTEMPTS, REPLY_SENDER_TIMEOUT_SECS } from './limits';
import { QueueWithDlq } from './queues';

export interface ReplySenderProps {
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.ITable;
  readonly outbound: QueueWithDlq;
  /** The ARN of the delivery credentials secret (secrets.ts). */
  readonly deliveryCredentialsSecretId: string;
  /** ReplySenderReservedConcurrency. */
  readonly reservedConcurrency: CfnParameter;
  /** MessageTtlDays (its outbound messages' TTL). */
  readonly messageTtlDays: CfnParameter;
  /** The media bucket: the agents' files a media reply may name (uploads/). */
  readonly mediaBucket: s3.CfnBucket;
}

/** reply-sender, its role and its event source on the outbound queue. */
export function replySenderFunction(props: ReplySenderProps): lambda.Function {
  const { gatewayFunction, table, deliveryCredentialsSecretId } = props;
  const { queue: outboundQueue, dlq: outboundDlq } = props.outbound;
  const replySenderReservedConcurrency = props.reservedConcurrency;
  // reply-sender: consumes the outbound queue, calls the WeChat/Weibo APIs (in the VPC when
  // EnableFixedEgress: see functionInEgressVpc in egress.ts).
  const replySender = gatewayFunction({
    id: 'ReplySender',
    binary: 'reply-sender',
    description: 'Reply sender (outbound FIFO queue -> WeChat/Weibo APIs -> DynamoDB)',
    timeoutSecs: REPLY_SENDER_TIMEOUT_SECS,
    // Bounds reply-sender's share of the account's concurrency (and the platform API calls
    // in parallel); the event source's MaximumConcurrency is the same value.
    reservedConcurrency: replySenderReservedConcurrency.valueAsNumber,
    environment: {
      TABLE_NAME: table.tableName,
      OUTBOUND_QUEUE_URL: outboundQueue.queueUrl,
      OUTBOUND_DEAD_LETTER_QUEUE_URL: outboundDlq.queueUrl,
      // The agents' files a media reply may name (uploads/), uploaded to WeChat when sent.
      MEDIA_BUCKET: props.mediaBucket.ref,
      DELIVERY_SECRET_ID: deliveryCredentialsSecretId,
      ACCOUNTS_CACHE_SECS: '60',
      WECHAT_API_BASE_URL: 'https://api.weixin.qq.com',
      WEIBO_API_BASE_URL: 'https://m.api.weibo.com',
      // Public replies (public_comment): comments/reply and comments/create.
      WEIBO_OPEN_API_BASE_URL: 'https://api.weibo.com',
      WECHAT_TOKEN_API: 'stable',
      PLATFORM_TIMEOUT_SECS: '5',
      AWS_OPERATION_TIMEOUT_MS: '4000',
      TOKEN_REFRESH_AHEAD_SECS: '300',
      TOKEN_LEASE_SECS: '20',
      TOKEN_WAIT_MS: '3000',
      // Above the function's timeout: a younger `calling` record may still be in flight.
      DELIVERY_CLAIM_TIMEOUT_SECS: '240',
      DELIVERY_RECORD_TTL_DAYS: '30',
      MESSAGE_TTL_DAYS: props.messageTtlDays.valueAsString,
      RETRY_BASE_SECS: '10',
      RETRY_MAX_SECS: '300',
      // At least 2 below the outbound queue's maxReceiveCount: the redrive stays a backstop.
      REPLY_MAX_ATTEMPTS: String(REPLY_MAX_ATTEMPTS),
      // Reply windows and quotas (the code's defaults; a window of 0 turns the class off, a
      // quota is a number or "unlimited").
      WECHAT_MESSAGE_WINDOW_SECS: '172800',
      WECHAT_MESSAGE_QUOTA: '5',
      WECHAT_EVENT_WINDOW_SECS: '60',
      WECHAT_EVENT_QUOTA: '3',
      WEIBO_MESSAGE_WINDOW_SECS: '172800',
      WEIBO_MESSAGE_QUOTA: 'unlimited',
      WEIBO_EVENT_WINDOW_SECS: '172800',
      WEIBO_EVENT_QUOTA: 'unlimited',
      WEIBO_MENTION_WINDOW_SECS: '172800',
      WEIBO_MENTION_QUOTA: '1',
    },
    statements: [
      // Receive/Delete/GetQueueAttributes: the event source mapping, on the function's
      // behalf. ChangeMessageVisibility: the retry backoff (gateway-aws SqsRetryScheduler).
      new iam.PolicyStatement({
        sid: 'ConsumeOutbound',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:ChangeMessageVisibility',
        ],
        resources: [outboundQueue.queueArn],
      }),
      // Undecodable records and commands refused for good (SqsDeadLetterSink,
      // SqsReplyDeadLetters).
      new iam.PolicyStatement({
        sid: 'DeadLetterReplies',
        actions: ['sqs:SendMessage'],
        resources: [outboundDlq.queueArn],
      }),
      // Delivery records (claim/mark: PutItem, UpdateItem; release: DeleteItem), the token
      // cache and lease (GetItem, UpdateItem), conversations (GetItem) and the delivery
      // transactions (Put/Update items: PutItem, UpdateItem). No index is queried (no Query,
      // no Scan); no ConditionCheck item is used. Partition keys: REPLY#<reply id> (delivery
      // records), TOKEN#<channel>#<account> (token cache), CONV#<conversation key>
      // (conversations and their outbound messages).
      new iam.PolicyStatement({
        sid: 'DeliveriesTokensConversations',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONV#*', 'REPLY#*', 'TOKEN#*'),
      }),
      // The WeChat media ids of the agents' files a reply names (GetItem), and a new one after
      // an upload (PutItem): UPLOAD#wechat#<account>.
      new iam.PolicyStatement({
        sid: 'UploadedMediaIds',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('UPLOAD#*'),
      }),
      // The lookup from a template message's msgid to its reply, written with the msgid
      // (DynamoDbDeliveryLedger::mark_template_sent: a Put item of a TransactWriteItems):
      // TPLMSG#wechat#<account>#<msgid>.
      new iam.PolicyStatement({
        sid: 'TemplateLookups',
        actions: ['dynamodb:PutItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('TPLMSG#*'),
      }),
      // Template messages' daily quota per account, TPLQUOTA#wechat#<account>: the day's item
      // read before a template send (GetItem), its sent count added in the delivered
      // transaction and the 45009 marker (UpdateItem) (gateway-aws dynamodb/template_quotas.rs).
      new iam.PolicyStatement({
        sid: 'TemplateQuota',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('TPLQUOTA#*'),
      }),
      // The file a media reply names, read to upload it to WeChat: uploads/ only.
      new iam.PolicyStatement({
        sid: 'ReadUploads',
        actions: ['s3:GetObject'],
        resources: [`${props.mediaBucket.attrArn}/${UPLOADS_PREFIX}*`],
      }),
      new iam.PolicyStatement({
        sid: 'ReadDeliveryCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [deliveryCredentialsSecretId],
      }),
    ],
  });

  // reply-sender's event source: FIFO -> BatchSize <= 10, no batching window; partial batch
  // failures. (addEventSourceMapping grants nothing: the role above has exactly that.)
  const outboundEventSource = replySender.addEventSourceMapping('Outbound', {
    eventSourceArn: outboundQueue.queueArn,
    batchSize: 10,
    reportBatchItemFailures: true,
    enabled: true,
    // No more pollers than the reserved concurrency (min 2): no throttled batches.
    maxConcurrency: replySenderReservedConcurrency.valueAsNumber,
  });
  logicalId(outboundEventSource, 'ReplySenderFunctionOutbound');
  return replySender;
}

export interface ReplyApiProps {
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.ITable;
  readonly outboundQueue: sqs.IQueue;
  /** The ARN of the reply API clients secret (secrets.ts). */
  readonly apiClientsSecretId: string;
}

/** reply-api and its role (its routes: http-apis.ts). */
export function replyApiFunction(props: ReplyApiProps): lambda.Function {
  const { gatewayFunction, table, outboundQueue, apiClientsSecretId } = props;
  // reply-api: agents and CRM systems (HMAC-signed) -> outbound queue; delivery status.
  const replyApi = gatewayFunction({
    id: 'ReplyApi',
    binary: 'reply-api',
    description: 'Reply API (POST /replies, GET /replies/{reply_id}, /contacts; HMAC-signed) -> outbound FIFO queue',
    timeoutSecs: REPLY_API_TIMEOUT_SECS,
    environment: {
      OUTBOUND_QUEUE_URL: outboundQueue.queueUrl,
      TABLE_NAME: table.tableName,
      API_CLIENTS_SECRET_ID: apiClientsSecretId,
      ACCOUNTS_CACHE_SECS: '60',
      REPLY_API_MAX_CLOCK_SKEW_SECS: '300',
      REPLY_API_ACCEPT_V1: 'true',
      ACCOUNTS_MAX_STALE_SECS: '900',
      MAX_BODY_BYTES: '65536',
    },
    statements: [
      // gateway-aws SqsReplyQueue::enqueue.
      new iam.PolicyStatement({
        sid: 'QueueReplies',
        actions: ['sqs:SendMessage'],
        resources: [outboundQueue.queueArn],
      }),
      // The table, by partition key; item actions only (no Query, no Scan, no index).
      // The conversation must exist (POST, CONV#<conversation key>); the delivery record
      // (GET status, REPLY#<reply id>). Read only.
      new iam.PolicyStatement({
        sid: 'ReadConversationsAndDeliveries',
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONV#*', 'REPLY#*'),
      }),
      // One record per accepted request (APIREQ#...): read it back for a retried request,
      // write it for a new one.
      new iam.PolicyStatement({
        sid: 'IdempotencyRecords',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('APIREQ#*'),
      }),
      // A CRM's names for WeChat customers (CRM#wechat#<account>#<unionid>): set, read back,
      // deleted (gateway-aws DynamoDbCrmContacts).
      new iam.PolicyStatement({
        sid: 'CrmContacts',
        actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchGetItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CRM#*'),
      }),
      new iam.PolicyStatement({
        sid: 'ReadApiClients',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [apiClientsSecretId],
      }),
    ],
  });
  return replyApi;
}
