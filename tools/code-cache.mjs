// V8 code caches of the command's bundle (bin/nlmon.js reads them): one for Node without flags
// (the CLI's verbs) and one for the daemon's flags (src/daemon/node-options.ts, as the shipped
// units set them), each written by this Node started again with those flags in NODE_OPTIONS.
// Run after the bundle (tools/bundle.mjs), and by any other Node that is to run it
// (.ci/node-versions).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DAEMON_NODE_OPTIONS } from '../dist/src/daemon/node-options.js';

if (process.argv[2] === 'write') {
  createRequire(import.meta.url)('../bin/nlmon.js').writeCodeCache();
} else {
  for (const flags of ['', DAEMON_NODE_OPTIONS]) {
    execFileSync(process.execPath, [fileURLToPath(import.meta.url), 'write'], { env: { ...process.env, NODE_OPTIONS: flags }, stdio: 'inherit' });
  }
}
