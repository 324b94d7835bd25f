import { describe, expect, it } from 'vitest';
import { createSecretsManagerSigningSecret } from '../../../shared/slack/signing-secret.ts';
import { ConfigError } from '../../../shared/http/errors.ts';

const arn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slack-signing';

const source = (answers: (() => string | Error)[], clock = { now: 0 }) => {
  let calls = 0;
  const secrets = createSecretsManagerSigningSecret(
    async <T>() => {
      const answer = answers[calls++]!();
      if (answer instanceof Error) throw answer;
      return { SecretString: answer } as T;
    },
    arn,
    { cacheMs: 1000, now: () => clock.now },
  );
  return { secrets, calls: () => calls };
};

describe('the Slack signing secret from Secrets Manager', () => {
  it('is read once for concurrent callers and again once the cache ran out', async () => {
    const clock = { now: 0 };
    const { secrets, calls } = source([() => 'first\n', () => 'second'], clock);
    expect(await Promise.all([secrets.current(), secrets.current()])).toEqual(['first', 'first']);
    clock.now = 999;
    expect(await secrets.current()).toBe('first');
    clock.now = 1000;
    expect(await secrets.current()).toBe('second');
    expect(calls()).toBe(2);
  });

  it('refuses a blank secret, naming the secret but not any value', async () => {
    const { secrets } = source([() => '  ']);
    await expect(secrets.current()).rejects.toThrow(ConfigError);
    await expect(source([() => '']).secrets.current()).rejects.toThrow(
      `Slack signing secret ${arn} is blank`,
    );
  });

  it('does not cache a failed read: the next request tries again', async () => {
    const { secrets, calls } = source([() => new Error('throttled'), () => 'recovered']);
    await expect(secrets.current()).rejects.toThrow('throttled');
    expect(await secrets.current()).toBe('recovered');
    expect(calls()).toBe(2);
  });
});
