// The package as users get it: `npm pack`, installed into an empty prefix from the tarball (the
// addon built there from the shipped files only, and the code caches written for this Node),
// then the installed `nlmon` run.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { ROOT, withTempDir } from './helpers/index.js';
import { DAEMON_NODE_OPTIONS } from '../src/daemon/node-options.js';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('npm pack makes a package that installs and runs, without the test tools, from code caches its install wrote', { timeout: 300000 }, () => withTempDir(async (dir) => {
  const packed = execaSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  assert.ok(files.includes('nlmon.1') && files.includes('docs/hooks.md') && files.includes('dist/src/cli/cli.js') && files.includes('dist/bin/cli.cjs') && files.includes('bin/package.json'), 'the bundle the command runs is packed');
  assert.deepEqual(files.filter((f) => f.startsWith('bench/') || f.startsWith('test/') || f.startsWith('dist/test/') || f.startsWith('native/fuzz/') || f.startsWith('native/sanitize/')), []);
  const prefix = path.join(dir, 'prefix');
  fs.mkdirSync(prefix);
  execaSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--omit=dev', path.join(dir, info!.filename)], { timeout: 240000 });
  const bin = path.join(prefix, 'node_modules', '.bin', 'nlmon');
  assert.equal(execaSync(bin, ['--version']).stdout, VERSION);
  const check = execaSync(bin, ['filter', 'check', "interface =~ '^veth' AND event == link_added", '--event', '{"interface":"veth1"}']);
  assert.equal(check.stdout, 'match');
  assert.ok(fs.existsSync(path.join(prefix, 'node_modules', 'nlmon', 'build', 'Release', 'nlmon.node')), 'the addon was built at install');
  // The code caches are not packed (they are the packing Node's): the install writes this Node's,
  // and the installed command takes them, for the CLI and for the daemon's flags.
  assert.deepEqual(files.filter((f) => f.endsWith('.v8cache')), []);
  assert.ok(files.includes('tools/code-cache.mjs'));
  const installed = path.join(prefix, 'node_modules', 'nlmon', 'bin', 'nlmon.js');
  const probe = path.join(dir, 'probe.cjs');
  fs.writeFileSync(probe, `console.log(require(${JSON.stringify(installed)}).codeCacheTaken())`);
  for (const flags of ['', DAEMON_NODE_OPTIONS]) {
    assert.equal(execaSync(process.execPath, [probe], { env: { NODE_OPTIONS: flags } }).stdout, 'true', `the cache for ${JSON.stringify(flags)}`);
  }
  assert.ok(fs.existsSync(path.join(prefix, 'node_modules', 'nlmon', 'nlmon.1')));
}));

/** The oldest release of each line `engines` promises. No Node API nlmon uses needs more now:
 * zlib.crc32 (20.15.0, 22.2.0) set them until the spool's checksums moved into the addon
 * (native/crc32.cc). An API newer than a floor raises it; going below one is a promise to
 * releases no CI run has tested. */
const FLOORS = { 20: '20.15.0', 22: '22.2.0' };

const newer = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.replace(/^v/, '').split('.').map(Number));
  for (let i = 0; i < 3; i++) if (x![i] !== y![i]) return x![i]! > y![i]!;
  return false;
};

test('package.json engines names the lines CI tests (20, 22, 24: .ci/node-versions), from the floors it promises, and this Node is one', () => {
  const engines = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  assert.equal(engines, `^${FLOORS[20]} || ^${FLOORS[22]} || ^24.0.0`);
  assert.match(fs.readFileSync(path.join(ROOT, '.ci', 'node-versions'), 'utf8'), /NLMON_NODE_VERSIONS:-22 24\}/, 'CI runs the suite on 22 and 24');
  const here = process.versions.node;
  const major = Number(here.split('.')[0]);
  const ok = major === 20 ? !newer(FLOORS[20], here) : major === 22 ? !newer(FLOORS[22], here) : major === 24;
  assert.ok(ok, `Node ${here} is not one engines allows (${engines})`);
});
