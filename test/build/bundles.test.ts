import { beforeAll, describe, expect, it } from 'vitest';
import type { Metafile } from 'esbuild';
import { buildFunction, functionNames } from '../../scripts/build.ts';

/** What ships in each Lambda: no twin, sandbox or test code, and the webhook stays small. */
const bundles = new Map<string, { bytes: number; metafile: Metafile }>();

/** The inputs of handler.mjs and of every chunk it imports statically: what a cold start evaluates. */
const loadedAtStart = (metafile: Metafile): string[] => {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imported of metafile.outputs[file]!.imports) {
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
    }
  };
  visit(Object.keys(metafile.outputs).find((file) => file.endsWith('/handler.mjs'))!);
  return [...seen].flatMap((file) => Object.keys(metafile.outputs[file]!.inputs));
};
const bytesOf = (metafile: Metafile, input: RegExp) =>
  Object.values(metafile.outputs)
    .flatMap((output) => Object.entries(output.inputs))
    .filter(([file]) => input.test(file))
    .reduce((sum, [, { bytesInOutput }]) => sum + bytesInOutput, 0);

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

  it('start the dispatcher without evaluating an AWS SDK client: they load with its first launch', () => {
    const { metafile } = bundles.get('runner-dispatcher')!;
    expect(loadedAtStart(metafile).filter((input) => input.includes('@aws-sdk/client-'))).toEqual([]);
    // Shipped all the same, in chunks the first launch imports.
    expect(bytesOf(metafile, /@aws-sdk\/client-ec2\//)).toBeGreaterThan(0);
  });

  it("carry only the EC2 operations the dispatcher calls, not the SDK's 1 MB of all of them", () => {
    expect(bytesOf(bundles.get('runner-dispatcher')!.metafile, /@aws-sdk\/client-ec2\//)).toBeLessThan(
      100 * 1024,
    );
  });
});
