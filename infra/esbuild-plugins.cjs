// esbuild plugins for every Lambda bundle: `npm run build` (scripts/build.ts) and `osls package`
// (serverless.yml, custom.esbuild.plugins) both use this list, so the bundle measured is the one shipped.
const { existsSync } = require('node:fs');
const { readFile } = require('node:fs/promises');
const { builtinModules, createRequire } = require('node:module');

/**
 * AWS SDK v3 clients describe every operation of their service as schema arrays in one module
 * (`dist-es/schemas/schemas_0.js`; EC2's is 1.3 MB). The dispatcher calls 2 of EC2's ~750 operations,
 * yet esbuild kept nearly all of them: the schemas' trait objects use computed keys
 * (`{ [_xN]: _II }`, `_xN` a module constant), and esbuild keeps any unused value whose computed key
 * it cannot prove free of side effects. The SDK declares itself `sideEffects: false`, and these keys
 * are string constants of the same module, so writing each key as its string literal changes no
 * value and lets esbuild drop the schemas nothing references. Compiling and evaluating those unused
 * schemas was most of the dispatcher's cold start. A file that no longer looks like this is left as
 * it is (only the bundle grows): test/build/bundles.test.ts holds the EC2 client to its budget.
 */
const SCHEMA_FILE = /[\\/]@aws-sdk[\\/][^\\/]+[\\/]dist-es[\\/](?:.*[\\/])?schemas[\\/]schemas_\d+\.js$/;
const STRING_CONSTANT = /^const (_\w+) = ("(?:[^"\\\n]|\\.)*");$/gm;
const COMPUTED_KEY = /\[(_\w+)\]:/g;

const inlineSdkSchemaKeys = {
  name: 'inline-sdk-schema-keys',
  setup(build) {
    build.onLoad({ filter: SCHEMA_FILE }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const constants = new Map([...text.matchAll(STRING_CONSTANT)].map((m) => [m[1], m[2]]));
      const contents = text.replace(COMPUTED_KEY, (key, name) =>
        constants.has(name) ? `${constants.get(name)}:` : key,
      );
      return { contents, loader: 'js' };
    });
  },
};

/**
 * `import { Agent } from 'node:http'` in an ES module makes Node build the module's ES facade, which
 * reads every export, getters included: for `node:http` that loads Node's own undici (its `fetch`,
 * `WebSocket`), for `node:tls` the root certificates, for `node:crypto` WebCrypto. None of it is used,
 * and it cost the dispatcher's cold start ~50 ms of CPU. `require()` (the banner defines it) returns
 * the module object without touching its getters, so every static import of a Node built-in is
 * bundled as a require of it; the imported names are read off that object where they are used.
 * Dynamic `import()` of a built-in is left as it is.
 */
const BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));

const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(build) {
    build.onResolve({ filter: /^[\w:/]+$/ }, (args) =>
      args.kind === 'import-statement' && BUILTINS.has(args.path)
        ? { path: args.path, namespace: 'node-builtin' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * The dispatcher imports its SDK clients lazily (shared/dispatch/create-dispatcher-from-env.ts), and
 * esbuild bundles a lazily imported module graph as functions run on first import. In that form it
 * no longer drops the files of a `sideEffects: false` package that nothing uses but that run code at
 * their top level: a client's barrel (`@aws-sdk/client-ec2`) brings every command class, paginator
 * and waiter, and the aggregated client that lists them all, with every operation's schema (EC2:
 * 0.9 MB). So our own imports of a client's `XClient` and `XCommand` classes are pointed at the
 * files that define them, which import only what they need; types and anything else still come
 * from the barrel.
 */
const SDK_CLIENT_IMPORT = /import\s*\{([^}]*)\}\s*from\s*'(@aws-sdk\/client-[\w-]+)';/g;

const sdkClientDeepImports = {
  name: 'sdk-client-deep-imports',
  setup(build) {
    build.onLoad({ filter: /[\\/](shared|functions)[\\/].*\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes("from '@aws-sdk/client-")) return undefined;
      const requireHere = createRequire(args.path);
      const contents = text.replace(SDK_CLIENT_IMPORT, (statement, names, pkg) => {
        const root = requireHere.resolve(`${pkg}/package.json`).replace(/package\.json$/, '');
        const fromBarrel = [];
        const deep = [];
        for (const specifier of names
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean)) {
          const name = specifier.replace(/\s+as\s+\w+$/, '');
          const file = /Command$/.test(name) ? `dist-es/commands/${name}.js` : `dist-es/${name}.js`;
          if (!/^type\s/.test(specifier) && /(Command|Client)$/.test(name) && existsSync(root + file)) {
            deep.push(`import { ${specifier} } from '${pkg}/${file}';`);
          } else fromBarrel.push(specifier);
        }
        return [
          ...(fromBarrel.length ? [`import { ${fromBarrel.join(', ')} } from '${pkg}';`] : []),
          ...deep,
        ].join('\n');
      });
      return { contents, loader: 'ts' };
    });
  },
};

module.exports = [inlineSdkSchemaKeys, builtinsViaRequire, sdkClientDeepImports];
