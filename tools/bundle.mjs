// The command's bundle (README, "Layout"): dist/src/cli/cli.js and everything it imports, ours
// and the packages (yaml, commander), as one CommonJS file, dist/bin/cli.cjs, that bin/nlmon.js
// requires. Loading two hundred modules one by one cost the daemon 6 MB and 0.07 s of CPU at
// every start; Node's ES module loader costs another 2 MB and 5 ms, and a bundle split into a
// chunk per verb was resolved chunk by chunk (two dozen for `run`), enough path work at start to
// wake V8's optimising compiler, whose code stayed resident (4 MB). A verb's lazy import() stays
// lazy inside the file: its modules are evaluated on first use. The NATS client, prom-client and
// gRPC stay in node_modules, loaded by import() only when used. The bundle sits two folders below
// the package's root, as dist/src/package.js does (src/package.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { build } from 'esbuild';

fs.rmSync('dist/bin', { recursive: true, force: true });

/** Node's built-in modules as plain CommonJS values: esbuild would otherwise copy every property
 * of `node:fs` into a fresh object (getters) at each of the sixty places one is imported. Our
 * code imports them by default export only (`import fs from 'node:fs'`); a named import of one
 * fails the build. */
const builtins = {
  name: 'node-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'import-statement' ? { path: args.path, namespace: 'builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `export default require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

/** commander requires node:child_process at load, for executable subcommands nlmon does not
 * have: loading it cost every command about 10 ms of CPU (a fifth of `nlmon status`). Here it is
 * required when first used. */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) => (args.kind === 'require-call' && /[\\/]commander[\\/]/.test(args.importer) ? { path: args.path, namespace: 'lazy' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({ contents: "module.exports = { spawn: (...a) => require('node:child_process').spawn(...a) };", loader: 'js' }));
  },
};

const built = await build({
  metafile: true,
  entryPoints: ['dist/src/cli/cli.js'],
  outfile: 'dist/bin/cli.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.15',
  external: ['@nats-io/*', 'prom-client', '@grpc/*'],
  plugins: [builtins, lazyChildProcess],
  // import.meta.url in a CommonJS file: the bundle's own URL.
  define: { 'import.meta.url': '__nlmonUrl' },
  banner: { js: "const __nlmonUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Without comments and indentation: V8 keeps a script's source for as long as it runs (1.2 MB
  // less resident). Names stay, so a stack trace still names its functions.
  minifyWhitespace: true,
  legalComments: 'eof',
  logLevel: 'warning',
});

// Run from a code cache, the bundle cannot import() on Node 20 but through src/builtin.ts's
// importPackage (bin/nlmon.js lends it an import): an import() of a named module is a build error.
const dynamic = Object.entries(built.metafile.inputs).flatMap(([file, i]) => i.imports.filter((m) => m.kind === 'dynamic-import' && m.external).map((m) => `${file}: import('${m.path}')`));
if (dynamic.length) throw new Error(`the bundle may not import() (use importPackage, src/builtin.ts): ${dynamic.join('; ')}`);

// V8 code caches of the bundle for this Node (tools/code-cache.mjs): the start skips parsing it.
execFileSync(process.execPath, ['tools/code-cache.mjs'], { stdio: 'inherit' });
