// The web desk (the agents' single-page app, desk/dist): its files in a private S3 bucket,
// served by one CloudFront distribution that also carries the desk API on the same origin:
//   https://<distribution>/              -> the bucket (through Origin Access Control only)
//   https://<distribution>/config.json   -> answered by DeskConfigFunction (written here)
//   https://<distribution>/api/...       -> ReplyHttpApi's stage, /api removed (no CORS)
// Every behaviour: HTTPS (HTTP redirected), DeskResponseHeadersPolicy (HSTS, CSP, ...). No
// Lambda function, no role, no custom resource: tools/desk-publish.sh uploads the files.
// L1 resources, exactly as in the SAM template, same logical ids: DeskBucket,
// DeskBucketPolicy, DeskOriginAccessControl, DeskSpaFunction, DeskApiPathFunction,
// DeskConfigFunction, DeskResponseHeadersPolicy, DeskDistribution; the parameter
// DeskPriceClass; the outputs DeskUrl, DeskBucketName, DeskDistributionId.
import { Aws, CfnOutput, CfnParameter, RemovalPolicy } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { logicalId } from './common';

/** CloudFront's managed policies (ids are the same in every account). */
export const CACHING_OPTIMIZED = '658327ea-f89d-4fab-a63d-7e88639e58f6';
export const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
/** Every viewer header (Authorization too, as caching is disabled), cookie and query string; not Host. */
export const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

export interface DeskSiteProps {
  /** The reply HTTP API (the desk API's routes) and its stage's name (the origin path). */
  readonly replyHttpApi: apigwv2.HttpApi;
  readonly stageName: CfnParameter;
  /** The desk's user pool and its app client (in /config.json). */
  readonly userPool: { readonly ref: string };
  readonly userPoolClient: { readonly ref: string };
  /** The media bucket (media.ts): the desk shows its objects through presigned URLs. */
  readonly mediaBucket: s3.CfnBucket;
}

/**
 * The app's routes (a last path segment without a dot: /, /inbox, /conversations/abc) get its
 * page, index.html; files (/assets/app-1a2b3c.js) keep their path. No error-page rewrite: it
 * would apply to the desk API's 403 and 404 as well.
 */
const SPA_FUNCTION_CODE = `function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.indexOf('.', uri.lastIndexOf('/') + 1) === -1) {
    request.uri = '/index.html';
  }
  return request;
}
`;

/** /api/conversations?x=1 -> /conversations?x=1 (the query string is not part of the URI). */
const API_PATH_FUNCTION_CODE = `function handler(event) {
  var request = event.request;
  if (request.uri.substring(0, 5) === '/api/') {
    request.uri = request.uri.substring(4);
  }
  return request;
}
`;

/** /config.json, written at deploy time (never uploaded): the desk's API and its sign-in. */
function configFunctionCode(region: string, userPoolId: string, clientId: string): string {
  return `function handler(event) {
  return {
    statusCode: 200,
    statusDescription: 'OK',
    headers: {
      'content-type': { value: 'application/json' },
      'cache-control': { value: 'no-store' }
    },
    body: {
      encoding: 'text',
      data: '{"api_url":"/api","cognito":{"region":"${region}","user_pool_id":"${userPoolId}","client_id":"${clientId}","endpoint":"https://cognito-idp.${region}.amazonaws.com/"}}'
    }
  };
}
`;
}

/** A viewer-request CloudFront Function (cloudfront-js-2.0), published with the stack. */
function viewerFunction(scope: Construct, id: string, suffix: string, comment: string, code: string): cloudfront.CfnFunction {
  const fn = new cloudfront.CfnFunction(scope, id, {
    name: `${Aws.STACK_NAME}-${Aws.REGION}-${suffix}`,
    autoPublish: true,
    functionConfig: { comment, runtime: 'cloudfront-js-2.0' },
    functionCode: code,
  });
  logicalId(fn, id);
  return fn;
}

