// Hardening against wrong state on real netlink: what an operator's careful trial found.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import type { StatusReport } from '../src/daemon/control-api.js';
import {
  alive, cli, cliJson, config, hookStats, ip, kernelLinks, lines, linkburst, type LinkSummary, needsRoot, NLMON, script, sleep, startDaemon, statusKb, until, withDaemon, withNetns, withTempDir,
} from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 120000 };

/** Folds `monitor --json` events into the table they describe, by ifindex. */
function foldEvents(lines: string[]): LinkSummary[] {
  const table = new Map<number, LinkSummary>();
  for (const l of lines) {
    const e = JSON.parse(l) as { event: string; ifindex: number; interface: string; up: boolean; mtu: number; operstate: string };
    if (e.event === 'resync') continue;
    if (e.event === 'link_removed') table.delete(e.ifindex);
    else table.set(e.ifindex, { ifindex: e.ifindex, name: e.interface, up: e.up, mtu: e.mtu, operstate: e.operstate });
  }
  return [...table.values()].sort((a, b) => a.ifindex - b.ifindex);
}

test('no ghost link after an overrun: a pair deleted while the reader was stopped is reported removed by the resync', opts, () => withNetns(1, async (ns) => {
  const pairs = Array.from({ length: 10 }, (_, i) => i);
  for (const i of pairs) ip('-n', ns, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', `d${i}`);
  const mon = execa(process.execPath, [NLMON, 'monitor', '--netns', ns, '--json', '--list-existing'],
    { stdin: 'ignore', buffer: false, reject: false, forceKillAfterDelay: 5000 });
  const lines: string[] = [];
  let err = '';
  const read = Promise.all([
    (async () => { for await (const l of mon.iterable({ from: 'stdout' })) if (l) lines.push(l); })(),
    (async () => { for await (const l of mon.iterable({ from: 'stderr' })) err += `${l}\n`; })(),
  ]);
  try {
    await until(() => lines.length >= 21, 'the existing links listed');
    mon.kill('SIGSTOP');
    // Flap every link until the stopped reader's socket overflows, then delete one pair.
    linkburst(`/var/run/netns/${ns}`, 60000, 0, ...pairs.flatMap((i) => [`p${i}`, `d${i}`]));
    ip('-n', ns, 'link', 'del', 'p9');
    mon.kill('SIGCONT');
    await until(() => lines.some((l) => l.includes('"event":"resync"')), 'the resync', 60000);
    await sleep(500);
    const removed = lines.map((l) => JSON.parse(l) as { event: string; interface: string; resync: boolean }).filter((e) => e.event === 'link_removed');
    assert.ok(removed.some((e) => e.interface === 'd9' && e.resync), `d9 reported removed by the resync:\n${err}`);
    assert.ok(removed.some((e) => e.interface === 'p9'));
    assert.match(err, /overrun/);
    assert.deepEqual(foldEvents(lines).map((l) => l.name), kernelLinks(ns).map((l) => l.name));
    assert.deepEqual(foldEvents(lines), kernelLinks(ns));
  } finally {
    mon.kill('SIGCONT');
    mon.kill('SIGKILL');
    await read;
  }
}));


test('a full disk under the hook log: lines counted as lost, the daemon goes on and stops cleanly', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const logDir = path.join(dir, 'logfs');
  fs.mkdirSync(logDir);
  execaSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'nlmon-test-tmpfs', logDir]);
  try {
    ip('-n', ns, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 's1');
    const yaml = config(ns, dir, `    max_concurrent: 10
    queue_limit: 100000
    hooks:
      - name: storm
        script: /bin/true
        condition: "interface == 's0'"
        async: true
`).replace(`${dir}/hook.log`, `${logDir}/hook.log`);
    await withDaemon(dir, yaml, async (d) => {
      linkburst(`/var/run/netns/${ns}`, 1500, 0, 's0');
      await until(() => hookStats(dir).storm!.executions === 1500, '1500 runs', 60000);
      const st = cliJson<StatusReport>(dir, 'status');
      assert.ok(st.hook_log_lost > 0, 'lost lines are counted');
      assert.equal(hookStats(dir).storm!.successes, 1500);
      assert.match(d.stderr(), /hook log \S+hook\.log: .*ENOSPC|no space/i);
      assert.equal(d.stderr().match(/hook log \S+hook\.log:/g)?.length, 1, 'logged once, not per line');
      assert.equal(await d.stop(), 0);
    });
  } finally {
    execaSync('umount', ['-l', logDir], { reject: false });
  }
})));

