import { describe, expect, it } from 'vitest';
import {
  createSecretsManagerWebhookSecrets,
  parseWebhookSecrets,
} from '../../../shared/intake/webhook-secrets.ts';
import { ConfigError } from '../../../shared/http/errors.ts';

const arn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:webhook';

describe('parseWebhookSecrets', () => {
  it('reads a plain secret string as the one secret', () => {
    expect(parseWebhookSecrets('s3cr3t', arn)).toEqual(['s3cr3t']);
  });

  it('reads {"current","previous"} as two secrets, the current one first', () => {
    expect(parseWebhookSecrets('{"current":"new","previous":"old"}', arn)).toEqual(['new', 'old']);
  });

  it.each([[''], ['   '], [undefined], ['{"current":""}'], ['{"current":"a","previous":" "}']])(
    'refuses a blank secret (%j) so no request is ever accepted without a real HMAC',
    (value) => {
      expect(() => parseWebhookSecrets(value, arn)).toThrow(ConfigError);
    },
  );

  it('names the secret when the JSON form is broken', () => {
    expect(() => parseWebhookSecrets('{"current": 1}', arn)).toThrow(/secret:webhook.*expected \{"current"/);
  });
});

describe('createSecretsManagerWebhookSecrets', () => {
  it('fetches once within the cache window and again after it', async () => {
    let calls = 0;
    let clock = 0;
    const source = createSecretsManagerWebhookSecrets(
      async <T>() => {
        calls++;
        return { SecretString: `secret-${calls}` } as T;
      },
      arn,
      { cacheMs: 1000, now: () => clock },
    );
    expect(await Promise.all([source.current(), source.current()])).toEqual([['secret-1'], ['secret-1']]);
    clock = 999;
    expect(await source.current()).toEqual(['secret-1']);
    clock = 1000;
    expect(await source.current()).toEqual(['secret-2']);
    expect(calls).toBe(2);
  });
});
