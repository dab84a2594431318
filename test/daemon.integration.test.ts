// The daemon an operator lives with: stats over the control socket, live enable/disable,
// hooks add/delete persisted with comments kept, SIGHUP reload, SIGTERM, metrics.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { cli, cliJson, config, ip, lines, needsRoot, nlmonSync, script, startDaemon, until, withDaemon, withNetns, withTempDir } from './helpers/index.js';
import type { HookStatus } from '../src/hooks/scheduler.js';
import type { StatusReport } from '../src/daemon/control-api.js';

const opts = { skip: needsRoot, timeout: 60000 };
type Stats = HookStatus[];
const stats = (dir: string) => cliJson<Stats>(dir, 'hooks', 'stats');
const statOf = (dir: string, name: string) => cliJson<Stats>(dir, 'hooks', 'stats', name)[0]!;

function veths(ns: string, prefix: string, pairs: number): void {
  for (let i = 0; i < pairs; i++) ip('-n', ns, 'link', 'add', `${prefix}${i}a`, 'type', 'veth', 'peer', 'name', `${prefix}${i}b`);
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('hooks stats counts runs, successes, failures and timeouts; metrics agree', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const bad = script(dir, 'bad.sh', 'exit 3');
  const slow = script(dir, 'slow.sh', 'sleep 5');
  const yaml = config(ns, dir, `    hooks:
      - name: ok
        script: /bin/true
        condition: "event == link_added AND interface =~ '^d'"
        async: true
      - name: bad
        script: ${bad}
        condition: "event == link_added AND interface =~ '^d'"
        async: true
      - name: slow
        script: ${slow}
        condition: "event == link_added AND interface =~ '^d'"
        timeout_ms: 300
        async: true
`) + '  metrics:\n    listen: 127.0.0.1:19471\n';
  await withDaemon(dir, yaml, async () => {
    veths(ns, 'd', 2);
    await until(() => stats(dir).every((h) => h.executions === 4), 'four runs of each hook', 15000);
    const byName = Object.fromEntries(stats(dir).map((h) => [h.name, h]));
    assert.deepEqual([byName.ok!.successes, byName.ok!.failures, byName.ok!.timeouts], [4, 0, 0]);
    assert.deepEqual([byName.bad!.successes, byName.bad!.failures, byName.bad!.timeouts, byName.bad!.last_exit_code], [0, 4, 0, 3]);
    assert.deepEqual([byName.slow!.successes, byName.slow!.failures, byName.slow!.timeouts], [0, 0, 4]);
    assert.match(byName.slow!.last_error, /killed after timeout_ms 300/);
    assert.ok(byName.slow!.min_ms >= 300);
    const table = cli(dir, 'hooks', 'stats');
    assert.equal(table.exitCode, 0);
    assert.match(table.stdout, /^NAME\s+ENABLED\s+ASYNC\s+RUNS\s+OK\s+FAIL\s+TIMEOUT\s+DROPPED\s+RETRIES\s+RUNNING\s+QUEUED\s+AVG_MS\s+P95_MS\s+LAST_EXIT\n/);
    assert.match(table.stdout, /\nbad\s+yes\s+yes\s+4\s+0\s+4\s+0\s+0\s+0\s+0\s+0\s+[\d.]+\s+[\d.]+\s+3\n/);

    const status = cliJson<StatusReport>(dir, 'status');
    assert.equal(status.namespaces[0]!.name, ns);
    assert.equal(status.events, 4);
    assert.equal(status.hooks.total, 3);

    const metrics = await get('http://127.0.0.1:19471/metrics');
    assert.match(metrics, new RegExp(`^nlmon_events_total\\{namespace="${ns}",event="link_added"\\} 4$`, 'm'));
    assert.match(metrics, /^nlmon_hook_runs_total\{hook="ok",result="success"\} 4$/m);
    assert.match(metrics, /^nlmon_hook_runs_total\{hook="bad",result="failure"\} 4$/m);
    assert.match(metrics, /^nlmon_hook_runs_total\{hook="slow",result="timeout"\} 4$/m);
    assert.match(metrics, /^nlmon_hook_duration_seconds_count\{hook="slow"\} 4$/m);
    assert.match(metrics, new RegExp(`^nlmon_netlink_overruns_total\\{namespace="${ns}"\\} 0$`, 'm'));
    assert.match(metrics, /^nlmon_namespaces_watched 1$/m);
    assert.match(metrics, /^nlmon_hooks_running 0$/m);
    assert.match(metrics, /^nlmon_hook_queue_depth 0$/m);
    assert.match(metrics, /^nlmon_hook_backlog_events 0$/m);
    assert.match(metrics, /^process_cpu_user_seconds_total /m);

    assert.equal(cli(dir, 'hooks', 'reset-stats', 'bad').exitCode, 0);
    assert.equal(statOf(dir, 'bad').executions, 0);
    assert.equal(statOf(dir, 'ok').executions, 4);
    assert.equal(cli(dir, 'hooks', 'reset-stats').exitCode, 0);
    assert.equal(statOf(dir, 'ok').executions, 0);
  });
})));