/** The web desk's bucket, distribution and their outputs. */
export function deskSite(scope: Construct, props: DeskSiteProps): void {
  const priceClass = new CfnParameter(scope, 'DeskPriceClass', {
    type: 'String',
    default: 'PriceClass_All',
    allowedValues: ['PriceClass_100', 'PriceClass_200', 'PriceClass_All'],
    description:
      "Price class of the web desk's CloudFront distribution (PriceClass_All: every edge location; PriceClass_200: without South America and Australia; PriceClass_100: North America, Europe and Israel only).",
  });

  // Kept when the stack is deleted (a bucket with files cannot be deleted; they are the
  // build's, published again with tools/desk-publish.sh). The previous build's files stay
  // 30 days (a rollback), then go.
  const bucket = new s3.CfnBucket(scope, 'DeskBucket', {
    bucketEncryption: { serverSideEncryptionConfiguration: [{ serverSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] },
    publicAccessBlockConfiguration: {
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    ownershipControls: { rules: [{ objectOwnership: 'BucketOwnerEnforced' }] },
    versioningConfiguration: { status: 'Enabled' },
    lifecycleConfiguration: {
      rules: [
        {
          id: 'ExpireOldBuilds',
          status: 'Enabled',
          noncurrentVersionExpiration: { noncurrentDays: 30 },
          abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
        },
      ],
    },
  });
  bucket.applyRemovalPolicy(RemovalPolicy.RETAIN);
  logicalId(bucket, 'DeskBucket');

  const oac = new cloudfront.CfnOriginAccessControl(scope, 'DeskOriginAccessControl', {
    originAccessControlConfig: {
      name: `${Aws.STACK_NAME}-${Aws.REGION}-desk`,
      description: "The web desk's distribution reads its bucket (signed requests)",
      originAccessControlOriginType: 's3',
      signingBehavior: 'always',
      signingProtocol: 'sigv4',
    },
  });
  logicalId(oac, 'DeskOriginAccessControl');

  const spa = viewerFunction(scope, 'DeskSpaFunction', 'desk-spa', "The web desk's routes -> /index.html", SPA_FUNCTION_CODE);
  const apiPath = viewerFunction(
    scope,
    'DeskApiPathFunction',
    'desk-api',
    "The web desk's /api/... -> the desk API's /...",
    API_PATH_FUNCTION_CODE,
  );
  const config = viewerFunction(
    scope,
    'DeskConfigFunction',
    'desk-config',
    "The web desk's /config.json (the user pool, its app client)",
    configFunctionCode(Aws.REGION, props.userPool.ref, props.userPoolClient.ref),
  );

  // On every behaviour. The CSP: the desk's own scripts, styles and images only (no inline
  // script, no eval), but for the customers' media and the agents' files, which it shows from
  // the media bucket through the URLs desk-api presigns (img-src, media-src: the bucket's
  // regional host, the one the URLs name); its requests to itself (/api, /config.json) and to
  // Cognito; no frame may embed it.
  const mediaHost = `https://${props.mediaBucket.attrRegionalDomainName}`;
  const headers = new cloudfront.CfnResponseHeadersPolicy(scope, 'DeskResponseHeadersPolicy', {
    responseHeadersPolicyConfig: {
      name: `${Aws.STACK_NAME}-${Aws.REGION}-desk`,
      comment: "The web desk's security headers",
      securityHeadersConfig: {
        strictTransportSecurity: { accessControlMaxAgeSec: 63072000, includeSubdomains: true, preload: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: 'DENY', override: true },
        referrerPolicy: { referrerPolicy: 'strict-origin-when-cross-origin', override: true },
        contentSecurityPolicy: {
          contentSecurityPolicy:
            `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: ${mediaHost}; media-src 'self' blob: ${mediaHost}; ` +
            `connect-src 'self' https://cognito-idp.${Aws.REGION}.amazonaws.com; frame-ancestors 'none'; base-uri 'none'; ` +
            "form-action 'none'; object-src 'none'",
          override: true,
        },
      },
      customHeadersConfig: {
        items: [{ header: 'Permissions-Policy', value: 'camera=(), microphone=(), geolocation=(), payment=(), usb=()', override: true }],
      },
    },
  });
  logicalId(headers, 'DeskResponseHeadersPolicy');

  const viewerRequest = (fn: cloudfront.CfnFunction) => [{ eventType: 'viewer-request', functionArn: fn.attrFunctionArn }];
  const distribution = new cloudfront.CfnDistribution(scope, 'DeskDistribution', {
    distributionConfig: {
      enabled: true,
      comment: `${Aws.STACK_NAME} web desk`,
      defaultRootObject: 'index.html',
      httpVersion: 'http2and3',
      ipv6Enabled: true,
      priceClass: priceClass.valueAsString,
      origins: [
        {
          id: 'DeskBucket',
          domainName: bucket.attrRegionalDomainName,
          originAccessControlId: oac.attrId,
          s3OriginConfig: { originAccessIdentity: '' },
        },
        {
          id: 'DeskApi',
          domainName: `${props.replyHttpApi.apiId}.execute-api.${Aws.REGION}.amazonaws.com`,
          originPath: `/${props.stageName.valueAsString}`,
          customOriginConfig: { originProtocolPolicy: 'https-only', originSslProtocols: ['TLSv1.2'], httpsPort: 443 },
        },
      ],
      defaultCacheBehavior: {
        targetOriginId: 'DeskBucket',
        viewerProtocolPolicy: 'redirect-to-https',
        allowedMethods: ['GET', 'HEAD'],
        cachedMethods: ['GET', 'HEAD'],
        compress: true,
        cachePolicyId: CACHING_OPTIMIZED,
        responseHeadersPolicyId: headers.ref,
        functionAssociations: viewerRequest(spa),
      },
      cacheBehaviors: [
        {
          pathPattern: '/config.json',
          targetOriginId: 'DeskBucket',
          viewerProtocolPolicy: 'redirect-to-https',
          allowedMethods: ['GET', 'HEAD'],
          cachedMethods: ['GET', 'HEAD'],
          cachePolicyId: CACHING_DISABLED,
          responseHeadersPolicyId: headers.ref,
          functionAssociations: viewerRequest(config),
        },
        {
          pathPattern: '/api/*',
          targetOriginId: 'DeskApi',
          viewerProtocolPolicy: 'redirect-to-https',
          allowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
          cachedMethods: ['GET', 'HEAD'],
          cachePolicyId: CACHING_DISABLED,
          originRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER,
          responseHeadersPolicyId: headers.ref,
          functionAssociations: viewerRequest(apiPath),
        },
      ],
    },
  });
  logicalId(distribution, 'DeskDistribution');

  // Only the desk's distribution reads the files (Origin Access Control: CloudFront signs its
  // requests, the condition names this distribution); nothing but TLS reaches the bucket.
  const policy = new s3.CfnBucketPolicy(scope, 'DeskBucketPolicy', {
    bucket: bucket.ref,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'CloudFrontReadsTheDesk',
          Effect: 'Allow',
          Principal: { Service: 'cloudfront.amazonaws.com' },
          Action: 's3:GetObject',
          Resource: `${bucket.attrArn}/*`,
          Condition: {
            StringEquals: {
              'AWS:SourceArn': `arn:${Aws.PARTITION}:cloudfront::${Aws.ACCOUNT_ID}:distribution/${distribution.ref}`,
            },
          },
        },
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
  logicalId(policy, 'DeskBucketPolicy');

  // Outputs (same names as the SAM template).
  new CfnOutput(scope, 'DeskUrl', {
    description: 'The web desk (agents and supervisors sign in here; publish its files with `tools/desk-publish.sh --stack <stack>`)',
    value: `https://${distribution.attrDomainName}`,
  });
  new CfnOutput(scope, 'DeskBucketName', {
    description: "The web desk's files (private; tools/desk-publish.sh uploads desk/dist here)",
    value: bucket.ref,
  });
  new CfnOutput(scope, 'DeskDistributionId', {
    description: "The web desk's CloudFront distribution (tools/desk-publish.sh invalidates /index.html)",
    value: distribution.ref,
  });
}
