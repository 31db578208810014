// desk-api: the agents' and supervisors' desk (functions/desk-api). Its sign-in (the Cognito
// user pool DeskUserPool, its app client DeskUserPoolClient, the groups agents, supervisors,
// admins), the function with its least-privilege role, its routes on the reply HTTP API behind
// the JWT authorizer DeskAuthorizer (each requiring the access tokens' scope), its outputs and
// its dashboard row (its alarms: alarms.ts). Media: it presigns the desk's URLs of the media
// bucket and sends agents' files to WeChat (POST /media), in the fixed-egress VPC when
// EnableFixedEgress (egress.ts).
// Same logical ids as the SAM template: DeskUserPool, DeskUserPoolClient, DeskAgentsGroup,
// DeskSupervisorsGroup, DeskAdminsGroup, DeskAuthorizer, DeskApiFunction, DeskApiRole,
// DeskApiLogGroup.
import { Aws, CfnCondition, CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { GatewayFunctionFactory, leadingKeys, logicalId, queriedKeys } from './common';
import { GatewayHttpApis } from './http-apis';
import { DESK_MAX_UPLOAD_BYTES } from './limits';
import { MEDIA_PREFIX, tokenCacheStatement, UPLOADS_PREFIX } from './media';
import { GatewayParameters } from './parameters';

/** desk-api's timeout, and the integration timeout of its routes (a bit more, as reply-api's). */
export const DESK_API_TIMEOUT_SECS = 6;
export const DESK_API_INTEGRATION_TIMEOUT_SECS = 8;

/**
 * The scope every desk route requires: Cognito puts it in the access tokens of its API sign-in
 * (SRP, USER_PASSWORD_AUTH, refresh), and its ID tokens carry no scope, so API Gateway refuses
 * an ID token (whose aud is the client id, the authorizer's audience) as desk-api does.
 */
export const DESK_ROUTE_SCOPES = ['aws.cognito.signin.user.admin'];

/** desk-api's routes: [method, path] on the reply HTTP API, each behind DeskAuthorizer. */
export const DESK_API_ROUTES: Array<[apigwv2.HttpMethod, string]> = [
  [apigwv2.HttpMethod.GET, '/me'],
  [apigwv2.HttpMethod.GET, '/agents'],
  [apigwv2.HttpMethod.PUT, '/agents/{agent_id}'],
  [apigwv2.HttpMethod.DELETE, '/agents/{agent_id}'],
  [apigwv2.HttpMethod.GET, '/conversations'],
  [apigwv2.HttpMethod.GET, '/conversations/counts'],
  [apigwv2.HttpMethod.POST, '/conversations/next'],
  [apigwv2.HttpMethod.GET, '/conversations/{key}'],
  [apigwv2.HttpMethod.PATCH, '/conversations/{key}'],
  [apigwv2.HttpMethod.GET, '/conversations/{key}/messages'],
  [apigwv2.HttpMethod.POST, '/conversations/{key}/replies'],
  [apigwv2.HttpMethod.POST, '/conversations/{key}/notes'],
  [apigwv2.HttpMethod.GET, '/conversations/{key}/audit'],
  [apigwv2.HttpMethod.GET, '/canned-responses'],
  [apigwv2.HttpMethod.POST, '/canned-responses'],
  [apigwv2.HttpMethod.PUT, '/canned-responses/{id}'],
  [apigwv2.HttpMethod.DELETE, '/canned-responses/{id}'],
  [apigwv2.HttpMethod.GET, '/stats'],
  [apigwv2.HttpMethod.POST, '/media'],
];

/** The desk's groups: [logical id, group name, description, precedence]. */
const DESK_GROUPS: Array<[string, string, string, number]> = [
  ['DeskAgentsGroup', 'agents', 'Desk agents', 30],
  ['DeskSupervisorsGroup', 'supervisors', 'Desk supervisors', 20],
  ['DeskAdminsGroup', 'admins', 'Desk administrators', 10],
];

export interface DeskApiProps {
  /** The stack's function factory (log group, role with these statements, function). */
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.ITable;
  /** The outbound FIFO queue: an agent's reply goes there, as reply-api's. */
  readonly outboundQueue: sqs.IQueue;
  /** The media bucket (media.ts): presigned GET URLs, the agents' files. */
  readonly mediaBucket: s3.CfnBucket;
  /** The ARN of the delivery credentials secret (secrets.ts): WeChat's media/upload API. */
  readonly deliveryCredentialsSecretId: string;
  /** The HTTP APIs: the desk's routes are on the reply HTTP API, throttled as its others. */
  readonly apis: GatewayHttpApis;
  /** StageName (DeskApiUrl), ReplyApiRouteRateLimit and ReplyApiRouteBurstLimit. */
  readonly params: GatewayParameters;
  /** The optional custom domain (the desk is under its reply-api base path). */
  readonly customDomain: apigwv2.CfnDomainName;
  readonly hasCustomDomain: CfnCondition;
}

/** desk-api, and the sign-in its tokens come from. */
export interface DeskApi {
  readonly fn: lambda.Function;
  readonly pool: cognito.CfnUserPool;
  readonly client: cognito.CfnUserPoolClient;
}

/**
 * The desk's sign-in: the user pool (administrators create the users; retained, with deletion
 * protection: agents' accounts survive a stack mistake), its app client and the groups.
 * L1 resources, exactly as in the SAM template.
 */
function deskSignIn(scope: Construct): { pool: cognito.CfnUserPool; client: cognito.CfnUserPoolClient } {
  const pool = new cognito.CfnUserPool(scope, 'DeskUserPool', {
    userPoolName: `${Aws.STACK_NAME}-desk`,
    deletionProtection: 'ACTIVE',
    adminCreateUserConfig: { allowAdminCreateUserOnly: true },
    usernameConfiguration: { caseSensitive: false },
    autoVerifiedAttributes: ['email'],
    accountRecoverySetting: { recoveryMechanisms: [{ name: 'verified_email', priority: 1 }] },
    policies: {
      passwordPolicy: {
        minimumLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireNumbers: true,
        requireSymbols: true,
        // The temporary password of admin-create-user expires after this (a new one then).
        temporaryPasswordValidityDays: 3,
      },
    },
    userPoolTags: { app: 'channel-gateway' },
  });
  pool.applyRemovalPolicy(RemovalPolicy.RETAIN);
  logicalId(pool, 'DeskUserPool');
  // The desk (browser, SRP) and the command-line login (USER_PASSWORD_AUTH: the password goes
  // to Cognito over TLS instead of the SRP exchange, which a shell script cannot do) sign in
  // through this client; no secret (a public client). API Gateway's JWT authorizer takes its id
  // as the audience (an access token's client_id).
  const client = new cognito.CfnUserPoolClient(scope, 'DeskUserPoolClient', {
    userPoolId: pool.ref,
    clientName: 'desk',
    generateSecret: false,
    explicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_PASSWORD_AUTH'],
    // Unknown user and wrong password get the same answer (no user enumeration).
    preventUserExistenceErrors: 'ENABLED',
    enableTokenRevocation: true,
    accessTokenValidity: 60,
    idTokenValidity: 60,
    // An agent's shift: after 12 hours the desk asks for the password again.
    refreshTokenValidity: 12,
    tokenValidityUnits: { accessToken: 'minutes', idToken: 'minutes', refreshToken: 'hours' },
  });
  logicalId(client, 'DeskUserPoolClient');
  for (const [id, groupName, description, precedence] of DESK_GROUPS) {
    const group = new cognito.CfnUserPoolGroup(scope, id, { userPoolId: pool.ref, groupName, description, precedence });
    group.applyRemovalPolicy(RemovalPolicy.RETAIN);
    logicalId(group, id);
  }
  return { pool, client };
}

/** What desk-api does on the table, the queue, the media bucket (FUNCTIONS' DeskApiFunction row). */
function deskApiStatements(
  table: dynamodb.ITable,
  outboundQueue: sqs.IQueue,
  bucket: s3.CfnBucket,
  deliveryCredentialsSecretId: string,
): iam.PolicyStatement[] {
  return [
    // An agent's reply, queued for reply-sender as reply-api's (FIFO).
    new iam.PolicyStatement({ sid: 'QueueReplies', actions: ['sqs:SendMessage'], resources: [outboundQueue.queueArn] }),
    // The table, by partition key; Query on the table and on GSI1/GSI2 (below); no Scan. The
    // access tokens are checked against the pool's public keys (no secret for them). The table,
    // the queue and the media bucket use AWS owned/managed keys: no kms:Decrypt for them. A
    // conversation (CONV#<conversation key>, SK META) and the agents' profiles (PK=AGENTS,
    // SK=<agent id>).
    new iam.PolicyStatement({
      sid: 'ReadConversationsAndAgents',
      actions: ['dynamodb:GetItem'],
      resources: [table.tableArn],
      conditions: leadingKeys('CONV#*', 'AGENTS'),
    }),
    // The CRM's names joined to a page of conversations by unionid
    // (CRM#wechat#<account>#<unionid>; gateway-aws DynamoDbCrmContacts::get_many).
    new iam.PolicyStatement({
      sid: 'ReadCrmContacts',
      actions: ['dynamodb:BatchGetItem'],
      resources: [table.tableArn],
      conditions: leadingKeys('CRM#*'),
    }),
    // gateway-aws DynamoDbRulesStore::get: the rules document, PK=CONFIG, SK=RULES (a
    // resolution removes the tags the rules' lifecycle names).
    new iam.PolicyStatement({
      sid: 'ReadRules',
      actions: ['dynamodb:GetItem'],
      resources: [table.tableArn],
      conditions: leadingKeys('CONFIG'),
    }),
    // Assign, status, tags, notes, replies: one TransactWriteItems per change (gateway-aws
    // DynamoDbDesk::commit_change, authorized per item: Put -> PutItem, Delete -> DeleteItem):
    // the conversation's Put (on its version), its audit entry's and a note's Puts, the Puts and
    // Deletes of its TAG# items, all in the conversation's partition. No Update and no
    // ConditionCheck item: no UpdateItem, no ConditionCheckItem.
    new iam.PolicyStatement({
      sid: 'ConversationTransactions',
      actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
      resources: [table.tableArn],
      conditions: leadingKeys('CONV#*'),
    }),
    // Agents' profiles (PK=AGENTS) and canned responses (PK=CANNED): put, delete.
    new iam.PolicyStatement({
      sid: 'AgentsAndCannedResponses',
      actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
      resources: [table.tableArn],
      conditions: leadingKeys('AGENTS', 'CANNED'),
    }),
    // A thread's messages and audit trail (CONV#...), the agents (AGENTS), the canned responses
    // (CANNED), the daily statistics (STATS#...), the account registry (ACCOUNTS). On the table
    // only (an index query needs the index's ARN); ForAnyValue: a Query names exactly one
    // partition key, and a request naming none is denied (ForAllValues would allow it).
    new iam.PolicyStatement({
      sid: 'QueryPartitions',
      actions: ['dynamodb:Query'],
      resources: [table.tableArn],
      conditions: queriedKeys('CONV#*', 'AGENTS', 'CANNED', 'STATS#*', 'ACCOUNTS'),
    }),
    // The accounts' inboxes (GSI1: INBOX#<channel>#<account>#<status>), the teams' queues and
    // the tagged conversations (GSI2: TEAM#..., TAG#...), on exactly these two indexes. No
    // LeadingKeys condition (as sla-monitor's GSI1 query: AWS documents dynamodb:LeadingKeys as
    // the table's partition key): the role may read what both indexes hold (docs/deploy.md).
    new iam.PolicyStatement({
      sid: 'QueryIndexes',
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/GSI1`, `${table.tableArn}/index/GSI2`],
    }),
    // Short-lived GET URLs it presigns for the desk (a URL can do no more than its signer): the
    // customers' media (media/*) and the agents' files (uploads/*).
    new iam.PolicyStatement({
      sid: 'ReadMedia',
      actions: ['s3:GetObject'],
      resources: [`${bucket.attrArn}/${MEDIA_PREFIX}*`, `${bucket.attrArn}/${UPLOADS_PREFIX}*`],
    }),
    // An agent's file (POST /media), under uploads/ only: never over a customer's media.
    new iam.PolicyStatement({
      sid: 'StoreUploads',
      actions: ['s3:PutObject'],
      resources: [`${bucket.attrArn}/${UPLOADS_PREFIX}*`],
    }),
    // The WeChat access-token broker it shares with reply-sender and media-fetcher (an agent's
    // file goes to WeChat's media/upload API).
    tokenCacheStatement(table),
    // The platform API credentials (the WeChat access token's appid and secret).
    new iam.PolicyStatement({
      sid: 'ReadDeliveryCredentials',
      actions: ['secretsmanager:GetSecretValue'],
      resources: [deliveryCredentialsSecretId],
    }),
  ];
}

/**
 * The desk: sign-in, desk-api, its routes behind DeskAuthorizer on the reply HTTP API (each
 * throttled like the API's other routes), its outputs. Returns the function, the pool and its
 * app client (the web desk's /config.json names them: desk-site.ts).
 */
export function deskApi(scope: Construct, props: DeskApiProps): DeskApi {
  const { table, outboundQueue, params, mediaBucket, deliveryCredentialsSecretId } = props;
  const { replyHttpApi: api, replyHttpApiStage: stage } = props.apis;
  const { pool, client } = deskSignIn(scope);
  const fn = props.gatewayFunction({
    id: 'DeskApi',
    binary: 'desk-api',
    description: 'Desk API (agents and supervisors; Cognito JWT) -> DynamoDB, outbound FIFO queue, media bucket',
    timeoutSecs: DESK_API_TIMEOUT_SECS,
    environment: {
      TABLE_NAME: table.tableName,
      OUTBOUND_QUEUE_URL: outboundQueue.queueUrl,
      // The token's issuer and the pool's keys (DESK_TOKEN_ISSUER, DESK_JWKS_URL) follow from
      // the pool id and the region.
      DESK_USER_POOL_ID: pool.ref,
      DESK_CLIENT_ID: client.ref,
      // How long the pool's keys are kept (an unknown kid refetches them sooner), and the
      // largest request body (larger: 413). The code's defaults, written down.
      DESK_JWKS_CACHE_SECS: '3600',
      DESK_MAX_BODY_BYTES: '16384',
      // The rules document, cached as long as the router and the others cache it.
      RULES_CACHE_SECS: '30',
      // reply-sender's reply windows and quotas, the same values: a reply outside its window
      // is refused up front, as reply-sender would mark it undeliverable.
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
      // Media: the bucket, how long a presigned GET URL of it lasts, the largest file an agent
      // uploads (POST /media; DESK_MAX_UPLOAD_BYTES in limits.ts: Lambda's 6 MiB request).
      MEDIA_BUCKET: mediaBucket.ref,
      MEDIA_URL_TTL_SECS: '600',
      DESK_MAX_UPLOAD_BYTES: String(DESK_MAX_UPLOAD_BYTES),
      // An agent's file goes to WeChat's media/upload API with the access-token broker
      // reply-sender and media-fetcher share (its timings are theirs).
      DELIVERY_SECRET_ID: deliveryCredentialsSecretId,
      WECHAT_API_BASE_URL: 'https://api.weixin.qq.com',
      WECHAT_TOKEN_API: 'stable',
      PLATFORM_TIMEOUT_SECS: '5',
      TOKEN_REFRESH_AHEAD_SECS: '300',
      TOKEN_LEASE_SECS: '20',
      TOKEN_WAIT_MS: '3000',
    },
    statements: deskApiStatements(table, outboundQueue, mediaBucket, deliveryCredentialsSecretId),
  });

  // The desk's routes only: a Cognito access token of the desk's app client (API Gateway checks
  // the signature, iss, exp, client_id against the audience, and the scope each desk route
  // requires, DESK_ROUTE_SCOPES, which the pool's ID tokens lack). reply-api's routes have
  // none: their clients sign each request with HMAC (no JWT).
  const authorizer = new apigwv2.CfnAuthorizer(scope, 'DeskAuthorizer', {
    apiId: api.apiId,
    name: 'DeskAuthorizer',
    authorizerType: 'JWT',
    identitySource: ['$request.header.Authorization'],
    jwtConfiguration: {
      issuer: `https://cognito-idp.${Aws.REGION}.amazonaws.com/${pool.ref}`,
      audience: [client.ref],
    },
  });
  logicalId(authorizer, 'DeskAuthorizer');
  const routeAuthorizer: apigwv2.IHttpRouteAuthorizer = {
    bind: () => ({ authorizerId: authorizer.ref, authorizationType: 'JWT' }),
  };
  // Integration timeout 8 s, above the function's 6 s (as reply-api's).
  const integration = new HttpLambdaIntegration('DeskApiFunctionIntegration', fn, {
    payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    timeout: Duration.seconds(DESK_API_INTEGRATION_TIMEOUT_SECS),
  });
  // RouteSettings is a JSON property of the stage (CloudFormation's spelling): every route its
  // own limit, the reply API's; a stage's route settings name existing routes: it waits for them.
  const routeSettings = { ...((stage.routeSettings ?? {}) as Record<string, unknown>) };
  for (const [method, path] of DESK_API_ROUTES) {
    const routes = api.addRoutes({
      path,
      methods: [method],
      integration,
      authorizer: routeAuthorizer,
      authorizationScopes: DESK_ROUTE_SCOPES,
    });
    for (const route of routes) {
      stage.node.addDependency(route);
    }
    routeSettings[`${method} ${path}`] = {
      ThrottlingBurstLimit: params.replyApiRouteBurstLimit.valueAsNumber,
      ThrottlingRateLimit: params.replyApiRouteRateLimit.valueAsNumber,
    };
  }
  stage.routeSettings = routeSettings;

  // Outputs (same names as the SAM template).
  new CfnOutput(scope, 'DeskApiUrl', {
    description:
      'Base URL of the desk API (agents\' and supervisors\' desk): <this>/me, <this>/conversations, ... with a Cognito access token of DeskUserPoolClient (Authorization header). On the reply HTTP API.',
    value: `https://${api.apiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${params.stageName.valueAsString}`,
  });
  new CfnOutput(scope, 'DeskUserPoolId', {
    description:
      "The desk's Cognito user pool (agents, supervisors, admins; administrators create the users: `aws cognito-idp admin-create-user --user-pool-id <this> ...`)",
    value: pool.ref,
  });
  new CfnOutput(scope, 'DeskUserPoolClientId', {
    description: "The desk's app client (no secret; the desk's and the command-line login's client id)",
    value: client.ref,
  });
  new CfnOutput(scope, 'CustomDomainDeskApiUrl', {
    description: 'Stable base URL of the desk API on the custom domain (<this>/me, <this>/conversations, ...).',
    value: `https://${props.customDomain.ref}/reply-api`,
  }).condition = props.hasCustomDomain;
  return { fn, pool, client };
}

/** The dashboard's desk row (same widgets as the SAM template's). */
export function deskApiWidgets(region: string, y: number, deskApiName: string, replyApiId: string): Array<Record<string, unknown>> {
  return [
    {
      type: 'metric',
      x: 0,
      y,
      width: 12,
      height: 6,
      properties: {
        title: 'Desk API duration p99 (ms)',
        region,
        view: 'timeSeries',
        period: 60,
        metrics: [
          ['AWS/Lambda', 'Duration', 'FunctionName', deskApiName, { stat: 'p99', label: 'desk-api duration' }],
          ['AWS/Lambda', 'Invocations', 'FunctionName', deskApiName, { stat: 'Sum', label: 'desk-api requests', yAxis: 'right' }],
        ],
        annotations: { horizontal: [{ value: 3000, label: 'desk-api alarm above' }] },
      },
    },
    {
      type: 'metric',
      x: 12,
      y,
      width: 12,
      height: 6,
      properties: {
        title: 'Reply and desk HTTP API answers 4xx, 5xx',
        region,
        view: 'timeSeries',
        period: 60,
        metrics: [
          ['AWS/ApiGateway', '4xx', 'ApiId', replyApiId, { stat: 'Sum', label: "4xx (the desk's refused tokens are 401)" }],
          ['AWS/ApiGateway', '5xx', 'ApiId', replyApiId, { stat: 'Sum', label: '5xx' }],
        ],
        annotations: { horizontal: [{ value: 5, label: '5xx alarm from (per 5 minutes)' }] },
      },
    },
  ];
}
