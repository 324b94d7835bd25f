import { ConfigError } from '../http/errors.ts';
import type { JsonCall } from '../aws/json-client.ts';

/** The bot token, read once per container; `forget()` after Slack refused it (a rotated secret). */
export interface BotTokenSource {
  token(): Promise<string>;
  forget(): void;
}

/**
 * Reads the Slack bot token from Secrets Manager (a plain `xoxb-…` string). Cached for the container's
 * life: Slack tokens do not expire on their own, and a rotation shows up as `invalid_auth`, after
 * which the caller forgets the cached one and the next call reads the secret again. Concurrent
 * callers share one read. The token is never logged or put in an error message.
 */
export const createSecretsManagerBotToken = (secretsManager: JsonCall, secretArn: string): BotTokenSource => {
  let cached: Promise<string> | undefined;
  const read = async () => {
    const out = await secretsManager<{ SecretString?: string }>('GetSecretValue', { SecretId: secretArn });
    const token = out.SecretString?.trim() ?? '';
    if (!token) throw new ConfigError(`Slack bot token secret ${secretArn} is blank`);
    return token;
  };
  return {
    token() {
      // A failed read is not cached: the next call tries again.
      cached ??= read().catch((error: unknown) => {
        cached = undefined;
        throw error;
      });
      return cached;
    },
    forget() {
      cached = undefined;
    },
  };
};