test('SIGHUP after SIGTERM is ignored: the daemon still exits once its running hook ends', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const s = script(dir, 'two.sh', `touch "${dir}/started"\nsleep 2`);
  ip('-n', ns, 'link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'h1');
  const d = await startDaemon(dir, config(ns, dir, `    hooks:\n      - name: two\n        script: ${s}\n        condition: "interface == 'h0' AND up"\n`));
  try {
    ip('-n', ns, 'link', 'set', 'h0', 'up');
    await until(() => fs.existsSync(`${dir}/started`), 'the hook to start');
    d.child.kill('SIGTERM');
    await sleep(100);
    d.child.kill('SIGHUP');
    await sleep(100);
    d.child.kill('SIGHUP');
    let code: number | null | undefined;
    void d.exit.then((c) => { code = c; });
    await until(() => code !== undefined, 'the daemon to exit (2 s hook + 1 s)', 3500);
    assert.equal(code, 0);
    assert.match(d.stderr(), /SIGHUP ignored: the daemon is stopping/);
    assert.doesNotMatch(d.stderr(), /reloaded/);
  } finally {
    d.child.kill('SIGKILL');
  }
})));

test('a closed stderr does not kill the daemon', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const d = await startDaemon(dir, config(ns, dir, `    hooks:\n      - name: x\n        script: /bin/true\n`));
  try {
    d.child.stderr!.destroy();
    await sleep(100);
    for (let i = 0; i < 3; i++) {
      assert.equal(cli(dir, 'hooks', 'disable', 'x').exitCode, 0); // each logs a line
      assert.equal(cli(dir, 'hooks', 'enable', 'x').exitCode, 0);
    }
    assert.equal(cliJson<StatusReport>(dir, 'status').hooks.total, 1, 'still answering');
    assert.equal(await d.stop(), 0);
    assert.equal(fs.existsSync(`${dir}/nlmon.sock`), false, 'the socket was removed');
  } finally {
    d.child.kill('SIGKILL');
  }
})));

test('SIGTERM with events waiting behind a sync hook: they are counted and logged, not silently lost', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const s = script(dir, 'slow.sh', `touch "${dir}/started"\nsleep 2`);
  ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
  const d = await startDaemon(dir, config(ns, dir, `    hooks:\n      - name: slow\n        script: ${s}\n        condition: "interface == 'b0'"\n`));
  try {
    linkburst(`/var/run/netns/${ns}`, 300, 0, 'b0');
    await until(() => fs.existsSync(`${dir}/started`), 'the first run');
    await until(() => cliJson<StatusReport>(dir, 'status').hooks.backlog === 299, 'the backlog');
    d.child.kill('SIGTERM');
    await until(() => /299 event\(s\) waiting behind a sync hook were discarded/.test(d.stderr()), 'the log line');
    assert.equal(cliJson<StatusReport>(dir, 'status').hooks.discarded, 299);
    assert.equal(await d.exit, 0);
  } finally {
    d.child.kill('SIGKILL');
  }
})));

