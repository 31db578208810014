// Parameters and conditions (same names, defaults and constraints as the SAM template), the
// LogLevels mapping and the rules CloudFormation checks before any change is made.
import { CfnCondition, CfnMapping, CfnParameter, CfnRule, Fn } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { oldestWaitAlarmParameter } from './inbox-gauges';

export interface GatewayParameters {
  readonly stageName: CfnParameter;
  readonly logRetentionDays: CfnParameter;
  /** Lambda's ApplicationLogLevel for LogLevel (Fn::FindInMap on LogLevels). */
  readonly applicationLogLevel: string;
  readonly webhookCredentialsSecretArn: CfnParameter;
  readonly deliveryCredentialsSecretArn: CfnParameter;
  readonly apiClientsSecretArn: CfnParameter;
  readonly webhookTargetsSecretArn: CfnParameter;
  readonly accountsSecretKmsKeyArn: CfnParameter;
  readonly messageRouterReservedConcurrency: CfnParameter;
  readonly replySenderReservedConcurrency: CfnParameter;
  readonly mediaFetcherReservedConcurrency: CfnParameter;
  readonly webhookSenderReservedConcurrency: CfnParameter;
  /** MessageTtlDays: MESSAGE_TTL_DAYS of the functions, and the media bucket's expiration. */
  readonly messageTtlDays: CfnParameter;
  readonly webhookRouteRateLimit: CfnParameter;
  readonly webhookRouteBurstLimit: CfnParameter;
  readonly replyApiRouteRateLimit: CfnParameter;
  readonly replyApiRouteBurstLimit: CfnParameter;
  readonly alarmEmail: CfnParameter;
  readonly alertsEmail: CfnParameter;
  readonly oldestWaitAlarmSeconds: CfnParameter;
  readonly enableFixedEgress: CfnParameter;
  readonly customDomainName: CfnParameter;
  readonly customDomainCertificateArn: CfnParameter;
  readonly customDomainHostedZoneId: CfnParameter;
}

export interface GatewayConditions {
  readonly isProduction: CfnCondition;
  readonly createWebhookCredentialsSecret: CfnCondition;
  readonly createDeliveryCredentialsSecret: CfnCondition;
  readonly createApiClientsSecret: CfnCondition;
  readonly createWebhookTargetsSecret: CfnCondition;
  readonly hasAccountsSecretKmsKey: CfnCondition;
  readonly hasAlarmEmail: CfnCondition;
  readonly hasAlertsEmail: CfnCondition;
  readonly fixedEgress: CfnCondition;
  readonly hasCustomDomain: CfnCondition;
  readonly createCustomDomainRecord: CfnCondition;
  /** MessageTtlDays != 0: the media bucket's objects expire (media.ts). */
  readonly expireMessages: CfnCondition;
}

