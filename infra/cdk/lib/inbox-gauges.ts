// sla-monitor's inbox gauges: every minute, who waits unanswered in each account's inbox
// (functions/sla-monitor/src/handler.rs `gauges`; gateway-aws dynamodb/inboxes.rs). The
// schedule, what the role needs for it, the alarm's parameter and the dashboard's widgets.
// Same logical ids as the SAM template (its Schedule event InboxGauges):
// SlaMonitorFunctionInboxGauges, SlaMonitorFunctionInboxGaugesPermission.
import { CfnParameter } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { leadingKeys, logicalId, queriedKeys } from './common';

/** The alarm's threshold: the longest wait (seconds) of any customer before it fires. */
export function oldestWaitAlarmParameter(scope: Construct): CfnParameter {
  return new CfnParameter(scope, 'OldestWaitAlarmSeconds', {
    type: 'Number',
    default: 1800,
    minValue: 60,
    description:
      'Alarm when a customer of any account has waited unanswered longer than this many seconds (OldestWaitingSeconds, measured every minute by sla-monitor; default 30 minutes).',
  });
}

/** What the gauges do on the table, for sla-monitor's role. */
export function inboxGaugeStatements(table: dynamodb.ITable): iam.PolicyStatement[] {
  return [
    // gateway-aws Inboxes::register: an account's first conversation puts its registry item
    // (PK=ACCOUNTS, SK=<channel>#<account>).
    new iam.PolicyStatement({
      sid: 'RegisterAccounts',
      actions: ['dynamodb:PutItem'],
      resources: [table.tableArn],
      conditions: leadingKeys('ACCOUNTS'),
    }),
    // gateway-aws Inboxes::accounts: Query PK = ACCOUNTS, on the table only (an index query
    // needs the index's ARN). ForAnyValue: a Query names exactly one partition key, and a
    // request naming none is denied (ForAllValues would allow it). dynamodb:LeadingKeys is the
    // table's partition key (AWS DynamoDB Developer Guide, "Using IAM policy conditions for
    // fine-grained access control").
    new iam.PolicyStatement({
      sid: 'ListAccounts',
      actions: ['dynamodb:Query'],
      resources: [table.tableArn],
      conditions: queriedKeys('ACCOUNTS'),
    }),
    // gateway-aws Inboxes::gauge: Query GSI1 (GSI1PK = INBOX#<channel>#<account>#open, the
    // waiting entries), on that index only. No LeadingKeys condition: AWS documents
    // dynamodb:LeadingKeys as the TABLE's partition key, not what an index query gives it, so
    // a condition here would restrict nothing for sure (or deny the query). The role may read
    // what GSI1 holds: conversations and delivery records (docs/deploy.md, permissions).
    new iam.PolicyStatement({
      sid: 'MeasureInboxes',
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/GSI1`],
    }),
  ];
}

/**
 * Every minute: who waits in each registered account's inbox (UnansweredNow,
 * OldestWaitingSeconds per account and as the aggregate the alarm watches). The rule and
 * EventBridge's permission to invoke, as SAM's Schedule event makes them.
 */
export function inboxGaugeSchedule(scope: Construct, slaMonitor: lambda.IFunction): void {
  const rule = new events.CfnRule(scope, 'SlaMonitorFunctionInboxGauges', {
    description: 'sla-monitor inbox gauges (UnansweredNow, OldestWaitingSeconds)',
    scheduleExpression: 'rate(1 minute)',
    state: 'ENABLED',
    targets: [{ arn: slaMonitor.functionArn, id: 'SlaMonitorFunctionInboxGaugesLambdaTarget' }],
  });
  logicalId(rule, 'SlaMonitorFunctionInboxGauges');
  const permission = new lambda.CfnPermission(scope, 'SlaMonitorFunctionInboxGaugesPermission', {
    action: 'lambda:InvokeFunction',
    functionName: slaMonitor.functionName,
    principal: 'events.amazonaws.com',
    sourceArn: rule.attrArn,
  });
  logicalId(permission, 'SlaMonitorFunctionInboxGaugesPermission');
}

/** The dashboard's row of the gauges per account (same widgets as the SAM template's). */
export function inboxGaugeWidgets(region: string, y: number): Array<Record<string, unknown>> {
  const search = (id: string, metric: string) => ({
    expression: `SEARCH('{ChannelGateway,Channel,Account} MetricName="${metric}"', 'Maximum', 60)`,
    id,
    label: '',
  });
  return [
    {
      type: 'metric',
      x: 0,
      y,
      width: 12,
      height: 6,
      properties: {
        title: 'Customers waiting unanswered now, by account',
        region,
        view: 'timeSeries',
        stacked: true,
        period: 60,
        metrics: [[search('waiting', 'UnansweredNow')]],
      },
    },
    {
      type: 'metric',
      x: 12,
      y,
      width: 12,
      height: 6,
      properties: {
        title: 'Longest wait unanswered (s), by account',
        region,
        view: 'timeSeries',
        period: 60,
        metrics: [
          [search('oldest', 'OldestWaitingSeconds')],
          ['ChannelGateway', 'OldestWaitingSeconds', { stat: 'Maximum', label: 'longest of all (alarmed)' }],
        ],
      },
    },
  ];
}
