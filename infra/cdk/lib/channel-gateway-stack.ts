// The channel gateway stack: the CDK twin of infra/sam/template.yaml. Same parameters, same
// logical ids for the resources that matter, same outputs; infra/tests/test_invariants.py
// checks both templates against the same invariants.
import {
  Annotations,
  Aws,
  CfnCondition,
  CfnMapping,
  CfnOutput,
  CfnParameter,
  CfnResource,
  CfnRule,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  StackProps,
  Tags,
  Validations,
} from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GatewayFunctionSpec, leadingKeys, logicalId } from './common';
import { deskApi, deskApiWidgets } from './desk-api';
import { inboxGaugeSchedule, inboxGaugeStatements, inboxGaugeWidgets, oldestWaitAlarmParameter } from './inbox-gauges';
import { statsAggregator } from './stats-aggregator';

export interface ChannelGatewayStackProps extends StackProps {
  /** The workspace Cargo.toml (all functions are binaries of this workspace). */
  readonly manifestPath: string;
}

/** WeChat drops the connection after 5 s and retries: the webhooks answer well before. */
const WEBHOOK_TIMEOUT_SECS = 4;
/** The router's timeout; the inbound queue's visibility timeout is 6x this. */
const ROUTER_TIMEOUT_SECS = 30;
/**
 * reply-sender's timeout; the outbound queue's visibility timeout is 6x this (720 s), as AWS
 * recommends for event source mappings. reply-sender starts a reply only while the worst case
 * of one delivery is still left of the invocation (9 AWS calls at AWS_OPERATION_TIMEOUT_MS + 4
 * platform calls at PLATFORM_TIMEOUT_SECS: 56 s): 120 s fits two worst cases.
 */
const REPLY_SENDER_TIMEOUT_SECS = 120;
/**
 * reply-sender's attempt limit: a command whose last allowed attempt fails transiently is
 * dead-lettered by reply-sender itself, with the code and reason. Receives of an outbound
 * record before SQS redrives it to the outbound DLQ (a backstop: no reason is recorded) leave
 * room after it for a reply the last attempt left unsettled: one receive waits out the claim,
 * one settles it.
 */
const REPLY_MAX_ATTEMPTS = 4;
const OUTBOUND_MAX_RECEIVE_COUNT = 10;
/** reply-api's timeout, and the HTTP API's integration timeout of its routes (a bit more). */
const REPLY_API_TIMEOUT_SECS = 6;
const REPLY_API_INTEGRATION_TIMEOUT_SECS = 8;
/** sla-monitor's timeout; the timers queue's visibility timeout is 6x this. */
const SLA_MONITOR_TIMEOUT_SECS = 30;
const MEMORY_MB = 256;

export class ChannelGatewayStack extends Stack {
  /**
   * `-c skipBundling=true`: do not build the Rust functions during synth (offline checks,
   * CI). The function code then points at the unbuilt workspace: such a synth is for
   * validation only, never for `cdk deploy`.
   */
  private readonly skipBundling: boolean;

  /**
   * `-c prebuilt=<dir>`: deploy the release zips `make build` wrote,
   * `<dir>/<binary>/bootstrap.zip`, as they are (no Rust build during synth). The functions,
   * their settings and everything else are the same as without it; only the code asset
   * differs. A relative <dir> is relative to the directory cdk runs in (infra/cdk).
   */
  private readonly prebuiltDir: string | undefined;

  /**
   * Stack.bundlingRequired decides whether assets (here: `cargo lambda build`) are bundled.
   * The CLI forces the context `aws:cdk:bundling-stacks` to `**` for synth and deploy, so the
   * stack answers from its own flag instead.
   */
  public override get bundlingRequired(): boolean {
    if (this.skipBundling) {
      return false;
    }
    return super.bundlingRequired;
  }

