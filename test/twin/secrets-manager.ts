import { TwinAwsError, type TwinAwsService } from './aws-endpoint.ts';

/** Secrets Manager's GetSecretValue over secrets the sandbox config supplies (by ARN or name). */
export interface SecretsManagerTwin extends TwinAwsService {
  put(arn: string, secretString: string): void;
}

export const createSecretsManagerTwin = (): SecretsManagerTwin => {
  const secrets = new Map<string, { value: string; version: number }>();
  return {
    id: 'secretsmanager',
    signingName: 'secretsmanager',
    protocol: 'json',
    operations: {
      GetSecretValue: { ResourceNotFoundException: 400, DecryptionFailure: 400, InternalServiceError: 500 },
    },
    put(arn, value) {
      secrets.set(arn, { value, version: (secrets.get(arn)?.version ?? 0) + 1 });
    },
    async handle({ input }) {
      const id = String(input.SecretId ?? '');
      const found =
        secrets.get(id) ?? [...secrets.entries()].find(([arn]) => arn.split(':').pop()?.startsWith(id))?.[1];
      if (!found)
        throw new TwinAwsError(
          'ResourceNotFoundException',
          "Secrets Manager can't find the specified secret.",
        );
      return {
        ARN: id,
        Name: id.split(':').pop(),
        SecretString: found.value,
        VersionId: `v${found.version}`,
        VersionStages: ['AWSCURRENT'],
      };
    },
  };
};
