import { DeleteParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { RunnerCredentials } from '../github/github-app.ts';

/**
 * Runner credentials go to Parameter Store as a SecureString (KMS-encrypted) and travel only as a
 * parameter NAME: CodeBuild resolves it into the build (type PARAMETER_STORE), an instance reads it
 * at boot and deletes it. No JIT config ever sits in a plaintext environment variable.
 */
export interface CredentialsStore {
  put(name: string, credentials: RunnerCredentials): Promise<void>;
  remove(name: string): Promise<void>;
}

export const createSsmCredentialsStore = (ssm: SSMClient): CredentialsStore => ({
  async put(name, credentials) {
    await ssm.send(
      new PutParameterCommand({
        Name: name,
        Type: 'SecureString',
        Value: JSON.stringify(credentials),
        Overwrite: true, // a retried dispatch replaces the credentials of its failed attempt
      }),
    );
  },
  async remove(name) {
    try {
      await ssm.send(new DeleteParameterCommand({ Name: name }));
    } catch (error) {
      if ((error as Error).name !== 'ParameterNotFound') throw error;
    }
  },
});
