// The gateway's DynamoDB table (GatewayTable), its two indexes and its stream; the stream's
// readers are sla-monitor (sla-monitor.ts) and stats-aggregator (stats-aggregator.ts).
import { CfnCondition, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { logicalId } from './common';

/** The table; deletion protection under `isProduction`. */
export function gatewayTable(scope: Construct, isProduction: CfnCondition): dynamodb.Table {
  // ---------------------------------------------------------------------------------------
  // DynamoDB: conversations, messages, dedupe markers, the rules document (PK=CONFIG,
  // SK=RULES, written by `gatewayctl rules push`), reply delivery records (REPLY#<id>) and
  // the WeChat access-token cache (TOKEN#wechat#<account>), the account registry (ACCOUNTS),
  // the daily statistics (STATS#<channel>:<account>) and their counted-change markers
  // (STREAM#..., expiring by TTL). Its stream (old and new images) feeds sla-monitor and
  // stats-aggregator, two readers: DynamoDB throttles a shard read by more than two.
  // ---------------------------------------------------------------------------------------
  const table = new dynamodb.Table(scope, 'GatewayTable', {
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
  return table;
}
