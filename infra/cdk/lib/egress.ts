// Optional fixed egress (EnableFixedEgress, condition FixedEgress): the VPC the functions that
// call the platform APIs (reply-sender, media-fetcher, desk-api, weibo-poller) run in so that their calls
// leave from one Elastic IP (functionInEgressVpc puts each there). L1 resources under the
// condition, exactly as in the SAM template.
import { Aws, CfnCondition, CfnResource, Fn } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** What a function in the VPC and the outputs need. */
export interface FixedEgress {
  /** The fixed address (FixedEgressIp output). */
  readonly egressIp: ec2.CfnEIP;
  readonly securityGroup: ec2.CfnSecurityGroup;
  readonly privateSubnetA: ec2.CfnSubnet;
  readonly privateSubnetB: ec2.CfnSubnet;
}

export function fixedEgressNetwork(scope: Construct, fixedEgress: CfnCondition): FixedEgress {
  // ---------------------------------------------------------------------------------------
  // Optional fixed egress: VPC, private subnets -> one NAT gateway -> one Elastic IP.
  // Used by the functions calling the platform APIs: reply-sender, media-fetcher, desk-api,
  // weibo-poller.
  // Exactly one NAT
  // gateway, in the public subnet of the first availability zone, for both private subnets
  // (two zones): one fixed address to allow-list, not one per zone (docs/deploy.md section 8).
  // ---------------------------------------------------------------------------------------
  const egress = <T extends CfnResource>(resource: T): T => {
    resource.cfnOptions.condition = fixedEgress;
    return resource;
  };
  const nameTag = (suffix: string) => [{ key: 'Name', value: `${Aws.STACK_NAME}-${suffix}` }];
  const vpc = egress(
    new ec2.CfnVPC(scope, 'EgressVpc', {
      cidrBlock: '10.42.0.0/16',
      enableDnsHostnames: true,
      enableDnsSupport: true,
      tags: nameTag('egress'),
    }),
  );
  const igw = egress(new ec2.CfnInternetGateway(scope, 'EgressInternetGateway', { tags: nameTag('egress') }));
  const igwAttachment = egress(
    new ec2.CfnVPCGatewayAttachment(scope, 'EgressInternetGatewayAttachment', {
      vpcId: vpc.ref,
      internetGatewayId: igw.ref,
    }),
  );
  const az = (i: number) => Fn.select(i, Fn.getAzs(''));
  const publicSubnet = egress(
    new ec2.CfnSubnet(scope, 'EgressPublicSubnet', {
      vpcId: vpc.ref,
      cidrBlock: '10.42.0.0/24',
      availabilityZone: az(0),
      mapPublicIpOnLaunch: false,
      tags: nameTag('egress-public'),
    }),
  );
  const privateSubnetA = egress(
    new ec2.CfnSubnet(scope, 'EgressPrivateSubnetA', {
      vpcId: vpc.ref,
      cidrBlock: '10.42.10.0/24',
      availabilityZone: az(0),
      tags: nameTag('egress-private-a'),
    }),
  );
  const privateSubnetB = egress(
    new ec2.CfnSubnet(scope, 'EgressPrivateSubnetB', {
      vpcId: vpc.ref,
      cidrBlock: '10.42.11.0/24',
      availabilityZone: az(1),
      tags: nameTag('egress-private-b'),
    }),
  );
  const publicRouteTable = egress(new ec2.CfnRouteTable(scope, 'EgressPublicRouteTable', { vpcId: vpc.ref }));
  const publicDefaultRoute = egress(
    new ec2.CfnRoute(scope, 'EgressPublicDefaultRoute', {
      routeTableId: publicRouteTable.ref,
      destinationCidrBlock: '0.0.0.0/0',
      gatewayId: igw.ref,
    }),
  );
  publicDefaultRoute.addResourceDependency(igwAttachment);
  egress(
    new ec2.CfnSubnetRouteTableAssociation(scope, 'EgressPublicSubnetRouteTableAssociation', {
      subnetId: publicSubnet.ref,
      routeTableId: publicRouteTable.ref,
    }),
  );
  const egressIp = egress(new ec2.CfnEIP(scope, 'EgressIp', { domain: 'vpc', tags: nameTag('egress') }));
  egressIp.addResourceDependency(igwAttachment);
  const natGateway = egress(
    new ec2.CfnNatGateway(scope, 'EgressNatGateway', {
      allocationId: egressIp.attrAllocationId,
      subnetId: publicSubnet.ref,
      tags: nameTag('egress'),
    }),
  );
  const privateRouteTable = egress(new ec2.CfnRouteTable(scope, 'EgressPrivateRouteTable', { vpcId: vpc.ref }));
  egress(
    new ec2.CfnRoute(scope, 'EgressPrivateDefaultRoute', {
      routeTableId: privateRouteTable.ref,
      destinationCidrBlock: '0.0.0.0/0',
      natGatewayId: natGateway.ref,
    }),
  );
  for (const [idSuffix, subnet] of [
    ['A', privateSubnetA],
    ['B', privateSubnetB],
  ] as Array<[string, ec2.CfnSubnet]>) {
    egress(
      new ec2.CfnSubnetRouteTableAssociation(scope, `EgressPrivateSubnet${idSuffix}RouteTableAssociation`, {
        subnetId: subnet.ref,
        routeTableId: privateRouteTable.ref,
      }),
    );
  }
  // DynamoDB traffic from the VPC stays off the NAT gateway (gateway endpoints are free).
  egress(
    new ec2.CfnVPCEndpoint(scope, 'EgressDynamoDbEndpoint', {
      vpcId: vpc.ref,
      serviceName: `com.amazonaws.${Aws.REGION}.dynamodb`,
      vpcEndpointType: 'Gateway',
      routeTableIds: [privateRouteTable.ref],
    }),
  );
  // So does S3's (media-fetcher's objects of up to 10 MB would otherwise pay the NAT gateway's
  // processing per GB).
  egress(
    new ec2.CfnVPCEndpoint(scope, 'EgressS3Endpoint', {
      vpcId: vpc.ref,
      serviceName: `com.amazonaws.${Aws.REGION}.s3`,
      vpcEndpointType: 'Gateway',
      routeTableIds: [privateRouteTable.ref],
    }),
  );
  const egressSecurityGroup = egress(
    new ec2.CfnSecurityGroup(scope, 'EgressSecurityGroup', {
      groupDescription: 'Functions calling the platform APIs (HTTPS out only)',
      vpcId: vpc.ref,
      securityGroupEgress: [
        {
          description: 'HTTPS to the platform and AWS APIs',
          ipProtocol: 'tcp',
          fromPort: 443,
          toPort: 443,
          cidrIp: '0.0.0.0/0',
        },
      ],
    }),
  );
  return { egressIp, securityGroup: egressSecurityGroup, privateSubnetA, privateSubnetB };
}

