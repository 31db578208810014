// Events out (docs/webhooks.md): on the deployment's event bus (EventBus, event-bus.ts), the rule putting every
// gateway event (source channel-gateway) on the webhook queue (WebhookRule), the queue's
// policy letting EventBridge send for that rule only, and webhook-sender, which POSTs each
// event, HMAC-signed, to the API clients subscribed to it (their webhook targets from the
// WebhookTargets secret), fanning an event for several clients out on the same queue and
// dead-lettering deliveries refused for good or retried out with the reason. Outside the VPC:
// it calls the clients' endpoints, not the platforms. L1 bus and rule, exactly as in the SAM
// template, same logical ids.
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { CfnParameter } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { GatewayFunctionFactory, logicalId } from './common';
import { WEBHOOK_BATCH_SIZE, WEBHOOK_MAX_ATTEMPTS, WEBHOOK_SENDER_TIMEOUT_SECS } from './limits';
import { QueueWithDlq } from './queues';

/** The `source` of every event the gateway publishes. */
export const EVENT_SOURCE = 'channel-gateway';

export interface WebhookSenderProps {
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly webhooks: QueueWithDlq;
  /** The ARN of the webhook targets secret (secrets.ts). */
  readonly webhookTargetsSecretId: string;
  /** The deployment's event bus (event-bus.ts). */
  readonly eventBus: events.CfnEventBus;
  /** WebhookSenderReservedConcurrency. */
  readonly reservedConcurrency: CfnParameter;
}

/** The rule from the event bus to the webhook queue, and webhook-sender with its event source. */
export function webhookSender(scope: Construct, props: WebhookSenderProps): { fn: lambda.Function; bus: events.CfnEventBus } {
  const { gatewayFunction, webhookTargetsSecretId } = props;
  const { queue, dlq } = props.webhooks;
  const bus = props.eventBus;
  const rule = new events.CfnRule(scope, 'WebhookRule', {
    description: 'Every gateway event to the webhook queue (webhook-sender)',
    eventBusName: bus.ref,
    eventPattern: { source: [EVENT_SOURCE] },
    state: 'ENABLED',
    targets: [{ id: 'webhook-queue', arn: queue.queueArn }],
  });
  logicalId(rule, 'WebhookRule');
  // EventBridge may send to the webhook queue for this rule only (webhook-sender's own fan-out
  // and dead letters are granted by its role).
  queue.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'EventsFromWebhookRule',
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['sqs:SendMessage'],
      resources: [queue.queueArn],
      conditions: { ArnEquals: { 'aws:SourceArn': rule.attrArn } },
    }),
  );

  const fn = gatewayFunction({
    id: 'WebhookSender',
    binary: 'webhook-sender',
    description: "Webhook sender (webhook queue -> the API clients' receivers, HMAC-signed)",
    timeoutSecs: WEBHOOK_SENDER_TIMEOUT_SECS,
    // Bounds its share of the account's concurrency: a slow or failing receiver cannot take the
    // concurrency the customers' messages need.
    reservedConcurrency: props.reservedConcurrency.valueAsNumber,
    environment: {
      WEBHOOK_QUEUE_URL: queue.queueUrl,
      WEBHOOK_DEAD_LETTER_QUEUE_URL: dlq.queueUrl,
      WEBHOOK_TARGETS_SECRET_ID: webhookTargetsSecretId,
      ACCOUNTS_CACHE_SECS: '60',
      WEBHOOK_TIMEOUT_SECS: '5',
      AWS_OPERATION_TIMEOUT_MS: '4000',
      // Below the webhook queue's maxReceiveCount: the redrive stays a backstop.
      WEBHOOK_MAX_ATTEMPTS: String(WEBHOOK_MAX_ATTEMPTS),
      RETRY_BASE_SECS: '10',
      RETRY_MAX_SECS: '600',
    },
    statements: [
      // Receive/Delete/GetQueueAttributes: the event source mapping, on the function's behalf.
      // ChangeMessageVisibility: the retry backoff. SendMessage: the fan-out of an event to
      // several clients (SendMessageBatch).
      new iam.PolicyStatement({
        sid: 'ConsumeWebhooks',
        actions: [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:ChangeMessageVisibility',
          'sqs:SendMessage',
        ],
        resources: [queue.queueArn],
      }),
      // Deliveries refused for good, undecodable records, and deliveries whose last attempt
      // (WEBHOOK_MAX_ATTEMPTS) failed, with the reason.
      new iam.PolicyStatement({
        sid: 'DeadLetterWebhooks',
        actions: ['sqs:SendMessage'],
        resources: [dlq.queueArn],
      }),
      new iam.PolicyStatement({
        sid: 'ReadWebhookTargets',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [webhookTargetsSecretId],
      }),
    ],
  });
  const eventSource = fn.addEventSourceMapping('Webhooks', {
    eventSourceArn: queue.queueArn,
    batchSize: WEBHOOK_BATCH_SIZE,
    reportBatchItemFailures: true,
    enabled: true,
    // No more pollers than the reserved concurrency (min 2): no throttled batches.
    maxConcurrency: props.reservedConcurrency.valueAsNumber,
  });
  logicalId(eventSource, 'WebhookSenderFunctionWebhooks');
  return { fn, bus };
}
