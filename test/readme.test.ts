// The README's set-up and quick start, as a new user reads them: the set-up is the two commands
// CI runs; every quick-start command runs this checkout's code (bin/nlmon.js), never a
// registry's (no npx) and without sudo (not on a plain Debian image); and those that need no
// daemon run here exactly as written. The daemon pair (`run`, then `hooks stats`) is not run: it
// would take the host's /run/nlmon and /var/log/nlmon; `hooks run veth_added` writes the example
// hook's log under /var/log. The daemon verbs are tested elsewhere with the same code.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { ROOT, needsRoot, until, withNetns } from './helpers/index.js';

/** The sh blocks of a README section, one command per line (comments dropped). */
function commands(section: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = text.indexOf(`\n## ${section}\n`);
  assert.ok(start >= 0, `the README has a ${section} section`);
  const end = text.indexOf('\n## ', start + 4);
  const body = text.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n'))
    .map((l) => l.replace(/\s+#\s.*$/, '').trim()).filter((l) => l && !l.startsWith('#'));
}

test('the set-up is npm ci and npm test, what .ci/run runs', () => {
  assert.deepEqual(commands('Set-up'), ['npm ci', 'npm test']);
  const ci = fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8');
  assert.match(ci, /^npm ci\nnpm test\n/m);
});

test('every quick-start command runs this checkout\'s bin/nlmon.js, with no npx and no sudo', () => {
  const cmds = commands('Quick start');
  assert.ok(cmds.length >= 8, cmds.join('\n'));
  for (const c of cmds) {
    assert.match(c, /^bin\/nlmon\.js /, c);
    assert.doesNotMatch(c, /\bnpx\b|\bsudo\b/, c);
  }
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.doesNotMatch(text, /npx nlmon/, 'nowhere in the README');
  assert.ok(fs.statSync(path.join(ROOT, 'bin', 'nlmon.js')).mode & 0o111, 'bin/nlmon.js is executable');
});

test('the quick-start commands that need no daemon run as written: checks exit 0, monitor starts and stops on SIGINT', { skip: needsRoot, timeout: 60000 }, () => withNetns(1, async (ns) => {
  const cmds = commands('Quick start').filter((c) => !/ (run|hooks stats|hooks run) /.test(`${c} `));
  assert.ok(cmds.some((c) => c.includes(' monitor')) && cmds.some((c) => c.includes('config check')) && cmds.some((c) => c.includes('filter check')));
  for (const c of cmds) {
    if (c.includes(' monitor')) {
      // monitor runs until interrupted: in a test namespace of its own (sh and ip exec into it,
      // so the signal reaches nlmon), stopped with SIGINT once it says it is monitoring.
      const child = execa('sh', ['-c', `exec ip netns exec ${ns} ${c}`], { cwd: ROOT, reject: false, timeout: 30000 });
      let err = '';
      child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
      await until(() => err.includes('monitoring') || child.exitCode !== null, `${c} to start`, 20000);
      child.kill('SIGINT');
      const r = await child;
      assert.equal(r.exitCode, 0, `${c}\n${r.stdout}\n${err}`);
      continue;
    }
    const r = await execa('sh', ['-c', c], { cwd: ROOT, reject: false, timeout: 20000 });
    assert.equal(r.exitCode, 0, `${c}\n${r.stdout}\n${r.stderr}`);
    if (c.includes('filter check')) assert.match(r.stdout, /^match$/m);
    if (c.includes('config check')) assert.match(r.stdout, /config\/nlmon\.yaml: ok/);
  }
}));