/**
 * A function that calls the platform APIs in the fixed-egress VPC, under the FixedEgress
 * condition: its private subnets (default route: the NAT gateway with the Elastic IP; S3 and
 * DynamoDB through their gateway endpoints, SQS and Secrets Manager through the NAT gateway),
 * and the EC2 actions Lambda creates its network interfaces with, with the function's role
 * (AWSLambdaVPCAccessExecutionRole's; AWS requires Resource "*" for them): a second inline
 * policy of the role, <binary>-vpc, only with FixedEgress, so that the role has it before
 * the function is created in the VPC.
 */
export function functionInEgressVpc(fn: lambda.Function, binary: string, egress: FixedEgress, fixedEgress: CfnCondition): void {
  const { securityGroup, privateSubnetA, privateSubnetB } = egress;
  (fn.node.defaultChild as lambda.CfnFunction).addPropertyOverride(
    'VpcConfig',
    Fn.conditionIf(
      fixedEgress.logicalId,
      { SecurityGroupIds: [securityGroup.ref], SubnetIds: [privateSubnetA.ref, privateSubnetB.ref] },
      Aws.NO_VALUE,
    ),
  );
  (fn.role!.node.defaultChild as iam.CfnRole).addPropertyOverride(
    'Policies.1',
    Fn.conditionIf(
      fixedEgress.logicalId,
      {
        PolicyName: `${binary}-vpc`,
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'VpcNetworkInterfaces',
              Effect: 'Allow',
              Action: [
                'ec2:CreateNetworkInterface',
                'ec2:DescribeNetworkInterfaces',
                'ec2:DescribeSubnets',
                'ec2:DeleteNetworkInterface',
                'ec2:AssignPrivateIpAddresses',
                'ec2:UnassignPrivateIpAddresses',
              ],
              Resource: '*',
            },
          ],
        },
      },
      Aws.NO_VALUE,
    ),
  );
}
