// The HTTP APIs in front of the webhooks and reply-api, and the optional custom domain of
// both.
import { Aws, CfnParameter, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';
import { logicalId } from './common';
import { REPLY_API_INTEGRATION_TIMEOUT_SECS } from './limits';
import { GatewayConditions, GatewayParameters } from './parameters';

export interface GatewayHttpApis {
  /** The webhooks' HTTP API and its stage. */
  readonly httpApi: apigwv2.HttpApi;
  readonly httpApiStage: apigwv2.CfnStage;
  /** The reply API's HTTP API and its stage. */
  readonly replyHttpApi: apigwv2.HttpApi;
  readonly replyHttpApiStage: apigwv2.CfnStage;
}

export interface HttpApisProps {
  readonly wechatWebhook: lambda.IFunction;
  readonly weiboWebhook: lambda.IFunction;
  readonly replyApi: lambda.IFunction;
}

export function httpApis(scope: Construct, params: GatewayParameters, props: HttpApisProps): GatewayHttpApis {
  const {
    stageName,
    logRetentionDays,
    webhookRouteRateLimit,
    webhookRouteBurstLimit,
    replyApiRouteRateLimit,
    replyApiRouteBurstLimit,
  } = params;
  const { wechatWebhook, weiboWebhook, replyApi } = props;

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
    const accessLogGroup = new logs.LogGroup(scope, accessLogId, {
      logGroupName: `/aws/apigateway/${Aws.STACK_NAME}/${accessLogName}`,
      // Kept when the stack is deleted or the group replaced (audit trail).
      removalPolicy: RemovalPolicy.RETAIN,
    });
    logicalId(accessLogGroup, accessLogId);
    (accessLogGroup.node.defaultChild as logs.CfnLogGroup).retentionInDays = logRetentionDays.valueAsNumber;

    const api = new apigwv2.HttpApi(scope, id, {
      apiName: Aws.STACK_NAME,
      description,
      createDefaultStage: false,
    });
    logicalId(api, id);
    const limits = { burstLimit: burstLimit.valueAsNumber, rateLimit: rateLimit.valueAsNumber };
    const stage = new apigwv2.HttpStage(scope, `${id}Stage`, {
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
  // reply-api: POST /replies (submit), GET /replies/{reply_id} (delivery state), PUT/GET/DELETE
  // /contacts/{channel}/{account}/{unionid} (a CRM's name for a WeChat customer).
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
      ['/contacts/{channel}/{account}/{unionid}', apigwv2.HttpMethod.PUT, replyApi, REPLY_API_INTEGRATION_TIMEOUT_SECS],
      ['/contacts/{channel}/{account}/{unionid}', apigwv2.HttpMethod.GET, replyApi, REPLY_API_INTEGRATION_TIMEOUT_SECS],
      ['/contacts/{channel}/{account}/{unionid}', apigwv2.HttpMethod.DELETE, replyApi, REPLY_API_INTEGRATION_TIMEOUT_SECS],
    ],
  );
  return { httpApi, httpApiStage, replyHttpApi, replyHttpApiStage };
}

/** The custom domain (resources under HasCustomDomain and CreateCustomDomainRecord). */
export function apiCustomDomain(
  scope: Construct,
  params: GatewayParameters,
  conditions: GatewayConditions,
  apis: GatewayHttpApis,
): apigwv2.CfnDomainName {
  const { customDomainName, customDomainCertificateArn, customDomainHostedZoneId } = params;
  const { hasCustomDomain, createCustomDomainRecord } = conditions;
  const { httpApi, httpApiStage, replyHttpApi, replyHttpApiStage } = apis;

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
  const customDomain = new apigwv2.CfnDomainName(scope, 'CustomDomain', {
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
    const mapping = new apigwv2.CfnApiMapping(scope, id, {
      domainName: customDomain.ref,
      apiId: api.apiId,
      stage: stage.ref,
      apiMappingKey: key,
    });
    mapping.cfnOptions.condition = hasCustomDomain;
  };
  apiMapping('WebhookApiMapping', httpApi, httpApiStage, 'webhooks');
  apiMapping('ReplyApiMapping', replyHttpApi, replyHttpApiStage, 'reply-api');
  const customDomainRecord = new route53.CfnRecordSet(scope, 'CustomDomainRecord', {
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
  return customDomain;
}
