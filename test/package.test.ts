// The package as users get it: `npm pack`, installed into an empty prefix from the tarball (the
// addon built there from the shipped files only), then the installed `nlmon` run.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { ROOT, withTempDir } from './helpers/index.js';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('npm pack makes a package that installs and runs, without the test tools', { timeout: 300000 }, () => withTempDir(async (dir) => {
  const packed = execaSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  assert.ok(files.includes('nlmon.1') && files.includes('docs/hooks.md') && files.includes('dist/src/cli/cli.js'));
  assert.deepEqual(files.filter((f) => f.startsWith('bench/') || f.startsWith('test/') || f.startsWith('dist/test/') || f.startsWith('native/fuzz/') || f.startsWith('native/asan/')), []);
  const prefix = path.join(dir, 'prefix');
  fs.mkdirSync(prefix);
  execaSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--omit=dev', path.join(dir, info!.filename)], { timeout: 240000 });
  const bin = path.join(prefix, 'node_modules', '.bin', 'nlmon');
  assert.equal(execaSync(bin, ['--version']).stdout, VERSION);
  const check = execaSync(bin, ['filter', 'check', "interface =~ '^veth' AND event == link_added", '--event', '{"interface":"veth1"}']);
  assert.equal(check.stdout, 'match');
  assert.ok(fs.existsSync(path.join(prefix, 'node_modules', 'nlmon', 'build', 'Release', 'nlmon.node')), 'the addon was built at install');
  assert.ok(fs.existsSync(path.join(prefix, 'node_modules', 'nlmon', 'nlmon.1')));
}));
