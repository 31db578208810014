// What the stack and its parts share: the description of one function, fixed logical ids,
// the dynamodb:LeadingKeys conditions.
import { CfnElement, CfnResource } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** What one function needs: the rest (log group, role, logging) is the same for all. */
export interface GatewayFunctionSpec {
  /** Prefix of the logical ids: <id>Function, <id>Role, <id>LogGroup (same as the SAM template). */
  readonly id: string;
  /** Cargo binary (= deployed function name). */
  readonly binary: string;
  readonly description: string;
  readonly timeoutSecs: number;
  readonly environment: Record<string, string>;
  /** Everything the function calls besides writing its own logs. */
  readonly statements: iam.PolicyStatement[];
  /** Reserved concurrency (the queue consumers). */
  readonly reservedConcurrency?: number;
}

/** The stack's function factory (functions.ts): log group, role with the spec's statements, function. */
export type GatewayFunctionFactory = (spec: GatewayFunctionSpec) => lambda.Function;

/**
 * A condition limiting DynamoDB item actions to partition keys matching `patterns`
 * (dynamodb:LeadingKeys). ForAllValues is also true for a request without partition keys
 * (Scan), which is why only item actions are ever granted with it: no Query, no Scan.
 */
export function leadingKeys(...patterns: string[]): Record<string, unknown> {
  return { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': patterns } };
}

/**
 * The condition of a Query on the table (resource: the table's ARN, never an index's): its
 * one partition key matches one of `patterns`. ForAnyValue: a request naming no partition key
 * is denied (ForAllValues would allow it).
 */
export function queriedKeys(...patterns: string[]): Record<string, unknown> {
  return { 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': patterns } };
}

/** Gives the L1 resource under an L2 construct (or an L1 itself) a fixed logical id. */
export function logicalId(scope: Construct, id: string): void {
  const cfn = (scope instanceof CfnElement ? scope : scope.node.defaultChild) as CfnResource | undefined;
  if (!cfn) {
    throw new Error(`${scope.node.path} has no CloudFormation resource to name ${id}`);
  }
  cfn.overrideLogicalId(id);
}
