// `nlmon run` with real scripts on real events, in test-made namespaces.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIELDS } from '../src/event/filter.js';
import {
  alive, cli, config, ip, lines, linkburst, needsRoot, nlmonSync, script, sleep, until, withDaemon, withNetns, withTempDir,
} from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 60000 };

test('a veth hook runs once per new veth end with every NLMON_ variable and the JSON on stdin', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const s = script(dir, 'record.sh', `env > "${dir}/run-$NLMON_SEQUENCE.env"\ncat > "${dir}/run-$NLMON_SEQUENCE.json"`);
  await withDaemon(dir, config(ns, dir, `    hooks:
      - name: veth_added
        script: ${s}
        condition: "interface =~ 'veth.*' AND event == 'link_added'"
        env: {SITE: lab}
`), async (d) => {
    ip('-n', ns, 'link', 'add', 'veth-a', 'type', 'veth', 'peer', 'name', 'veth-b');
    ip('-n', ns, 'link', 'add', 'other0', 'type', 'veth', 'peer', 'name', 'other1');
    ip('-n', ns, 'link', 'set', 'veth-a', 'up');
    await until(() => d.hookLog().filter((l) => l.endsWith(' OK')).length >= 2, 'two runs');
    await new Promise((r) => setTimeout(r, 300));
    const envFiles = fs.readdirSync(dir).filter((f) => f.endsWith('.env'));
    assert.equal(envFiles.length, 2, 'once per veth end, not for other0/other1 nor for link_up');
    const seen = new Set<string>();
    for (const f of envFiles) {
      const env = Object.fromEntries(fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      const json = JSON.parse(fs.readFileSync(path.join(dir, f.replace('.env', '.json')), 'utf8'));
      const names = Object.keys(env).filter((k) => k !== 'PWD' && k !== 'SHLVL' && k !== '_').sort();
      // Every event field as its variable, the hook's name, the JSON, PATH and the hook's env.
      assert.deepEqual(names, [...Object.keys(FIELDS).map((f) => `NLMON_${f.toUpperCase()}`), 'NLMON_EVENT_JSON', 'NLMON_HOOK', 'NLMON_COALESCED', 'NLMON_FIRST_SEQUENCE', 'PATH', 'SITE'].sort());
      assert.deepEqual([env.NLMON_MTU, env.NLMON_UP, env.NLMON_CHANGED, env.NLMON_OLD_INTERFACE], ['1500', '0', '', '']);
      assert.deepEqual([env.NLMON_COALESCED, env.NLMON_FIRST_SEQUENCE], ['1', env.NLMON_SEQUENCE], 'a run of one event stands for itself');
      assert.deepEqual([env.NLMON_FAMILY, env.NLMON_IP, env.NLMON_PREFIXLEN, env.NLMON_SCOPE], ['', '', '0', ''], 'a link event has no address');
      assert.equal(env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
      assert.equal(env.NLMON_HOST, os.hostname());
      assert.equal(json.host, os.hostname());
      assert.deepEqual(JSON.parse(env.NLMON_EVENT_JSON!), json);
      assert.equal(env.NLMON_EVENT, 'link_added');
      assert.equal(env.NLMON_EVENT_TYPE, '1');
      assert.equal(env.NLMON_MESSAGE_TYPE, '16');
      assert.equal(env.NLMON_NAMESPACE, ns);
      assert.equal(env.NLMON_KIND, 'veth');
      assert.equal(env.NLMON_HOOK, 'veth_added');
      assert.equal(env.NLMON_SEQUENCE, String(json.sequence));
      assert.equal(env.NLMON_IFINDEX, String(json.ifindex));
      assert.equal(env.NLMON_TIMESTAMP, String(json.timestamp));
      assert.equal(env.NLMON_INTERFACE, json.interface);
      assert.equal(env.NLMON_OPERSTATE, json.operstate);
      assert.equal(env.SITE, 'lab');
      seen.add(json.interface);
    }
    assert.deepEqual([...seen].sort(), ['veth-a', 'veth-b']);
    const log = d.hookLog();
    assert.match(log[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z link_added : \d+ : started veth_added : veth-\w : .*record\.sh$/);
    assert.ok(log.some((l) => /^\S+ link_added : \d+ : done \S+ : \S+ : .*record\.sh OK$/.test(l)), log.join('\n'));
    assert.equal(await d.stop(), 0);
  });
})));

