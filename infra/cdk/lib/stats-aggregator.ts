// stats-aggregator: the table stream's second reader (sla-monitor is the first). Each
// conversation change and each inbound message stored is added once to its account's daily
// statistics (functions/stats-aggregator; gateway-aws dynamodb/stats.rs), and each change's
// events are published once on the deployment's event bus (docs/events.md; gateway-aws
// eventbridge.rs, dynamodb/published_changes.rs): the stream's second reader rather than a
// third (DynamoDB throttles more than two readers per shard). Same logical ids as
// the SAM template: StatsAggregatorFunction, StatsAggregatorRole, StatsAggregatorLogGroup,
// StatsAggregatorFunctionTableStream.
import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { GatewayFunctionFactory, leadingKeys, logicalId } from './common';

/** stats-aggregator's timeout (as sla-monitor's). */
export const STATS_AGGREGATOR_TIMEOUT_SECS = 30;

export interface StatsAggregatorProps {
  /** The stack's function factory (log group, role with these statements, function). */
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.Table;
  /** The on-failure destination of the stream's event sources. */
  readonly streamFailuresQueue: sqs.IQueue;
  /** The deployment's event bus (event-bus.ts). */
  readonly eventBus: events.CfnEventBus;
}

/** The function, its least-privilege role and its filtered event source on the table's stream. */
export function statsAggregator(props: StatsAggregatorProps): lambda.Function {
  const { table, streamFailuresQueue, eventBus } = props;
  const fn = props.gatewayFunction({
    id: 'StatsAggregator',
    binary: 'stats-aggregator',
    description:
      "Stats aggregator (table stream -> daily statistics per account and team, and each change's events on the event bus; the stream's second reader, so no third one)",
    timeoutSecs: STATS_AGGREGATOR_TIMEOUT_SECS,
    environment: {
      TABLE_NAME: table.tableName,
      EVENT_BUS_NAME: eventBus.ref,
      RULES_CACHE_SECS: '30',
    },
    statements: [
      // The stream event source reads the table's stream with this role, on this table's
      // stream only (as sla-monitor's).
      new iam.PolicyStatement({
        sid: 'ReadTableStream',
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'],
        resources: [table.tableStreamArn!],
      }),
      // Lambda sends the stream event source's on-failure records with this role.
      new iam.PolicyStatement({
        sid: 'StreamFailures',
        actions: ['sqs:SendMessage'],
        resources: [streamFailuresQueue.queueArn],
      }),
      // The table, by partition key; item actions only (no Query, no Scan, no index), no
      // conversation. gateway-aws DynamoDbRulesStore::get: the rules document (the accounts'
      // time zones), PK=CONFIG, SK=RULES.
      new iam.PolicyStatement({
        sid: 'ReadRules',
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONFIG'),
      }),
      // gateway-aws DynamoDbStats::apply, one TransactWriteItems per change (authorized per
      // item): the Put of its marker PK=STREAM#<event id> (attribute_not_exists; expires_at,
      // the table's TTL); and DynamoDbPublishedChanges::mark_published, the marker of a
      // change's events (PK=STREAM#<event id>, SK=EVENTS, expires_at) ...
      new iam.PolicyStatement({
        sid: 'CountOnce',
        actions: ['dynamodb:PutItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('STREAM#*'),
      }),
      // ... and an Update (ADD) of each daily record it touches, PK=STATS#<channel>:<account>
      // (no TTL: kept after the messages expire).
      new iam.PolicyStatement({
        sid: 'AddToDailyStatistics',
        actions: ['dynamodb:UpdateItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('STATS#*'),
      }),
      // DynamoDbPublishedChanges::is_published: whether a change's events were published
      // (GetItem PK=STREAM#<event id>, SK=EVENTS, consistent read).
      new iam.PolicyStatement({
        sid: 'ReadEventMarkers',
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('STREAM#*'),
      }),
      // gateway-aws EventBridgePublisher: PutEvents on the deployment's bus only.
      new iam.PolicyStatement({
        sid: 'PublishEvents',
        actions: ['events:PutEvents'],
        resources: [eventBus.attrArn],
      }),
    ],
  });
  // The first record to retry ends the batch (its sequence number is the one failure
  // reported); a function error halves the batch; retries and record age bounded; what is
  // given up is recorded on StreamFailuresQueue (alarmed), given as is: the role above may
  // send to it. (addEventSourceMapping grants nothing.)
  const conversationKeys = { PK: { S: lambda.FilterRule.beginsWith('CONV#') } };
  const tableStream = fn.addEventSourceMapping('TableStream', {
    eventSourceArn: table.tableStreamArn!,
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    batchSize: 10,
    reportBatchItemFailures: true,
    bisectBatchOnError: true,
    retryAttempts: 10,
    maxRecordAge: Duration.hours(6),
    onFailure: { bind: () => ({ destination: streamFailuresQueue.queueArn }) },
    // What it counts or publishes, nothing else: conversation items (PK CONV#..., SK META),
    // inbound messages inserted (SK MSG#..., direction in) and delivery records in a final
    // state (PK REPLY#..., SK DELIVERY: reply.delivered, reply.undeliverable). Outbound
    // messages, tags, tokens, its own records do not invoke it.
    filters: [
      lambda.FilterCriteria.filter({
        dynamodb: { Keys: { ...conversationKeys, SK: { S: lambda.FilterRule.isEqual('META') } } },
      }),
      lambda.FilterCriteria.filter({
        eventName: lambda.FilterRule.isEqual('INSERT'),
        dynamodb: {
          Keys: { ...conversationKeys, SK: { S: lambda.FilterRule.beginsWith('MSG#') } },
          NewImage: { direction: { S: lambda.FilterRule.isEqual('in') } },
        },
      }),
      lambda.FilterCriteria.filter({
        dynamodb: {
          Keys: { PK: { S: lambda.FilterRule.beginsWith('REPLY#') }, SK: { S: lambda.FilterRule.isEqual('DELIVERY') } },
          NewImage: { state: { S: lambda.FilterRule.or('delivered', 'undeliverable', 'failed') } },
        },
      }),
    ],
    enabled: true,
  });
  logicalId(tableStream, 'StatsAggregatorFunctionTableStream');
  return fn;
}
