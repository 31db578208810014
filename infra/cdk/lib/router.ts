// message-router: consumes the inbound queue, applies the rules, stores conversations and
// messages in the table, queues the rules' auto-replies on the outbound queue and the fetches
// of a message's media on the media queue.
import { CfnParameter } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { GatewayFunctionFactory, leadingKeys, logicalId } from './common';
import { ROUTER_TIMEOUT_SECS } from './limits';
import { QueueWithDlq } from './queues';

export interface MessageRouterProps {
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.ITable;
  readonly inbound: QueueWithDlq;
  readonly outboundQueue: sqs.IQueue;
  /** media-fetcher's queue. */
  readonly mediaQueue: sqs.IQueue;
  /** MessageRouterReservedConcurrency. */
  readonly reservedConcurrency: CfnParameter;
  /** MessageTtlDays. */
  readonly messageTtlDays: CfnParameter;
}

/** The router, its role and its event source on the inbound queue. */
export function messageRouterFunction(props: MessageRouterProps): lambda.Function {
  const { gatewayFunction, table, outboundQueue, mediaQueue } = props;
  const { queue: inboundQueue, dlq: inboundDlq } = props.inbound;
  const messageRouterReservedConcurrency = props.reservedConcurrency;
  const messageRouter = gatewayFunction({
    id: 'MessageRouter',
    binary: 'message-router',
    description: 'Router (inbound FIFO queue -> rules -> DynamoDB, auto-replies -> outbound FIFO queue, media -> media queue)',
    timeoutSecs: ROUTER_TIMEOUT_SECS,
    // Bounds the router's share of the account's concurrency (and its writes to the table);
    // the event source's MaximumConcurrency is the same value.
    reservedConcurrency: messageRouterReservedConcurrency.valueAsNumber,
    environment: {
      TABLE_NAME: table.tableName,
      DEAD_LETTER_QUEUE_URL: inboundDlq.queueUrl,
      OUTBOUND_QUEUE_URL: outboundQueue.queueUrl,
      MEDIA_QUEUE_URL: mediaQueue.queueUrl,
      MESSAGE_TTL_DAYS: props.messageTtlDays.valueAsString,
      RULES_CACHE_SECS: '30',
      // A cached customer profile this old (7 days) is fetched again on the customer's next
      // message (docs/profiles.md).
      PROFILE_REFRESH_SECS: '604800',
    },
    statements: [
      // Used by the event source mapping on the router's behalf.
      new iam.PolicyStatement({
        sid: 'ConsumeInbound',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:ChangeMessageVisibility',
        ],
        resources: [inboundQueue.queueArn],
      }),
      new iam.PolicyStatement({
        sid: 'MovePoisonToDlq',
        actions: ['sqs:SendMessage'],
        resources: [inboundDlq.queueArn],
      }),
      // gateway-aws SqsReplyQueue::enqueue.
      new iam.PolicyStatement({
        sid: 'QueueAutoReplies',
        actions: ['sqs:SendMessage'],
        resources: [outboundQueue.queueArn],
      }),
      // gateway-aws SqsMediaQueue: one SendMessageBatch per message with media (authorized by
      // sqs:SendMessage).
      new iam.PolicyStatement({
        sid: 'QueueMediaFetches',
        actions: ['sqs:SendMessage'],
        resources: [mediaQueue.queueArn],
      }),
      // The table, by partition key; no Query (no index is read), no Scan.
      // gateway-aws DynamoDbConversationStore::load (GetItem) and commit_inbound
      // (TransactWriteItems, which has no IAM action of its own: it is authorized per item,
      // here Put items -> PutItem, and the Delete items of tags a conversation lost ->
      // DeleteItem; no Update or ConditionCheck item). Every item it reads or writes is in a
      // conversation's partition, CONV#<conversation key>.
      new iam.PolicyStatement({
        sid: 'Conversations',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONV#*'),
      }),
      // gateway-aws DynamoDbRulesStore::get: the rules document, PK=CONFIG, SK=RULES.
      new iam.PolicyStatement({
        sid: 'ReadRules',
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONFIG'),
      }),
      // WeChat template messages' finish reports (gateway-aws DynamoDbTemplateSends::settle):
      // the lookup from the msgid to the reply (GetItem, TPLMSG#wechat#<account>#<msgid>),
      // the delivery record (GetItem, then an Update item of a TransactWriteItems:
      // UpdateItem, REPLY#<reply id>) and, in the same transaction, the reply's thread item
      // (Update item: UpdateItem, CONV#<conversation key>).
      new iam.PolicyStatement({
        sid: 'TemplateLookups',
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('TPLMSG#*'),
      }),
      new iam.PolicyStatement({
        sid: 'SettleTemplateDeliveries',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('REPLY#*'),
      }),
      new iam.PolicyStatement({
        sid: 'MarkTemplateThreadItems',
        actions: ['dynamodb:UpdateItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONV#*'),
      }),
    ],
  });

  // The router's event source: FIFO -> BatchSize <= 10, no batching window; partial batch
  // failures. (addEventSourceMapping grants nothing: the role above has exactly that.)
  const inboundEventSource = messageRouter.addEventSourceMapping('Inbound', {
    eventSourceArn: inboundQueue.queueArn,
    batchSize: 10,
    reportBatchItemFailures: true,
    enabled: true,
    // No more pollers than the reserved concurrency (min 2): no throttled batches.
    maxConcurrency: messageRouterReservedConcurrency.valueAsNumber,
  });
  logicalId(inboundEventSource, 'MessageRouterFunctionInbound');
  return messageRouter;
}