test('children a hook leaves behind are killed when it exits 0, unless keep_children', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const body = (f: string) => `sleep 300 &\necho $! >> "${dir}/${f}"\nsleep 300 &\necho $! >> "${dir}/${f}"\nexit 0`;
  const left = script(dir, 'left.sh', body('left'));
  const kept = script(dir, 'kept.sh', body('kept'));
  await withDaemon(dir, config(ns, dir, `    hooks:
      - name: left
        script: ${left}
        condition: "interface == 'k0'"
      - name: kept
        script: ${kept}
        condition: "interface == 'k0'"
        keep_children: true
`), async () => {
    ip('-n', ns, 'link', 'add', 'k0', 'type', 'veth', 'peer', 'name', 'k1');
    await until(() => hookStats(dir).left!.successes === 1 && hookStats(dir).kept!.successes === 1, 'both runs');
    const leftPids = lines(`${dir}/left`).map(Number);
    const keptPids = lines(`${dir}/kept`).map(Number);
    try {
      assert.equal(leftPids.length, 2);
      await until(() => leftPids.every((p) => !alive(p)), 'the left-behind sleeps to be killed');
      assert.ok(keptPids.length === 2 && keptPids.every(alive), 'keep_children: true leaves them running');
    } finally {
      for (const p of keptPids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
  });
})));

test('a descriptor the daemon inherited does not reach its hooks', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  ip('-n', ns, 'link', 'add', 'f0', 'type', 'veth', 'peer', 'name', 'f1');
  const s = script(dir, 'fds.sh', `exec >"${dir}/fds.tmp"\nls /proc/$$/fd\nmv "${dir}/fds.tmp" "${dir}/fds"`);
  const d = await startDaemon(dir, config(ns, dir, `    hooks:\n      - name: fds\n        script: ${s}\n        condition: "interface == 'f0'"\n`), [], { extraFd: true });
  try {
    assert.ok(fs.existsSync(`/proc/${d.child.pid}/fd/3`), 'the daemon holds fd 3');
    ip('-n', ns, 'link', 'set', 'f0', 'up');
    await until(() => lines(`${dir}/fds`).length > 0, 'the hook to run');
    // The shell running the script holds 0-2 and, while it reads the script, one descriptor of its own (dash: 10).
    const fds = lines(`${dir}/fds`).map(Number).filter((n) => n !== 10);
    assert.deepEqual(fds, [0, 1, 2]);
    assert.equal(await d.stop(), 0);
  } finally {
    d.child.kill('SIGKILL');
  }
})));

