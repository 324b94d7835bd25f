import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { AwsConnection } from './json-client.ts';

/**
 * The SDK v3 clients of the GHES operations half, built once per container. Apart from
 * shared/aws/clients.ts so that the runner half's bundles (the dispatcher's cold start) do not carry
 * the S3 and Route53 clients.
 */
export const createOperationsAwsClients = (connection: AwsConnection) => {
  const endpoint = connection.endpoint ? { endpoint: connection.endpoint } : {};
  const options = {
    region: connection.region,
    credentials: connection.credentials,
    ...endpoint,
    maxAttempts: 5,
  };
  return {
    ssm: new SSMClient(options),
    // SSM Run Command output beyond its inline limits (shared/ghes). Path-style on the twin's endpoint.
    s3: new S3Client({ ...options, forcePathStyle: connection.endpoint !== undefined }),
    // Global: its API is signed in us-east-1 whatever the stack's region.
    route53: new Route53Client({ ...options, region: 'us-east-1' }),
  };
};
