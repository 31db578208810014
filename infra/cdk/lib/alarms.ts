// The infrastructure alarms (queues, dead-letter queues, functions, HTTP APIs) and the
// application alarms (metrics the functions emit), all to AlarmTopic. Each function has its
// Errors/Throttles alarms (alarmsFor).
import { CfnCondition, CfnParameter, Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { logicalId } from './common';
import { GatewayFunctions } from './functions';
import { GatewayHttpApis } from './http-apis';
import { GatewayQueues } from './queues';

export interface AlarmsProps {
  /** AlarmEmail, subscribed under `hasAlarmEmail`. */
  readonly alarmEmail: CfnParameter;
  readonly hasAlarmEmail: CfnCondition;
  /** OldestWaitAlarmSeconds (inbox-gauges.ts). */
  readonly oldestWaitAlarmSeconds: CfnParameter;
  readonly queues: GatewayQueues;
  readonly functions: GatewayFunctions;
  readonly apis: GatewayHttpApis;
}

/** The alarm topic (returned) and every alarm. */
export function gatewayAlarms(scope: Construct, props: AlarmsProps): sns.Topic {
  const { alarmEmail, hasAlarmEmail, oldestWaitAlarmSeconds } = props;
  const { queue: inboundQueue, dlq: inboundDlq } = props.queues.inbound;
  const { queue: outboundQueue, dlq: outboundDlq } = props.queues.outbound;
  const { dlq: timersDlq } = props.queues.timers;
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
  const { httpApi, replyHttpApi } = props.apis;

  // ---------------------------------------------------------------------------------------
  // Alarms -> SNS topic (+ optional e-mail subscription).
  // ---------------------------------------------------------------------------------------
  const alarmTopic = new sns.Topic(scope, 'AlarmTopic', {
    displayName: 'Channel gateway alarms',
    enforceSSL: true,
  });
  logicalId(alarmTopic, 'AlarmTopic');
  const emailSubscription = new sns.CfnSubscription(scope, 'AlarmEmailSubscription', {
    topicArn: alarmTopic.topicArn,
    protocol: 'email',
    endpoint: alarmEmail.valueAsString,
  });
  emailSubscription.cfnOptions.condition = hasAlarmEmail;

  const alarmAction = new cwActions.SnsAction(alarmTopic);
  const alarm = (
    id: string,
    description: string,
    metric: cloudwatch.Metric,
    threshold: number,
    evaluationPeriods = 1,
    datapointsToAlarm?: number,
    comparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  ) => {
    const a = new cloudwatch.Alarm(scope, id, {
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods,
      datapointsToAlarm,
      comparisonOperator,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    a.addAlarmAction(alarmAction);
    a.addOkAction(alarmAction);
    logicalId(a, id);
    return a;
  };
  const sqsMetric = (queue: sqs.IQueue, metricName: string) =>
    new cloudwatch.Metric({
      namespace: 'AWS/SQS',
      metricName,
      dimensionsMap: { QueueName: queue.queueName },
      statistic: 'Maximum',
      period: Duration.minutes(1),
    });
  const lambdaMetric = (fn: lambda.IFunction, metricName: string, statistic: string) =>
    new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName,
      dimensionsMap: { FunctionName: fn.functionName },
      statistic,
      period: Duration.minutes(1),
    });

  alarm(
    'InboundDeadLetterQueueDepthAlarm',
    'Poison messages in the inbound dead-letter queue (inspect, fix, redrive).',
    sqsMetric(inboundDlq, 'ApproximateNumberOfMessagesVisible'),
    0,
  );
  alarm(
    'InboundQueueAgeAlarm',
    'The oldest inbound message waits more than 60 s (router stuck or too slow).',
    sqsMetric(inboundQueue, 'ApproximateAgeOfOldestMessage'),
    60,
    3,
  );
  const alarmsFor = (id: string, binary: string, fn: lambda.IFunction, errorsNote = '') => {
    alarm(`${id}ErrorsAlarm`, `${binary} invocation errors${errorsNote}`, lambdaMetric(fn, 'Errors', 'Sum'), 0);
    alarm(`${id}ThrottlesAlarm`, `${binary} throttled`, lambdaMetric(fn, 'Throttles', 'Sum'), 0);
  };
  alarmsFor('WeChatWebhook', 'wechat-webhook', wechatWebhook);
  alarm(
    'WeChatWebhookLatencyAlarm',
    'wechat-webhook p99 duration above 3 s (WeChat gives up after 5 s)',
    lambdaMetric(wechatWebhook, 'Duration', 'p99'),
    3000,
    3,
    2,
  );
  alarmsFor('WeiboWebhook', 'weibo-webhook', weiboWebhook);
  alarm(
    'WeiboWebhookLatencyAlarm',
    'weibo-webhook p99 duration above 3 s',
    lambdaMetric(weiboWebhook, 'Duration', 'p99'),
    3000,
    3,
    2,
  );
  alarmsFor('MessageRouter', 'message-router', messageRouter, ' (whole batches failed)');
  alarm(
    'OutboundDeadLetterQueueDepthAlarm',
    'Reply commands in the outbound dead-letter queue (refused for good, undecodable, or retried out; see the error_code attribute).',
    sqsMetric(outboundDlq, 'ApproximateNumberOfMessagesVisible'),
    0,
  );
  alarm(
    'OutboundQueueAgeAlarm',
    'The oldest reply command waits more than 10 minutes (reply-sender stuck, platform down, or egress broken).',
    sqsMetric(outboundQueue, 'ApproximateAgeOfOldestMessage'),
    600,
    3,
  );
  alarmsFor('ReplySender', 'reply-sender', replySender, ' (whole batches failed - cold start, timeout)');
  // media-fetcher (media.ts): as reply-sender's.
  alarm(
    'MediaDeadLetterQueueDepthAlarm',
    'Media fetch commands in the media dead-letter queue (refused for good, undecodable, or retried out; see the reason attribute): those media are not in the desk.',
    sqsMetric(mediaDlq, 'ApproximateNumberOfMessagesVisible'),
    0,
  );
  alarm(
    'MediaQueueAgeAlarm',
    'The oldest media fetch command waits more than 10 minutes (media-fetcher stuck, platform down, or egress broken; WeChat keeps media 3 days).',
    sqsMetric(mediaQueue, 'ApproximateAgeOfOldestMessage'),
    600,
    3,
  );
  alarmsFor('MediaFetcher', 'media-fetcher', mediaFetcher, ' (whole batches failed - cold start, timeout)');
  // webhook-sender (webhook-sender.ts): as media-fetcher's.
  alarm(
    'WebhookDeadLetterQueueDepthAlarm',
    'Event deliveries in the webhook dead-letter queue (a receiver refused them, or they were retried out; see the reason and webhook_client attributes): redrive after the receiver is fixed.',
    sqsMetric(webhookDlq, 'ApproximateNumberOfMessagesVisible'),
    0,
  );
  alarm(
    'WebhookQueueAgeAlarm',
    'The oldest event delivery waits more than 30 minutes (a receiver failing, or webhook-sender stuck).',
    sqsMetric(webhookQueue, 'ApproximateAgeOfOldestMessage'),
    1800,
    3,
  );
  alarmsFor('WebhookSender', 'webhook-sender', webhookSender, ' (whole batches failed - cold start, timeout)');
  // weibo-poller (weibo-poller.ts): a whole run failed, or a run outlasted its minute.
  alarmsFor('WeiboPoller', 'weibo-poller', weiboPoller, ' (a whole run failed - cold start, timeout)');
  alarmsFor('ReplyApi', 'reply-api', replyApi);
  alarm(
    'ReplyApiLatencyAlarm',
    'reply-api p99 duration above 3 s',
    lambdaMetric(replyApi, 'Duration', 'p99'),
    3000,
    3,
    2,
  );
  alarmsFor('SlaMonitor', 'sla-monitor', slaMonitor, ' (whole batches failed - cold start, timeout)');
  alarm(
    'TimersDeadLetterQueueDepthAlarm',
    'Timers in the timers dead-letter queue (undecodable, or failing 5 times): their breaches or automatic resolutions did not happen.',
    sqsMetric(timersDlq, 'ApproximateNumberOfMessagesVisible'),
    0,
  );
  alarm(
    'StreamFailuresQueueDepthAlarm',
    'sla-monitor or stats-aggregator gave up on table stream records (see StreamFailuresQueue): those changes got no timers or alerts, or were not counted.',
    sqsMetric(streamFailuresQueue, 'ApproximateNumberOfMessagesVisible'),
    0,
  );

  alarmsFor('StatsAggregator', 'stats-aggregator', aggregator, ' (whole batches failed - cold start, timeout)');
  // desk-api (desk-api.ts): as reply-api's (its routes give up after 8 s).
  alarmsFor('DeskApi', 'desk-api', deskApi);
  alarm('DeskApiLatencyAlarm', 'desk-api p99 duration above 3 s', lambdaMetric(deskApi, 'Duration', 'p99'), 3000, 3, 2);

  // Application alarms: metrics the functions emit (EMF, namespace ChannelGateway) with no
  // dimensions, i.e. one aggregate per metric. Any occurrence in 5 minutes needs a look.
  const atLeastOnceIn5Minutes = (id: string, metricName: string, description: string) =>
    alarm(
      id,
      description,
      new cloudwatch.Metric({ namespace: 'ChannelGateway', metricName, statistic: 'Sum', period: Duration.minutes(5) }),
      1,
      1,
      undefined,
      cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    );
  atLeastOnceIn5Minutes(
    'AccountsRefreshFailedAlarm',
    'AccountsRefreshFailed',
    'A function could not refresh or validate its accounts secret (it keeps its last good document; new instances have none).',
  );
  atLeastOnceIn5Minutes(
    'AccountsUnavailableAlarm',
    'AccountsUnavailable',
    'A request was answered 503 because no accounts document could be loaded (platforms retry; API clients see 503).',
  );
  // stats-aggregator emits EventsPublishFailed when a PutEvents fails (docs/events.md).
  atLeastOnceIn5Minutes(
    'EventsPublishFailedAlarm',
    'EventsPublishFailed',
    "stats-aggregator could not publish a change's events on the event bus (retried when transient; lost when permanent, e.g. a denied PutEvents).",
  );
  atLeastOnceIn5Minutes(
    'DeliveryUncertainAlarm',
    'DeliveryUncertain',
    'A reply was marked delivery_uncertain: it may or may not have reached the customer and is never retried (needs a person).',
  );
  // sla-monitor emits SlaBreaches once per breach it records (also with no dimensions); each
  // breach is also an alert on AlertsTopic, for the people on duty.
  // weibo-poller emits PollFailures per timeline poll that failed (also with no dimensions).
  // One failed cycle is a blip (Weibo busy, a rate limit); a failure in each of 5 consecutive
  // minutes means listening has stopped (token expired, permission missing, API down). A
  // minute without the metric (nothing failed, or no account listening) is not breaching.
  alarm(
    'PollFailuresAlarm',
    "Weibo listening is failing: a timeline poll failed in each of the last 5 minutes (weibo-poller's logs name the account and timeline; docs/listening.md).",
    new cloudwatch.Metric({ namespace: 'ChannelGateway', metricName: 'PollFailures', statistic: 'Sum', period: Duration.minutes(1) }),
    1,
    5,
    5,
    cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  );
  atLeastOnceIn5Minutes(
    'SlaBreachesAlarm',
    'SlaBreaches',
    'A service level was breached: a conversation was not answered (or resolved) in time (alerts on AlertsTopic name them).',
  );
  // A level, not a count: sla-monitor measures every minute how long the longest-waiting
  // customer of any account has waited unanswered (OldestWaitingSeconds with no dimensions;
  // per account on the dashboard). Above OldestWaitAlarmSeconds in any minute of 5: look.
  alarm(
    'OldestWaitingSecondsAlarm',
    "A customer has waited unanswered longer than OldestWaitAlarmSeconds (the dashboard's oldest-wait widget names the account).",
    new cloudwatch.Metric({
      namespace: 'ChannelGateway',
      metricName: 'OldestWaitingSeconds',
      statistic: 'Maximum',
      period: Duration.minutes(5),
    }),
    oldestWaitAlarmSeconds.valueAsNumber,
  );
  // 5xx of each HTTP API: the webhooks answer 503 on purpose when the queue or the accounts
  // secret is unavailable (the platforms retry), and a lone cold start or integration timeout
  // can give one 5xx. One is not actionable; 5 in 5 minutes is a sustained failure.
  const api5xx = (id: string, api: apigwv2.IHttpApi, description: string) =>
    alarm(
      id,
      description,
      new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName: '5xx',
        dimensionsMap: { ApiId: api.apiId },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      5,
      1,
      undefined,
      cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    );
  api5xx(
    'HttpApi5xxAlarm',
    httpApi,
    'Webhook HTTP API: 5 or more 5xx answers in 5 minutes (the platforms are retrying; messages may be late).',
  );
  api5xx(
    'ReplyHttpApi5xxAlarm',
    replyHttpApi,
    'Reply HTTP API: 5 or more 5xx answers in 5 minutes (agent replies are being refused).',
  );
  return alarmTopic;
}