test('a hook past timeout_ms is killed with its grandchild and counted as a timeout', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const s = script(dir, 'hang.sh', `sleep 60 &\necho $! > "${dir}/grandchild.pid"\necho $$ > "${dir}/leader.pid"\nsleep 60`);
  await withDaemon(dir, config(ns, dir, `    hooks:
      - name: hang
        script: ${s}
        condition: "event == link_added AND interface == 't0'"
        timeout_ms: 400
        async: true
`), async (d) => {
    ip('-n', ns, 'link', 'add', 't0', 'type', 'veth', 'peer', 'name', 't1');
    await until(() => d.hookLog().some((l) => l.endsWith(' TIMEOUT')), 'a TIMEOUT line', 10000);
    const grandchild = Number(fs.readFileSync(path.join(dir, 'grandchild.pid'), 'utf8'));
    const leader = Number(fs.readFileSync(path.join(dir, 'leader.pid'), 'utf8'));
    await until(() => !alive(grandchild) && !alive(leader), 'the leader and its grandchild to be gone', 5000);
    await until(() => /hook hang: timeout on link_added t0 .*killed after timeout_ms 400/.test(d.stderr()), 'the timeout in the daemon log');
    assert.equal(await d.stop(), 0);
  });
})));

test('max_concurrent 2: ten slow async runs, never more than two at once', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  fs.mkdirSync(path.join(dir, 'live'));
  const s = script(dir, 'slow.sh', `touch "${dir}/live/$$"\nls "${dir}/live" | wc -l >> "${dir}/counts"\nsleep 0.3\nrm "${dir}/live/$$"\necho x >> "${dir}/done"`);
  await withDaemon(dir, config(ns, dir, `    max_concurrent: 2
    hooks:
      - name: slow
        script: ${s}
        condition: "event == link_added AND kind == 'veth'"
        async: true
`), async (d) => {
    for (let i = 0; i < 5; i++) ip('-n', ns, 'link', 'add', `s${i}a`, 'type', 'veth', 'peer', 'name', `s${i}b`);
    await until(() => lines(path.join(dir, 'done')).length === 10, 'ten runs', 20000);
    const counts = lines(path.join(dir, 'counts')).map(Number);
    assert.equal(counts.length, 10);
    assert.ok(Math.max(...counts) <= 2, `at most two at once, saw ${counts.join(',')}`);
    assert.equal(await d.stop(), 0);
  });
})));

test('sync hooks see events in order; a full queue drops the oldest and counts it', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const inOrder = script(dir, 'order.sh', `echo "$NLMON_SEQUENCE" >> "${dir}/order"\nsleep 0.0$(( $NLMON_SEQUENCE % 7 ))`);
  const slow = script(dir, 'slow.sh', `echo "$NLMON_SEQUENCE" >> "${dir}/ran"\nsleep 1`);
  ip('-n', ns, 'link', 'add', 'q0', 'type', 'veth', 'peer', 'name', 'q1');
  ip('-n', ns, 'link', 'add', 'r0', 'type', 'veth', 'peer', 'name', 'r1');
  await withDaemon(dir, config(ns, dir, `    max_concurrent: 1
    queue_limit: 2
    hooks:
      - name: ordered
        script: ${inOrder}
        condition: "interface == 'q0'"
      - name: bursty
        script: ${slow}
        condition: "interface == 'r0'"
        async: true
`), async (d) => {
    // 10 changes on r0 at once: one runs, two wait, seven are dropped (the oldest first).
    linkburst(`/var/run/netns/${ns}`, 10, 0, 'r0');
    await until(() => lines(path.join(dir, 'ran')).length === 3, 'three bursty runs', 15000);
    const log = d.hookLog();
    const dropped = log.filter((l) => l.endsWith('slow.sh DROPPED')).map((l) => Number(l.split(' : ')[1]));
    const ran = lines(path.join(dir, 'ran')).map(Number);
    assert.equal(dropped.length, 7, log.join('\n'));
    assert.deepEqual(ran, [ran[0]!, ran[0]! + 8, ran[0]! + 9], 'the newest two waited; the ones between were dropped');
    assert.deepEqual(dropped, [1, 2, 3, 4, 5, 6, 7].map((i) => ran[0]! + i));
    // 12 changes on q0 through a sync hook: every one, in order.
    linkburst(`/var/run/netns/${ns}`, 12, 0, 'q0');
    await until(() => lines(path.join(dir, 'order')).length === 12, 'twelve ordered runs', 20000);
    const order = lines(path.join(dir, 'order')).map(Number);
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
    assert.equal(new Set(order).size, 12);
    assert.equal(await d.stop(), 0);
  });
})));

