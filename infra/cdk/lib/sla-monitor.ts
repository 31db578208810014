// sla-monitor: service levels. It reads the table's stream (conversation changes: timers,
// alerts), consumes the timers queue (timers that come up: breaches, automatic resolutions,
// chained timers), measures the inboxes every minute (inbox-gauges.ts) and publishes the
// contact centre's alerts on AlertsTopic.
import { CfnCondition, CfnParameter, Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { GatewayFunctionFactory, leadingKeys, logicalId } from './common';
import { inboxGaugeSchedule, inboxGaugeStatements } from './inbox-gauges';
import { SLA_MONITOR_TIMEOUT_SECS } from './limits';

/** The alerts topic and its optional e-mail subscription (AlertsEmail, under HasAlertsEmail). */
export function slaAlertsTopic(
  scope: Construct,
  alertsEmail: CfnParameter,
  hasAlertsEmail: CfnCondition,
): sns.Topic {
  // Escalations and breaches for the people on duty (not the infrastructure alarms:
  // AlarmTopic). The message is the alert as JSON, the subject one line, message attributes
  // kind (escalation, breach), channel and account for subscription filter policies.
  const alertsTopic = new sns.Topic(scope, 'AlertsTopic', {
    displayName: 'Channel gateway alerts',
    enforceSSL: true,
  });
  logicalId(alertsTopic, 'AlertsTopic');
  const alertsEmailSubscription = new sns.CfnSubscription(scope, 'AlertsEmailSubscription', {
    topicArn: alertsTopic.topicArn,
    protocol: 'email',
    endpoint: alertsEmail.valueAsString,
  });
  alertsEmailSubscription.cfnOptions.condition = hasAlertsEmail;
  return alertsTopic;
}

export interface SlaMonitorProps {
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.Table;
  readonly timersQueue: sqs.IQueue;
  /** The on-failure destination of the stream's event sources. */
  readonly streamFailuresQueue: sqs.IQueue;
  readonly alertsTopic: sns.ITopic;
}

/** sla-monitor, its role, its event sources (table stream, timers queue) and its schedule. */
export function slaMonitorFunction(scope: Construct, props: SlaMonitorProps): lambda.Function {
  const { gatewayFunction, table, timersQueue, streamFailuresQueue, alertsTopic } = props;
  // sla-monitor: the table's stream (conversation changes: timers, alerts) and the timers
  // queue (timers that come up: breaches, automatic resolutions, chained timers). No secret.
  const slaMonitor = gatewayFunction({
    id: 'SlaMonitor',
    binary: 'sla-monitor',
    description: 'SLA monitor (table stream, timers queue, schedule -> timers, breaches, alerts topic, inbox gauges)',
    timeoutSecs: SLA_MONITOR_TIMEOUT_SECS,
    environment: {
      TABLE_NAME: table.tableName,
      TIMERS_QUEUE_URL: timersQueue.queueUrl,
      ALERTS_TOPIC_ARN: alertsTopic.topicArn,
      // A reply delivered just before a due time and still being recorded is no breach.
      SLA_BREACH_GRACE_SECS: '10',
      RULES_CACHE_SECS: '30',
    },
    statements: [
      // The stream event source reads the table's stream with this role (the actions
      // Lambda's documentation lists), on this table's stream only. IAM gives ListStreams no
      // resource type: here it lists no other table's streams.
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
      // The timers queue's event source, on the function's behalf (a failed timer comes back
      // after the visibility timeout: no ChangeMessageVisibility).
      new iam.PolicyStatement({
        sid: 'ConsumeTimers',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        resources: [timersQueue.queueArn],
      }),
      // gateway-aws SqsTimers::schedule (new timers, chained timers).
      new iam.PolicyStatement({
        sid: 'ScheduleTimers',
        actions: ['sqs:SendMessage'],
        resources: [timersQueue.queueArn],
      }),
      // gateway-aws SnsAlerts::publish (escalations, breaches).
      new iam.PolicyStatement({
        sid: 'PublishAlerts',
        actions: ['sns:Publish'],
        resources: [alertsTopic.topicArn],
      }),
      // The table, by partition key; Query only for the inbox gauges (inbox-gauges.ts); no
      // Scan. gateway-aws DynamoDbConversationStore: load (GetItem), record_breach (conditional
      // UpdateItem), replace (TransactWriteItems, authorized per item: the conversation's Put
      // -> PutItem, its TAG# items' Puts and Deletes -> PutItem, DeleteItem). Every item is
      // in a conversation's partition.
      new iam.PolicyStatement({
        sid: 'Conversations',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONV#*'),
      }),
      // gateway-aws DynamoDbRulesStore::get: the rules document, PK=CONFIG, SK=RULES
      // (lifecycle.auto_resolve_pending_after_secs).
      new iam.PolicyStatement({
        sid: 'ReadRules',
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONFIG'),
      }),
      ...inboxGaugeStatements(table),
    ],
  });
  // Conversation changes: a new due time schedules a timer; an escalation that begins and a
  // breach once recorded are published to AlertsTopic. A failed record is retried with the
  // records after it on its shard; a function error halves the batch. Retries and record age
  // are bounded (the defaults retry until the record leaves the stream after 24 hours,
  // holding its shard); what is given up is recorded on StreamFailuresQueue (alarmed). The
  // destination is given as is: the role above already may send to it (CDK's SqsDlq would
  // also grant GetQueueAttributes and GetQueueUrl). (addEventSourceMapping grants nothing.)
  const tableStreamEventSource = slaMonitor.addEventSourceMapping('TableStream', {
    eventSourceArn: table.tableStreamArn!,
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    batchSize: 10,
    reportBatchItemFailures: true,
    bisectBatchOnError: true,
    retryAttempts: 10,
    maxRecordAge: Duration.hours(6),
    onFailure: { bind: () => ({ destination: streamFailuresQueue.queueArn }) },
    // Conversation items only (PK CONV#..., SK META): messages, tags, delivery records,
    // tokens do not invoke it.
    filters: [
      lambda.FilterCriteria.filter({
        dynamodb: { Keys: { PK: { S: lambda.FilterRule.beginsWith('CONV#') }, SK: { S: lambda.FilterRule.isEqual('META') } } },
      }),
    ],
    enabled: true,
  });
  logicalId(tableStreamEventSource, 'SlaMonitorFunctionTableStream');
  // Timers that come up: a breach recorded once, an automatic resolution, a timer chained on.
  const timersEventSource = slaMonitor.addEventSourceMapping('Timers', {
    eventSourceArn: timersQueue.queueArn,
    batchSize: 10,
    reportBatchItemFailures: true,
    enabled: true,
  });
  logicalId(timersEventSource, 'SlaMonitorFunctionTimers');
  inboxGaugeSchedule(scope, slaMonitor);
  return slaMonitor;
}
