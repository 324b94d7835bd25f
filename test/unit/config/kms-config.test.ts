// The kms: section (shared/config/infrastructure-config.ts); network: and ingress: are in infrastructure-config.test.ts.
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../../shared/config/deployment-config.ts';
import { CONFIG_BASE, problemsOf } from '../../support/deployment-config-text.ts';

/** infra/kms.cjs reads the same section at package time, before any function validates it. */
const { keys: packageTimeKeys } = createRequire(import.meta.url)('../../../infra/kms.cjs') as {
  keys: (config: unknown) => Record<string, unknown> | undefined;
};

const POOLS = `pools:
  - name: linux
    provider: codebuild
    labels: [self-hosted, linux]
    maxConcurrent: 5
    codebuild: { project: runners }
`;
const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-4333-8444-555555555555';
const TABLES_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/aaaaaaaa-2222-4333-8444-555555555555';
const SECRETS_KEY = 'arn:aws:kms:eu-west-1:111122223333:key/bbbbbbbb-2222-4333-8444-555555555555';
const withKms = (kms: string) => `${CONFIG_BASE}${POOLS}kms:\n${kms}`;

describe('kms', () => {
  it('takes one key for everything, and nothing else is needed', () => {
    const config = parseDeploymentConfig(withKms(`  keyArn: ${KEY}\n`), 'deploy.yaml');

    expect(config.kms).toEqual({ keyArn: KEY });
  });

  it('is absent unless configured: AWS-managed keys, and the template adds nothing', () => {
    const text = `${CONFIG_BASE}${POOLS}`;

    expect(parseDeploymentConfig(text, 'deploy.yaml').kms).toBeUndefined();
    expect(packageTimeKeys(parse(text))).toBeUndefined();
  });

  it('resolves each resource to its own key, else keyArn, at package time as the contract says', () => {
    const text = withKms(`  keyArn: ${KEY}\n  tables: ${TABLES_KEY}\n  secrets: [${SECRETS_KEY}, ${KEY}]\n`);
    parseDeploymentConfig(text, 'deploy.yaml');

    expect(packageTimeKeys(parse(text))).toEqual({
      tables: TABLES_KEY,
      queues: KEY,
      topic: KEY,
      logs: KEY,
      parameters: KEY,
      bucket: KEY,
      secrets: [SECRETS_KEY, KEY],
    });
  });

  it("grants the secrets' key keyArn when no secrets keys are listed, and none without keyArn", () => {
    expect(packageTimeKeys(parse(withKms(`  keyArn: ${KEY}\n`)))?.secrets).toEqual([KEY]);
    expect(packageTimeKeys(parse(withKms(`  tables: ${TABLES_KEY}\n`)))).toMatchObject({
      tables: TABLES_KEY,
      queues: undefined,
      secrets: [],
    });
  });

  it('refuses an alias, naming the key path, in the schema and at package time alike', () => {
    const text = withKms('  parameters: alias/ghes-control-plane\n');

    expect(problemsOf(text)).toContain(
      'kms.parameters: expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias',
    );
    expect(() => packageTimeKeys(parse(text))).toThrow(/^kms\.parameters: expected a KMS key ARN/);
  });

  it('refuses a misspelt resource', () => {
    const text = withKms(`  tabels: ${KEY}\n`);

    expect(problemsOf(text)).toContain('kms: unknown key "tabels"');
    expect(() => packageTimeKeys(parse(text))).toThrow(/^kms\.tabels: not a known key/);
  });

  it('refuses an empty secrets list and names the bad entry of a list', () => {
    expect(problemsOf(withKms('  secrets: []\n'))).toMatch(/kms\.secrets: /);
    const text = withKms(`  secrets: [${KEY}, not-a-key]\n`);

    expect(problemsOf(text)).toContain('kms.secrets[1]: expected a KMS key ARN');
    expect(() => packageTimeKeys(parse(text))).toThrow(/^kms\.secrets\[1\]: expected a KMS key ARN/);
  });
});