test('interface names with shell metacharacters reach hooks intact and inert', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const names = ['$(touch${IFS}x)', 'q`w`', "x;touch_y", 'é\'"z'];
  for (const f of ['/x', '/touch_y', path.join(dir, 'x')]) assert.equal(fs.existsSync(f), false, `${f} must not exist before`);
  await withDaemon(dir, config(ns, dir, `    hooks:
      - name: names
        script: sh -c 'printf "%s\\n" "$NLMON_INTERFACE" >> ${dir}/names' nlmon-hook
        condition: "event == link_added"
        args: ["$NLMON_INTERFACE", "$(touch ${dir}/x)"]
`), async (d) => {
    ip('-n', ns, 'link', 'add', names[0]!, 'type', 'veth', 'peer', 'name', names[1]!);
    ip('-n', ns, 'link', 'add', names[2]!, 'type', 'veth', 'peer', 'name', names[3]!);
    await until(() => lines(path.join(dir, 'names')).length === 4, 'four runs');
    assert.deepEqual(lines(path.join(dir, 'names')).sort(), [...names].sort());
    for (const f of ['/x', '/touch_y', path.join(dir, 'x')]) assert.equal(fs.existsSync(f), false, `${f} was created`);
    assert.equal(await d.stop(), 0);
  });
})));

test('a missing script and a world-writable one are refused at start with their path', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const ww = script(dir, 'ww.sh', 'exit 0');
  fs.chmodSync(ww, 0o777);
  for (const [s, re] of [[`${dir}/missing.sh`, new RegExp(`${dir}/missing.sh does not exist`)], [ww, new RegExp(`script ${ww} is world-writable`)]] as const) {
    const cfg = path.join(dir, 'bad.yaml');
    fs.writeFileSync(cfg, config(ns, dir, `    hooks:\n      - name: h\n        script: ${s}\n`));
    const r = nlmonSync(['run', '--config', cfg], { timeout: 10000 });
    assert.equal(r.exitCode, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.match(r.stderr, new RegExp(`^${cfg}:9:17: `));
  }
})));

test('a failing script\'s stderr is in the hook log, the daemon\'s log and hooks stats NAME, escaped; hooks run says when the condition does not match', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const fails = script(dir, 'fails.sh', `echo "cannot reach \\033[31mthe router" >&2\necho 'second line' >&2\nexit 4`);
  await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: fails\n        script: ${fails}\n        async: true\n        condition: "event == link_added AND interface == 'f0'"\n`), async (d) => {
    ip('-n', ns, 'link', 'add', 'f0', 'type', 'veth', 'peer', 'name', 'f1');
    await until(() => d.hookLog().some((l) => l.includes(' : stderr fails : ')), 'the stderr line in the hook log');
    const line = d.hookLog().find((l) => l.includes(' : stderr fails : '))!;
    assert.match(line, /: stderr fails : cannot reach \\x1b\[31mthe router\\x0asecond line$/);
    assert.match(d.stderr(), /hook fails: failure on link_added f0 #\d+: exit code 4; stderr: cannot reach \\x1b\[31mthe router/);
    const stats = cli(dir, 'hooks', 'stats', 'fails');
    assert.match(stats.stdout, /fails: last run failed \(.*\): exit code 4\nthe output of its last failure:\ncannot reach \\x1b\[31mthe router\\x0asecond line\n$/);
  });
  const cfg = path.join(dir, 'nlmon.yaml');
  const run = nlmonSync(['hooks', 'run', 'fails', '--config', cfg, '--interface', 'eth9']);
  assert.match(run.stderr, /hook fails: its condition does not match this event \(event == link_added AND interface == 'f0'\); running it anyway/);
  assert.equal(run.exitCode, 1);
})));

test('order_by [interface]: 20 veths added and removed in a burst, a hook that sleeps 0-50 ms sees each interface added before removed, with runs in parallel', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const rec = script(dir, 'rec.sh', `start=$(date +%s%N)\nsleep 0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 5 ))\necho "$NLMON_INTERFACE $NLMON_EVENT $start $(date +%s%N)" >> ${dir}/runs`);
  await withDaemon(dir, config(ns, dir, `    max_concurrent: 10
    hooks:
      - name: ordered
        script: ${rec}
        async: true
        order_by: [interface]
        condition: "event IN [link_added, link_removed] AND interface =~ '^o'"
