// The channel gateway stack: the CDK twin of infra/sam/template.yaml. Same parameters, same
// logical ids for the resources that matter, same outputs; infra/tests/test_invariants.py
// checks both templates against the same invariants.
//
// This file wires the stack's parts together. Each part is a module of plain functions that
// create its resources on this stack (same construct ids, so the same logical ids):
//   parameters.ts        parameters, the LogLevels mapping, conditions and rules
//   queues.ts            inbound, outbound, timers and media queues with their dead-letter
//                        queues, the stream failures queue
//   table.ts             the DynamoDB table and its stream
//   secrets.ts           the accounts document's secrets, kms:Decrypt on a given key
//   functions.ts         log group + role + function, for every function
//   webhooks.ts          wechat-webhook, weibo-webhook
//   router.ts            message-router and its inbound event source
//   reply-path.ts        reply-sender, reply-api
//   media.ts             the media bucket; media-fetcher and its event source
//   weibo-poller.ts      weibo-poller (Weibo listening), its schedule, its dashboard widgets
//   webhook-sender.ts    the event bus, its rule to the webhook queue, webhook-sender
//   sla-monitor.ts       the alerts topic; sla-monitor and its event sources
//   inbox-gauges.ts      sla-monitor's inbox gauges: schedule, permissions, alarm parameter,
//                        dashboard widgets
//   stats-aggregator.ts  stats-aggregator, the stream's second reader
//   desk-api.ts          the agents' desk: its Cognito sign-in, desk-api, its routes behind the
//                        JWT authorizer on the reply HTTP API, its outputs, dashboard widgets
//   desk-site.ts         the web desk: its S3 bucket and CloudFront distribution (the app's
//                        files, /config.json, the desk API under /api), its outputs
//   http-apis.ts         the two HTTP APIs, the optional custom domain
//   egress.ts            the optional fixed-egress VPC, and the platform API callers in it
//   alarms.ts            the alarm topic and the alarms
//   dashboard.ts         the dashboard
//   outputs.ts           the outputs
// common.ts holds what they share, limits.ts the functions' timeouts and limits (which the
// queues' settings follow).
import { Annotations, Stack, StackProps, Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import * as path from 'node:path';
import { gatewayAlarms } from './alarms';
import { GatewayFunctionFactory } from './common';
import { gatewayDashboard } from './dashboard';
import { fixedEgressNetwork, functionInEgressVpc } from './egress';
import { deskApi } from './desk-api';
import { deskSite } from './desk-site';
import { CommonFunctionSettings, GatewayFunctions, newGatewayFunction } from './functions';
import { apiCustomDomain, httpApis } from './http-apis';
import { gatewayOutputs } from './outputs';
import { mediaBucket, mediaFetcherFunction } from './media';
import { gatewayConditions, gatewayParameters } from './parameters';
import { gatewayQueues } from './queues';
import { replyApiFunction, replySenderFunction } from './reply-path';
import { messageRouterFunction } from './router';
import { accountsSecretKmsDecrypt, roleSecrets } from './secrets';
import { slaAlertsTopic, slaMonitorFunction } from './sla-monitor';
import { statsAggregator } from './stats-aggregator';
import { gatewayEventBus } from './event-bus';
import { gatewayTable } from './table';
import { webhookSender } from './webhook-sender';
import { webhookFunctions } from './webhooks';
import { weiboPollerFunction } from './weibo-poller';

export interface ChannelGatewayStackProps extends StackProps {
  /** The workspace Cargo.toml (all functions are binaries of this workspace). */
  readonly manifestPath: string;
}

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

    // Parameters and conditions (same names, defaults and constraints as the SAM template).
    const params = gatewayParameters(this);
    const conditions = gatewayConditions(this, params);

    // Queues, the contact centre's alerts topic, the table, the secrets.
    const queues = gatewayQueues(this);
    const alertsTopic = slaAlertsTopic(this, params.alertsEmail, conditions.hasAlertsEmail);
    const table = gatewayTable(this, conditions.isProduction);
    const secrets = roleSecrets(this, params, conditions);
    // The media bucket: the customers' media and the agents' files (media.ts).
    const media = mediaBucket(this, params.messageTtlDays, conditions.expireMessages);

    // ---------------------------------------------------------------------------------------
    // Functions. Each has its own role (only what it uses: see FUNCTIONS in
    // infra/tests/invariants/spec.py), its own log group with retention, JSON logs at LogLevel
    // (functions.ts).
    //
    // Adding a function = a module like router.ts: one `gatewayFunction({...})` with its
    // binary, timeout, environment and exactly the statements it needs, wired here and named in
    // GatewayFunctions (functions.ts), plus its row in FUNCTIONS
    // (infra/tests/invariants/spec.py), its Errors/Throttles alarms (alarmsFor in alarms.ts)
    // and its dashboard lines (dashboard.ts), and the same in infra/sam. Only the platform API
    // callers (reply-sender, media-fetcher, desk-api, weibo-poller) run in the VPC (fixed egress): see below.
    // ---------------------------------------------------------------------------------------
    const fnCommon: CommonFunctionSettings = {
      retentionDays: params.logRetentionDays.valueAsNumber,
      applicationLogLevel: params.applicationLogLevel,
      manifestPath: props.manifestPath,
      prebuiltDir: this.prebuiltDir,
    };
    const gatewayFunction: GatewayFunctionFactory = (spec) => newGatewayFunction(this, fnCommon, spec);

    const { wechatWebhook, weiboWebhook } = webhookFunctions({
      gatewayFunction,
      table,
      inboundQueue: queues.inbound.queue,
      webhookCredentialsSecretId: secrets.webhookCredentialsSecretId,
    });
    const messageRouter = messageRouterFunction({
      gatewayFunction,
      table,
      inbound: queues.inbound,
      outboundQueue: queues.outbound.queue,
      mediaQueue: queues.media.queue,
      reservedConcurrency: params.messageRouterReservedConcurrency,
      messageTtlDays: params.messageTtlDays,
    });
    const replySender = replySenderFunction({
      gatewayFunction,
      table,
      outbound: queues.outbound,
      deliveryCredentialsSecretId: secrets.deliveryCredentialsSecretId,
      reservedConcurrency: params.replySenderReservedConcurrency,
      messageTtlDays: params.messageTtlDays,
      mediaBucket: media,
    });
    const mediaFetcher = mediaFetcherFunction({
      gatewayFunction,
      table,
      media: queues.media,
      inboundQueue: queues.inbound.queue,
      bucket: media,
      deliveryCredentialsSecretId: secrets.deliveryCredentialsSecretId,
      reservedConcurrency: params.mediaFetcherReservedConcurrency,
      messageTtlDays: params.messageTtlDays,
    });
    // weibo-poller: Weibo listening, every minute (weibo-poller.ts).
    const weiboPoller = weiboPollerFunction(this, {
      gatewayFunction,
      table,
      inboundQueue: queues.inbound.queue,
      deliveryCredentialsSecretId: secrets.deliveryCredentialsSecretId,
    });
    const replyApi = replyApiFunction({
      gatewayFunction,
      table,
      outboundQueue: queues.outbound.queue,
      apiClientsSecretId: secrets.apiClientsSecretId,
    });
    const slaMonitor = slaMonitorFunction(this, {
      gatewayFunction,
      table,
      timersQueue: queues.timers.queue,
      streamFailuresQueue: queues.streamFailures,
      alertsTopic,
    });
    // stats-aggregator: the table stream's second reader (stats-aggregator.ts), publishing the
    // change events on the deployment's bus (event-bus.ts). No secret.
    const eventBus = gatewayEventBus(this);
    // The event bus, its rule to the webhook queue, webhook-sender (webhook-sender.ts).
    const webhooks = webhookSender(this, {
      gatewayFunction,
      webhooks: queues.webhooks,
      webhookTargetsSecretId: secrets.webhookTargetsSecretId,
      eventBus,
      reservedConcurrency: params.webhookSenderReservedConcurrency,
    });
    const aggregator = statsAggregator({
      gatewayFunction,
      table,
      streamFailuresQueue: queues.streamFailures,
      eventBus,
    });

    // The HTTP APIs and their optional custom domain.
    const apis = httpApis(this, params, { wechatWebhook, weiboWebhook, replyApi });
    const customDomain = apiCustomDomain(this, params, conditions, apis);
    // The desk: its sign-in, desk-api, its routes on the reply HTTP API, its outputs (desk-api.ts).
    const desk = deskApi(this, {
      gatewayFunction,
      table,
      outboundQueue: queues.outbound.queue,
      mediaBucket: media,
      deliveryCredentialsSecretId: secrets.deliveryCredentialsSecretId,
      apis,
      params,
      customDomain,
      hasCustomDomain: conditions.hasCustomDomain,
    });
    const functions: GatewayFunctions = {
      wechatWebhook,
      weiboWebhook,
      messageRouter,
      replySender,
      replyApi,
      slaMonitor,
      statsAggregator: aggregator,
      deskApi: desk.fn,
      mediaFetcher,
      weiboPoller,
      webhookSender: webhooks.fn,
    };
    // kms:Decrypt on the secrets' given key, for the functions that read a secret.
    accountsSecretKmsDecrypt(this, params, conditions, [
      wechatWebhook,
      weiboWebhook,
      replySender,
      replyApi,
      mediaFetcher,
      desk.fn,
      weiboPoller,
      webhooks.fn,
    ]);
    // The web desk: the app's files, its /config.json and the desk API on one origin (desk-site.ts).
    deskSite(this, {
      replyHttpApi: apis.replyHttpApi,
      stageName: params.stageName,
      userPool: desk.pool,
      userPoolClient: desk.client,
      mediaBucket: media,
    });

    // Optional fixed egress, for the functions that call the platform APIs (WeChat allow-lists
    // the address they call from).
    const egress = fixedEgressNetwork(this, conditions.fixedEgress);
    functionInEgressVpc(replySender, 'reply-sender', egress, conditions.fixedEgress);
    functionInEgressVpc(mediaFetcher, 'media-fetcher', egress, conditions.fixedEgress);
    functionInEgressVpc(desk.fn, 'desk-api', egress, conditions.fixedEgress);
    functionInEgressVpc(weiboPoller, 'weibo-poller', egress, conditions.fixedEgress);

    // Alarms, dashboard, outputs.
    const alarmTopic = gatewayAlarms(this, {
      alarmEmail: params.alarmEmail,
      hasAlarmEmail: conditions.hasAlarmEmail,
      oldestWaitAlarmSeconds: params.oldestWaitAlarmSeconds,
      queues,
      functions,
      apis,
    });
    const dashboard = gatewayDashboard(this, {
      queues,
      functions,
      httpApi: apis.httpApi,
      replyHttpApi: apis.replyHttpApi,
      stageName: params.stageName,
    });
    gatewayOutputs(this, {
      stageName: params.stageName,
      apis,
      queues,
      table,
      secrets,
      alarmTopic,
      alertsTopic,
      dashboard,
      egressIp: egress.egressIp,
      fixedEgress: conditions.fixedEgress,
      customDomain,
      hasCustomDomain: conditions.hasCustomDomain,
    });
  }
}
