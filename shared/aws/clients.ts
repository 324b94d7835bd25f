import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import type { AwsConnection } from './json-client.ts';

/**
 * The one place SDK v3 clients are built (for the dispatcher and the state-machine tasks; the
 * webhook uses the light JSON client). Built once per container and passed to modules as arguments.
 */
export const createAwsClients = (connection: AwsConnection) => {
  const options = {
    region: connection.region,
    credentials: connection.credentials,
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
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
