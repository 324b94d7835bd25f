import { beforeAll, describe, expect, it } from 'vitest';
import type { Metafile } from 'esbuild';
import { buildFunction, functionNames } from '../../scripts/build.ts';

/** What ships in each Lambda: no twin, sandbox or test code, and the webhook stays small. */
const bundles = new Map<string, { bytes: number; metafile: Metafile }>();

beforeAll(async () => {
  for (const name of functionNames()) bundles.set(name, await buildFunction(name));
}, 120_000);

describe('Lambda bundles', () => {
  it('builds one bundle per function folder', () => {
    expect([...bundles.keys()]).toEqual(functionNames());
    expect(bundles.size).toBeGreaterThan(0);
  });

  it('contain no input from test/ (twin, sandbox, support)', () => {
    for (const [name, { metafile }] of bundles) {
      const leaked = Object.keys(metafile.inputs).filter((input) => /(^|\/)test\//.test(input));
      expect(leaked, `${name} bundles test code`).toEqual([]);
    }
  });

  it('keeps the webhook bundle within 250 KB and free of the AWS SDK', () => {
    const webhook = bundles.get('github-webhook')!;
    expect(webhook.bytes).toBeLessThanOrEqual(250 * 1024);
    expect(Object.keys(webhook.metafile.inputs).filter((input) => input.includes('@aws-sdk/'))).toEqual([]);
  });
});
