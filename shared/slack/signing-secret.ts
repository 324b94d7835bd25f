import { ConfigError } from '../http/errors.ts';
import type { JsonCall } from '../aws/json-client.ts';

export interface SigningSecretSource {
  current(): Promise<string>;
}

/**
 * Reads the Slack app's signing secret (a plain string) from Secrets Manager and caches it for
 * `cacheMs`, so a regenerated secret is picked up within that time without a redeploy. Concurrent
 * callers share one read; a failed read is not cached. A blank secret is a `ConfigError`: an HMAC
 * keyed with nothing proves nothing, so no request is ever accepted with it. The secret is never put
 * in a message or a log line.
 */
export const createSecretsManagerSigningSecret = (
  secretsManager: JsonCall,
  secretArn: string,
  options: { cacheMs?: number; now?: () => number } = {},
): SigningSecretSource => {
  const cacheMs = options.cacheMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  let cached: { secret: string; fetchedAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  const read = async () => {
    const out = await secretsManager<{ SecretString?: string }>('GetSecretValue', { SecretId: secretArn });
    const secret = out.SecretString?.trim() ?? '';
    if (!secret) throw new ConfigError(`Slack signing secret ${secretArn} is blank`);
    cached = { secret, fetchedAt: now() };
    return secret;
  };

  return {
    async current() {
      if (cached && now() - cached.fetchedAt < cacheMs) return cached.secret;
      inFlight ??= read().finally(() => (inFlight = undefined));
      return inFlight;
    },
  };
};
