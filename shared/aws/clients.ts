import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { StandardRetryStrategy } from '@smithy/core/retry';
import type { RetryStrategyV2, StandardRetryToken } from '@smithy/types';
import type { AwsConnection } from './json-client.ts';

/**
 * EC2 answers a capacity shortage with a 5xx, which the SDK would retry on the same instance for
 * seconds; the dispatcher does better trying the next instance (another AZ or type) at once.
 * Throttling and other transient errors keep the standard backoff.
 */
export const EC2_CAPACITY_SHORTAGES: ReadonlySet<string> = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacityOnHost',
]);
export const ec2RetryStrategy = (maxAttempts: number): RetryStrategyV2 => {
  const standard = new StandardRetryStrategy(maxAttempts);
  return {
    acquireInitialRetryToken: (scope) => standard.acquireInitialRetryToken(scope),
    refreshRetryTokenForRetry: (token, info) =>
      EC2_CAPACITY_SHORTAGES.has((info.error as Error | undefined)?.name ?? '')
        ? Promise.reject(info.error) // the SDK then throws the original error
        : standard.refreshRetryTokenForRetry(token as StandardRetryToken, info),
    // The tokens are the standard strategy's own, handed back to it.
    recordSuccess: (token) => standard.recordSuccess(token as StandardRetryToken),
  };
};

/**
 * The one place SDK v3 clients are built (for the dispatcher and the state-machine tasks; the
 * webhook uses the light JSON client). Built once per container and passed to modules as arguments.
 * With `roleArn`, every call is made as that role (a pool whose capacity lives in another account);
 * the SDK assumes it on first use and again shortly before the session expires.
 */
export const createAwsClients = (connection: AwsConnection, roleArn?: string) => {
  const endpoint = connection.endpoint ? { endpoint: connection.endpoint } : {};
  const options = {
    region: connection.region,
    credentials: roleArn
      ? fromTemporaryCredentials({
          params: { RoleArn: roleArn, RoleSessionName: 'ghes-cp-runner-dispatcher', DurationSeconds: 3600 },
          masterCredentials: connection.credentials,
          clientConfig: { region: connection.region, ...endpoint },
        })
      : connection.credentials,
    ...endpoint,
    // EC2's StartInstances throttles at a few requests a second per account; the SDK backs off
    // with jitter on RequestLimitExceeded before the dispatcher sees an error.
    maxAttempts: 5,
  };
  return {
    ec2: new EC2Client({ ...options, retryStrategy: ec2RetryStrategy(options.maxAttempts) }),
    ssm: new SSMClient(options),
    codebuild: new CodeBuildClient(options),
  };
};

/** `arn:<partition>:iam::<account>:role/<name>` → its partition and account. */
export const accountOfRole = (roleArn: string) => {
  const [, partition, , , account] = roleArn.split(':');
  return { partition: partition!, account: account! };
};
