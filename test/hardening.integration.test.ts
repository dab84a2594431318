// Hardening against wrong state on real netlink: what an operator's careful trial found.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { NLMON, ip, kernelLinks, linkburst, needsRoot, sleep, until, withNetns, type LinkSummary } from './helpers/index.js';

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
