import { DeleteParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { RunnerCredentials } from '../github/github-app.ts';

/**
 * Runner credentials go to Parameter Store as a SecureString (KMS-encrypted) and travel only as a
 * parameter NAME: CodeBuild resolves it into the build (type PARAMETER_STORE), an instance reads it
 * at boot and deletes it. No JIT config ever sits in a plaintext environment variable.
 */
export interface CredentialsStore {
  /**
   * `readableBy`: an instance ARN. The parameter is tagged with it, and the runner instance role
   * may read only parameters tagged with its own ARN (`${ec2:SourceInstanceARN}`).
   */
  put(
    name: string,
    credentials: RunnerCredentials & { readonly idleMinutes?: number },
    options?: { readableBy?: string },
  ): Promise<void>;
  remove(name: string): Promise<void>;
}

/** The tag the runner instance role's policy compares with the caller's instance ARN. */
export const INSTANCE_ARN_TAG = 'ghes-cp:instance-arn';

/**
 * `keyId`: the customer-managed KMS key to encrypt with (a key ARN); none: Parameter Store's
 * AWS-managed key aws/ssm, which every principal of the account may decrypt through Parameter Store.
 */
export const createSsmCredentialsStore = (
  ssm: SSMClient,
  options: { readonly keyId?: string } = {},
): CredentialsStore => {
  // On every write, overwrites included: a PutParameter without KeyId would re-encrypt the value
  // under aws/ssm.
  const encryption = options.keyId ? { KeyId: options.keyId } : {};
  const remove = async (name: string) => {
    try {
      await ssm.send(new DeleteParameterCommand({ Name: name }));
    } catch (error) {
      if ((error as Error).name !== 'ParameterNotFound') throw error;
    }
  };
  return {
    async put(name, credentials, options = {}) {
      const value = JSON.stringify(credentials);
      if (!options.readableBy) {
        await ssm.send(
          new PutParameterCommand({
            Name: name,
            Type: 'SecureString',
            ...encryption,
            Value: value,
            Overwrite: true, // a retried dispatch replaces the credentials of its failed attempt
          }),
        );
        return;
      }
      // Parameter Store refuses Tags together with Overwrite, so the parameter is created with its
      // tag. A leftover of a failed wake was created the same way for the same instance: it is
      // overwritten in place and keeps its tag. Deleting it first made every later wake of this
      // instance wait on that delete, and fail with it while Parameter Store throttles deletes.
      try {
        await ssm.send(
          new PutParameterCommand({
            Name: name,
            Type: 'SecureString',
            ...encryption,
            Value: value,
            Tags: [{ Key: INSTANCE_ARN_TAG, Value: options.readableBy }],
          }),
        );
      } catch (error) {
        if ((error as Error).name !== 'ParameterAlreadyExists') throw error;
        // Deleted meanwhile, this re-creates it untagged: then no instance may read it (fails closed).
        await ssm.send(
          new PutParameterCommand({
            Name: name,
            Type: 'SecureString',
            ...encryption,
            Value: value,
            Overwrite: true,
          }),
        );
      }
    },
    remove,
  };
};