`), async () => {
    // One burst in one ip -batch: each pair added and at once removed, so that the runs of an
    // interface's two events would overlap if nothing kept them in order.
    const batch = path.join(dir, 'batch');
    fs.writeFileSync(batch, Array.from({ length: 20 }, (_, i) => `link add o${i} type veth peer name op${i}\nlink del o${i}`).join('\n') + '\n');
    ip('-n', ns, '-batch', batch);
    await until(() => lines(`${dir}/runs`).length === 80, 'a run for each end added and removed', 30000);
  });
  const runs = lines(`${dir}/runs`).map((l) => {
    const [iface, event, start, end] = l.split(' ');
    return { iface: iface!, event: event!, start: Number(start), end: Number(end) };
  });
  for (const iface of new Set(runs.map((r) => r.iface))) {
    const mine = runs.filter((r) => r.iface === iface);
    assert.deepEqual(mine.map((r) => r.event), ['link_added', 'link_removed'], `${iface}: added, then removed`);
    assert.ok(mine[0]!.end <= mine[1]!.start, `${iface}: the removal's run started after the addition's ended`);
  }
  const overlapping = runs.some((a) => runs.some((b) => a !== b && a.start < b.end && b.start < a.end));
  assert.ok(overlapping, 'runs of different interfaces ran at the same time');
})));

test('debounce_ms 300: a link flapped 50 times in 200 ms gives at most 2 runs, the last with its final state, NLMON_COALESCED summing to 50 (and a module handler\'s coalesced too)', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  ip('-n', ns, 'link', 'add', 'f0', 'type', 'veth', 'peer', 'name', 'f1');
  const rec = script(dir, 'rec.sh', `echo "$NLMON_INTERFACE $NLMON_UP $NLMON_COALESCED $NLMON_FIRST_SEQUENCE $NLMON_SEQUENCE" >> ${dir}/runs`);
  fs.writeFileSync(path.join(dir, 'rec.mjs'), `import fs from 'node:fs';\nexport default function (e, { coalesced, first_sequence }) {\n  fs.appendFileSync(${JSON.stringify(`${dir}/modruns`)}, [e.interface, e.up ? 1 : 0, coalesced, first_sequence, e.sequence].join(' ') + '\\n');\n}\n`);
  const settings = `        async: true
        order_by: [namespace, interface]
        debounce_ms: 300
        max_delay_ms: 2000
        condition: "event IN [link_up, link_down] AND interface == 'f0'"
`;
  await withDaemon(dir, config(ns, dir, `    hooks:
      - name: settled
        script: ${rec}
${settings}      - name: settled_mod
        module: ${dir}/rec.mjs
${settings}`), async () => {
    // 50 toggles at 250/s: up, down, … ending down.
    linkburst(`/var/run/netns/${ns}`, 50, 250, 'f0');
    await until(() => lines(`${dir}/runs`).length >= 1, 'the debounced run');
    await sleep(800); // a second run, if any, would have started by now
    const runs = lines(`${dir}/runs`).map((l) => l.split(' '));
    assert.ok(runs.length >= 1 && runs.length <= 2, `${runs.length} runs`);
    assert.equal(runs.reduce((n, r) => n + Number(r[2]), 0), 50, 'the runs stand for every event');
    const last = runs.at(-1)!;
    assert.equal(last[1], '0', 'the last run sees the final state: down');
    assert.ok(Number(last[3]) < Number(last[4]), 'the first sequence it stands for is before its own');
    const st = (JSON.parse(cli(dir, 'hooks', 'stats', '--json').stdout) as Array<{ name: string; executions: number; coalesced: number; delayed: number }>).find((h) => h.name === 'settled')!;
    assert.deepEqual([st.executions, st.coalesced, st.delayed], [runs.length, 50 - runs.length, 0]);
    // The module handler's runs, from the same events: the same counts in its context.
    await until(() => lines(`${dir}/modruns`).length >= 1, 'the module handler\'s debounced run');
    const mod = lines(`${dir}/modruns`).map((l) => l.split(' '));
    assert.ok(mod.length >= 1 && mod.length <= 2, `${mod.length} module runs`);
    assert.equal(mod.reduce((n, r) => n + Number(r[2]), 0), 50, 'the module runs stand for every event');
    assert.equal(mod.at(-1)![1], '0');
    assert.ok(Number(mod.at(-1)![3]) < Number(mod.at(-1)![4]), 'first_sequence is before the run\'s own');
  });
})));