function metricsText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('with namespaces: all, the metric series of namespaces that were deleted are removed', opts, () => withTempDir(async (dir) => {
  const port = 20000 + (process.pid % 20000);
  const yaml = `nlmon:\n  monitoring:\n    namespaces: all\n    netns_dirs: [/var/run/netns]\n  integration:\n    hook_log: ${dir}/hook.log\n    hooks: []\n  control:\n    socket: ${dir}/nlmon.sock\n  metrics:\n    listen: 127.0.0.1:${port}\n`;
  await withDaemon(dir, yaml, async () => {
    await withNetns(30, async (...names) => {
      await until(() => cliJson<StatusReport>(dir, 'status').namespaces.filter((n) => names.includes(n.name)).length === 30, '30 namespaces watched', 20000);
      for (const n of names) ip('-n', n, 'link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'm1');
      await until(() => cliJson<StatusReport>(dir, 'status').namespaces.filter((n) => names.includes(n.name) && n.events >= 2).length === 30, 'events in all 30', 20000);
      const during = await metricsText(port);
      assert.equal(names.filter((n) => during.includes(`namespace="${n}"`)).length, 30);
      for (const n of names) ip('netns', 'del', n);
      await until(() => cliJson<StatusReport>(dir, 'status').namespaces.every((n) => !names.includes(n.name)), 'all 30 dropped', 20000);
      const after = await metricsText(port);
      assert.deepEqual(names.filter((n) => after.includes(`namespace="${n}"`)), [], 'no series of a deleted namespace');
    });
  });
}));

test('SIGUSR1 reopens the hook log by name, for logrotate', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: rec\n        script: /bin/true\n        async: true\n`), async (d) => {
    ip('-n', ns, 'link', 'add', 'r0', 'type', 'veth', 'peer', 'name', 'r1');
    await until(() => d.hookLog().filter((l) => l.includes(' done ')).length === 2, 'two runs logged');
    fs.renameSync(`${dir}/hook.log`, `${dir}/hook.log.1`);
    d.child.kill('SIGUSR1');
    await until(() => d.stderr().includes('SIGUSR1: reopening the hook log'), 'the reopen');
    ip('-n', ns, 'link', 'del', 'r0');
    await until(() => d.hookLog().filter((l) => l.includes(' done ')).length === 2, 'the new file gets the new runs');
    assert.ok(d.hookLog().every((l) => l.includes('link_removed')));
    assert.ok(lines(`${dir}/hook.log.1`).every((l) => l.includes('link_added')));
  });
})));

test('a metrics.listen that passes the checker but cannot be listened on is one line and exit 1', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  for (const [listen, why] of [['nlmon-test-no-such-host.invalid:9470', /the host name does not resolve/], ['192.0.2.1:9470', /that address is not on this machine/]] as const) {
    const cfg = path.join(dir, 'nlmon.yaml');
    fs.writeFileSync(cfg, config(ns, dir, '    hooks: []\n').replace('  control:', `  metrics:\n    listen: ${listen}\n  control:`));
    const r = execaSync(process.execPath, [NLMON, 'run', '--config', cfg], { reject: false, timeout: 20000 });
    assert.equal(r.exitCode, 1, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => / error /.test(l));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0]!, why);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(fs.existsSync(`${dir}/nlmon.sock`), false, 'the socket was removed');
  }
})));

test('monitor with a reader that stops for 10 s during a 200 000-change burst: memory stays bounded, the state ends right', opts, (t) => withNetns(1, async (ns) => {
  for (let i = 0; i < 4; i++) ip('-n', ns, 'link', 'add', `b${i}`, 'type', 'veth', 'peer', 'name', `c${i}`);
  const mon = execa(process.execPath, [NLMON, 'monitor', '--netns', ns, '--json', '--list-existing'], { stdin: 'ignore', buffer: false, reject: false, forceKillAfterDelay: 5000 });
  const table = new Map<number, LinkSummary>();
  let partial = '';
  let resyncs = 0;
  let received = 0;
  mon.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      received++;
      const e = JSON.parse(l) as { event: string; ifindex: number; interface: string; up: boolean; mtu: number; operstate: string };
      if (e.event === 'resync') resyncs++;
      else if (e.event === 'link_removed') table.delete(e.ifindex);
      else table.set(e.ifindex, { ifindex: e.ifindex, name: e.interface, up: e.up, mtu: e.mtu, operstate: e.operstate });
    }
  });
  let err = '';
  mon.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  try {
    await until(() => err.includes('monitoring') && received >= 9, 'the monitor to list the links');
    const t0 = Date.now();
    mon.stdout!.pause();
    linkburst(`/var/run/netns/${ns}`, 200000, 0, 'b0', 'b1', 'b2', 'b3');
    ip('-n', ns, 'link', 'del', 'b3');
    await sleep(Math.max(0, 10000 - (Date.now() - t0)));
    const hwmMb = statusKb(mon.pid!, 'VmHWM') / 1024;
    mon.stdout!.resume();
    await until(() => resyncs >= 1, 'a resync after the reader came back', 60000);
    for (let last = -1; last !== received;) { // settled: nothing new for half a second
      last = received;
      await sleep(500);
    }
    t.diagnostic(`peak RSS ${hwmMb.toFixed(0)} MB while the reader was stopped (it grew past 400 MB before the bound)`);
    assert.ok(hwmMb < 200, `peak RSS ${hwmMb.toFixed(0)} MB while the reader was stopped`);
    assert.match(err, /overrun/);
    const mine = [...table.values()].sort((a, b) => a.ifindex - b.ifindex);
    assert.deepEqual(mine, kernelLinks(ns));
  } finally {
    mon.kill('SIGKILL');
  }
}));
