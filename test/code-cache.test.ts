// The command's V8 code caches (bin/nlmon.js, tools/code-cache.mjs): the build leaves one that
// this Node takes for the CLI (no flags) and one for the daemon's flags; a cache that is not to be
// trusted (writable by others, older than the bundle) is not read, one that does not fit (other
// flags, damaged, cut short) is rejected, and the command runs the same either way.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execaSync } from 'execa';
import { DAEMON_NODE_OPTIONS } from '../src/daemon/node-options.js';
import { ROOT, withTempDir } from './helpers/index.js';

/** Whether V8 takes the cache of the bin/nlmon.js in `root` when Node starts with these flags. */
function taken(root: string, nodeOptions: string): boolean {
  const probe = `console.log(require(${JSON.stringify(path.join(root, 'bin', 'nlmon.js'))}).codeCacheTaken())`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlmon-probe-'));
  try {
    fs.writeFileSync(path.join(dir, 'probe.cjs'), probe);
    return execaSync(process.execPath, [path.join(dir, 'probe.cjs')], { env: { NODE_OPTIONS: nodeOptions } }).stdout === 'true';
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
}

test('the build leaves code caches this Node takes, for the CLI and for the daemon\'s flags, and none for other flags', () => {
  assert.ok(taken(ROOT, ''), 'the CLI\'s cache');
  assert.ok(taken(ROOT, DAEMON_NODE_OPTIONS), 'the daemon\'s cache');
  assert.ok(!taken(ROOT, '--max-semi-space-size=3'), 'no cache for other flags');
});

test('a code cache others can write, older than the bundle, made with other flags, damaged or cut short is not used, and the command runs the same', () => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  // A copy of the command: bin/ and the bundle with its caches (the packages from the checkout).
  fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'dist', 'bin'), path.join(dir, 'dist', 'bin'), { recursive: true, preserveTimestamps: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  fs.cpSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  // This V8's (a checkout tested under another Node holds the first Node's too).
  const cache = fs.readdirSync(path.join(dir, 'dist', 'bin')).filter((f) => f.startsWith(`cli.cjs.${process.versions.v8}.`)).map((f) => path.join(dir, 'dist', 'bin', f));
  const cli = cache.find((f) => f.endsWith(`.${process.versions.v8}.v8cache`))!;
  assert.ok(cli, `a cache for no flags among ${cache.join(', ')}`);
  const run = (nodeOptions = '') => execaSync(process.execPath, [path.join(dir, 'bin', 'nlmon.js'), 'filter', 'check', "interface =~ '^veth'", '--event', '{"interface":"veth1"}'], { env: { NODE_OPTIONS: nodeOptions } }).stdout;
  assert.ok(taken(dir, ''));
  assert.equal(run(), 'match');

  // Made without a flag that changes V8's code (newer V8s take a cache across heap sizes): V8
  // rejects it.
  const flag = '--disallow-code-generation-from-strings';
  fs.copyFileSync(cli, cli.replace(/\.v8cache$/, `.${flag}.v8cache`));
  assert.ok(!taken(dir, flag), 'made with other flags: rejected by V8');
  assert.equal(run(flag), 'match');

  fs.chmodSync(cli, 0o666);
  assert.ok(!taken(dir, ''), 'writable by others: not read');
  assert.equal(run(), 'match');
  fs.chmodSync(cli, 0o644);

  const bundle = path.join(dir, 'dist', 'bin', 'cli.cjs');
  const later = new Date(fs.statSync(cli).mtimeMs + 5000);
  fs.utimesSync(bundle, later, later);
  assert.ok(!taken(dir, ''), 'older than the bundle: not read');
  assert.equal(run(), 'match');
  fs.utimesSync(cli, later, later);
  assert.ok(taken(dir, ''));

  // Damaged in the middle, its size unchanged (a bad disk, a broken copy): V8 rejects it by its
  // checksum (without that check, V8 aborted Node on such a cache).
  const whole = fs.readFileSync(cli);
  for (const at of [0.01, 0.2, 0.5, 0.8].map((f) => Math.floor(f * whole.length))) {
    const damaged = Buffer.from(whole);
    for (let i = at; i < at + 16; i++) damaged[i]! ^= 0x5a;
    fs.writeFileSync(cli, damaged);
    fs.utimesSync(cli, later, later);
    assert.ok(!taken(dir, ''), `damaged at byte ${at}: rejected by V8`);
    assert.equal(run(), 'match');
  }
  fs.writeFileSync(cli, whole);
  fs.utimesSync(cli, later, later);
  assert.ok(taken(dir, ''));

  // Cut short (a copy that did not finish): V8 rejects it by its size.
  fs.truncateSync(cli, Math.floor(fs.statSync(cli).size / 2));
  fs.utimesSync(cli, later, later);
  assert.ok(!taken(dir, ''), 'cut short: rejected by V8');
  assert.equal(run(), 'match');
}));
