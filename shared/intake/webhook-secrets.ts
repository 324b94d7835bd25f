import { ConfigError } from '../http/errors.ts';
import type { JsonCall } from '../aws/json-client.ts';

export interface WebhookSecretSource {
  /** One secret, or two while a rotation is under way (the new one first). */
  current(): Promise<readonly string[]>;
}

/**
 * Reads the webhook secret from Secrets Manager and caches it, so a rotation takes effect within
 * `cacheMs` without a redeploy. The secret is either the plain secret string or a JSON object
 * `{"current": "...", "previous": "..."}`: GitHub signs with one secret per hook, and during a
 * rotation hooks still signing with the old one must keep working.
 */
export const createSecretsManagerWebhookSecrets = (
  secretsManager: JsonCall,
  secretArn: string,
  options: { cacheMs?: number; now?: () => number } = {},
): WebhookSecretSource => {
  const cacheMs = options.cacheMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  let cached: { secrets: readonly string[]; fetchedAt: number } | undefined;
  let inFlight: Promise<readonly string[]> | undefined;

  const fetchSecrets = async (): Promise<readonly string[]> => {
    const out = await secretsManager<{ SecretString?: string }>('GetSecretValue', { SecretId: secretArn });
    const secrets = parseWebhookSecrets(out.SecretString, secretArn);
    cached = { secrets, fetchedAt: now() };
    return secrets;
  };

  return {
    async current() {
      if (cached && now() - cached.fetchedAt < cacheMs) return cached.secrets;
      inFlight ??= fetchSecrets().finally(() => (inFlight = undefined));
      return inFlight;
    },
  };
};

export const parseWebhookSecrets = (
  secretString: string | undefined,
  secretArn: string,
): readonly string[] => {
  const text = secretString ?? '';
  let secrets: string[];
  if (text.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(`webhook secret ${secretArn}: looks like JSON but does not parse`);
    }
    const { current, previous } = parsed as { current?: unknown; previous?: unknown };
    if (typeof current !== 'string' || (previous !== undefined && typeof previous !== 'string')) {
      throw new ConfigError(`webhook secret ${secretArn}: expected {"current": string, "previous"?: string}`);
    }
    secrets = [current, ...(previous === undefined ? [] : [previous])];
  } else {
    secrets = [text];
  }
  // A blank secret would make every HMAC check meaningless: refuse to run rather than accept all.
  if (secrets.some((secret) => secret.trim() === '')) {
    throw new ConfigError(`webhook secret ${secretArn}: is blank`);
  }
  return secrets;
};
