import { expect } from 'vitest';
import { parseDeploymentConfig } from '../../shared/config/deployment-config.ts';
import { ConfigError } from '../../shared/http/errors.ts';

/** The smallest valid deployment config's region and github block; tests append pools and the rest. */
export const CONFIG_BASE = `
region: eu-west-1
github:
  apiUrl: https://ghes.example.com/api/v3
  appId: 1
  privateKeySecretArn: arn:aws:secretsmanager:eu-west-1:111122223333:secret:key
  webhookSecretArn: arn:aws:secretsmanager:eu-west-1:111122223333:secret:hook
`;

/** The message of the ConfigError the document is refused with (fails the test if it is accepted). */
export const problemsOf = (text: string): string => {
  try {
    parseDeploymentConfig(text, 'deploy.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected the config to be refused');
};
