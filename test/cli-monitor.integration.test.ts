// `nlmon monitor` as an operator runs it: a 50 000-change burst counted line by line, the
// namespace it follows with --all-netns, and the one-line errors.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execa, execaSync, type ResultPromise } from 'execa';
import { NLMON, cpuSeconds, ip, linkburst, needsRoot, newName, nlmonSync, until, withNetns } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 120000 };

interface Running {
  child: ResultPromise;
  lines: () => string[];
  stderr: () => string;
  exit: Promise<number | null>;
}

function startMonitor(args: string[]): Running {
  const child = execa(process.execPath, [NLMON, 'monitor', ...args], { stdin: 'ignore', buffer: false, reject: false, forceKillAfterDelay: 10000 });
  const lines: string[] = [];
  let err = '';
  const read = Promise.all([
    (async () => { for await (const line of child.iterable({ from: 'stdout' })) if (line) lines.push(line); })(),
    (async () => { for await (const line of child.iterable({ from: 'stderr' })) err += `${line}\n`; })(),
  ]);
  const exit = child.then(async (r) => {
    await read;
    return r.exitCode ?? null;
  });
  return { child, lines: () => lines, stderr: () => err, exit };
}

test('monitor --json receives every change of a 50 000-change burst', opts, (t) => withNetns(1, async (ns) => {
  ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
  const mon = startMonitor(['--netns', ns, '--json']);
  try {
    await until(() => mon.stderr().includes('monitoring'), 'monitor to start');
    const cpuBefore = cpuSeconds(mon.child.pid!);
    linkburst(`/var/run/netns/${ns}`, 50000, 0, 'b0');
    // The toggles are link_up/link_down; the kernel's link watcher may add an operstate change of
    // its own (link_changed) when it runs between them: that is a real event, not a toggle.
    const toggles = () => mon.lines().filter((l) => /"event":"link_(up|down)"/.test(l));
    await until(() => toggles().length >= 50000, '50 000 lines', 60000);
    const cpu = cpuSeconds(mon.child.pid!) - cpuBefore;
    mon.child.kill('SIGINT');
    assert.equal(await mon.exit, 0);
    const lines = toggles();
    assert.equal(lines.length, 50000);
    assert.ok(mon.lines().every((l) => /"interface":"b0"/.test(l)), 'nothing else');
    const first = JSON.parse(lines[0]!);
    const last = JSON.parse(lines.at(-1)!);
    assert.equal(first.event, 'link_up');
    assert.equal(last.event, 'link_down');
    assert.equal(last.sequence - first.sequence, mon.lines().length - 1, 'numbered without a gap');
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
  const r = nlmonSync(['monitor', '--netns', 'nlmon-test-does-not-exist']);
  assert.equal(r.exitCode, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /network namespace "nlmon-test-does-not-exist" not found/);
});

test('missing privilege is one line and exit 1', opts, () => withNetns(1, async (ns) => {
  const r = execaSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
    process.execPath, NLMON, 'monitor', '--netns', ns], { reject: false, timeout: 20000 });
  assert.equal(r.exitCode, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /permission denied \(run as root/);
}));

test('usage errors exit 2; --help exits 0', async () => {
  const bad = nlmonSync(['monitor', '--netns', 'x', '--all-netns']);
  assert.equal(bad.exitCode, 2);
  const unknown = nlmonSync(['monitor', '--bogus']);
  assert.equal(unknown.exitCode, 2);
  assert.match(unknown.stderr, /unknown option/);
  const help = nlmonSync(['monitor', '--help']);
  assert.equal(help.exitCode, 0);
  assert.match(help.stdout, /--all-netns/);
});

test('monitor --count 3 -t: three human lines, each with its receipt time, then exit 0; no colour into a pipe unless --color always', opts, () => withNetns(1, async (ns) => {
  ip('-n', ns, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1');
  const run = async (extra: string[]) => {
    const child = execa(process.execPath, [NLMON, 'monitor', '--netns', ns, '--count', '3', '-t', ...extra], { reject: false, timeout: 30000 });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    await until(() => err.includes('monitoring'), 'monitor to start', 20000);
    for (const s of ['up', 'down', 'up', 'down']) ip('-n', ns, 'link', 'set', 'c0', s);
    return child;
  };
  const r = await run([]);
  assert.equal(r.exitCode, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines.length, 3, r.stdout);
  for (const l of lines) assert.match(l, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z \\[${ns}\\] #\\d+ link_(up|down) `));
  assert.doesNotMatch(r.stdout, /\x1b/);
  const colored = await run(['--color', 'always']);
  assert.match(colored.stdout, /\x1b\[3[12]mlink_(up|down)\x1b\[0m/);
}));