test('disable stops a hook at once without a restart; enable resumes it', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const rec = script(dir, 'rec.sh', `echo "$NLMON_INTERFACE" >> "${dir}/ran"`);
  await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: rec\n        script: ${rec}\n        condition: "event == link_added"\n`), async () => {
    veths(ns, 'e', 1);
    await until(() => lines(`${dir}/ran`).length === 2, 'two runs');
    const off = cli(dir, 'hooks', 'disable', 'rec');
    assert.equal(off.exitCode, 0, off.stderr);
    assert.equal(off.stdout, 'hook rec: disabled\n');
    assert.equal(cliJson<Stats>(dir, 'hooks', 'list')[0]!.enabled, false);
    veths(ns, 'f', 1);
    await until(() => cliJson<StatusReport>(dir, 'status').events >= 4, 'the events of f0');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(lines(`${dir}/ran`).sort(), ['e0a', 'e0b']);
    assert.equal(cli(dir, 'hooks', 'enable', 'rec').exitCode, 0);
    veths(ns, 'g', 1);
    await until(() => lines(`${dir}/ran`).length === 4, 'runs for g0');
    assert.deepEqual(lines(`${dir}/ran`).slice(2).sort(), ['g0a', 'g0b']);
    const missing = cli(dir, 'hooks', 'disable', 'nope');
    assert.equal(missing.exitCode, 2);
    assert.equal(missing.stderr, "nlmon: no hook named 'nope'\n");
  });
})));

test('hooks add runs on the next event and is written with the comments kept; delete removes it', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const rec = script(dir, 'rec.sh', `echo "$NLMON_HOOK $NLMON_INTERFACE" >> "${dir}/ran"`);
  const yaml = `# nlmon for the tests -- keep this comment\n${config(ns, dir, `    hooks:\n      # the first hook, commented\n      - name: first\n        script: ${rec}\n        condition: "interface == 'never'"   # trailing comment\n`)}`;
  await withDaemon(dir, yaml, async (d) => {
    const cfgFile = path.join(dir, 'nlmon.yaml');
    const add = cli(dir, 'hooks', 'add', '--name', 'added', '--script', rec, '--condition', "event == 'link_added'", '--timeout-ms', '4000', '--async');
    assert.equal(add.exitCode, 0, add.stderr);
    const text = fs.readFileSync(cfgFile, 'utf8');
    for (const kept of ['# nlmon for the tests -- keep this comment', '# the first hook, commented', '# trailing comment']) assert.ok(text.includes(kept), `${kept} kept:\n${text}`);
    assert.match(text, /- name: added\n\s+script: \S+rec\.sh\n\s+condition: event == 'link_added'\n\s+timeout_ms: 4000\n\s+async: true\n/);
    veths(ns, 'h', 1);
    await until(() => lines(`${dir}/ran`).length === 2, 'the added hook runs');
    assert.deepEqual(lines(`${dir}/ran`).sort(), ['added h0a', 'added h0b']);

    const dup = cli(dir, 'hooks', 'add', '--name', 'added', '--script', rec);
    assert.equal(dup.exitCode, 2);
    assert.match(dup.stderr, /exists already/);
    const badCond = cli(dir, 'hooks', 'add', '--name', 'x', '--script', rec, '--condition', 'mtu ==');
    assert.equal(badCond.exitCode, 2);
    assert.match(badCond.stderr, /nlmon\.yaml:\d+:\d+: hook 'x': condition: expected a value/);
    assert.equal(fs.readFileSync(cfgFile, 'utf8'), text, 'a rejected add changes nothing');

    assert.equal(cli(dir, 'hooks', 'delete', 'added').exitCode, 0);
    const after = fs.readFileSync(cfgFile, 'utf8');
    assert.doesNotMatch(after, /name: added/);
    assert.ok(after.includes('# the first hook, commented'));
    assert.deepEqual(cliJson<Stats>(dir, 'hooks', 'list').map((h) => h.name), ['first']);
    veths(ns, 'i', 1);
    await until(() => cliJson<StatusReport>(dir, 'status').events >= 4, 'the events of i0');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(lines(`${dir}/ran`).length, 2, 'a deleted hook does not run');
    assert.match(d.stderr(), /hook added: added/);
  });
})));

