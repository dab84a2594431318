// `nlmon monitor` as an operator runs it: a 50 000-change burst counted line by line, the
// namespace it follows with --all-netns, and the one-line errors.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LINKBURST, NLMON, ip, needsRoot, newName, until, withNetns } from './helpers/netns.js';

const opts = { skip: needsRoot, timeout: 120000 };

interface Running {
  child: ChildProcess;
  lines: () => string[];
  stderr: () => string;
  exit: Promise<number | null>;
}

function startMonitor(args: string[]): Running {
  const child = spawn(process.execPath, [NLMON, 'monitor', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let count = 0;
  let lines: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    lines: () => {
      if (out.length !== count) {
        count = out.length;
        lines = out.split('\n').filter(Boolean);
      }
      return lines;
    },
    stderr: () => err,
    exit,
  };
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

test('monitor --json receives every change of a 50 000-change burst', opts, (t) => withNetns(1, async (ns) => {
  ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
  const mon = startMonitor(['--netns', ns, '--json']);
  try {
    await until(() => mon.stderr().includes('monitoring'), 'monitor to start');
    const cpuBefore = cpuSeconds(mon.child.pid!);
    const burst = spawnSync(LINKBURST, [`/var/run/netns/${ns}`, '50000', '0', 'b0'], { encoding: 'utf8' });
    assert.equal(burst.status, 0, burst.stderr);
    await until(() => mon.lines().length >= 50000, '50 000 lines', 60000);
    const cpu = cpuSeconds(mon.child.pid!) - cpuBefore;
    mon.child.kill('SIGINT');
    assert.equal(await mon.exit, 0);
    const lines = mon.lines();
    assert.equal(lines.length, 50000);
    const first = JSON.parse(lines[0]!);
    const last = JSON.parse(lines.at(-1)!);
    assert.equal(first.event, 'link_up');
    assert.equal(last.event, 'link_down');
    assert.equal(last.sequence - first.sequence, 49999);
    assert.doesNotMatch(mon.stderr(), /overrun/);
    t.diagnostic(`burst of 50000: ${(cpu * 1e6 / 50000).toFixed(1)} µs CPU per event (noisy; npm run bench measures)`);
  } finally {
    mon.child.kill('SIGKILL');
  }
}));

test('monitor --all-netns follows a namespace created after start', opts, async () => {
  const ns = newName('cli-');
  const mon = startMonitor(['--all-netns', '--netns-dir', '/var/run/netns']);
  try {
    await until(() => mon.stderr().includes('monitoring'), 'monitor to start');
    ip('netns', 'add', ns);
    await until(() => mon.stderr().includes(`namespace ${ns}: watching`), `${ns} watched`);
    ip('-n', ns, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1');
    await until(() => mon.lines().some((l) => l.includes(`[${ns}]`) && l.includes('link_added') && l.includes(' c0 ')), 'c0 line');
    ip('netns', 'del', ns);
    await until(() => mon.stderr().includes(`namespace ${ns}: gone`), `${ns} dropped`);
    mon.child.kill('SIGTERM');
    assert.equal(await mon.exit, 0);
    assert.doesNotMatch(mon.stderr(), /error/);
  } finally {
    mon.child.kill('SIGKILL');
    try { ip('netns', 'del', ns); } catch { /* deleted above */ }
  }
});

test('a missing namespace is one line and exit 1', opts, async () => {
  const r = spawnSync(process.execPath, [NLMON, 'monitor', '--netns', 'nlmon-test-does-not-exist'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /network namespace "nlmon-test-does-not-exist" not found/);
});

test('missing privilege is one line and exit 1', opts, () => withNetns(1, async (ns) => {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
    process.execPath, NLMON, 'monitor', '--netns', ns], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /permission denied \(run as root/);
}));

test('usage errors exit 2; --help exits 0', async () => {
  const bad = spawnSync(process.execPath, [NLMON, 'monitor', '--netns', 'x', '--all-netns'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  const unknown = spawnSync(process.execPath, [NLMON, 'monitor', '--bogus'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown option/);
  const help = spawnSync(process.execPath, [NLMON, 'monitor', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--all-netns/);
});
