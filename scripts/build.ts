import { build, type Metafile, type Plugin } from 'esbuild';
import { readdirSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * One minified ESM bundle per function under dist/<name>/handler.mjs, plus its esbuild metafile
 * (tests read it to prove no twin or test code ships in a Lambda). What a function imports only
 * with `import()` (the dispatcher's SDK clients) goes to chunk files beside it,
 * dist/<name>/handler.chunks/: Node reads and compiles those only when that import runs, where in
 * one file it parsed all of it at every cold start (~90 ms of CPU of the dispatcher's init, measured
 * under load). serverless.yml's `custom.esbuild` sets the same `splitting` and `chunkNames`.
 *
 * The AWS SDK is bundled, not taken from the runtime: bundled clients initialised faster than the
 * runtime's copy loaded from node_modules (+93 ms vs +132 ms, measured 2026-11-23), and the bundle
 * pins the exact SDK version the tests ran against.
 *
 * `module` before `main`: the SDK's ES modules, which esbuild can tree-shake, instead of its CommonJS
 * files, each a whole client in one function (EC2: 1 MB) evaluated in full at import. With the
 * plugins (infra/esbuild-plugins.cjs, also serverless.yml's) the dispatcher bundle carries only the
 * operations it calls. serverless.yml's `custom.esbuild` sets the same two options.
 */
const plugins = createRequire(import.meta.url)('../infra/esbuild-plugins.cjs') as Plugin[];
const root = fileURLToPath(new URL('..', import.meta.url));

export const functionNames = (): string[] =>
  readdirSync(`${root}functions`, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

/** `bytes`: every file the function ships; `entryBytes`: handler.mjs, what a cold start reads. */
export const buildFunction = async (
  name: string,
): Promise<{ bytes: number; entryBytes: number; metafile: Metafile }> => {
  const outdir = `${root}dist/${name}`;
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { handler: `${root}functions/${name}/handler.ts` },
    outdir,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'handler.chunks/[name]-[hash]',
    bundle: true,
    minify: true,
    sourcemap: false,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    mainFields: ['module', 'main'],
    plugins,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
    // Some dependencies are CommonJS and call require(); ESM output needs it defined. In the bundles
    // they only ever require Node built-ins, which process.getBuiltinModule returns as require() does;
    // node:module's createRequire, for anything else, is loaded only then. An `import` of node:module
    // built its ES facade, and createRequire loaded node:module, at every cold start: ~6% of the
    // webhook's instructions from load to its first answer (valgrind, test/bench/webhook-wire.ts child).
    banner: {
      js: "const require=(id)=>process.getBuiltinModule(id)??process.getBuiltinModule('node:module').createRequire(import.meta.url)(id);",
    },
  });
  writeFileSync(`${outdir}/meta.json`, JSON.stringify(result.metafile));
  const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
  const entryBytes = Object.entries(result.metafile.outputs)
    .filter(([file]) => file.endsWith('/handler.mjs'))
    .reduce((sum, [, output]) => sum + output.bytes, 0);
  return { bytes, entryBytes, metafile: result.metafile };
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const name of functionNames()) {
    const { bytes, entryBytes } = await buildFunction(name);
    const chunks = bytes - entryBytes;
    console.log(
      `dist/${name}/handler.mjs  ${(entryBytes / 1024).toFixed(1)} KB` +
        (chunks > 0 ? `  (+ ${(chunks / 1024).toFixed(1)} KB in handler.chunks/, loaded on import())` : ''),
    );
  }
}
