import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `npm test` must pass in a fresh clone with nothing beside it: no source, test or script may
 * reach a path outside the project (test vectors live in test/vectors/, copied in).
 */
const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CODE = new Set(['.ts', '.js', '.cjs', '.mjs']);
const SKIP = new Set(['node_modules', 'dist', '.serverless', '.git', 'coverage']);

const codeFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return codeFiles(path);
    return CODE.has(extname(entry.name)) ? [path] : [];
  });

/** Every quoted relative path (`'../x'`, `"./x"`, `` `../x/${y}` ``) and where it points. */
const relativePaths = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/['"`]((?:\.{1,2}\/)+[^'"`$\s]*)/g)].map((m) => ({
    literal: m[1]!,
    target: resolve(dirname(file), m[1]!),
  }));

describe('project boundary', () => {
  it('has no code that reads a path outside the project', () => {
    const outside = codeFiles(root).flatMap((file) =>
      relativePaths(file)
        .filter(({ target }) => relative(root, target).startsWith('..'))
        .map(({ literal }) => `${relative(root, file)}: ${literal}`),
    );
    expect(outside).toEqual([]);
  });

  it('has its own copy of the test vectors', () => {
    const vector = JSON.parse(readFileSync(join(root, 'test/vectors/github/signature.json'), 'utf8'));
    expect(vector).toMatchObject({
      secret: expect.any(String),
      signature: expect.stringMatching(/^sha256=/),
    });
  });
});