/** The stack's parameters and the LogLevels mapping. */
export function gatewayParameters(scope: Construct): GatewayParameters {
  const stageName = new CfnParameter(scope, 'StageName', {
    type: 'String',
    default: 'prod',
    allowedPattern: '^[a-zA-Z0-9_-]{1,64}$',
    description: 'HTTP API stage (part of the webhook URLs). "prod" also turns on DynamoDB deletion protection.',
  });
  const logLevel = new CfnParameter(scope, 'LogLevel', {
    type: 'String',
    default: 'info',
    // No "trace": at that level the functions log raw platform events and tokens.
    allowedValues: ['debug', 'info', 'warn'],
    description: 'Application log level of every function (Lambda ApplicationLogLevel).',
  });
  const logRetentionDays = new CfnParameter(scope, 'LogRetentionDays', {
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
  const webhookCredentialsSecretArn = new CfnParameter(scope, 'WebhookCredentialsSecretArn', {
    type: 'String',
    default: '',
    allowedPattern: secretArnPattern,
    description:
      "Full ARN of an existing Secrets Manager secret holding the webhooks' credentials (read by wechat-webhook and weibo-webhook only). Empty (default) = the stack creates one with an empty document; fill it with `gatewayctl accounts push`.",
  });
  const deliveryCredentialsSecretArn = new CfnParameter(scope, 'DeliveryCredentialsSecretArn', {
    type: 'String',
    default: '',
    allowedPattern: secretArnPattern,
    description:
      'Full ARN of an existing Secrets Manager secret holding the platform API credentials (read by reply-sender, media-fetcher, desk-api and weibo-poller only). Empty (default) = the stack creates one with an empty document.',
  });
  const apiClientsSecretArn = new CfnParameter(scope, 'ApiClientsSecretArn', {
    type: 'String',
    default: '',
    allowedPattern: secretArnPattern,
    description:
      "Full ARN of an existing Secrets Manager secret holding the reply API's clients (read by reply-api only). Empty (default) = the stack creates one with an empty document.",
  });
  const webhookTargetsSecretArn = new CfnParameter(scope, 'WebhookTargetsSecretArn', {
    type: 'String',
    default: '',
    allowedPattern: secretArnPattern,
    description:
      "Full ARN of an existing Secrets Manager secret holding the API clients' webhook targets (read by webhook-sender only). Empty (default) = the stack creates one with an empty document.",
  });
  const accountsSecretKmsKeyArn = new CfnParameter(scope, 'AccountsSecretKmsKeyArn', {
    type: 'String',
    default: '',
    allowedPattern: '^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$',
    description:
      "Only when the given secrets are encrypted with a customer managed KMS key: that key's ARN (the functions that read a secret then get kms:Decrypt on it, via Secrets Manager only).",
  });
  const reservedConcurrency = (id: string, fn: string, dflt: number) =>
    new CfnParameter(scope, id, {
      type: 'Number',
      default: dflt,
      minValue: 2,
      maxValue: 1000,
      description: `Reserved concurrency of ${fn}; also the MaximumConcurrency of its SQS event source (which cannot be below 2).`,
    });
  const messageRouterReservedConcurrency = reservedConcurrency('MessageRouterReservedConcurrency', 'message-router', 10);
  const replySenderReservedConcurrency = reservedConcurrency('ReplySenderReservedConcurrency', 'reply-sender', 5);
  const mediaFetcherReservedConcurrency = reservedConcurrency('MediaFetcherReservedConcurrency', 'media-fetcher', 5);
  const webhookSenderReservedConcurrency = reservedConcurrency('WebhookSenderReservedConcurrency', 'webhook-sender', 5);
  // How long messages are kept: the table's items expire by TTL (MESSAGE_TTL_DAYS of the
  // functions that write them) and the media bucket's objects by a lifecycle rule, the same
  // number of days, so that no photo outlives its message. 0 keeps both forever.
  const messageTtlDays = new CfnParameter(scope, 'MessageTtlDays', {
    type: 'Number',
    default: 90,
    minValue: 0,
    maxValue: 36500,
    description:
      'Days a message is kept (its item in the table, and its media in the media bucket); 0 = forever (no TTL, no expiration rule).',
  });
  const routeLimit = (id: string, dflt: number, max: number, description: string) =>
    new CfnParameter(scope, id, { type: 'Number', default: dflt, minValue: 1, maxValue: max, description });
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
  const alarmEmail = new CfnParameter(scope, 'AlarmEmail', {
    type: 'String',
    default: '',
    allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
    description: 'Optional e-mail address subscribed to the alarm topic (confirm the e-mail AWS sends).',
  });
  const alertsEmail = new CfnParameter(scope, 'AlertsEmail', {
    type: 'String',
    default: '',
    allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
    description:
      "Optional e-mail address subscribed to the alerts topic: the contact centre's escalations and service-level breaches (confirm the e-mail AWS sends). Other subscribers (SMS, chat webhooks) subscribe to the AlertsTopicArn output.",
  });
  const oldestWaitAlarmSeconds = oldestWaitAlarmParameter(scope);
  const enableFixedEgress = new CfnParameter(scope, 'EnableFixedEgress', {
    type: 'String',
    default: 'false',
    allowedValues: ['true', 'false'],
    description:
      '"true" creates a VPC with private subnets behind one NAT gateway and one Elastic IP and runs the functions that call the WeChat/Weibo APIs (reply-sender, media-fetcher, desk-api, weibo-poller) in it, so their calls leave from one fixed address (WeChat\'s IP allow-list). The other functions never need it.',
  });

  // Optional custom domain: stable URLs for the platform consoles and the API clients.
  // CloudFormation parameters, as in the SAM template (not CDK context): a later deploy
  // that does not mention them keeps their values, so it cannot drop the domain the
  // consoles point at by omission.
  const customDomainName = new CfnParameter(scope, 'CustomDomainName', {
    type: 'String',
    default: '',
    allowedPattern: '^$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$',
    description:
      'Optional custom domain of both HTTP APIs (lower case, e.g. gateway.example.com): https://<it>/webhooks/... is the webhook API, https://<it>/reply-api/... the reply API. Empty (default) = no custom domain, no extra resource.',
  });
  const customDomainCertificateArn = new CfnParameter(scope, 'CustomDomainCertificateArn', {
    type: 'String',
    default: '',
    allowedPattern: '^$|^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[a-f0-9-]+$',
    description:
      "Required with CustomDomainName: ARN of an issued ACM certificate for that name, in the stack's own region (a REGIONAL endpoint).",
  });
  const customDomainHostedZoneId = new CfnParameter(scope, 'CustomDomainHostedZoneId', {
    type: 'String',
    default: '',
    allowedPattern: '^$|^Z[A-Z0-9]{1,31}$',
    description:
      'Optional, with CustomDomainName: id of the Route 53 hosted zone of that name; the stack then creates the alias A record. Empty = you point DNS at the CustomDomainTarget output.',
  });

  // Lambda's ApplicationLogLevel values are upper case.
  new CfnMapping(scope, 'LogLevels', {
    mapping: {
      debug: { Lambda: 'DEBUG' },
      info: { Lambda: 'INFO' },
      warn: { Lambda: 'WARN' },
    },
  });
  const applicationLogLevel = Fn.findInMap('LogLevels', logLevel.valueAsString, 'Lambda');

  return {
    stageName,
    logRetentionDays,
    applicationLogLevel,
    webhookCredentialsSecretArn,
    deliveryCredentialsSecretArn,
    apiClientsSecretArn,
    webhookTargetsSecretArn,
    accountsSecretKmsKeyArn,
    messageRouterReservedConcurrency,
    replySenderReservedConcurrency,
    mediaFetcherReservedConcurrency,
    webhookSenderReservedConcurrency,
    messageTtlDays,
    webhookRouteRateLimit,
    webhookRouteBurstLimit,
    replyApiRouteRateLimit,
    replyApiRouteBurstLimit,
    alarmEmail,
    alertsEmail,
    oldestWaitAlarmSeconds,
    enableFixedEgress,
    customDomainName,
    customDomainCertificateArn,
    customDomainHostedZoneId,
  };
}

/** The conditions on the parameters, and the rules checked before any change is made. */
export function gatewayConditions(scope: Construct, params: GatewayParameters): GatewayConditions {
  const {
    stageName,
    webhookCredentialsSecretArn,
    deliveryCredentialsSecretArn,
    apiClientsSecretArn,
    webhookTargetsSecretArn,
    accountsSecretKmsKeyArn,
    alarmEmail,
    alertsEmail,
    enableFixedEgress,
    customDomainName,
    customDomainCertificateArn,
    customDomainHostedZoneId,
    messageTtlDays,
  } = params;
  const isProduction = new CfnCondition(scope, 'IsProduction', {
    expression: Fn.conditionEquals(stageName.valueAsString, 'prod'),
  });
  const createWebhookCredentialsSecret = new CfnCondition(scope, 'CreateWebhookCredentialsSecret', {
    expression: Fn.conditionEquals(webhookCredentialsSecretArn.valueAsString, ''),
  });
  const createDeliveryCredentialsSecret = new CfnCondition(scope, 'CreateDeliveryCredentialsSecret', {
    expression: Fn.conditionEquals(deliveryCredentialsSecretArn.valueAsString, ''),
  });
  const createApiClientsSecret = new CfnCondition(scope, 'CreateApiClientsSecret', {
    expression: Fn.conditionEquals(apiClientsSecretArn.valueAsString, ''),
  });
  const createWebhookTargetsSecret = new CfnCondition(scope, 'CreateWebhookTargetsSecret', {
    expression: Fn.conditionEquals(webhookTargetsSecretArn.valueAsString, ''),
  });
  const hasAccountsSecretKmsKey = new CfnCondition(scope, 'HasAccountsSecretKmsKey', {
    expression: Fn.conditionNot(Fn.conditionEquals(accountsSecretKmsKeyArn.valueAsString, '')),
  });
  const hasAlarmEmail = new CfnCondition(scope, 'HasAlarmEmail', {
    expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')),
  });
  const hasAlertsEmail = new CfnCondition(scope, 'HasAlertsEmail', {
    expression: Fn.conditionNot(Fn.conditionEquals(alertsEmail.valueAsString, '')),
  });
  const fixedEgress = new CfnCondition(scope, 'FixedEgress', {
    expression: Fn.conditionEquals(enableFixedEgress.valueAsString, 'true'),
  });
  const hasCustomDomain = new CfnCondition(scope, 'HasCustomDomain', {
    expression: Fn.conditionNot(Fn.conditionEquals(customDomainName.valueAsString, '')),
  });
  const createCustomDomainRecord = new CfnCondition(scope, 'CreateCustomDomainRecord', {
    expression: Fn.conditionAnd(
      hasCustomDomain,
      Fn.conditionNot(Fn.conditionEquals(customDomainHostedZoneId.valueAsString, '')),
    ),
  });
  const expireMessages = new CfnCondition(scope, 'ExpireMessages', {
    expression: Fn.conditionNot(Fn.conditionEquals(messageTtlDays.valueAsString, '0')),
  });
  // Checked before any change is made: a custom domain needs its certificate, a hosted zone
  // needs the domain.
  new CfnRule(scope, 'CustomDomainNeedsCertificate', {
    ruleCondition: Fn.conditionNot(Fn.conditionEquals(customDomainName.valueAsString, '')),
    assertions: [
      {
        assert: Fn.conditionNot(Fn.conditionEquals(customDomainCertificateArn.valueAsString, '')),
        assertDescription:
          "CustomDomainName needs CustomDomainCertificateArn (an ACM certificate for it, in the stack's region).",
      },
    ],
  });
  new CfnRule(scope, 'CustomDomainHostedZoneNeedsDomain', {
    ruleCondition: Fn.conditionNot(Fn.conditionEquals(customDomainHostedZoneId.valueAsString, '')),
    assertions: [
      {
        assert: Fn.conditionNot(Fn.conditionEquals(customDomainName.valueAsString, '')),
        assertDescription: 'CustomDomainHostedZoneId is only used with CustomDomainName.',
      },
    ],
  });

  return {
    isProduction,
    createWebhookCredentialsSecret,
    createDeliveryCredentialsSecret,
    createApiClientsSecret,
    createWebhookTargetsSecret,
    hasAccountsSecretKmsKey,
    hasAlarmEmail,
    hasAlertsEmail,
    fixedEgress,
    hasCustomDomain,
    createCustomDomainRecord,
    expireMessages,
  };
}