  constructor(scope: Construct, id: string, props: ChannelGatewayStackProps) {
    super(scope, id, props);
    const flag = this.node.tryGetContext('skipBundling');
    this.skipBundling = flag === true || flag === 'true' || flag === '1';
    if (this.skipBundling) {
      Annotations.of(this).addWarningV2(
        'channel-gateway:skip-bundling',
        'skipBundling=true: the Rust functions were not built; this synth is for validation only, do not deploy it',
      );
    }
    const prebuilt = this.node.tryGetContext('prebuilt');
    if (prebuilt !== undefined && (typeof prebuilt !== 'string' || prebuilt === '' || prebuilt === 'true')) {
      throw new Error(`-c prebuilt=${prebuilt}: give the directory of the built zips, e.g. -c prebuilt=../../target/lambda-prebuilt`);
    }
    this.prebuiltDir = prebuilt === undefined ? undefined : path.resolve(prebuilt);
    // Findings of CDK's built-in template validation that are not problems here:
    Validations.of(this).acknowledge(
      {
        id: 'CloudFormation-Validate::W2509',
        reason: 'The *SecretArn parameters and AccountsSecretKmsKeyArn hold ARNs, not secret values: no NoEcho needed',
      },
      {
        id: 'CloudFormation-Validate::W1001',
        reason: 'Outputs/*SecretId use each created secret only inside Fn::If on its own condition',
      },
    );

    // ---------------------------------------------------------------------------------------
    // Parameters and conditions (same names, defaults and constraints as the SAM template).
    // ---------------------------------------------------------------------------------------
    const stageName = new CfnParameter(this, 'StageName', {
      type: 'String',
      default: 'prod',
      allowedPattern: '^[a-zA-Z0-9_-]{1,64}$',
      description: 'HTTP API stage (part of the webhook URLs). "prod" also turns on DynamoDB deletion protection.',
    });
    const logLevel = new CfnParameter(this, 'LogLevel', {
      type: 'String',
      default: 'info',
      // No "trace": at that level the functions log raw platform events and tokens.
      allowedValues: ['debug', 'info', 'warn'],
      description: 'Application log level of every function (Lambda ApplicationLogLevel).',
    });
    const logRetentionDays = new CfnParameter(this, 'LogRetentionDays', {
      type: 'Number',
      default: '30',
      allowedValues: [
        '1', '3', '5', '7', '14', '30', '60', '90', '120', '150', '180', '365', '400', '545', '731',
        '1096', '1827', '2192', '2557', '2922', '3288', '3653',
      ],
      description: 'Retention of every log group of the stack, in days.',
    });
    // One secret per role, each holding the part of the accounts document that role needs
    // (`gatewayctl accounts push` writes all three from one validated document).
    const secretArnPattern =
      '^$|^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$';
    const webhookCredentialsSecretArn = new CfnParameter(this, 'WebhookCredentialsSecretArn', {
      type: 'String',
      default: '',
      allowedPattern: secretArnPattern,
      description:
        "Full ARN of an existing Secrets Manager secret holding the webhooks' credentials (read by wechat-webhook and weibo-webhook only). Empty (default) = the stack creates one with an empty document; fill it with `gatewayctl accounts push`.",
    });
    const deliveryCredentialsSecretArn = new CfnParameter(this, 'DeliveryCredentialsSecretArn', {
      type: 'String',
      default: '',
      allowedPattern: secretArnPattern,
      description:
        'Full ARN of an existing Secrets Manager secret holding the platform API credentials (read by reply-sender only). Empty (default) = the stack creates one with an empty document.',
    });
    const apiClientsSecretArn = new CfnParameter(this, 'ApiClientsSecretArn', {
      type: 'String',
      default: '',
      allowedPattern: secretArnPattern,
      description:
        "Full ARN of an existing Secrets Manager secret holding the reply API's clients (read by reply-api only). Empty (default) = the stack creates one with an empty document.",
    });
    const accountsSecretKmsKeyArn = new CfnParameter(this, 'AccountsSecretKmsKeyArn', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$',
      description:
        "Only when the given secrets are encrypted with a customer managed KMS key: that key's ARN (the functions that read a secret then get kms:Decrypt on it, via Secrets Manager only).",
    });
    const reservedConcurrency = (id: string, fn: string, dflt: number) =>
      new CfnParameter(this, id, {
        type: 'Number',
        default: dflt,
        minValue: 2,
        maxValue: 1000,
        description: `Reserved concurrency of ${fn}; also the MaximumConcurrency of its SQS event source (which cannot be below 2).`,
      });
    const messageRouterReservedConcurrency = reservedConcurrency('MessageRouterReservedConcurrency', 'message-router', 10);
    const replySenderReservedConcurrency = reservedConcurrency('ReplySenderReservedConcurrency', 'reply-sender', 5);
    const routeLimit = (id: string, dflt: number, max: number, description: string) =>
      new CfnParameter(this, id, { type: 'Number', default: dflt, minValue: 1, maxValue: max, description });
    const webhookRouteRateLimit = routeLimit(
      'WebhookRouteRateLimit',
      500,
      10000,
      'Steady-state requests per second of EACH webhook route (webhook HTTP API).',
    );
    const webhookRouteBurstLimit = routeLimit(
      'WebhookRouteBurstLimit',
      1000,
      5000,
      'Burst of EACH webhook route (webhook HTTP API).',
    );
    const replyApiRouteRateLimit = routeLimit(
      'ReplyApiRouteRateLimit',
      50,
      10000,
      'Steady-state requests per second of EACH reply API route (reply HTTP API).',
    );
    const replyApiRouteBurstLimit = routeLimit(
      'ReplyApiRouteBurstLimit',
      100,
      5000,
      'Burst of EACH reply API route (reply HTTP API).',
    );
    const alarmEmail = new CfnParameter(this, 'AlarmEmail', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
      description: 'Optional e-mail address subscribed to the alarm topic (confirm the e-mail AWS sends).',
    });
    const alertsEmail = new CfnParameter(this, 'AlertsEmail', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
      description:
        "Optional e-mail address subscribed to the alerts topic: the contact centre's escalations and service-level breaches (confirm the e-mail AWS sends). Other subscribers (SMS, chat webhooks) subscribe to the AlertsTopicArn output.",
    });
    const oldestWaitAlarmSeconds = oldestWaitAlarmParameter(this);
    const enableFixedEgress = new CfnParameter(this, 'EnableFixedEgress', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description:
        '"true" creates a VPC with private subnets behind one NAT gateway and one Elastic IP and runs reply-sender (the function that calls the WeChat/Weibo APIs) in it, so its calls leave from one fixed address (WeChat\'s IP allow-list). The other functions never need it.',
    });

    // Optional custom domain: stable URLs for the platform consoles and the API clients.
    // CloudFormation parameters, as in the SAM template (not CDK context): a later deploy
    // that does not mention them keeps their values, so it cannot drop the domain the
    // consoles point at by omission.
    const customDomainName = new CfnParameter(this, 'CustomDomainName', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$',
      description:
        'Optional custom domain of both HTTP APIs (lower case, e.g. gateway.example.com): https://<it>/webhooks/... is the webhook API, https://<it>/reply-api/... the reply API. Empty (default) = no custom domain, no extra resource.',
    });
    const customDomainCertificateArn = new CfnParameter(this, 'CustomDomainCertificateArn', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[a-f0-9-]+$',
      description:
        "Required with CustomDomainName: ARN of an issued ACM certificate for that name, in the stack's own region (a REGIONAL endpoint).",
    });
    const customDomainHostedZoneId = new CfnParameter(this, 'CustomDomainHostedZoneId', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^Z[A-Z0-9]{1,31}$',
      description:
        'Optional, with CustomDomainName: id of the Route 53 hosted zone of that name; the stack then creates the alias A record. Empty = you point DNS at the CustomDomainTarget output.',
    });

    // Lambda's ApplicationLogLevel values are upper case.
    new CfnMapping(this, 'LogLevels', {
      mapping: {
        debug: { Lambda: 'DEBUG' },
        info: { Lambda: 'INFO' },
        warn: { Lambda: 'WARN' },
      },
    });
    const applicationLogLevel = Fn.findInMap('LogLevels', logLevel.valueAsString, 'Lambda');

    const isProduction = new CfnCondition(this, 'IsProduction', {
      expression: Fn.conditionEquals(stageName.valueAsString, 'prod'),
    });
    const createWebhookCredentialsSecret = new CfnCondition(this, 'CreateWebhookCredentialsSecret', {
      expression: Fn.conditionEquals(webhookCredentialsSecretArn.valueAsString, ''),
    });
    const createDeliveryCredentialsSecret = new CfnCondition(this, 'CreateDeliveryCredentialsSecret', {
      expression: Fn.conditionEquals(deliveryCredentialsSecretArn.valueAsString, ''),
    });
    const createApiClientsSecret = new CfnCondition(this, 'CreateApiClientsSecret', {
      expression: Fn.conditionEquals(apiClientsSecretArn.valueAsString, ''),
    });
    const hasAccountsSecretKmsKey = new CfnCondition(this, 'HasAccountsSecretKmsKey', {
      expression: Fn.conditionNot(Fn.conditionEquals(accountsSecretKmsKeyArn.valueAsString, '')),
    });
    const hasAlarmEmail = new CfnCondition(this, 'HasAlarmEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')),
    });
    const hasAlertsEmail = new CfnCondition(this, 'HasAlertsEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(alertsEmail.valueAsString, '')),
    });
    const fixedEgress = new CfnCondition(this, 'FixedEgress', {
      expression: Fn.conditionEquals(enableFixedEgress.valueAsString, 'true'),
    });
    const hasCustomDomain = new CfnCondition(this, 'HasCustomDomain', {
      expression: Fn.conditionNot(Fn.conditionEquals(customDomainName.valueAsString, '')),
    });
    const createCustomDomainRecord = new CfnCondition(this, 'CreateCustomDomainRecord', {
      expression: Fn.conditionAnd(
        hasCustomDomain,
        Fn.conditionNot(Fn.conditionEquals(customDomainHostedZoneId.valueAsString, '')),
      ),
    });
    // Checked before any change is made: a custom domain needs its certificate, a hosted zone
    // needs the domain.
    new CfnRule(this, 'CustomDomainNeedsCertificate', {
      ruleCondition: Fn.conditionNot(Fn.conditionEquals(customDomainName.valueAsString, '')),
      assertions: [
        {
          assert: Fn.conditionNot(Fn.conditionEquals(customDomainCertificateArn.valueAsString, '')),
          assertDescription:
            "CustomDomainName needs CustomDomainCertificateArn (an ACM certificate for it, in the stack's region).",
        },
      ],
    });
    new CfnRule(this, 'CustomDomainHostedZoneNeedsDomain', {
      ruleCondition: Fn.conditionNot(Fn.conditionEquals(customDomainHostedZoneId.valueAsString, '')),
      assertions: [
        {
          assert: Fn.conditionNot(Fn.conditionEquals(customDomainName.valueAsString, '')),
          assertDescription: 'CustomDomainHostedZoneId is only used with CustomDomainName.',
        },
      ],
    });

    // ---------------------------------------------------------------------------------------
    // Inbound FIFO queue (webhooks -> router) and its FIFO dead-letter queue.
    // ---------------------------------------------------------------------------------------
    const inboundDlq = new sqs.Queue(this, 'InboundDeadLetterQueue', {
      fifo: true,
      contentBasedDeduplication: false,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    logicalId(inboundDlq, 'InboundDeadLetterQueue');

    const inboundQueue = new sqs.Queue(this, 'InboundQueue', {
      fifo: true,
      // The webhooks set MessageDeduplicationId (the platform's message id).
      contentBasedDeduplication: false,
      // High-throughput FIFO: deduplication and throughput per message group (conversation).
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      visibilityTimeout: Duration.seconds(6 * ROUTER_TIMEOUT_SECS),
      retentionPeriod: Duration.days(4),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: inboundDlq, maxReceiveCount: 5 },
    });
    logicalId(inboundQueue, 'InboundQueue');

    // ---------------------------------------------------------------------------------------
    // Outbound FIFO queue of reply commands (router auto-replies, reply-api -> reply-sender)
    // and its FIFO dead-letter queue. reply-sender also sends commands the platform refuses
    // for good, and commands whose last allowed attempt (REPLY_MAX_ATTEMPTS) failed
    // transiently, to the DLQ itself (with the error code and the reason as message attributes).
    // ---------------------------------------------------------------------------------------
    const outboundDlq = new sqs.Queue(this, 'OutboundDeadLetterQueue', {
      fifo: true,
      contentBasedDeduplication: false,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    logicalId(outboundDlq, 'OutboundDeadLetterQueue');

    const outboundQueue = new sqs.Queue(this, 'OutboundQueue', {
      fifo: true,
      // The producers set MessageDeduplicationId (the reply command's idempotency key).
      contentBasedDeduplication: false,
      // High-throughput FIFO: deduplication and throughput per message group (conversation).
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      // Retries of transient failures are made visible later by reply-sender itself
      // (ChangeMessageVisibility, RETRY_BASE_SECS..RETRY_MAX_SECS).
      visibilityTimeout: Duration.seconds(6 * REPLY_SENDER_TIMEOUT_SECS),
      // 4 days (the platforms' reply windows are 48 hours).
      retentionPeriod: Duration.days(4),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: outboundDlq, maxReceiveCount: OUTBOUND_MAX_RECEIVE_COUNT },
    });
    logicalId(outboundQueue, 'OutboundQueue');

    // ---------------------------------------------------------------------------------------
    // Service levels (sla-monitor): the timers queue, STANDARD (a FIFO queue cannot delay one
    // message): each timer is a message delayed until it comes due (at most 15 minutes,
    // chained on beyond), with its standard dead-letter queue; the queue the table's stream
    // event source sends what it gives up on to; the contact centre's alerts topic.
    // ---------------------------------------------------------------------------------------
    const timersDlq = new sqs.Queue(this, 'TimersDeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    logicalId(timersDlq, 'TimersDeadLetterQueue');
    const timersQueue = new sqs.Queue(this, 'TimersQueue', {
      // No queue-level delay: each timer sets its own.
      visibilityTimeout: Duration.seconds(6 * SLA_MONITOR_TIMEOUT_SECS),
      retentionPeriod: Duration.days(4),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // An undecodable timer, or one that keeps failing, is kept readable in the DLQ.
      deadLetterQueue: { queue: timersDlq, maxReceiveCount: 5 },
    });
    logicalId(timersQueue, 'TimersQueue');
    // The on-failure destination of the table stream's event sources (sla-monitor's and
    // stats-aggregator's): a record of each batch one gave up on (shard, sequence numbers; the
    // records stay in the stream 24 hours).
    const streamFailuresQueue = new sqs.Queue(this, 'StreamFailuresQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    logicalId(streamFailuresQueue, 'StreamFailuresQueue');

    // Escalations and breaches for the people on duty (not the infrastructure alarms:
    // AlarmTopic). The message is the alert as JSON, the subject one line, message attributes
    // kind (escalation, breach), channel and account for subscription filter policies.
    const alertsTopic = new sns.Topic(this, 'AlertsTopic', {
      displayName: 'Channel gateway alerts',
      enforceSSL: true,
    });
    logicalId(alertsTopic, 'AlertsTopic');
    const alertsEmailSubscription = new sns.CfnSubscription(this, 'AlertsEmailSubscription', {
      topicArn: alertsTopic.topicArn,
      protocol: 'email',
      endpoint: alertsEmail.valueAsString,
    });
    alertsEmailSubscription.cfnOptions.condition = hasAlertsEmail;

    // ---------------------------------------------------------------------------------------
    // DynamoDB: conversations, messages, dedupe markers, the rules document (PK=CONFIG,
    // SK=RULES, written by `gatewayctl rules push`), reply delivery records (REPLY#<id>) and
    // the WeChat access-token cache (TOKEN#wechat#<account>), the account registry (ACCOUNTS),
    // the daily statistics (STATS#<channel>:<account>) and their counted-change markers
    // (STREAM#..., expiring by TTL). Its stream (old and new images) feeds sla-monitor and
    // stats-aggregator, two readers: DynamoDB throttles a shard read by more than two.
    // ---------------------------------------------------------------------------------------
    const table = new dynamodb.Table(this, 'GatewayTable', {
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expires_at',
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const gsi of ['GSI1', 'GSI2']) {
      table.addGlobalSecondaryIndex({
        indexName: gsi,
        partitionKey: { name: `${gsi}PK`, type: dynamodb.AttributeType.STRING },
        sortKey: { name: `${gsi}SK`, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    logicalId(table, 'GatewayTable');
    (table.node.defaultChild as dynamodb.CfnTable).deletionProtectionEnabled = Fn.conditionIf(
      isProduction.logicalId,
      true,
      false,
    ) as unknown as boolean;

    // ---------------------------------------------------------------------------------------
    // Secrets, one per role (least privilege): each holds the part of the accounts document
    // its readers need, written by `gatewayctl accounts push` from one validated document.
    // Each is created with an empty document unless its *SecretArn parameter names an
    // existing one; the template never holds a credential. The functions ignore top-level
    // keys starting with "_" (the generated _placeholder).
    //   WebhookCredentials  -> wechat-webhook, weibo-webhook (signature/decryption keys)
    //   DeliveryCredentials -> reply-sender (platform API credentials)
    //   ApiClients          -> reply-api (the reply API's clients)
    // message-router reads no secret.
    // ---------------------------------------------------------------------------------------
    /** The secret (created under `create`, else the given ARN): its ARN for env and IAM. */
    const roleSecret = (id: string, description: string, template: string, create: CfnCondition, given: CfnParameter) => {
      const secret = new secretsmanager.Secret(this, id, {
        description: `${description} of stack ${Aws.STACK_NAME}`,
        generateSecretString: {
          secretStringTemplate: template,
          generateStringKey: '_placeholder',
          passwordLength: 16,
          excludePunctuation: true,
        },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      logicalId(secret, id);
      (secret.node.defaultChild as CfnResource).cfnOptions.condition = create;
      return Fn.conditionIf(create.logicalId, secret.secretArn, given.valueAsString).toString();
    };
    const webhookCredentialsSecretId = roleSecret(
      'WebhookCredentialsSecret',
      'Channel gateway webhook credentials (WeChat/Weibo signature and decryption keys)',
      '{"wechat":{},"weibo":{}}',
      createWebhookCredentialsSecret,
      webhookCredentialsSecretArn,
    );
    const deliveryCredentialsSecretId = roleSecret(
      'DeliveryCredentialsSecret',
      'Channel gateway delivery credentials (WeChat/Weibo API credentials)',
      '{"wechat":{},"weibo":{}}',
      createDeliveryCredentialsSecret,
      deliveryCredentialsSecretArn,
    );
    const apiClientsSecretId = roleSecret(
      'ApiClientsSecret',
      'Channel gateway reply API clients',
      '{"api_clients":{}}',
      createApiClientsSecret,
      apiClientsSecretArn,
    );

    // ---------------------------------------------------------------------------------------
    // Functions. Each has its own role (only what it uses: see FUNCTIONS in
    // infra/tests/invariants/spec.py), its own log group with retention, JSON logs at LogLevel.
    //
    // Adding a function = one more `this.gatewayFunction({...})` with its binary, timeout,
    // environment and exactly the statements it needs, plus its row in FUNCTIONS
    // (infra/tests/invariants/spec.py), its Errors/Throttles alarms (alarmsFor) and its
    // dashboard lines, and the same in infra/sam. Only reply-sender runs in the VPC (fixed
    // egress): see below.
    // ---------------------------------------------------------------------------------------
    const fnCommon = {
      retentionDays: logRetentionDays.valueAsNumber,
      applicationLogLevel,
      manifestPath: props.manifestPath,
    };

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
    const wechatWebhook = this.gatewayFunction(fnCommon, {
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
    const weiboWebhook = this.gatewayFunction(fnCommon, {
      id: 'WeiboWebhook',
      binary: 'weibo-webhook',
      description: 'Weibo webhook (GET/POST /weibo/{account}) -> inbound FIFO queue',
      timeoutSecs: WEBHOOK_TIMEOUT_SECS,
      environment: webhookEnvironment,
      statements: webhookStatements(),
    });


    const messageRouter = this.gatewayFunction(fnCommon, {
      id: 'MessageRouter',
      binary: 'message-router',
      description: 'Router (inbound FIFO queue -> rules -> DynamoDB, auto-replies -> outbound FIFO queue)',
      timeoutSecs: ROUTER_TIMEOUT_SECS,
      // Bounds the router's share of the account's concurrency (and its writes to the table);
      // the event source's MaximumConcurrency is the same value.
      reservedConcurrency: messageRouterReservedConcurrency.valueAsNumber,
      environment: {
        TABLE_NAME: table.tableName,
        DEAD_LETTER_QUEUE_URL: inboundDlq.queueUrl,
        OUTBOUND_QUEUE_URL: outboundQueue.queueUrl,
        MESSAGE_TTL_DAYS: '90',
        RULES_CACHE_SECS: '30',
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

    // reply-sender: consumes the outbound queue, calls the WeChat/Weibo APIs (in the VPC when
    // EnableFixedEgress: see the VpcConfig override after the egress resources).
    const replySender = this.gatewayFunction(fnCommon, {
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
        DELIVERY_SECRET_ID: deliveryCredentialsSecretId,
        ACCOUNTS_CACHE_SECS: '60',
        WECHAT_API_BASE_URL: 'https://api.weixin.qq.com',
        WEIBO_API_BASE_URL: 'https://m.api.weibo.com',
        WECHAT_TOKEN_API: 'stable',
        PLATFORM_TIMEOUT_SECS: '5',
        AWS_OPERATION_TIMEOUT_MS: '4000',
        TOKEN_REFRESH_AHEAD_SECS: '300',
        TOKEN_LEASE_SECS: '20',
        TOKEN_WAIT_MS: '3000',
        // Above the function's timeout: a younger `calling` record may still be in flight.
        DELIVERY_CLAIM_TIMEOUT_SECS: '180',
        DELIVERY_RECORD_TTL_DAYS: '30',
        MESSAGE_TTL_DAYS: '90',
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
        new iam.PolicyStatement({
          sid: 'ReadDeliveryCredentials',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [deliveryCredentialsSecretId],
        }),
      ],
    });

    // reply-api: agents and CRM systems (HMAC-signed) -> outbound queue; delivery status.
    const replyApi = this.gatewayFunction(fnCommon, {
      id: 'ReplyApi',
      binary: 'reply-api',
      description: 'Reply API (POST /replies, GET /replies/{reply_id}; HMAC-signed) -> outbound FIFO queue',
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
        new iam.PolicyStatement({
          sid: 'ReadApiClients',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [apiClientsSecretId],
        }),
      ],
    });

    // sla-monitor: the table's stream (conversation changes: timers, alerts) and the timers
    // queue (timers that come up: breaches, automatic resolutions, chained timers). No secret.
    const slaMonitor = this.gatewayFunction(fnCommon, {
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
    inboxGaugeSchedule(this, slaMonitor);

    // stats-aggregator: the table stream's second reader (stats-aggregator.ts). No secret.
    const aggregator = statsAggregator({
      gatewayFunction: (spec) => this.gatewayFunction(fnCommon, spec),
      table,
      streamFailuresQueue,
    });

    // kms:Decrypt on the given secrets' customer managed key, only when one is given, for
    // every function that reads a secret (not the router, not sla-monitor, not stats-aggregator).
    const decryptAccounts = new iam.CfnPolicy(this, 'AccountsSecretKmsDecryptPolicy', {
      policyName: 'accounts-secret-kms-decrypt',
      roles: [
        wechatWebhook.role!.roleName,
        weiboWebhook.role!.roleName,
        replySender.role!.roleName,
        replyApi.role!.roleName,
      ],
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'DecryptAccounts',
            Effect: 'Allow',
            Action: 'kms:Decrypt',
            Resource: accountsSecretKmsKeyArn.valueAsString,
            Condition: {
              StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` },
            },
          },
        ],
      },
    });
    decryptAccounts.cfnOptions.condition = hasAccountsSecretKmsKey;

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

    // ---------------------------------------------------------------------------------------
    // Two HTTP APIs (API Gateway v2, payload format 2.0), each with one stage named StageName:
    // the webhooks' (HttpApi) and the reply API's (ReplyHttpApi), so that a flood on one cannot
    // use up the other's throttling. DefaultRouteSettings is the limit of any route without its
    // own; RouteSettings gives every route its own limit (API Gateway applies them per route,
    // not per API).
    // ---------------------------------------------------------------------------------------
    const accessLogFormat = JSON.stringify({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      requestTime: '$context.requestTime',
      routeKey: '$context.routeKey',
      status: '$context.status',
      responseLength: '$context.responseLength',
      latency: '$context.responseLatency',
      integrationLatency: '$context.integrationLatency',
      integrationError: '$context.integrationErrorMessage',
    });
    /** An HTTP API, its stage, its access log group and its routes, throttled per route. */
    const httpApiWithRoutes = (
      id: string,
      description: string,
      accessLogId: string,
      accessLogName: string,
      rateLimit: CfnParameter,
      burstLimit: CfnParameter,
      routes: Array<[string, apigwv2.HttpMethod, lambda.IFunction, number]>,
    ): { api: apigwv2.HttpApi; stage: apigwv2.CfnStage } => {
      const accessLogGroup = new logs.LogGroup(this, accessLogId, {
        logGroupName: `/aws/apigateway/${Aws.STACK_NAME}/${accessLogName}`,
        // Kept when the stack is deleted or the group replaced (audit trail).
        removalPolicy: RemovalPolicy.RETAIN,
      });
      logicalId(accessLogGroup, accessLogId);
      (accessLogGroup.node.defaultChild as logs.CfnLogGroup).retentionInDays = logRetentionDays.valueAsNumber;

      const api = new apigwv2.HttpApi(this, id, {
        apiName: Aws.STACK_NAME,
        description,
        createDefaultStage: false,
      });
      logicalId(api, id);
      const limits = { burstLimit: burstLimit.valueAsNumber, rateLimit: rateLimit.valueAsNumber };
      const stage = new apigwv2.HttpStage(this, `${id}Stage`, {
        httpApi: api,
        stageName: stageName.valueAsString,
        autoDeploy: true,
        throttle: limits,
      });
      logicalId(stage, `${id}Stage`);
      const cfnStage = stage.node.defaultChild as apigwv2.CfnStage;
      cfnStage.accessLogSettings = { destinationArn: accessLogGroup.logGroupArn, format: accessLogFormat };
      // RouteSettings is a JSON property of AWS::ApiGatewayV2::Stage: CDK passes it through
      // as is, so its keys are written in CloudFormation's spelling.
      const routeSettings: Record<string, { ThrottlingBurstLimit: number; ThrottlingRateLimit: number }> = {};
      const integrations = new Map<lambda.IFunction, HttpLambdaIntegration>();
      for (const [path, method, fn, timeoutSecs] of routes) {
        let integration = integrations.get(fn);
        if (!integration) {
          integration = new HttpLambdaIntegration(`${fn.node.id}Integration`, fn, {
            payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
            timeout: Duration.seconds(timeoutSecs),
          });
          integrations.set(fn, integration);
        }
        // A stage's route settings name existing routes: the stage waits for them.
        for (const route of api.addRoutes({ path, methods: [method], integration })) {
          stage.node.addDependency(route);
        }
        routeSettings[`${method} ${path}`] = {
          ThrottlingBurstLimit: limits.burstLimit,
          ThrottlingRateLimit: limits.rateLimit,
        };
      }
      cfnStage.routeSettings = routeSettings;
      return { api, stage: cfnStage };
    };

    const { api: httpApi, stage: httpApiStage } = httpApiWithRoutes(
      'HttpApi',
      'Channel gateway webhooks (WeChat, Weibo)',
      'ApiAccessLogGroup',
      'http-api',
      webhookRouteRateLimit,
      webhookRouteBurstLimit,
      [
        ['/wechat/{account}', apigwv2.HttpMethod.GET, wechatWebhook, 5],
        ['/wechat/{account}', apigwv2.HttpMethod.POST, wechatWebhook, 5],
        ['/weibo/{account}', apigwv2.HttpMethod.GET, weiboWebhook, 5],
        ['/weibo/{account}', apigwv2.HttpMethod.POST, weiboWebhook, 5],
      ],
    );
    // reply-api: POST /replies (submit), GET /replies/{reply_id} (delivery state).
    const { api: replyHttpApi, stage: replyHttpApiStage } = httpApiWithRoutes(
      'ReplyHttpApi',
      'Channel gateway reply API (agent desks, CRM systems)',
      'ReplyApiAccessLogGroup',
      'reply-api',
      replyApiRouteRateLimit,
      replyApiRouteBurstLimit,
      [
        ['/replies', apigwv2.HttpMethod.POST, replyApi, REPLY_API_INTEGRATION_TIMEOUT_SECS],
        ['/replies/{reply_id}', apigwv2.HttpMethod.GET, replyApi, REPLY_API_INTEGRATION_TIMEOUT_SECS],
      ],
    );

    // ---------------------------------------------------------------------------------------
    // Optional custom domain (HasCustomDomain: CustomDomainName set; none of this exists
    // otherwise). One regional domain, TLS 1.2, for both HTTP APIs, one base path each:
    //   https://<CustomDomainName>/webhooks/...   -> HttpApi's stage (/wechat/{account}, /weibo/{account})
    //   https://<CustomDomainName>/reply-api/...  -> ReplyHttpApi's stage (/replies, /replies/{reply_id})
    // The URLs registered in the WeChat and Weibo consoles and given to the API clients name
    // the domain, not an API id, so they stay the same when the APIs or the stack are replaced.
    // With CustomDomainHostedZoneId, the alias record in that Route 53 zone too. L1 resources
    // under the conditions, exactly as in the SAM template.
    // ---------------------------------------------------------------------------------------
    const customDomain = new apigwv2.CfnDomainName(this, 'CustomDomain', {
      domainName: customDomainName.valueAsString,
      domainNameConfigurations: [
        {
          certificateArn: customDomainCertificateArn.valueAsString,
          endpointType: 'REGIONAL',
          securityPolicy: 'TLS_1_2',
        },
      ],
    });
    customDomain.cfnOptions.condition = hasCustomDomain;
    // cfn-lint resolves CustomDomainCertificateArn to its default "" for this pattern check,
    // although the resource only exists with CustomDomainName set, when the rule
    // CustomDomainNeedsCertificate requires the ARN (and the parameter's pattern checks it).
    customDomain.addMetadata('cfn-lint', { config: { ignore_checks: ['W1030'] } });
    // The stage by its resource (Ref = the stage name), so each mapping waits for its stage.
    const apiMapping = (id: string, api: apigwv2.HttpApi, stage: apigwv2.CfnStage, key: string) => {
      const mapping = new apigwv2.CfnApiMapping(this, id, {
        domainName: customDomain.ref,
        apiId: api.apiId,
        stage: stage.ref,
        apiMappingKey: key,
      });
      mapping.cfnOptions.condition = hasCustomDomain;
    };
    apiMapping('WebhookApiMapping', httpApi, httpApiStage, 'webhooks');
    apiMapping('ReplyApiMapping', replyHttpApi, replyHttpApiStage, 'reply-api');
    const customDomainRecord = new route53.CfnRecordSet(this, 'CustomDomainRecord', {
      hostedZoneId: customDomainHostedZoneId.valueAsString,
      name: customDomainName.valueAsString,
      type: 'A',
      aliasTarget: {
        dnsName: customDomain.attrRegionalDomainName,
        hostedZoneId: customDomain.attrRegionalHostedZoneId,
        evaluateTargetHealth: false,
      },
    });
    customDomainRecord.cfnOptions.condition = createCustomDomainRecord;

    // ---------------------------------------------------------------------------------------
    // Optional fixed egress: VPC, private subnets -> one NAT gateway -> one Elastic IP.
    // Used by reply-sender (the only function calling the platform APIs). Exactly one NAT
    // gateway, in the public subnet of the first availability zone, for both private subnets
    // (two zones): one fixed address to allow-list, not one per zone (docs/deploy.md section 8).
    // ---------------------------------------------------------------------------------------
    const egress = <T extends CfnResource>(resource: T): T => {
      resource.cfnOptions.condition = fixedEgress;
      return resource;
    };
    const nameTag = (suffix: string) => [{ key: 'Name', value: `${Aws.STACK_NAME}-${suffix}` }];
    const vpc = egress(
      new ec2.CfnVPC(this, 'EgressVpc', {
        cidrBlock: '10.42.0.0/16',
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: nameTag('egress'),
      }),
    );
    const igw = egress(new ec2.CfnInternetGateway(this, 'EgressInternetGateway', { tags: nameTag('egress') }));
    const igwAttachment = egress(
      new ec2.CfnVPCGatewayAttachment(this, 'EgressInternetGatewayAttachment', {
        vpcId: vpc.ref,
        internetGatewayId: igw.ref,
      }),
    );
    const az = (i: number) => Fn.select(i, Fn.getAzs(''));
    const publicSubnet = egress(
      new ec2.CfnSubnet(this, 'EgressPublicSubnet', {
        vpcId: vpc.ref,
        cidrBlock: '10.42.0.0/24',
        availabilityZone: az(0),
        mapPublicIpOnLaunch: false,
        tags: nameTag('egress-public'),
      }),
    );
    const privateSubnetA = egress(
      new ec2.CfnSubnet(this, 'EgressPrivateSubnetA', {
        vpcId: vpc.ref,
        cidrBlock: '10.42.10.0/24',
        availabilityZone: az(0),
        tags: nameTag('egress-private-a'),
      }),
    );
    const privateSubnetB = egress(
      new ec2.CfnSubnet(this, 'EgressPrivateSubnetB', {
        vpcId: vpc.ref,
        cidrBlock: '10.42.11.0/24',
        availabilityZone: az(1),
        tags: nameTag('egress-private-b'),
      }),
    );
    const publicRouteTable = egress(new ec2.CfnRouteTable(this, 'EgressPublicRouteTable', { vpcId: vpc.ref }));
    const publicDefaultRoute = egress(
      new ec2.CfnRoute(this, 'EgressPublicDefaultRoute', {
        routeTableId: publicRouteTable.ref,
        destinationCidrBlock: '0.0.0.0/0',
        gatewayId: igw.ref,
      }),
    );
    publicDefaultRoute.addResourceDependency(igwAttachment);
    egress(
      new ec2.CfnSubnetRouteTableAssociation(this, 'EgressPublicSubnetRouteTableAssociation', {
        subnetId: publicSubnet.ref,
        routeTableId: publicRouteTable.ref,
      }),
    );
    const egressIp = egress(new ec2.CfnEIP(this, 'EgressIp', { domain: 'vpc', tags: nameTag('egress') }));
    egressIp.addResourceDependency(igwAttachment);
    const natGateway = egress(
      new ec2.CfnNatGateway(this, 'EgressNatGateway', {
        allocationId: egressIp.attrAllocationId,
        subnetId: publicSubnet.ref,
        tags: nameTag('egress'),
      }),
    );
    const privateRouteTable = egress(new ec2.CfnRouteTable(this, 'EgressPrivateRouteTable', { vpcId: vpc.ref }));
    egress(
      new ec2.CfnRoute(this, 'EgressPrivateDefaultRoute', {
        routeTableId: privateRouteTable.ref,
        destinationCidrBlock: '0.0.0.0/0',
        natGatewayId: natGateway.ref,
      }),
    );
    for (const [idSuffix, subnet] of [
      ['A', privateSubnetA],
      ['B', privateSubnetB],
    ] as Array<[string, ec2.CfnSubnet]>) {
      egress(
        new ec2.CfnSubnetRouteTableAssociation(this, `EgressPrivateSubnet${idSuffix}RouteTableAssociation`, {
          subnetId: subnet.ref,
          routeTableId: privateRouteTable.ref,
        }),
      );
    }
    // DynamoDB traffic from the VPC stays off the NAT gateway (gateway endpoints are free).
    egress(
      new ec2.CfnVPCEndpoint(this, 'EgressDynamoDbEndpoint', {
        vpcId: vpc.ref,
        serviceName: `com.amazonaws.${Aws.REGION}.dynamodb`,
        vpcEndpointType: 'Gateway',
        routeTableIds: [privateRouteTable.ref],
      }),
    );
    const egressSecurityGroup = egress(
      new ec2.CfnSecurityGroup(this, 'EgressSecurityGroup', {
        groupDescription: 'Functions calling the platform APIs (HTTPS out only)',
        vpcId: vpc.ref,
        securityGroupEgress: [
          {
            description: 'HTTPS to the platform and AWS APIs',
            ipProtocol: 'tcp',
            fromPort: 443,
            toPort: 443,
            cidrIp: '0.0.0.0/0',
          },
        ],
      }),
    );

    // reply-sender in the private subnets when EnableFixedEgress (default route: the NAT
    // gateway with the Elastic IP; SQS and Secrets Manager through the NAT gateway, DynamoDB
    // through the gateway endpoint).
    const replySenderCfn = replySender.node.defaultChild as lambda.CfnFunction;
    replySenderCfn.addPropertyOverride(
      'VpcConfig',
      Fn.conditionIf(
        fixedEgress.logicalId,
        { SecurityGroupIds: [egressSecurityGroup.ref], SubnetIds: [privateSubnetA.ref, privateSubnetB.ref] },
        Aws.NO_VALUE,
      ),
    );
    // Lambda creates the function's network interfaces with the function's role
    // (AWSLambdaVPCAccessExecutionRole's EC2 actions; AWS requires Resource "*" for them). A
    // second inline policy of the role, only with FixedEgress, so that the role has it before
    // the function is created in the VPC.
    (replySender.role!.node.defaultChild as iam.CfnRole).addPropertyOverride(
      'Policies.1',
      Fn.conditionIf(
        fixedEgress.logicalId,
        {
          PolicyName: 'reply-sender-vpc',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'VpcNetworkInterfaces',
                Effect: 'Allow',
                Action: [
                  'ec2:CreateNetworkInterface',
                  'ec2:DescribeNetworkInterfaces',
                  'ec2:DescribeSubnets',
                  'ec2:DeleteNetworkInterface',
                  'ec2:AssignPrivateIpAddresses',
                  'ec2:UnassignPrivateIpAddresses',
                ],
                Resource: '*',
              },
            ],
          },
        },
        Aws.NO_VALUE,
      ),
    );

    // ---------------------------------------------------------------------------------------
    // Alarms -> SNS topic (+ optional e-mail subscription).
    // ---------------------------------------------------------------------------------------
    const alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Channel gateway alarms',
      enforceSSL: true,
    });
    logicalId(alarmTopic, 'AlarmTopic');
    // desk-api, its sign-in (Cognito), routes behind DeskAuthorizer, alarms, outputs (desk-api.ts).
    const desk = deskApi(this, {
      gatewayFunction: (spec) => this.gatewayFunction(fnCommon, spec),
      table,
      outboundQueue,
      api: replyHttpApi,
      stage: replyHttpApiStage,
      rateLimit: replyApiRouteRateLimit,
      burstLimit: replyApiRouteBurstLimit,
      stageName,
      customDomain,
      hasCustomDomain,
      alarmTopic,
    });
    const emailSubscription = new sns.CfnSubscription(this, 'AlarmEmailSubscription', {
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
      const a = new cloudwatch.Alarm(this, id, {
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
    atLeastOnceIn5Minutes(
      'DeliveryUncertainAlarm',
      'DeliveryUncertain',
      'A reply was marked delivery_uncertain: it may or may not have reached the customer and is never retried (needs a person).',
    );
    // sla-monitor emits SlaBreaches once per breach it records (also with no dimensions); each
    // breach is also an alert on AlertsTopic, for the people on duty.
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

    // ---------------------------------------------------------------------------------------
    // Dashboard: contact-centre metrics (EMF, namespace ChannelGateway, emitted by the router,
    // the reply sender and the SLA monitor) plus queue depth, DLQ depth, function errors and
    // latency, the SLA monitor's timers, the table stream's readers.
    // FirstResponseTime: the reply sender emits it for a person's first answer of an episode
    // (rule and system replies never count).
    // Who waits: the SLA monitor's inbox gauges, measured every minute (UnansweredNow,
    // OldestWaitingSeconds per account). Never the router's UnansweredConversations: a +1/-1
    // flow metric, whose sum per period is no level.
    // ---------------------------------------------------------------------------------------
    const dashboard = new cloudwatch.CfnDashboard(this, 'Dashboard', {
      dashboardName: `${Aws.STACK_NAME}-contact-centre`,
      dashboardBody: this.toJsonString(
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
            ['desk-api', desk.functionName, false],
          ],
          replyApiName: replyApi.functionName,
          replySenderName: replySender.functionName,
          timersQueueName: timersQueue.queueName,
          timersDlqName: timersDlq.queueName,
          streamFailuresQueueName: streamFailuresQueue.queueName,
          slaMonitorName: slaMonitor.functionName,
          statsAggregatorName: aggregator.functionName,
          deskApiName: desk.functionName,
          replyApiId: replyHttpApi.apiId,
        }),
      ),
    });

    // ---------------------------------------------------------------------------------------
    // Outputs (same names as the SAM template).
    // ---------------------------------------------------------------------------------------
    const apiBase = `https://${httpApi.apiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${stageName.valueAsString}`;
    new CfnOutput(this, 'WeChatWebhookUrl', {
      description:
        "WeChat server URL (服务器地址): replace {account} with the account's key in the accounts document, then paste it in the WeChat console.",
      value: `${apiBase}/wechat/{account}`,
    });
    new CfnOutput(this, 'WeiboWebhookUrl', {
      description: "Weibo 开发模式 URL: replace {account} with the account's key in the accounts document.",
      value: `${apiBase}/weibo/{account}`,
    });
    new CfnOutput(this, 'HttpApiId', {
      description: 'Webhook HTTP API id (WeChat and Weibo webhooks)',
      value: httpApi.apiId,
    });
    new CfnOutput(this, 'ReplyHttpApiId', { description: 'Reply HTTP API id (reply API only)', value: replyHttpApi.apiId });
    new CfnOutput(this, 'InboundQueueUrl', {
      description: 'Inbound FIFO queue (webhooks -> router)',
      value: inboundQueue.queueUrl,
    });
    new CfnOutput(this, 'InboundDeadLetterQueueUrl', {
      description: 'Inbound dead-letter queue (poison messages; redrive after a fix)',
      value: inboundDlq.queueUrl,
    });
    new CfnOutput(this, 'ReplyApiUrl', {
      description:
        "Reply API for agent desks and CRM systems: POST <this> to send a reply, GET <this>/{reply_id} for its delivery state (HMAC-signed; clients in the ApiClients secret). Its own HTTP API, separate from the webhooks'.",
      value: `https://${replyHttpApi.apiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${stageName.valueAsString}/replies`,
    });
    new CfnOutput(this, 'OutboundQueueUrl', {
      description: 'Outbound FIFO queue of reply commands (router auto-replies, reply-api -> reply-sender)',
      value: outboundQueue.queueUrl,
    });
    new CfnOutput(this, 'OutboundDeadLetterQueueUrl', {
      description:
        "Outbound dead-letter queue (replies refused for good, with an error_code attribute; redrive after a fix, deleting the reply's delivery record first)",
      value: outboundDlq.queueUrl,
    });
    new CfnOutput(this, 'TimersQueueUrl', {
      description: 'Timers queue of sla-monitor (standard; each timer a delayed message)',
      value: timersQueue.queueUrl,
    });
    new CfnOutput(this, 'TimersDeadLetterQueueUrl', {
      description: 'Timers dead-letter queue (undecodable or failing timers; redrive after a fix)',
      value: timersDlq.queueUrl,
    });
    new CfnOutput(this, 'StreamFailuresQueueUrl', {
      description:
        'Records of the table stream batches sla-monitor or stats-aggregator gave up on (shard and sequence numbers; the records stay in the stream 24 hours)',
      value: streamFailuresQueue.queueUrl,
    });
    new CfnOutput(this, 'TableName', {
      description:
        'DynamoDB table: conversations and messages, and where the router reads its rules (item PK=CONFIG, SK=RULES; `gatewayctl rules push config/rules.yaml --table <this>`).',
      value: table.tableName,
    });
    new CfnOutput(this, 'WebhookCredentialsSecretId', {
      description:
        "ARN of the webhooks' credentials secret (read by wechat-webhook and weibo-webhook only; `gatewayctl accounts push FILE --webhook-secret <this> ...`).",
      value: webhookCredentialsSecretId,
    });
    new CfnOutput(this, 'DeliveryCredentialsSecretId', {
      description:
        'ARN of the delivery credentials secret (read by reply-sender only; `gatewayctl accounts push FILE --delivery-secret <this> ...`).',
      value: deliveryCredentialsSecretId,
    });
    new CfnOutput(this, 'ApiClientsSecretId', {
      description:
        'ARN of the reply API clients secret (read by reply-api only; `gatewayctl accounts push FILE --api-secret <this> ...`).',
      value: apiClientsSecretId,
    });
    new CfnOutput(this, 'AlarmTopicArn', { description: 'SNS topic of the alarms', value: alarmTopic.topicArn });
    new CfnOutput(this, 'AlertsTopicArn', {
      description:
        "SNS topic of the contact centre's alerts (escalations, service-level breaches): subscribe e-mail, SMS, an HTTPS endpoint or a Lambda function",
      value: alertsTopic.topicArn,
    });
    new CfnOutput(this, 'DashboardUrl', {
      description: 'CloudWatch dashboard',
      value: `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${dashboard.ref}`,
    });
    const egressIpOutput = new CfnOutput(this, 'FixedEgressIp', {
      description: "Fixed egress address of reply-sender (add it to WeChat's IP allow-list, IP白名单)",
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
      new CfnOutput(this, id, { description, value }).condition = hasCustomDomain;
    }
  }

  /**
   * Log group + least-privilege role + function (a RustFunction built by cargo lambda, or the
   * prebuilt zip with `-c prebuilt=<dir>`), with the SAM template's logical ids.
   */
  private gatewayFunction(
    common: { retentionDays: number; applicationLogLevel: string; manifestPath: string },
    spec: GatewayFunctionSpec,
  ): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${spec.id}LogGroup`, {
      logGroupName: `/aws/lambda/${Aws.STACK_NAME}/${spec.binary}`,
      // Kept when the stack is deleted or the group replaced (audit trail).
      removalPolicy: RemovalPolicy.RETAIN,
    });
    logicalId(logGroup, `${spec.id}LogGroup`);
    (logGroup.node.defaultChild as logs.CfnLogGroup).retentionInDays = common.retentionDays;

    const role = new iam.Role(this, `${spec.id}Role`, {
      description: spec.description,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      inlinePolicies: {
        [spec.binary]: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'Logs',
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [logGroup.logGroupArn],
            }),
            ...spec.statements,
          ],
        }),
      },
    });
    logicalId(role, `${spec.id}Role`);

    const settings = {
      memorySize: MEMORY_MB,
      timeout: Duration.seconds(spec.timeoutSecs),
      reservedConcurrentExecutions: spec.reservedConcurrency,
      description: spec.description,
      role,
      environment: spec.environment,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: common.applicationLogLevel as lambda.ApplicationLogLevel,
      systemLogLevelV2: lambda.SystemLogLevel.INFO,
      logGroup,
    };
    let fn: lambda.Function;
    if (this.prebuiltDir === undefined) {
      fn = new RustFunction(this, `${spec.id}Function`, {
        ...settings,
        manifestPath: common.manifestPath,
        binaryName: spec.binary,
        runtime: 'provided.al2023',
        architecture: lambda.Architecture.ARM_64,
      });
    } else {
      // What RustFunction sets besides its bundled code: runtime, arm64, handler bootstrap.
      const zip = path.join(this.prebuiltDir, spec.binary, 'bootstrap.zip');
      if (!fs.existsSync(zip)) {
        throw new Error(`-c prebuilt=${this.prebuiltDir}: ${zip} does not exist (make build writes it)`);
      }
      fn = new lambda.Function(this, `${spec.id}Function`, {
        ...settings,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: lambda.Architecture.ARM_64,
        handler: 'bootstrap',
        code: lambda.Code.fromAsset(zip),
      });
    }
    logicalId(fn, `${spec.id}Function`);
    // The role's policies are inline (part of the role), so Role: !GetAtt already orders
    // the function after them; CDK's extra DependsOn on the role is redundant (cfn-lint W3005).
    (fn.node.defaultChild as CfnResource).addDeletionOverride('DependsOn');
    Tags.of(fn).add('function', spec.binary);
    return fn;
  }
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
          title: 'Accounts problems and uncertain deliveries',
          region,
          view: 'timeSeries',
          period: 300,
          metrics: [
            ['ChannelGateway', 'AccountsRefreshFailed', { stat: 'Sum', label: 'accounts refresh failed' }],
            ['ChannelGateway', 'AccountsUnavailable', { stat: 'Sum', label: 'answered 503: no accounts' }],
            ['ChannelGateway', 'DeliveryUncertain', { stat: 'Sum', label: 'delivery uncertain' }],
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
    ],
  };
}
