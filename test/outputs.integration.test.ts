// The file output on real netlink: every matching event of a burst in the NDJSON file exactly
// once while the file is renamed logrotate-style (and SIGUSR1 sent) under it; a file that cannot
// be opened is counted, never fatal.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { OutputStatus } from '../src/outputs/registry.js';
import { LINKBURST, cliJson, ip, needsRoot, outputsConfig, sleep, startDaemon, until, withNetns, withTempDir } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 90000 };

test('file output: a 6 000-change burst is in the NDJSON files exactly once while they are rotated under the daemon', opts, () => withNetns(1, async (ns) => withTempDir(async (dir) => {
  ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
  const file = path.join(dir, 'out', 'events.ndjson');
  const d = await startDaemon(dir, outputsConfig(ns, dir, `    - name: ndjson
      type: file
      path: out/events.ndjson
      condition: "interface == 'b0' AND event IN [link_up, link_down]"
    - name: all
      type: file
      path: all.ndjson`));
  try {
    const n = 6000;
    const burst = execa(LINKBURST, [`/var/run/netns/${ns}`, String(n), '2000', 'b0']);
    let rotations = 0;
    while (burst.exitCode === undefined || burst.exitCode === null) {
      await sleep(250);
      if (!fs.existsSync(file)) continue;
      fs.renameSync(file, `${file}.${++rotations}`);
      d.child.kill('SIGUSR1');
      if (rotations > 40) break;
    }
    await burst;
    const out = () => cliJson<OutputStatus[]>(dir, 'outputs', 'stats')[0]!;
    await until(() => out().events >= n, `every change matched (${JSON.stringify(out())}, ${rotations} rotations)`, 30000);
    await sleep(300);
    const st = out();
    // Whatever else happened in the namespace, for the message of a failure.
    const others = fs.readFileSync(path.join(dir, 'all.ndjson'), 'utf8').split('\n').filter((l) => l && !/"event":"link_(up|down)","interface":"b0"/.test(l));
    assert.deepEqual([st.name, st.type, st.target, st.events, st.delivered, st.dropped], ['ndjson', 'file', file, n, n, 0], `${JSON.stringify(st)}\nother events:\n${others.join('\n')}`);
    assert.ok(rotations >= 3, `rotated ${rotations} times during the burst`);
    const files = fs.readdirSync(path.dirname(file)).map((f) => path.join(path.dirname(file), f));
    const events = files.flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { sequence: number; interface: string }));
    assert.equal(events.length, n, 'no line lost or written twice');
    assert.equal(new Set(events.map((e) => e.sequence)).size, n);
    assert.ok(events.every((e) => e.interface === 'b0'), 'the condition holds');
    // (The kernel's link watcher may add an operstate change of b0 between two toggles: a
    // link_changed, which the condition leaves to the `all` output.)
    const status = cliJson<{ outputs: OutputStatus[] }>(dir, 'status');
    assert.equal(status.outputs[0]!.delivered, n, 'nlmon status shows it too');
  } finally {
    await d.stop();
  }
})));

test('file output: a path that cannot be opened is counted and reported, and the daemon goes on', opts, () => withNetns(1, async (ns) => withTempDir(async (dir) => {
  fs.writeFileSync(path.join(dir, 'notadir'), '');
  const d = await startDaemon(dir, outputsConfig(ns, dir, `    - name: broken
      type: file
      path: ${dir}/notadir/events.ndjson`));
  try {
    ip('-n', ns, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1');
    await until(() => cliJson<OutputStatus[]>(dir, 'outputs', 'stats')[0]!.dropped >= 2, 'the failed lines counted');
    const st = cliJson<OutputStatus[]>(dir, 'outputs', 'stats')[0]!;
    assert.match(st.last_error, /notadir\/events\.ndjson: \S+notadir: ENOTDIR: not a directory/);
    assert.equal(st.delivered, 0);
    assert.match(d.stderr(), /output broken: .*notadir/);
    assert.equal(cliJson<{ events: number }>(dir, 'status').events >= 2, true, 'intake went on');
  } finally {
    await d.stop();
  }
})));
