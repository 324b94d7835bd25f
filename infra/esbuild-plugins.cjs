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
 * and it cost the dispatcher's cold start ~50 ms of CPU. So every static import of a Node built-in
 * is bundled from a small ES module of our own instead: it takes the module object with
 * `process.getBuiltinModule` (no facade, no getter touched) and exports each name as a pure call
 * that reads it, so esbuild keeps only the names the bundle imports and each is read once, at load.
 *
 * The earlier shim, `module.exports = require(…)`, was CommonJS: esbuild then wraps it in
 * `__toESM` in every module that imports it, which copies every export of the built-in into a new
 * object (the webhook did so 9 times, 6 for `node:crypto`). That, with the banner's ES import of
 * node:module (scripts/build.ts), was about a third of the webhook's CPU at load (measured side by side).
 * Dynamic `import()` of a built-in, and `require()` in CommonJS dependencies, are left as they are.
 */
const BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

const builtinsWithoutFacade = {
  name: 'builtins-without-facade',
  setup(build) {
    build.onResolve({ filter: /^[\w:/]+$/ }, (args) =>
      args.kind === 'import-statement' && args.namespace !== 'node-builtin' && BUILTINS.has(args.path)
        ? { path: args.path, namespace: 'node-builtin' }
        : undefined,
    );
    // The getters' side: a CommonJS module esbuild reads through `__toESM`, whose copies are getters
    // read where the name is used. Dropped when nothing imports a getter (no side effects).
    build.onResolve({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      path: args.path,
      namespace: 'node-builtin-getters',
      sideEffects: false,
    }));
    build.onLoad({ filter: /.*/, namespace: 'node-builtin-getters' }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => {
      // Reads names and descriptors only: no getter of the build's own copy runs.
      const builtin = require(args.path);
      const names = Object.keys(builtin).filter((name) => name !== 'default' && IDENTIFIER.test(name));
      const getters = names.filter((name) => 'get' in Object.getOwnPropertyDescriptor(builtin, name));
      const contents = [
        `const builtin = process.getBuiltinModule(${JSON.stringify(args.path)});`,
        'const pick = (name) => builtin[name];',
        'export default builtin;',
        ...names
          .filter((name) => !getters.includes(name))
          .map((name) => `export const ${name} = /* @__PURE__ */ pick(${JSON.stringify(name)});`),
        // `fs.promises`, `crypto.subtle`: a getter that loads more of Node when read; read on use.
        ...(getters.length > 0
          ? [`export { ${getters.join(', ')} } from ${JSON.stringify(args.path)};`]
          : []),
      ];
      return { contents: contents.join('\n'), loader: 'js' };
    });
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

module.exports = [inlineSdkSchemaKeys, builtinsWithoutFacade, sdkClientDeepImports];
