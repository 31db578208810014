// The webhooks: wechat-webhook and weibo-webhook, behind the webhook HTTP API (http-apis.ts).
// Each checks a platform's request, answers it and puts the message on the inbound queue.
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { GatewayFunctionFactory, leadingKeys } from './common';
import { WEBHOOK_TIMEOUT_SECS } from './limits';

export interface WebhooksProps {
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.ITable;
  readonly inboundQueue: sqs.IQueue;
  /** The ARN of the webhooks' credentials secret (secrets.ts). */
  readonly webhookCredentialsSecretId: string;
}

export interface Webhooks {
  readonly wechatWebhook: lambda.Function;
  readonly weiboWebhook: lambda.Function;
}

/** The two webhook functions and their roles. */
export function webhookFunctions(props: WebhooksProps): Webhooks {
  const { gatewayFunction, table, inboundQueue, webhookCredentialsSecretId } = props;
  const webhookStatements = (): iam.PolicyStatement[] => [
    new iam.PolicyStatement({
      sid: 'Enqueue',
      actions: ['sqs:SendMessage'],
      resources: [inboundQueue.queueArn],
    }),
    new iam.PolicyStatement({
      sid: 'ReadWebhookCredentials',
      actions: ['secretsmanager:GetSecretValue'],
      resources: [webhookCredentialsSecretId],
    }),
  ];
  const webhookEnvironment = {
    QUEUE_URL: inboundQueue.queueUrl,
    WEBHOOK_SECRET_ID: webhookCredentialsSecretId,
    ACCOUNTS_CACHE_SECS: '60',
    MAX_CLOCK_SKEW_SECS: '300',
    MAX_BODY_BYTES: '65536',
  };

  // wechat-webhook also answers accounts in passive reply mode (reply_mode: passive;
  // docs/replies.md) in the HTTP response, with the rules the router uses (gateway-lambda
  // functions/wechat-webhook/src/handler.rs): pushed to the table, cached like the router's, the wait for them bounded
  // well inside WeChat's 5-second window. weibo-webhook has no passive mode.
  const wechatWebhook = gatewayFunction({
    id: 'WeChatWebhook',
    binary: 'wechat-webhook',
    description: 'WeChat webhook (GET/POST /wechat/{account}) -> inbound FIFO queue',
    timeoutSecs: WEBHOOK_TIMEOUT_SECS,
    environment: {
      ...webhookEnvironment,
      TABLE_NAME: table.tableName,
      RULES_CACHE_SECS: '30',
      PASSIVE_RULES_TIMEOUT_MS: '1000',
    },
    statements: [
      ...webhookStatements(),
      // The rules document, item PK=CONFIG, SK=RULES (gateway-aws DynamoDbRulesStore::get).
      // No other partition key of the table ("CONFIG" has no wildcard: an exact match).
      new iam.PolicyStatement({
        sid: 'ReadRules',
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONFIG'),
      }),
    ],
  });
  const weiboWebhook = gatewayFunction({
    id: 'WeiboWebhook',
    binary: 'weibo-webhook',
    description: 'Weibo webhook (GET/POST /weibo/{account}) -> inbound FIFO queue',
    timeoutSecs: WEBHOOK_TIMEOUT_SECS,
    environment: webhookEnvironment,
    statements: webhookStatements(),
  });
  return { wechatWebhook, weiboWebhook };
}
