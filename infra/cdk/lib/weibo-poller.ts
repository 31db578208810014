// weibo-poller: Weibo listening (docs/listening.md). Every minute, the comments on each
// listening account's posts and the comments and posts that @mention it (comments/to_me,
// comments/mentions, statuses/mentions, or their commercial /biz twins), read from its since_id
// cursors (POLL#weibo#<account>) and queued on the inbound queue like the webhooks' messages.
// In the fixed-egress VPC when EnableFixedEgress (egress.ts). Same logical ids as the SAM
// template (its Schedule event Poll): WeiboPollerFunctionPoll, WeiboPollerFunctionPollPermission.
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { GatewayFunctionFactory, leadingKeys, logicalId } from './common';
import { WEIBO_POLLER_TIMEOUT_SECS, WEIBO_POLL_PERIOD_MINUTES } from './limits';

export interface WeiboPollerProps {
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.ITable;
  /** The inbound FIFO queue the webhooks write. */
  readonly inboundQueue: sqs.IQueue;
  /** The ARN of the delivery credentials secret (secrets.ts): the accounts' access tokens. */
  readonly deliveryCredentialsSecretId: string;
}

/** weibo-poller, its role and its schedule. */
export function weiboPollerFunction(scope: Construct, props: WeiboPollerProps): lambda.Function {
  const { gatewayFunction, table, inboundQueue, deliveryCredentialsSecretId } = props;
  const fn = gatewayFunction({
    id: 'WeiboPoller',
    binary: 'weibo-poller',
    description: 'Weibo poller (schedule -> Weibo comments and mentions timelines -> inbound FIFO queue)',
    timeoutSecs: WEIBO_POLLER_TIMEOUT_SECS,
    // One run at a time. Overlapping runs would be safe (the cursors are written
    // conditionally, the inbound queue drops a repeated dedupe id) but pointless: they would
    // read the same pages twice and spend the accounts' API quota. A run that outlasts its
    // minute makes the next invocation a throttle (alarmed), not a second reader.
    reservedConcurrency: 1,
    environment: {
      TABLE_NAME: table.tableName,
      QUEUE_URL: inboundQueue.queueUrl,
      DELIVERY_SECRET_ID: deliveryCredentialsSecretId,
      ACCOUNTS_CACHE_SECS: '60',
      WEIBO_OPEN_API_BASE_URL: 'https://api.weibo.com',
      WEIBO_BIZ_API_BASE_URL: 'https://c.api.weibo.com',
      PLATFORM_TIMEOUT_SECS: '5',
      // Pages of one timeline per run (a burst beyond is read on the next runs).
      POLL_MAX_PAGES: '5',
    },
    statements: [
      // The items read, as the webhooks queue theirs (SendMessageBatch, authorized by
      // sqs:SendMessage; message group = conversation, dedupe id = the message's).
      new iam.PolicyStatement({
        sid: 'PublishInbound',
        actions: ['sqs:SendMessage'],
        resources: [inboundQueue.queueArn],
      }),
      // Its since_id cursors and last-poll times, PK POLL#weibo#<account>, SK the timeline
      // (GetItem, PutItem, conditional UpdateItem). Item actions only (no Query, no Scan, no
      // index), no other partition.
      new iam.PolicyStatement({
        sid: 'PollCursors',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('POLL#weibo#*'),
      }),
      // The Weibo accounts' access tokens and `listening` settings (DELIVERY_SECRET_ID).
      new iam.PolicyStatement({
        sid: 'ReadDeliveryCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [deliveryCredentialsSecretId],
      }),
    ],
  });

  // Every minute; each account is polled when its listening.every_secs has passed. The rule
  // and EventBridge's permission to invoke, as SAM's Schedule event makes them.
  const rule = new events.CfnRule(scope, 'WeiboPollerFunctionPoll', {
    description: 'weibo-poller (Weibo comments and mentions of the listening accounts)',
    scheduleExpression: `rate(${WEIBO_POLL_PERIOD_MINUTES} minute)`,
    state: 'ENABLED',
    targets: [{ arn: fn.functionArn, id: 'WeiboPollerFunctionPollLambdaTarget' }],
  });
  logicalId(rule, 'WeiboPollerFunctionPoll');
  const permission = new lambda.CfnPermission(scope, 'WeiboPollerFunctionPollPermission', {
    action: 'lambda:InvokeFunction',
    functionName: fn.functionName,
    principal: 'events.amazonaws.com',
    sourceArn: rule.attrArn,
  });
  logicalId(permission, 'WeiboPollerFunctionPollPermission');
  return fn;
}

/** The dashboard's row of Weibo listening (same widgets as the SAM template's). */
export function weiboPollerWidgets(region: string, y: number, weiboPollerName: string): Array<Record<string, unknown>> {
  const search = (id: string, dims: string, metric: string) => [
    { expression: `SEARCH('{ChannelGateway,${dims}} MetricName="${metric}"', 'Sum', 300)`, id, label: '' },
  ];
  return [
    {
      type: 'metric',
      x: 0,
      y,
      width: 8,
      height: 6,
      properties: {
        title: 'Weibo items read, by account and timeline',
        region,
        view: 'timeSeries',
        stacked: true,
        period: 300,
        metrics: [search('polleditems', 'Channel,Account,Timeline', 'PolledItems')],
      },
    },
    {
      type: 'metric',
      x: 8,
      y,
      width: 8,
      height: 6,
      properties: {
        title: 'Weibo polls failed and rate-limited, by account',
        region,
        view: 'timeSeries',
        period: 300,
        metrics: [search('pollfailures', 'Account', 'PollFailures'), search('pollratelimited', 'Account', 'PollRateLimited')],
      },
    },
    {
      type: 'metric',
      x: 16,
      y,
      width: 8,
      height: 6,
      properties: {
        title: 'Weibo poller duration p99 (ms)',
        region,
        view: 'timeSeries',
        period: 60,
        metrics: [
          ['AWS/Lambda', 'Duration', 'FunctionName', weiboPollerName, { stat: 'p99', label: 'weibo-poller duration' }],
          ['ChannelGateway', 'PollFailures', { stat: 'Sum', label: 'polls failed, all accounts (alarmed 5 minutes running)', yAxis: 'right' }],
        ],
        annotations: { horizontal: [{ value: WEIBO_POLLER_TIMEOUT_SECS * 1000, label: 'timeout' }] },
      },
    },
  ];
}
