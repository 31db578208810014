// The CloudWatch dashboard (same widgets as the SAM template's DashboardBody).
import { Aws, CfnParameter, Stack } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { deskApiWidgets } from './desk-api';
import { GatewayFunctions } from './functions';
import { inboxGaugeWidgets } from './inbox-gauges';
import { weiboPollerWidgets } from './weibo-poller';
import { GatewayQueues } from './queues';

export interface DashboardProps {
  readonly queues: GatewayQueues;
  readonly functions: GatewayFunctions;
  /** The webhooks' HTTP API and its stage (StageName). */
  readonly httpApi: apigwv2.IHttpApi;
  /** The reply HTTP API (the desk's routes are on it). */
  readonly replyHttpApi: apigwv2.IHttpApi;
  readonly stageName: CfnParameter;
}

export function gatewayDashboard(scope: Construct, props: DashboardProps): cloudwatch.CfnDashboard {
  const { httpApi, stageName } = props;
  const { queue: inboundQueue, dlq: inboundDlq } = props.queues.inbound;
  const { queue: outboundQueue, dlq: outboundDlq } = props.queues.outbound;
  const { queue: timersQueue, dlq: timersDlq } = props.queues.timers;
  const streamFailuresQueue = props.queues.streamFailures;
  const { queue: mediaQueue, dlq: mediaDlq } = props.queues.media;
  const { queue: webhookQueue, dlq: webhookDlq } = props.queues.webhooks;
  const {
    wechatWebhook,
    weiboWebhook,
    messageRouter,
    replySender,
    replyApi,
    slaMonitor,
    statsAggregator: aggregator,
    deskApi,
    mediaFetcher,
    weiboPoller,
    webhookSender,
  } = props.functions;

  // ---------------------------------------------------------------------------------------
  // Dashboard: contact-centre metrics (EMF, namespace ChannelGateway, emitted by the router,
  // the reply sender and the SLA monitor) plus queue depth, DLQ depth, function errors and
  // latency, the SLA monitor's timers, the table stream's readers.
  // FirstResponseTime: the reply sender emits it for a person's first answer of an episode
  // (rule and system replies never count).
  // Who waits: the SLA monitor's inbox gauges, measured every minute (UnansweredNow,
  // OldestWaitingSeconds per account). Never the router's UnansweredConversations: a +1/-1
  // flow metric, whose sum per period is no level. Then the desk: desk-api's duration and
  // requests, the reply HTTP API's 4xx and 5xx. Then media: media-fetcher's outcomes (EMF,
  // by channel), the media queue, its duration. Last, Weibo listening: weibo-poller's items
  // read, failed and rate-limited polls, its duration (weibo-poller.ts).
  // ---------------------------------------------------------------------------------------
  const dashboard = new cloudwatch.CfnDashboard(scope, 'Dashboard', {
    dashboardName: `${Aws.STACK_NAME}-contact-centre`,
    dashboardBody: Stack.of(scope).toJsonString(
      dashboardBody({
        inboundQueueName: inboundQueue.queueName,
        inboundDlqName: inboundDlq.queueName,
        outboundQueueName: outboundQueue.queueName,
        outboundDlqName: outboundDlq.queueName,
        apiId: httpApi.apiId,
        stageName: stageName.valueAsString,
        functions: [
          ['wechat-webhook', wechatWebhook.functionName, true],
          ['weibo-webhook', weiboWebhook.functionName, true],
          ['message-router', messageRouter.functionName, false],
          ['reply-sender', replySender.functionName, false],
          ['reply-api', replyApi.functionName, false],
          ['sla-monitor', slaMonitor.functionName, false],
          ['stats-aggregator', aggregator.functionName, false],
          ['desk-api', deskApi.functionName, false],
          ['media-fetcher', mediaFetcher.functionName, false],
          ['weibo-poller', weiboPoller.functionName, false],
          ['webhook-sender', webhookSender.functionName, false],
        ],
        replyApiName: replyApi.functionName,
        replySenderName: replySender.functionName,
        timersQueueName: timersQueue.queueName,
        timersDlqName: timersDlq.queueName,
        streamFailuresQueueName: streamFailuresQueue.queueName,
        slaMonitorName: slaMonitor.functionName,
        statsAggregatorName: aggregator.functionName,
        deskApiName: deskApi.functionName,
        replyApiId: props.replyHttpApi.apiId,
        mediaQueueName: mediaQueue.queueName,
        mediaDlqName: mediaDlq.queueName,
        webhookDlqName: webhookDlq.queueName,
        webhookQueueName: webhookQueue.queueName,
        webhookSenderName: webhookSender.functionName,
        mediaFetcherName: mediaFetcher.functionName,
        weiboPollerName: weiboPoller.functionName,
      }),
    ),
  });
  return dashboard;
}

