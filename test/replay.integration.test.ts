// `nlmon replay` (docs/cli.md): the events a daemon recorded (its file output), replayed through
// the same config, start the same hook runs the daemon started (its hook log), debounce included.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ip, linkburst, lines, needsRoot, nlmonSync, script, sleep, until, withDaemon, withNetns, withTempDir } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 60000 };

test('replay of a recorded file prints the same hook starts the daemon made, and says which lines it skipped', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const ok = script(dir, 'ok.sh', 'exit 0');
  const yaml = `nlmon:
  monitoring:
    namespaces: [${ns}]
    netns_dirs: [/var/run/netns]
  containers:
    enabled: false
  outputs:
    - name: record
      type: file
      path: ${dir}/events.ndjson
  integration:
    hook_log: ${dir}/hook.log
    hooks:
      - name: every-veth
        script: ${ok}
        async: true
        condition: "kind == 'veth' AND event IN [link_added, link_removed]"
      - name: in-order
        script: ${ok}
        order_by: [interface]
        async: true
        condition: "event == link_up"
      - name: sync-mtu
        script: ${ok}
        condition: "changed HAS mtu"
      - name: settled
        script: ${ok}
        async: true
        order_by: [interface]
        debounce_ms: 1000
        condition: "event IN [link_up, link_down] AND interface == 'f0'"
  control:
    socket: ${dir}/nlmon.sock
`;
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, yaml);
  const started = (log: string[]) => log.filter((l) => l.includes(' : started ')).map((l) => {
    const [, seq, rest] = l.split(' : ');
    return `${rest!.replace(/^started /, '')} ${seq}`;
  }).sort();
  let daemonStarts: string[] = [];
  await withDaemon(dir, yaml, async (d) => {
    ip('-n', ns, 'link', 'add', 'f0', 'type', 'veth', 'peer', 'name', 'f1');
    for (let i = 0; i < 5; i++) ip('-n', ns, 'link', 'add', `r${i}`, 'type', 'veth', 'peer', 'name', `rp${i}`);
    for (let i = 0; i < 5; i++) ip('-n', ns, 'link', 'set', `r${i}`, 'up');
    ip('-n', ns, 'link', 'set', 'r0', 'mtu', '1400');
    linkburst(`/var/run/netns/${ns}`, 20, 250, 'f0');
    for (let i = 0; i < 5; i++) ip('-n', ns, 'link', 'del', `r${i}`);
    await until(() => started(d.hookLog()).some((s) => s.startsWith('settled ')), 'the debounced run');
    await sleep(500);
    daemonStarts = started(d.hookLog());
  });
  assert.ok(daemonStarts.length >= 20, daemonStarts.join('\n'));
  const replay = nlmonSync(['replay', `${dir}/events.ndjson`, '--config', cfg]);
  assert.equal(replay.exitCode, 0, replay.stderr);
  const replayed = replay.stdout.split('\n').filter(Boolean).map((l) => {
    const m = /^(\d+) (\S+) : /.exec(l)!;
    return `${m[2]} ${m[1]}`;
  }).sort();
  assert.deepEqual(replayed, daemonStarts);
  assert.match(replay.stdout, /settled : .* : f0 link_down \(coalesced 20, first \d+\)/);
  // A bad line is named and skipped; the rest still replays; exit 2.
  const text = fs.readFileSync(`${dir}/events.ndjson`, 'utf8').split('\n');
  text.splice(2, 0, '{"event":"link_added","mtu":"big"}');
  fs.writeFileSync(`${dir}/bad.ndjson`, text.join('\n'));
  const bad = nlmonSync(['replay', `${dir}/bad.ndjson`, '--config', cfg]);
  assert.equal(bad.exitCode, 2);
  assert.match(bad.stderr, new RegExp(`^${dir}/bad.ndjson:3: event: field 'mtu' must be an integer, not "big"`));
  assert.equal(bad.stdout, replay.stdout);
  assert.equal(lines(`${dir}/hook.log`).filter((l) => l.includes('started')).length, daemonStarts.length, 'a dry run runs nothing');
})));
