#!/usr/bin/env node
// CDK app of the channel gateway. Equivalent to infra/sam/template.yaml.
//
//   npx cdk synth --no-notices                       # builds the Rust functions (cargo lambda)
//   npx cdk synth --no-notices -c skipBundling=true  # offline check: no Rust build, NOT deployable
//   npx cdk deploy ChannelGateway --parameters StageName=prod ...
//   npx cdk deploy -c prebuilt=../../target/lambda-prebuilt ...  # the zips `make build` wrote, no Rust build
//
// The stack is environment-agnostic (no account/region): it synthesizes without AWS
// credentials and deploys to whatever account/region the CLI's credentials point at.
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { ChannelGatewayStack } from '../lib/channel-gateway-stack';

const app = new cdk.App();

const stackName: string = app.node.tryGetContext('stackName') ?? 'ChannelGateway';

new ChannelGatewayStack(app, 'ChannelGateway', {
  stackName,
  description:
    'Channel gateway (serverless social contact centre): WeChat and Weibo webhooks and reply API, inbound and outbound FIFO queues, message router, reply sender, SLA monitor (table stream, timers queue, inbox schedule, alerts topic), stats aggregator (table stream), desk API (Cognito user pool, JWT authorizer), web desk (S3, CloudFront), media fetcher (media queue, media bucket), DynamoDB (CDK app infra/cdk)',
  // The Cargo workspace at the repository root (infra/cdk/bin -> ../../..).
  manifestPath: path.join(__dirname, '..', '..', '..', 'Cargo.toml'),
});

cdk.Tags.of(app).add('app', 'channel-gateway');