interface DashboardRefs {
  readonly inboundQueueName: string;
  readonly inboundDlqName: string;
  readonly outboundQueueName: string;
  readonly outboundDlqName: string;
  readonly apiId: string;
  readonly stageName: string;
  /** [binary, function name, is a webhook]. */
  readonly functions: Array<[string, string, boolean]>;
  readonly replyApiName: string;
  readonly replySenderName: string;
  readonly timersQueueName: string;
  readonly timersDlqName: string;
  readonly streamFailuresQueueName: string;
  readonly slaMonitorName: string;
  readonly statsAggregatorName: string;
  readonly deskApiName: string;
  readonly replyApiId: string;
  readonly mediaQueueName: string;
  readonly mediaDlqName: string;
  readonly webhookDlqName: string;
  readonly webhookQueueName: string;
  readonly webhookSenderName: string;
  readonly mediaFetcherName: string;
  readonly weiboPollerName: string;
}

/** The dashboard body (same widgets as the SAM template's DashboardBody). */
function dashboardBody(refs: DashboardRefs): Record<string, unknown> {
  const region = Aws.REGION;
  const search = (id: string, dims: string, metric: string, stat: string) => [
    { expression: `SEARCH('{ChannelGateway,${dims}} MetricName="${metric}"', '${stat}', 300)`, id, label: '' },
  ];
  /** An EMF widget: one SEARCH line per [id, dimensions, metric]. */
  const emfLines = (
    x: number,
    y: number,
    width: number,
    title: string,
    stat: string,
    lines: Array<[string, string, string]>,
    stacked = false,
  ) => ({
    type: 'metric',
    x,
    y,
    width,
    height: 6,
    properties: {
      title,
      region,
      view: 'timeSeries',
      ...(stacked ? { stacked: true } : {}),
      period: 300,
      metrics: lines.map(([id, dims, metric]) => search(id, dims, metric, stat)),
    },
  });
  const emf = (
    x: number,
    y: number,
    width: number,
    title: string,
    id: string,
    dims: string,
    metric: string,
    stat: string,
    stacked = false,
  ) => emfLines(x, y, width, title, stat, [[id, dims, metric]], stacked);
  const queueWidget = (x: number, y: number, title: string, queueName: string) => ({
    type: 'metric',
    x,
    y,
    width: 8,
    height: 6,
    properties: {
      title,
      region,
      view: 'timeSeries',
      period: 60,
      metrics: [
        ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', queueName, { stat: 'Maximum', label: 'visible' }],
        ['AWS/SQS', 'ApproximateNumberOfMessagesNotVisible', 'QueueName', queueName, { stat: 'Maximum', label: 'in flight' }],
        ['AWS/SQS', 'ApproximateAgeOfOldestMessage', 'QueueName', queueName, { stat: 'Maximum', label: 'age of oldest (s)', yAxis: 'right' }],
      ],
    },
  });
  const lambdaLines = (metric: string, stat: string, only: (isWebhook: boolean) => boolean, what: string) =>
    refs.functions
      .filter(([, , isWebhook]) => only(isWebhook))
      .map(([binary, name]) => ['AWS/Lambda', metric, 'FunctionName', name, { stat, label: `${binary} ${what}` }]);
  return {
    start: '-PT24H',
    periodOverride: 'inherit',
    widgets: [
      {
        type: 'text',
        x: 0,
        y: 0,
        width: 24,
        height: 2,
        properties: {
          markdown: `## Channel gateway (${Aws.STACK_NAME})\nContact-centre metrics from the router, the reply sender and the SLA monitor (namespace ChannelGateway) and the health of the webhooks, the reply API, the queues and the consumers.`,
        },
      },
      emf(0, 2, 12, 'Inbound messages by channel', 'inbound', 'Channel', 'InboundMessages', 'Sum', true),
      emf(12, 2, 12, 'Inbound messages by account', 'byaccount', 'Channel,Account', 'InboundMessages', 'Sum', true),
      emf(0, 8, 8, 'First response time p90 (ms)', 'frt', 'Channel', 'FirstResponseTime', 'p90'),
      {
        type: 'metric',
        x: 8,
        y: 8,
        width: 8,
        height: 6,
        properties: {
          title: 'Accounts problems, uncertain deliveries, events not published',
          region,
          view: 'timeSeries',
          period: 300,
          metrics: [
            ['ChannelGateway', 'AccountsRefreshFailed', { stat: 'Sum', label: 'accounts refresh failed' }],
            ['ChannelGateway', 'AccountsUnavailable', { stat: 'Sum', label: 'answered 503: no accounts' }],
            ['ChannelGateway', 'DeliveryUncertain', { stat: 'Sum', label: 'delivery uncertain' }],
            ['ChannelGateway', 'EventsPublishFailed', { stat: 'Sum', label: 'events publish failed' }],
          ],
          annotations: { horizontal: [{ value: 1, label: 'alarm from' }] },
        },
      },
      emf(16, 8, 8, 'Escalations', 'escalations', 'Channel', 'Escalations', 'Sum'),
      emf(0, 14, 8, 'Auto-replies', 'autoreplies', 'Channel', 'AutoReplies', 'Sum'),
      emf(8, 14, 8, 'Rule hits', 'rulehits', 'Rule', 'RuleHits', 'Sum'),
      emf(16, 14, 8, 'Duplicate deliveries dropped', 'duplicates', 'Channel', 'DuplicateMessages', 'Sum'),
      // reply-sender (functions/reply-sender/src/handler.rs `report`/`emit`).
      emf(0, 20, 8, 'Replies delivered by channel', 'delivered', 'Channel', 'RepliesDelivered', 'Sum', true),
      emf(8, 20, 8, 'Replies delivered by origin (rule, agent)', 'byorigin', 'Channel,Origin', 'RepliesDelivered', 'Sum', true),
      emf(
        16,
        20,
        8,
        'Reply delivery latency p90 (ms, queued to delivered)',
        'replylatency',
        'Channel',
        'ReplyDeliveryLatencyMs',
        'p90',
      ),
      emf(0, 26, 8, 'Undeliverable replies by reason', 'undeliverable', 'Channel,Reason', 'RepliesUndeliverable', 'Sum', true),
      emf(8, 26, 8, 'Replies dead-lettered by error code', 'deadlettered', 'Channel,Code', 'RepliesDeadLettered', 'Sum', true),
      emfLines(16, 26, 8, 'Reply retries, duplicates, undecodable commands', 'Sum', [
        ['retries', 'Channel', 'ReplyRetries'],
        ['replyduplicates', 'Channel', 'ReplyDuplicates'],
        ['undecodable', 'Channel', 'ReplyCommandsUndecodable'],
        ['templatequotaheld', 'Channel', 'TemplateQuotaHeld'],
      ]),
      queueWidget(0, 32, 'Inbound queue depth and age', refs.inboundQueueName),
      queueWidget(8, 32, 'Outbound queue depth and age', refs.outboundQueueName),
      {
        type: 'metric',
        x: 16,
        y: 32,
        width: 8,
        height: 6,
        properties: {
          title: 'Dead-letter queue depth',
          region,
          view: 'timeSeries',
          period: 60,
          metrics: [
            ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', refs.inboundDlqName, { stat: 'Maximum', label: 'inbound DLQ messages' }],
            ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', refs.outboundDlqName, { stat: 'Maximum', label: 'outbound DLQ messages' }],
            ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', refs.mediaDlqName, { stat: 'Maximum', label: 'media DLQ messages' }],
            ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', refs.webhookDlqName, { stat: 'Maximum', label: 'webhook DLQ messages' }],
          ],
          annotations: { horizontal: [{ value: 0, label: 'alarm above' }] },
        },
      },
      {
        type: 'metric',
        x: 0,
        y: 38,
        width: 12,
        height: 6,
        properties: {
          title: 'Function errors and throttles',
          region,
          view: 'timeSeries',
          period: 60,
          metrics: [
            ...lambdaLines('Errors', 'Sum', () => true, 'errors'),
            ...lambdaLines('Throttles', 'Sum', () => true, 'throttles'),
          ],
        },
      },
      {
        type: 'metric',
        x: 12,
        y: 38,
        width: 12,
        height: 6,
        properties: {
          title: 'Reply API and reply sender duration p99 (ms)',
          region,
          view: 'timeSeries',
          period: 60,
          metrics: [
            ['AWS/Lambda', 'Duration', 'FunctionName', refs.replyApiName, { stat: 'p99', label: 'reply-api duration' }],
            ['AWS/Lambda', 'Duration', 'FunctionName', refs.replySenderName, { stat: 'p99', label: 'reply-sender duration', yAxis: 'right' }],
          ],
          annotations: { horizontal: [{ value: 3000, label: 'reply-api alarm above' }] },
        },
      },
      {
        type: 'metric',
        x: 0,
        y: 44,
        width: 24,
        height: 6,
        properties: {
          title: 'Webhook latency p99 (ms)',
          region,
          view: 'timeSeries',
          period: 60,
          metrics: [
            ...lambdaLines('Duration', 'p99', (isWebhook) => isWebhook, 'duration'),
            ['AWS/ApiGateway', 'Latency', 'ApiId', refs.apiId, 'Stage', refs.stageName, { stat: 'p99', label: 'webhook HTTP API latency' }],
          ],
          annotations: {
            horizontal: [
              { value: 3000, label: 'alarm above' },
              { value: 5000, label: 'WeChat gives up' },
            ],
          },
        },
      },
      // sla-monitor (functions/sla-monitor/src/handler.rs `report`), its timers and its stream.
      emf(0, 50, 8, 'Service-level breaches by account', 'breaches', 'Channel,Account', 'SlaBreaches', 'Sum', true),
      emf(8, 50, 8, 'Conversations resolved automatically', 'autoresolved', 'Channel', 'AutoResolved', 'Sum'),
      {
        type: 'metric',
        x: 16,
        y: 50,
        width: 8,
        height: 6,
        properties: {
          title: 'SLA timers and table stream readers',
          region,
          view: 'timeSeries',
          period: 60,
          metrics: [
            ['AWS/SQS', 'ApproximateNumberOfMessagesDelayed', 'QueueName', refs.timersQueueName, { stat: 'Maximum', label: 'timers pending' }],
            ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', refs.timersQueueName, { stat: 'Maximum', label: 'timers due' }],
            ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', refs.timersDlqName, { stat: 'Maximum', label: 'timers DLQ messages' }],
            [
              'AWS/SQS',
              'ApproximateNumberOfMessagesVisible',
              'QueueName',
              refs.streamFailuresQueueName,
              { stat: 'Maximum', label: 'stream batches given up' },
            ],
            ['AWS/Lambda', 'IteratorAge', 'FunctionName', refs.slaMonitorName, { stat: 'Maximum', label: 'sla-monitor iterator age (ms)', yAxis: 'right' }],
            [
              'AWS/Lambda',
              'IteratorAge',
              'FunctionName',
              refs.statsAggregatorName,
              { stat: 'Maximum', label: 'stats-aggregator iterator age (ms)', yAxis: 'right' },
            ],
          ],
        },
      },
      // Who waits now, per account: sla-monitor's inbox gauges (inbox-gauges.ts).
      ...inboxGaugeWidgets(region, 56),
      // The desk: desk-api's duration and requests, the reply HTTP API's 4xx and 5xx (desk-api.ts).
      ...deskApiWidgets(region, 62, refs.deskApiName, refs.replyApiId),
      // media-fetcher (functions/media-fetcher: its EMF metrics by channel), its queue, its duration.
      emfLines(0, 68, 8, 'Media and profiles fetched, by outcome', 'Sum', [
        ['mediastored', 'Channel', 'MediaStored'],
        ['mediaunavailable', 'Channel', 'MediaUnavailable'],
        ['mediatoolarge', 'Channel', 'MediaTooLarge'],
        ['mediaretried', 'Channel', 'MediaRetried'],
        ['mediadeadlettered', 'Channel', 'MediaDeadLettered'],
        ['profilesstored', 'Channel', 'ProfilesStored'],
        ['profilesretried', 'Channel', 'ProfilesRetried'],
      ]),
      queueWidget(8, 68, 'Media queue depth and age', refs.mediaQueueName),
      {
        type: 'metric',
        x: 16,
        y: 68,
        width: 8,
        height: 6,
        properties: {
          title: 'Media fetcher duration p99 (ms)',
          region,
          view: 'timeSeries',
          period: 60,
          metrics: [
            ['AWS/Lambda', 'Duration', 'FunctionName', refs.mediaFetcherName, { stat: 'p99', label: 'media-fetcher duration' }],
            ['AWS/Lambda', 'Invocations', 'FunctionName', refs.mediaFetcherName, { stat: 'Sum', label: 'media-fetcher batches', yAxis: 'right' }],
          ],
        },
      },
      // Weibo listening: weibo-poller's EMF metrics and its duration (weibo-poller.ts).
      ...weiboPollerWidgets(region, 74, refs.weiboPollerName),
      // Events out: webhook-sender's deliveries (EMF, by client), its queue, its duration
      // (webhook-sender.ts).
      emfLines(0, 80, 8, 'Webhook deliveries, by client and outcome', 'Sum', [
        ['webhookdelivered', 'Client', 'WebhookDelivered'],
        ['webhookretried', 'Client', 'WebhookRetried'],
        ['webhookdeadlettered', 'Client', 'WebhookDeadLettered'],
      ]),
      queueWidget(8, 80, 'Webhook queue depth and age', refs.webhookQueueName),
      {
        type: 'metric',
        x: 16,
        y: 80,
        width: 8,
        height: 6,
        properties: {
          title: 'Webhook sender duration p99 (ms)',
          region,
          view: 'timeSeries',
          period: 60,
          metrics: [
            ['AWS/Lambda', 'Duration', 'FunctionName', refs.webhookSenderName, { stat: 'p99', label: 'webhook-sender duration' }],
            ['AWS/Lambda', 'Invocations', 'FunctionName', refs.webhookSenderName, { stat: 'Sum', label: 'webhook-sender batches', yAxis: 'right' }],
          ],
        },
      },
    ],
  };
}
