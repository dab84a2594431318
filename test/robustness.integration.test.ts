// Faults an operator will meet: hooks that hang, daemonize, close their output, flood it, or
// vanish; a namespace deleted and recreated under the daemon; a churn of 500 veth pairs.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  cliJson, config, hookStats, ip, needsRoot, script, statusKb, until, withDaemon, withNetns, withTempDir,
} from './helpers/index.js';
import type { StatusReport } from '../src/daemon/control-api.js';

const opts = { skip: needsRoot, timeout: 120000 };

/** Processes whose parent is pid. */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

const fds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

test('hooks that hang, daemonize, close stdout, flood stdout, or vanish never hurt the daemon', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const hook = (name: string, body: string, extra = '') => {
    const s = script(dir, `${name}.sh`, body);
    return `      - name: ${name}\n        script: ${s}\n        condition: "event == link_added AND interface == '${name}'"\n        async: true\n${extra}`;
  };
  const hooks = [
    hook('forever', 'sleep 3600', '        timeout_ms: 500\n'),
    hook('daemonizer', `setsid sleep 30 </dev/null >/dev/null 2>&1 &\necho $! > "${dir}/daemon.pid"\nexit 0`),
    hook('closer', 'exec >&- 2>&-\nsleep 0.5\nexit 0', '        capture_output: true\n'),
    hook('flood', 'head -c 104857600 /dev/zero', '        capture_output: true\n        timeout_ms: 60000\n'),
    hook('floodnc', 'head -c 104857600 /dev/zero', '        timeout_ms: 60000\n'),
    hook('vanish', 'exit 0'),
    hook('noexec', 'exit 0'),
  ].join('');
  await withDaemon(dir, config(ns, dir, `    max_concurrent: 10\n    hooks:\n${hooks}`), async (d) => {
    const pid = d.child.pid!;
    const hwmBefore = statusKb(pid, 'VmHWM');
    fs.rmSync(path.join(dir, 'vanish.sh'));
    fs.chmodSync(path.join(dir, 'noexec.sh'), 0o644);
    for (const name of ['forever', 'daemonizer', 'closer', 'flood', 'floodnc', 'vanish', 'noexec']) {
      ip('-n', ns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}-p`);
    }
    await until(() => Object.values(hookStats(dir)).every((h) => h.executions === 1), 'one run of each hook', 60000);
    const s = hookStats(dir);
    assert.equal(s.forever!.timeouts, 1);
    assert.equal(s.daemonizer!.successes, 1);
    assert.equal(s.closer!.successes, 1);
    assert.equal(s.flood!.successes, 1);
    assert.equal(s.floodnc!.successes, 1);
    assert.equal(s.vanish!.failures, 1);
    assert.match(s.vanish!.last_error, /cannot start \S+vanish\.sh: no such file/);
    assert.equal(s.noexec!.failures, 1);
    assert.match(s.noexec!.last_error, /cannot start \S+noexec\.sh: permission denied/);
    const grew = statusKb(pid, 'VmHWM') - hwmBefore;
    assert.ok(grew < 60 * 1024, `200 MB of hook output must not stay in the daemon (peak RSS grew ${grew} kB)`);
    await until(() => children(pid).length === 0, 'no hook process left under the daemon');
    const daemonChild = Number(fs.readFileSync(path.join(dir, 'daemon.pid'), 'utf8'));
    try { process.kill(daemonChild, 'SIGKILL'); } catch { /* already gone */ }
    assert.equal(cliJson<StatusReport>(dir, 'status').hooks.running, 0);
    assert.equal(await d.stop(), 0);
  });
})));

test('a namespace deleted while watched and recreated with the same name is followed again', opts, () => withTempDir(async (dir) => {
  const ns = `nlmon-test-re-${process.pid % 10000}`;
  ip('netns', 'add', ns);
  try {
    const rec = script(dir, 'rec.sh', `echo "$NLMON_NAMESPACE $NLMON_INTERFACE" >> "${dir}/ran"`);
    await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: rec\n        script: ${rec}\n        condition: "event == link_added"\n`), async (d) => {
      ip('-n', ns, 'link', 'add', 'r0', 'type', 'veth', 'peer', 'name', 'r1');
      await until(() => fs.existsSync(`${dir}/ran`) && fs.readFileSync(`${dir}/ran`, 'utf8').split('\n').filter(Boolean).length === 2, 'runs in the first namespace');
      ip('netns', 'del', ns);
      await until(() => d.stderr().includes(`namespace ${ns}: gone`), 'the namespace dropped');
      assert.equal(cliJson<StatusReport>(dir, 'status').namespaces.length, 0);
      ip('netns', 'add', ns);
      await until(() => cliJson<StatusReport>(dir, 'status').namespaces.some((n) => n.name === ns), 'the new namespace watched', 10000);
      await new Promise((r) => setTimeout(r, 200));
      ip('-n', ns, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 's1');
      // A namespace found after start reports what it holds as link_added: its lo, then s0, s1.
      await until(() => fs.readFileSync(`${dir}/ran`, 'utf8').split('\n').filter(Boolean).length >= 5, 'runs in the recreated namespace');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(fs.readFileSync(`${dir}/ran`, 'utf8').split('\n').filter(Boolean).slice(2).sort(), [`${ns} lo`, `${ns} s0`, `${ns} s1`]);
      assert.doesNotMatch(d.stderr(), / error /);
    });
  } finally {
    try { ip('netns', 'del', ns); } catch { /* deleted */ }
  }
}));

test('500 veth pairs created and deleted while hooks run: no crash, no process or fd leak', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const yaml = config(ns, dir, `    max_concurrent: 10\n    queue_limit: 2000\n    hooks:\n      - name: added\n        script: /bin/true\n        condition: "event == link_added"\n        async: true\n      - name: removed\n        script: /bin/true\n        condition: "event == link_removed"\n        async: true\n`);
  await withDaemon(dir, yaml, async (d) => {
    const pid = d.child.pid!;
    // Warm up: one pair, so both hook-runner threads and a control connection have existed.
    ip('-n', ns, 'link', 'add', 'w0', 'type', 'veth', 'peer', 'name', 'w1');
    await until(() => hookStats(dir).added!.executions === 2, 'the warm-up runs');
    const fdsBefore = fds(pid);
    const batch = path.join(dir, 'batch');
    for (const verb of ['add', 'del']) {
      const lines = Array.from({ length: 500 }, (_, i) => (verb === 'add' ? `link add c${i} type veth peer name d${i}` : `link del c${i}`));
      fs.writeFileSync(batch, lines.join('\n') + '\n');
      ip('-n', ns, '-batch', batch);
    }
    await until(() => {
      const s = hookStats(dir);
      return s.added!.executions + s.added!.dropped === 1002 && s.removed!.executions + s.removed!.dropped === 1000 && s.added!.running + s.removed!.running === 0;
    }, '2002 runs accounted for', 90000);
    const s = hookStats(dir);
    assert.equal(s.added!.failures + s.removed!.failures + s.added!.timeouts + s.removed!.timeouts, 0);
    const st = cliJson<StatusReport>(dir, 'status');
    assert.equal(st.namespaces[0]!.links, 3, 'only lo and the warm-up pair are left in the table');
    await until(() => children(pid).length === 0, 'no hook process left');
    assert.equal(fds(pid), fdsBefore, 'no file descriptor leaked');
    assert.equal(await d.stop(), 0);
  });
})));
