// V8 code caches of the command's bundle (bin/nlmon.js reads them): one for Node without flags
// (the CLI's verbs) and one for the daemon's flags (src/daemon/node-options.ts, as the shipped
// units set them), each written by this Node started again with those flags in NODE_OPTIONS.
// Run after the bundle (tools/bundle.mjs), by any other Node that is to run it
// (.ci/node-versions), and by the package's install (package.json), so that an installed
// package, and the image built from it, has the caches of the Node it was installed with. Where
// there is no bundle yet (a checkout's first `npm ci`: its build comes after the install), there
// is nothing to do.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/bin/cli.cjs', import.meta.url);
const nodeOptions = new URL('../dist/src/daemon/node-options.js', import.meta.url);

if (process.argv[2] === 'write') {
  createRequire(import.meta.url)('../bin/nlmon.js').writeCodeCache();
} else if (existsSync(bundle) && existsSync(nodeOptions)) {
  const { DAEMON_NODE_OPTIONS } = await import(nodeOptions.href);
  for (const flags of ['', DAEMON_NODE_OPTIONS]) {
    execFileSync(process.execPath, [fileURLToPath(import.meta.url), 'write'], { env: { ...process.env, NODE_OPTIONS: flags }, stdio: 'inherit' });
  }
}
