// The stack's outputs: URLs to register with the platforms and give to the API clients, and
// the names and ARNs the operators and `gatewayctl` need.
import { Aws, CfnCondition, CfnOutput, CfnParameter } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { GatewayHttpApis } from './http-apis';
import { GatewayQueues } from './queues';
import { RoleSecrets } from './secrets';

export interface OutputsProps {
  readonly stageName: CfnParameter;
  readonly apis: GatewayHttpApis;
  readonly queues: GatewayQueues;
  readonly table: dynamodb.ITable;
  readonly secrets: RoleSecrets;
  readonly alarmTopic: sns.ITopic;
  readonly alertsTopic: sns.ITopic;
  readonly dashboard: cloudwatch.CfnDashboard;
  /** The fixed egress address, output under `fixedEgress`. */
  readonly egressIp: ec2.CfnEIP;
  readonly fixedEgress: CfnCondition;
  /** The custom domain, its outputs under `hasCustomDomain`. */
  readonly customDomain: apigwv2.CfnDomainName;
  readonly hasCustomDomain: CfnCondition;
}

export function gatewayOutputs(scope: Construct, props: OutputsProps): void {
  const { stageName, table, alarmTopic, alertsTopic, dashboard, egressIp, fixedEgress, customDomain, hasCustomDomain } =
    props;
  const { httpApi, replyHttpApi } = props.apis;
  const { queue: inboundQueue, dlq: inboundDlq } = props.queues.inbound;
  const { queue: outboundQueue, dlq: outboundDlq } = props.queues.outbound;
  const { queue: timersQueue, dlq: timersDlq } = props.queues.timers;
  const streamFailuresQueue = props.queues.streamFailures;
  const { queue: mediaQueue, dlq: mediaDlq } = props.queues.media;
  const { queue: webhookQueue, dlq: webhookDlq } = props.queues.webhooks;
  const { webhookCredentialsSecretId, deliveryCredentialsSecretId, apiClientsSecretId, webhookTargetsSecretId } = props.secrets;

  // ---------------------------------------------------------------------------------------
  // Outputs (same names as the SAM template).
  // ---------------------------------------------------------------------------------------
  const apiBase = `https://${httpApi.apiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${stageName.valueAsString}`;
  new CfnOutput(scope, 'WeChatWebhookUrl', {
    description:
      "WeChat server URL (服务器地址): replace {account} with the account's key in the accounts document, then paste it in the WeChat console.",
    value: `${apiBase}/wechat/{account}`,
  });
  new CfnOutput(scope, 'WeiboWebhookUrl', {
    description: "Weibo 开发模式 URL: replace {account} with the account's key in the accounts document.",
    value: `${apiBase}/weibo/{account}`,
  });
  new CfnOutput(scope, 'HttpApiId', {
    description: 'Webhook HTTP API id (WeChat and Weibo webhooks)',
    value: httpApi.apiId,
  });
  new CfnOutput(scope, 'ReplyHttpApiId', { description: 'Reply HTTP API id (reply API only)', value: replyHttpApi.apiId });
  new CfnOutput(scope, 'InboundQueueUrl', {
    description: 'Inbound FIFO queue (webhooks -> router)',
    value: inboundQueue.queueUrl,
  });
  new CfnOutput(scope, 'InboundDeadLetterQueueUrl', {
    description: 'Inbound dead-letter queue (poison messages; redrive after a fix)',
    value: inboundDlq.queueUrl,
  });
  new CfnOutput(scope, 'ReplyApiUrl', {
    description:
      "Reply API for agent desks and CRM systems: POST <this> to send a reply, GET <this>/{reply_id} for its delivery state (HMAC-signed; clients in the ApiClients secret). Its own HTTP API, separate from the webhooks'.",
    value: `https://${replyHttpApi.apiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${stageName.valueAsString}/replies`,
  });
  new CfnOutput(scope, 'OutboundQueueUrl', {
    description: 'Outbound FIFO queue of reply commands (router auto-replies, reply-api -> reply-sender)',
    value: outboundQueue.queueUrl,
  });
  new CfnOutput(scope, 'OutboundDeadLetterQueueUrl', {
    description:
      "Outbound dead-letter queue (replies refused for good, with an error_code attribute; redrive after a fix, deleting the reply's delivery record first)",
    value: outboundDlq.queueUrl,
  });
  new CfnOutput(scope, 'MediaQueueUrl', {
    description: 'Media queue of fetch commands (standard; router -> media-fetcher)',
    value: mediaQueue.queueUrl,
  });
  new CfnOutput(scope, 'MediaDeadLetterQueueUrl', {
    description:
      'Media dead-letter queue (fetch commands given up, with a reason attribute; redrive after a fix while the platform still keeps the media: WeChat 3 days)',
    value: mediaDlq.queueUrl,
  });
  new CfnOutput(scope, 'WebhookQueueUrl', {
    description: "Webhook queue (standard; the event bus rule and webhook-sender's fan-out -> webhook-sender)",
    value: webhookQueue.queueUrl,
  });
  new CfnOutput(scope, 'WebhookDeadLetterQueueUrl', {
    description:
      'Webhook dead-letter queue (deliveries given up, with reason and webhook_client attributes; redrive to WebhookQueue after the receiver is fixed)',
    value: webhookDlq.queueUrl,
  });
  new CfnOutput(scope, 'TimersQueueUrl', {
    description: 'Timers queue of sla-monitor (standard; each timer a delayed message)',
    value: timersQueue.queueUrl,
  });
  new CfnOutput(scope, 'TimersDeadLetterQueueUrl', {
    description: 'Timers dead-letter queue (undecodable or failing timers; redrive after a fix)',
    value: timersDlq.queueUrl,
  });
  new CfnOutput(scope, 'StreamFailuresQueueUrl', {
    description:
      'Records of the table stream batches sla-monitor or stats-aggregator gave up on (shard and sequence numbers; the records stay in the stream 24 hours)',
    value: streamFailuresQueue.queueUrl,
  });
  new CfnOutput(scope, 'TableName', {
    description:
      'DynamoDB table: conversations and messages, and where the router reads its rules (item PK=CONFIG, SK=RULES; `gatewayctl rules push config/rules.yaml --table <this>`).',
    value: table.tableName,
  });
  new CfnOutput(scope, 'WebhookCredentialsSecretId', {
    description:
      "ARN of the webhooks' credentials secret (read by wechat-webhook and weibo-webhook only; `gatewayctl accounts push FILE --webhook-secret <this> ...`).",
    value: webhookCredentialsSecretId,
  });
  new CfnOutput(scope, 'DeliveryCredentialsSecretId', {
    description:
      'ARN of the delivery credentials secret (read by reply-sender, media-fetcher, desk-api and weibo-poller only; `gatewayctl accounts push FILE --delivery-secret <this> ...`).',
    value: deliveryCredentialsSecretId,
  });
  new CfnOutput(scope, 'ApiClientsSecretId', {
    description:
      'ARN of the reply API clients secret (read by reply-api only; `gatewayctl accounts push FILE --api-secret <this> ...`).',
    value: apiClientsSecretId,
  });
  new CfnOutput(scope, 'WebhookTargetsSecretId', {
    description:
      'ARN of the webhook targets secret (read by webhook-sender only; `gatewayctl accounts push FILE --webhook-targets-secret <this> ...`).',
    value: webhookTargetsSecretId,
  });
  new CfnOutput(scope, 'AlarmTopicArn', { description: 'SNS topic of the alarms', value: alarmTopic.topicArn });
  new CfnOutput(scope, 'AlertsTopicArn', {
    description:
      "SNS topic of the contact centre's alerts (escalations, service-level breaches): subscribe e-mail, SMS, an HTTPS endpoint or a Lambda function",
    value: alertsTopic.topicArn,
  });
  new CfnOutput(scope, 'DashboardUrl', {
    description: 'CloudWatch dashboard',
    value: `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${dashboard.ref}`,
  });
  const egressIpOutput = new CfnOutput(scope, 'FixedEgressIp', {
    description: "Fixed egress address of reply-sender, media-fetcher, desk-api and weibo-poller (add it to WeChat's IP allow-list, IP白名单)",
    value: egressIp.ref,
  });
  egressIpOutput.condition = fixedEgress;
  const customDomainOutputs: Array<[string, string, string]> = [
    [
      'CustomDomainWeChatWebhookUrl',
      'Stable WeChat server URL on the custom domain (replace {account}): register this one in the WeChat console; it survives a replacement of the API or of the stack.',
      `https://${customDomain.ref}/webhooks/wechat/{account}`,
    ],
    [
      'CustomDomainWeiboWebhookUrl',
      'Stable Weibo 开发模式 URL on the custom domain (replace {account}).',
      `https://${customDomain.ref}/webhooks/weibo/{account}`,
    ],
    [
      'CustomDomainReplyApiUrl',
      'Stable reply API URL on the custom domain (POST <this>, GET <this>/{reply_id}).',
      `https://${customDomain.ref}/reply-api/replies`,
    ],
    [
      'CustomDomainTarget',
      "API Gateway's regional host name of the custom domain: without CustomDomainHostedZoneId, point the domain at it (CNAME). Changes when the stack is replaced.",
      customDomain.attrRegionalDomainName,
    ],
  ];
  for (const [id, description, value] of customDomainOutputs) {
    new CfnOutput(scope, id, { description, value }).condition = hasCustomDomain;
  }
}