test('SIGHUP: a broken file keeps the old hooks running; a good one replaces them, stats of kept hooks survive', opts, () => withNetns(2, (ns, ns2) => withTempDir(async (dir) => {
  const rec = script(dir, 'rec.sh', `echo "$NLMON_HOOK $NLMON_NAMESPACE $NLMON_INTERFACE" >> "${dir}/ran"`);
  const hook = (name: string) => `      - name: ${name}\n        script: ${rec}\n        condition: "event == link_added"\n`;
  await withDaemon(dir, config(ns, dir, `    hooks:\n${hook('one')}`), async (d) => {
    const cfgFile = path.join(dir, 'nlmon.yaml');
    veths(ns, 'j', 1);
    await until(() => lines(`${dir}/ran`).length === 2, 'first runs');
    fs.writeFileSync(cfgFile, 'nlmon:\n  integration:\n    hooks: [\n');
    d.child.kill('SIGHUP');
    await until(() => d.stderr().includes('reload rejected'), 'the rejection in the log');
    assert.match(d.stderr(), /reload rejected; the running config stays:\n\s+\S+nlmon\.yaml:\d+:\d+: YAML/);
    veths(ns, 'k', 1);
    await until(() => lines(`${dir}/ran`).length === 4, 'the old hook still runs');
    assert.equal(statOf(dir, 'one').executions, 4);

    fs.writeFileSync(cfgFile, config(`${ns}, ${ns2}`, dir, `    hooks:\n${hook('one')}${hook('two')}`));
    d.child.kill('SIGHUP');
    await until(() => d.stderr().includes(`reloaded ${cfgFile}`), 'the reload');
    assert.deepEqual(cliJson<StatusReport>(dir, 'status').namespaces.map((n) => n.name).sort(), [ns, ns2].sort());
    veths(ns2, 'l', 1);
    await until(() => lines(`${dir}/ran`).length === 8, 'both hooks run in the new namespace');
    assert.deepEqual(lines(`${dir}/ran`).slice(4).sort(), [`one ${ns2} l0a`, `one ${ns2} l0b`, `two ${ns2} l0a`, `two ${ns2} l0b`]);
    assert.equal(statOf(dir, 'one').executions, 6, 'stats of a kept hook survive the reload');
    assert.equal(statOf(dir, 'two').executions, 2);
  });
})));

test('SIGTERM during a running hook waits for it, then exits 0 and removes the socket', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const s = script(dir, 'long.sh', `touch "${dir}/started"\nsleep 1\ntouch "${dir}/finished"`);
  const d = await startDaemon(dir, config(ns, dir, `    hooks:\n      - name: long\n        script: ${s}\n        condition: "event == link_added"\n        async: true\n`));
  try {
    ip('-n', ns, 'link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'm1');
    await until(() => fs.existsSync(`${dir}/started`), 'the hook to start');
    d.child.kill('SIGTERM');
    assert.equal(await d.exit, 0);
    assert.ok(fs.existsSync(`${dir}/finished`), 'the running hook was let finish');
    assert.match(d.stderr(), /stopping: waiting for \d running hook/);
    assert.match(d.hookLog().join('\n'), /done \S+ : \S+ : \S+long\.sh OK/);
    assert.equal(fs.existsSync(`${dir}/nlmon.sock`), false);
  } finally {
    d.child.kill('SIGKILL');
  }
})));

test('the control socket: mode 0600, a live daemon refused, a stale socket replaced', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const yaml = config(ns, dir, '    hooks: []\n');
  await withDaemon(dir, yaml, async () => {
    assert.equal(fs.statSync(`${dir}/nlmon.sock`).mode & 0o777, 0o600);
    const second = nlmonSync(['run', '--config', path.join(dir, 'nlmon.yaml')], { timeout: 10000 });
    assert.equal(second.exitCode, 1);
    assert.match(second.stderr, /another nlmon daemon is listening on \S+nlmon\.sock/);
  });
  // withDaemon ended that daemon with SIGKILL: its socket file is left behind, stale.
  assert.ok(fs.lstatSync(`${dir}/nlmon.sock`).isSocket(), 'a killed daemon leaves its socket file');
  await withDaemon(dir, yaml, async () => {
    assert.equal(cliJson<StatusReport>(dir, 'status').hooks.total, 0);
  });
})));

test('daemon verbs with no daemon running say so in one line and exit 1', async () => withTempDir(async (dir) => {
  for (const args of [['status'], ['hooks', 'stats'], ['hooks', 'list'], ['hooks', 'enable', 'x']]) {
    const r = cli(dir, ...args);
    assert.equal(r.exitCode, 1, args.join(' '));
    assert.equal(r.stderr, `nlmon: no nlmon daemon is running (no control socket at ${dir}/nlmon.sock)\n`);
    assert.equal(r.stdout, '');
  }
}));

test('--log-format json writes one JSON object per log line', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const d = await startDaemon(dir, config(ns, dir, '    hooks: []\n'), ['--log-format', 'json']);
  try {
    assert.equal(await d.stop(), 0);
    const recs = d.stderr().trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(recs.length >= 3);
    for (const r of recs) assert.deepEqual(Object.keys(r), ['time', 'level', 'msg']);
    assert.ok(recs.some((r) => r.msg === 'stopped'));
  } finally {
    d.child.kill('SIGKILL');
  }
})));
