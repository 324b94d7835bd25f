import { accountOfRole, createAwsClients } from '../aws/clients.ts';
import type { AwsConnection } from '../aws/json-client.ts';
import type { Leases } from '../dispatch/leases.ts';
import { createCodeBuildProvider } from './codebuild-provider.ts';
import { createEc2WakeProvider } from './ec2-wake-provider.ts';
import { createSsmCredentialsStore, type CredentialsStore } from './runner-credentials-store.ts';
import type { CodeBuildTarget, Ec2WakeTarget, RunnerProvider } from './runner-provider.ts';

/** Every way of starting a runner in one AWS account, and that account's Parameter Store. */
export interface AccountProviders {
  readonly codebuild: RunnerProvider<CodeBuildTarget>;
  readonly ec2Wake: RunnerProvider<Ec2WakeTarget>;
  readonly credentials: CredentialsStore;
}

/**
 * The providers of the dispatcher's own account (no `roleArn`) or of the account a pool's role
 * lives in, over SDK clients built for it. The dispatcher imports this module on an account's first
 * launch or check (shared/dispatch/create-dispatcher-from-env.ts says why).
 */
export const createAccountProviders = (options: {
  readonly connection: AwsConnection;
  readonly roleArn?: string;
  readonly leases: Leases;
  readonly parameterPrefix: string;
  /** `arn:<partition>:ec2:<region>:<account>:instance/` of the dispatcher's own account. */
  readonly homeInstanceArnPrefix: string;
  /** The customer-managed key for the home account's runner parameters (kms.parameters). */
  readonly homeParameterKeyArn?: string;
}): AccountProviders => {
  const { connection, roleArn, parameterPrefix } = options;
  const aws = createAwsClients(connection, roleArn);
  // Only the home account's parameters take the configured key. A pool with a roleArn writes its
  // parameters into the other account, whose runners read them with that account's roles: our key
  // would have to trust them (and their account's admins could not manage it), so their Parameter
  // Store keeps its own default key there, as the other account's owner decides.
  const credentials = createSsmCredentialsStore(
    aws.ssm,
    !roleArn && options.homeParameterKeyArn ? { keyId: options.homeParameterKeyArn } : {},
  );
  const instanceArnPrefix = roleArn
    ? `arn:${accountOfRole(roleArn).partition}:ec2:${connection.region}:${accountOfRole(roleArn).account}:instance/`
    : options.homeInstanceArnPrefix;
  return {
    credentials,
    codebuild: createCodeBuildProvider({ codebuild: aws.codebuild, credentials, parameterPrefix }),
    ec2Wake: createEc2WakeProvider({
      ec2: aws.ec2,
      credentials,
      leases: options.leases,
      parameterPrefix,
      instanceArn: (instanceId) => `${instanceArnPrefix}${instanceId}`,
    }),
  };
};
