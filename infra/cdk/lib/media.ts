// Media: the customers' photos, voice notes and videos, and the files agents send. The media
// bucket (MediaBucket, its TLS-only policy MediaBucketPolicy, the output MediaBucketName) and
// media-fetcher (media queue -> WeChat/Weibo media APIs -> the bucket, the message's record in
// the table), in the fixed-egress VPC when EnableFixedEgress (egress.ts). The router queues the
// fetches (router.ts); desk-api presigns the desk's URLs and stores the agents' files
// (desk-api.ts). L1 bucket resources, exactly as in the SAM template, same logical ids.
import { Aws, CfnCondition, CfnOutput, CfnParameter, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { GatewayFunctionFactory, leadingKeys, logicalId } from './common';
import { MEDIA_BATCH_SIZE, MEDIA_FETCHER_TIMEOUT_SECS, MEDIA_MAX_ATTEMPTS } from './limits';
import { QueueWithDlq } from './queues';

/** The key prefixes of the media bucket: media-fetcher's objects, and the agents' files. */
export const MEDIA_PREFIX = 'media/';
export const UPLOADS_PREFIX = 'uploads/';

/**
 * The media bucket: the customers' photos, voice notes and videos (media/<channel>/<account>/
 * <conversation>/<message id>/<kind>, written by media-fetcher) and the files agents send
 * (uploads/..., written by desk-api), evidence of the conversations. Private: no bucket policy
 * Allow, all public access blocked, ACLs off; the desk reads an object through a short-lived URL
 * desk-api presigns. Encrypted with S3's own keys (SSE-S3): an object is readable through a
 * presigned URL without kms:Decrypt for its signer, and no function needs a KMS grant (an S3
 * Bucket Key only saves KMS requests under SSE-KMS: none here). No versioning: an object is
 * written once under its own key and never replaced. Objects expire with their messages
 * (MessageTtlDays, under ExpireMessages; none with 0); unfinished uploads after a day. Kept
 * when the stack is deleted or the bucket replaced (evidence; a bucket with objects cannot be
 * deleted anyway).
 */
export function mediaBucket(scope: Construct, messageTtlDays: CfnParameter, expireMessages: CfnCondition): s3.CfnBucket {
  const bucket = new s3.CfnBucket(scope, 'MediaBucket', {
    bucketEncryption: { serverSideEncryptionConfiguration: [{ serverSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] },
    publicAccessBlockConfiguration: {
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    ownershipControls: { rules: [{ objectOwnership: 'BucketOwnerEnforced' }] },
    lifecycleConfiguration: {
      rules: [
        { id: 'AbortIncompleteUploads', status: 'Enabled', abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } },
        // Inside Fn::If the rule is written as CloudFormation spells it (no property mapping).
        Fn.conditionIf(
          expireMessages.logicalId,
          { Id: 'ExpireWithMessages', Status: 'Enabled', ExpirationInDays: messageTtlDays.valueAsNumber },
          Aws.NO_VALUE,
        ),
      ],
    },
  });
  bucket.applyRemovalPolicy(RemovalPolicy.RETAIN);
  logicalId(bucket, 'MediaBucket');

  // Nothing but TLS reaches the bucket. No Allow: the functions' roles grant what each may do
  // (media-fetcher writes and reads media/*, desk-api reads media/* and uploads/* and writes
  // uploads/*).
  const policy = new s3.CfnBucketPolicy(scope, 'MediaBucketPolicy', {
    bucket: bucket.ref,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'TlsOnly',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [bucket.attrArn, `${bucket.attrArn}/*`],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    },
  });
  logicalId(policy, 'MediaBucketPolicy');

  new CfnOutput(scope, 'MediaBucketName', {
    description:
      "The media bucket (private): the customers' media under media/, the agents' files under uploads/; objects expire after MessageTtlDays",
    value: bucket.ref,
  });
  return bucket;
}

export interface MediaFetcherProps {
  readonly gatewayFunction: GatewayFunctionFactory;
  readonly table: dynamodb.ITable;
  readonly media: QueueWithDlq;
  /** The inbound FIFO queue: profile notices for the router (docs/profiles.md). */
  readonly inboundQueue: sqs.IQueue;
  readonly bucket: s3.CfnBucket;
  /** The ARN of the delivery credentials secret (secrets.ts), reply-sender's. */
  readonly deliveryCredentialsSecretId: string;
  /** MediaFetcherReservedConcurrency. */
  readonly reservedConcurrency: CfnParameter;
  /** MessageTtlDays. */
  readonly messageTtlDays: CfnParameter;
}

/** media-fetcher, its role and its event source on the media queue. */
export function mediaFetcherFunction(props: MediaFetcherProps): lambda.Function {
  const { gatewayFunction, table, bucket, deliveryCredentialsSecretId, inboundQueue } = props;
  const { queue: mediaQueue, dlq: mediaDlq } = props.media;
  const reservedConcurrency = props.reservedConcurrency;
  const fn = gatewayFunction({
    id: 'MediaFetcher',
    binary: 'media-fetcher',
    description: 'Media fetcher (media queue -> WeChat/Weibo media APIs -> media bucket, DynamoDB)',
    timeoutSecs: MEDIA_FETCHER_TIMEOUT_SECS,
    // Bounds media-fetcher's share of the account's concurrency (and the downloads in
    // parallel); the event source's MaximumConcurrency is the same value.
    reservedConcurrency: reservedConcurrency.valueAsNumber,
    environment: {
      TABLE_NAME: table.tableName,
      MEDIA_QUEUE_URL: mediaQueue.queueUrl,
      MEDIA_DEAD_LETTER_QUEUE_URL: mediaDlq.queueUrl,
      MEDIA_BUCKET: bucket.ref,
      DELIVERY_SECRET_ID: deliveryCredentialsSecretId,
      ACCOUNTS_CACHE_SECS: '60',
      WECHAT_API_BASE_URL: 'https://api.weixin.qq.com',
      WEIBO_MEDIA_BASE_URL: 'https://upload.api.weibo.com',
      // Profiles (docs/profiles.md): Weibo's users/show, and the router's notices.
      WEIBO_OPEN_API_BASE_URL: 'https://api.weibo.com',
      INBOUND_QUEUE_URL: inboundQueue.queueUrl,
      WECHAT_TOKEN_API: 'stable',
      // A download of up to 10 MB (reply-sender's calls carry a few KB: 5 s).
      PLATFORM_TIMEOUT_SECS: '15',
      AWS_OPERATION_TIMEOUT_MS: '4000',
      // The access-token broker's timings; the lease outlasts one refresh (an AWS call and a
      // platform call at PLATFORM_TIMEOUT_SECS: 19 s), as the function checks at start.
      TOKEN_REFRESH_AHEAD_SECS: '300',
      TOKEN_LEASE_SECS: '30',
      TOKEN_WAIT_MS: '3000',
      // Below the media queue's maxReceiveCount: the redrive stays a backstop.
      MEDIA_MAX_ATTEMPTS: String(MEDIA_MAX_ATTEMPTS),
      RETRY_BASE_SECS: '10',
      RETRY_MAX_SECS: '300',
    },
    statements: [
      // Receive/Delete/GetQueueAttributes: the event source mapping, on the function's behalf.
      // ChangeMessageVisibility: the retry backoff.
      new iam.PolicyStatement({
        sid: 'ConsumeMedia',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
        resources: [mediaQueue.queueArn],
      }),
      // Undecodable commands, media the platform refuses for good, and commands whose last
      // attempt (MEDIA_MAX_ATTEMPTS) failed, with the reason.
      new iam.PolicyStatement({
        sid: 'DeadLetterMedia',
        actions: ['sqs:SendMessage'],
        resources: [mediaDlq.queueArn],
      }),
      // A new customer profile's notice on the inbound FIFO queue (message group = the
      // conversation), for the router's profile rules (docs/profiles.md).
      new iam.PolicyStatement({
        sid: 'NoticeProfiles',
        actions: ['sqs:SendMessage'],
        resources: [inboundQueue.queueArn],
      }),
      // The downloaded object (PutObject) under media/ only, and whether a retry finds it
      // already stored (HeadObject, authorized by s3:GetObject). Not the agents' uploads/, no
      // listing, no delete.
      new iam.PolicyStatement({
        sid: 'StoreMedia',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [`${bucket.attrArn}/${MEDIA_PREFIX}*`],
      }),
      // The table, by partition key; item actions only (no Query, no Scan, no index). The
      // message's `media` map and the conversation's `profile` (UpdateItem), in the
      // conversation's partition CONV#<conversation key>.
      new iam.PolicyStatement({
        sid: 'RecordMedia',
        actions: ['dynamodb:UpdateItem'],
        resources: [table.tableArn],
        conditions: leadingKeys('CONV#*'),
      }),
      // The WeChat access-token broker it shares with reply-sender and desk-api (gateway-aws
      // dynamodb/tokens.rs): the cached token (GetItem), its lease, store and invalidation
      // (UpdateItem), TOKEN#<channel>#<account>.
      tokenCacheStatement(table),
      new iam.PolicyStatement({
        sid: 'ReadDeliveryCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [deliveryCredentialsSecretId],
      }),
    ],
  });

  // Up to MEDIA_BATCH_SIZE downloads per invocation, one object in memory at a time; partial
  // batch failures. (addEventSourceMapping grants nothing: the role above has exactly that.)
  const eventSource = fn.addEventSourceMapping('Media', {
    eventSourceArn: mediaQueue.queueArn,
    batchSize: MEDIA_BATCH_SIZE,
    reportBatchItemFailures: true,
    enabled: true,
    // No more pollers than the reserved concurrency (min 2): no throttled batches.
    maxConcurrency: reservedConcurrency.valueAsNumber,
  });
  logicalId(eventSource, 'MediaFetcherFunctionMedia');
  return fn;
}

/**
 * The WeChat access-token broker's items (gateway-aws dynamodb/tokens.rs), for the functions
 * that share it besides reply-sender (whose table statement covers them): the cached token
 * (GetItem), its lease, store and invalidation (UpdateItem), TOKEN#<channel>#<account>.
 */
export function tokenCacheStatement(table: dynamodb.ITable): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'TokenCache',
    actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    resources: [table.tableArn],
    conditions: leadingKeys('TOKEN#*'),
  });
}
