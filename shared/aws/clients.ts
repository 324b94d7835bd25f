import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AwsConnection } from './json-client.ts';

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
    ec2: new EC2Client(options),
    ssm: new SSMClient(options),
    codebuild: new CodeBuildClient(options),
  };
};

export type AwsClients = ReturnType<typeof createAwsClients>;

/** `arn:<partition>:iam::<account>:role/<name>` → its partition and account. */
export const accountOfRole = (roleArn: string) => {
  const [, partition, , , account] = roleArn.split(':');
  return { partition: partition!, account: account! };
};
