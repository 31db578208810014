// The accounts document's secrets, one per role, and kms:Decrypt on a customer managed key
// of given secrets.
import { Aws, CfnCondition, CfnParameter, CfnResource, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { logicalId } from './common';
import { GatewayConditions, GatewayParameters } from './parameters';

/** The ARN of each role's secret (created or given), for the functions' environment and IAM. */
export interface RoleSecrets {
  readonly webhookCredentialsSecretId: string;
  readonly deliveryCredentialsSecretId: string;
  readonly apiClientsSecretId: string;
  readonly webhookTargetsSecretId: string;
}

export function roleSecrets(scope: Construct, params: GatewayParameters, conditions: GatewayConditions): RoleSecrets {
  const { webhookCredentialsSecretArn, deliveryCredentialsSecretArn, apiClientsSecretArn, webhookTargetsSecretArn } = params;
  const { createWebhookCredentialsSecret, createDeliveryCredentialsSecret, createApiClientsSecret, createWebhookTargetsSecret } =
    conditions;

  // ---------------------------------------------------------------------------------------
  // Secrets, one per role (least privilege): each holds the part of the accounts document
  // its readers need, written by `gatewayctl accounts push` from one validated document.
  // Each is created with an empty document unless its *SecretArn parameter names an
  // existing one; the template never holds a credential. The functions ignore top-level
  // keys starting with "_" (the generated _placeholder).
  //   WebhookCredentials  -> wechat-webhook, weibo-webhook (signature/decryption keys)
  //   DeliveryCredentials -> reply-sender, media-fetcher, desk-api, weibo-poller (platform API credentials:
  //                          replies, media downloads, agents' file uploads)
  //   ApiClients          -> reply-api (the reply API's clients)
  //   WebhookTargets      -> webhook-sender (the API clients' webhook targets and scopes)
  // message-router, sla-monitor and stats-aggregator read no secret.
  // ---------------------------------------------------------------------------------------
  /** The secret (created under `create`, else the given ARN): its ARN for env and IAM. */
  const roleSecret = (id: string, description: string, template: string, create: CfnCondition, given: CfnParameter) => {
    const secret = new secretsmanager.Secret(scope, id, {
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
  const webhookTargetsSecretId = roleSecret(
    'WebhookTargetsSecret',
    "Channel gateway API clients' webhook targets",
    '{"api_clients":{}}',
    createWebhookTargetsSecret,
    webhookTargetsSecretArn,
  );
  return { webhookCredentialsSecretId, deliveryCredentialsSecretId, apiClientsSecretId, webhookTargetsSecretId };
}

/**
 * kms:Decrypt on the given secrets' customer managed key, only when one is given, for
 * every function that reads a secret (not the router, sla-monitor or stats-aggregator).
 */
export function accountsSecretKmsDecrypt(
  scope: Construct,
  params: GatewayParameters,
  conditions: GatewayConditions,
  secretReaders: lambda.IFunction[],
): void {
  const decryptAccounts = new iam.CfnPolicy(scope, 'AccountsSecretKmsDecryptPolicy', {
    policyName: 'accounts-secret-kms-decrypt',
    roles: secretReaders.map((fn) => fn.role!.roleName),
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DecryptAccounts',
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: params.accountsSecretKmsKeyArn.valueAsString,
          Condition: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` },
          },
        },
      ],
    },
  });
  decryptAccounts.cfnOptions.condition = conditions.hasAccountsSecretKmsKey;
}
