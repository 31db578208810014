// How every function of the stack is made: its log group, its least-privilege role and the
// function itself (built by cargo lambda, or a prebuilt zip), with the SAM template's logical
// ids. What each function is (binary, environment, statements) is in its own module.
import { Aws, CfnResource, Duration, RemovalPolicy, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GatewayFunctionSpec, logicalId } from './common';
import { MEMORY_MB } from './limits';

/** What all functions share. */
export interface CommonFunctionSettings {
  /** Retention of the log groups (LogRetentionDays). */
  readonly retentionDays: number;
  /** Lambda's ApplicationLogLevel (LogLevel). */
  readonly applicationLogLevel: string;
  /** The workspace Cargo.toml (all functions are binaries of this workspace). */
  readonly manifestPath: string;
  /** `-c prebuilt=<dir>`: the directory of the zips `make build` wrote; undefined = cargo lambda. */
  readonly prebuiltDir: string | undefined;
}

/** The stack's functions (for the alarms and the dashboard). */
export interface GatewayFunctions {
  readonly wechatWebhook: lambda.Function;
  readonly weiboWebhook: lambda.Function;
  readonly messageRouter: lambda.Function;
  readonly replySender: lambda.Function;
  readonly replyApi: lambda.Function;
  readonly slaMonitor: lambda.Function;
  readonly statsAggregator: lambda.Function;
  readonly deskApi: lambda.Function;
  readonly mediaFetcher: lambda.Function;
  readonly weiboPoller: lambda.Function;
  readonly webhookSender: lambda.Function;
}

/**
 * Log group + least-privilege role + function (a RustFunction built by cargo lambda, or the
 * prebuilt zip with `-c prebuilt=<dir>`), with the SAM template's logical ids.
 */
export function newGatewayFunction(
  scope: Construct,
  common: CommonFunctionSettings,
  spec: GatewayFunctionSpec,
): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${spec.id}LogGroup`, {
    logGroupName: `/aws/lambda/${Aws.STACK_NAME}/${spec.binary}`,
    // Kept when the stack is deleted or the group replaced (audit trail).
    removalPolicy: RemovalPolicy.RETAIN,
  });
  logicalId(logGroup, `${spec.id}LogGroup`);
  (logGroup.node.defaultChild as logs.CfnLogGroup).retentionInDays = common.retentionDays;

  const role = new iam.Role(scope, `${spec.id}Role`, {
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
  if (common.prebuiltDir === undefined) {
    fn = new RustFunction(scope, `${spec.id}Function`, {
      ...settings,
      manifestPath: common.manifestPath,
      binaryName: spec.binary,
      runtime: 'provided.al2023',
      architecture: lambda.Architecture.ARM_64,
    });
  } else {
    // What RustFunction sets besides its bundled code: runtime, arm64, handler bootstrap.
    const zip = path.join(common.prebuiltDir, spec.binary, 'bootstrap.zip');
    if (!fs.existsSync(zip)) {
      throw new Error(`-c prebuilt=${common.prebuiltDir}: ${zip} does not exist (make build writes it)`);
    }
    fn = new lambda.Function(scope, `${spec.id}Function`, {
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
