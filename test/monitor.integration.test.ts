// The monitor on real rtnetlink, in namespaces these tests make and delete.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { Monitor } from '../src/netlink/monitor.js';
import { containerStage } from '../src/containers/attribution-stage.js';
import { DEFAULT_RECEIVE_BUFFER } from '../src/netlink/config.js';
import { HostAttribution } from '../src/containers/host-attribution.js';
import { ContainerResolver } from '../src/containers/resolver.js';
import type { NlEvent } from '../src/event/event.js';
import { LINKBURST, ip, ipLinks, kernelLinks, needsRoot, newName, sleep, tableLinks, until, withNetns } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 60000 };

function collector() {
  const events: NlEvent[] = [];
  const logs: string[] = [];
  return {
    events,
    logs,
    listener: { events: (e: NlEvent[]) => { events.push(...e); }, log: (l: string, m: string) => { logs.push(`${l}: ${m}`); } },
    find: (pred: (e: NlEvent) => boolean) => events.find(pred),
  };
}

test('veth pair: added, up, down, mtu, rename, removed, with the fields the kernel reports', opts, () => withNetns(1, async (ns) => {
  const c = collector();
  const m = new Monitor({ namespaces: [ns], netnsDirs: ['/var/run/netns'], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, c.listener);
  await m.start();
  try {
    ip('-n', ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
    const links = ipLinks(ns);
    const va = links.find((l) => l.ifname === 'va')!;
    const vb = links.find((l) => l.ifname === 'vb')!;
    const addA = await until(() => c.find((e) => e.event === 'link_added' && e.interface === 'va'), 'link_added va');
    const addB = await until(() => c.find((e) => e.event === 'link_added' && e.interface === 'vb'), 'link_added vb');
    for (const [ev, l] of [[addA, va], [addB, vb]] as const) {
      assert.equal(ev.kind, 'veth');
      assert.equal(ev.ifindex, l.ifindex);
      assert.equal(ev.address, l.address);
      assert.equal(ev.namespace, ns);
      assert.equal(ev.message_type, 16);
      assert.equal(ev.event_type, 1);
      assert.equal(ev.resync, false);
    }
    assert.equal(addA.link, vb.ifindex, 'va is linked to its peer');
    assert.equal(m.table(ns)!.find((l) => l.interface === 'vb')!.link, va.ifindex);

    ip('-n', ns, 'link', 'set', 'vb', 'up');
    ip('-n', ns, 'link', 'set', 'va', 'up');
    const upA = await until(() => c.find((e) => e.event === 'link_up' && e.interface === 'va'), 'link_up va');
    assert.equal(upA.up, true);
    await until(() => c.find((e) => e.interface === 'va' && e.operstate === 'up'), 'va operstate up');
    ip('-n', ns, 'link', 'set', 'va', 'down');
    const downA = await until(() => c.find((e) => e.event === 'link_down' && e.interface === 'va'), 'link_down va');
    assert.equal(downA.operstate, 'down');
    assert.equal(downA.event_type, 4);
    assert.ok(downA.changed.includes('up'));

    ip('-n', ns, 'link', 'set', 'vb', 'mtu', '1400');
    const mtu = await until(() => c.find((e) => e.event === 'link_changed' && e.interface === 'vb' && e.changed.includes('mtu')), 'mtu change');
    assert.equal(mtu.mtu, 1400);

    ip('-n', ns, 'link', 'set', 'vb', 'down');
    ip('-n', ns, 'link', 'set', 'vb', 'name', 'vrenamed');
    const ren = await until(() => c.find((e) => e.event === 'link_renamed'), 'link_renamed');
    assert.equal(ren.old_interface, 'vb');
    assert.equal(ren.interface, 'vrenamed');
    assert.equal(ren.ifindex, vb.ifindex);
    assert.deepEqual(ren.changed, ['interface']);

    ip('-n', ns, 'link', 'del', 'va');
    await until(() => c.find((e) => e.event === 'link_removed' && e.interface === 'vrenamed'), 'link_removed');
    assert.ok(c.find((e) => e.event === 'link_removed' && e.interface === 'va'));
    const seqs = c.events.map((e) => e.sequence);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'sequence counts from 1 without gaps');
  } finally {
    m.stop();
  }
}));

test('a veth end moved between two watched namespaces is removed in one and added in the other', opts, () => withNetns(2, async (a, b) => {
  const c = collector();
  const m = new Monitor({ namespaces: [a, b], netnsDirs: ['/var/run/netns'], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, c.listener);
  await m.start();
  try {
    ip('-n', a, 'link', 'add', 'mv0', 'type', 'veth', 'peer', 'name', 'mv1');
    await until(() => c.find((e) => e.event === 'link_added' && e.interface === 'mv1'), 'mv1 added in a');
    ip('-n', a, 'link', 'set', 'mv1', 'netns', b);
    const gone = await until(() => c.find((e) => e.event === 'link_removed' && e.interface === 'mv1'), 'mv1 removed');
    const came = await until(() => c.find((e) => e.event === 'link_added' && e.interface === 'mv1' && e.namespace === b), 'mv1 added in b');
    assert.equal(gone.namespace, a);
    assert.equal(came.kind, 'veth');
    assert.equal(came.ifindex, ipLinks(b).find((l) => l.ifname === 'mv1')!.ifindex);
    assert.notEqual(came.link_netnsid, -1, 'the peer is now in another namespace');
    assert.deepEqual(m.table(a)!.map((l) => l.interface).sort(), ['lo', 'mv0']);
    assert.deepEqual(m.table(b)!.map((l) => l.interface).sort(), ['lo', 'mv1']);
  } finally {
    m.stop();
  }
}));

test('all namespaces: one created after start is followed, one deleted is dropped', opts, async () => {
  const c = collector();
  const m = new Monitor({ namespaces: 'all', netnsDirs: ['/var/run/netns'], receiveBuffer: DEFAULT_RECEIVE_BUFFER, rescanMs: 500 }, c.listener);
  await m.start();
  const ns = newName('late-');
  try {
    assert.ok(m.namespaces().includes('default'));
    ip('netns', 'add', ns);
    await until(() => m.namespaces().includes(ns), `${ns} to be watched`);
    await m.loaded(ns);
    ip('-n', ns, 'link', 'add', 'late0', 'type', 'veth', 'peer', 'name', 'late1');
    const ev = await until(() => c.find((e) => e.interface === 'late0' && e.event === 'link_added'), 'late0 added');
    assert.equal(ev.namespace, ns);
    ip('netns', 'del', ns);
    await until(() => !m.namespaces().includes(ns), `${ns} to be dropped`);
    assert.ok(c.logs.some((l) => l.includes(`namespace ${ns}: gone`)));
    assert.ok(!c.logs.some((l) => l.startsWith('error')), c.logs.join('\n'));
  } finally {
    m.stop();
    try { ip('netns', 'del', ns); } catch { /* deleted above */ }
  }
});

test('overrun while the JS thread is blocked: counted, resynced, table equals the kernel', opts, () => withNetns(1, async (ns) => {
  for (let i = 0; i < 4; i++) ip('-n', ns, 'link', 'add', `o${i}`, 'type', 'veth', 'peer', 'name', `p${i}`);
  const c = collector();
  const m = new Monitor({ namespaces: [ns], netnsDirs: ['/var/run/netns'], receiveBuffer: 8192 }, c.listener);
  await m.start();
  try {
    // Link changes (toggles, new links, a deletion, a rename) made while nothing reads.
    const script = [
      `${LINKBURST} /var/run/netns/${ns} 3001 0 o0 o1 o2 o3`,
      `ip -n ${ns} link add n0 type veth peer name n1`,
      `ip -n ${ns} link del o3`,
      `ip -n ${ns} link set p1 name p1x`,
      `ip -n ${ns} link set p2 mtu 1300`,
    ].join(' && ');
    const changes = execa('sh', ['-c', script], { stdin: 'ignore' });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); // block the JS thread
    await changes; // throws with the failing command's stderr
    await until(() => m.stats().resyncs > 0, 'a resync', 15000);
    await sleep(300);
    const st = m.stats();
    assert.ok(st.overruns >= 1, 'an overrun was counted');
    assert.ok(c.events.some((e) => e.event === 'resync' && e.event_type === 7 && e.namespace === ns));
    assert.ok(c.events.some((e) => e.resync && e.event !== 'resync'), 'differences were emitted with resync: true');
    assert.deepEqual(tableLinks(m.table(ns)!), kernelLinks(ns));
  } finally {
    m.stop();
  }
}));

test('a namespace that appears after start reports the links it already holds as link_added', opts, () => withNetns(1, async (ns) => {
  ip('-n', ns, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlmon-test-late-'));
  const c = collector();
  const m = new Monitor({ namespaces: 'all', netnsDirs: [dir], receiveBuffer: DEFAULT_RECEIVE_BUFFER, rescanMs: 200 }, c.listener);
  const file = path.join(dir, ns);
  try {
    await m.start();
    assert.deepEqual(c.events.filter((e) => e.namespace === 'default'), [], 'the first load at start stays silent');
    // The namespace file appears the way a runtime makes one: an empty file, then a bind mount.
    fs.writeFileSync(file, '');
    execaSync('mount', ['--bind', `/var/run/netns/${ns}`, file]);
    await until(() => c.events.filter((e) => e.namespace === ns).length >= 3, 'its links as link_added');
    const added = c.events.filter((e) => e.namespace === ns).map((e) => `${e.event}:${e.interface}`).sort();
    assert.deepEqual(added, ['link_added:c0', 'link_added:c1', 'link_added:lo']);
  } finally {
    m.stop();
    execaSync('umount', [file], { reject: false });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test('peer_namespace names the namespace a veth\'s peer is in, watched or not', opts, () => withNetns(2, async (a, b) => {
  const c = collector();
  const m = new Monitor({ namespaces: [a], netnsDirs: ['/var/run/netns'], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, c.listener);
  await m.start();
  try {
    ip('-n', a, 'link', 'add', 'pa', 'type', 'veth', 'peer', 'name', 'pb', 'netns', b);
    ip('-n', a, 'link', 'add', 'la', 'type', 'veth', 'peer', 'name', 'lb');
    await until(() => c.find((e) => e.interface === 'lb' && e.event === 'link_added'), 'the local pair');
    const pa = c.events.filter((e) => e.interface === 'pa');
    assert.ok(pa.length >= 1);
    for (const e of pa) {
      assert.ok(e.link_netnsid >= 0);
      assert.equal(e.peer_namespace, b);
    }
    assert.equal(c.find((e) => e.interface === 'la')!.peer_namespace, '');
  } finally {
    m.stop();
  }
  // Both watched: each end names the other's namespace.
  const both = collector();
  const m2 = new Monitor({ namespaces: [a, b], netnsDirs: ['/var/run/netns'], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, both.listener);
  await m2.start();
  try {
    ip('-n', a, 'link', 'set', 'pa', 'up');
    ip('-n', b, 'link', 'set', 'pb', 'up');
    await until(() => both.find((e) => e.interface === 'pb' && e.event === 'link_up'), 'pb up');
    assert.equal(both.find((e) => e.interface === 'pa' && e.event === 'link_up')!.peer_namespace, b);
    assert.equal(both.find((e) => e.interface === 'pb' && e.event === 'link_up')!.peer_namespace, a);
  } finally {
    m2.stop();
  }
}));

/** A cgroup hierarchy this test may make a directory in, or undefined. */
function cgroupRoot(): string | undefined {
  for (const root of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup', '/sys/fs/cgroup/pids']) {
    if (!fs.existsSync(path.join(root, 'cgroup.procs'))) continue;
    const probe = path.join(root, `nlmon-probe-${process.pid}`);
    try {
      fs.mkdirSync(probe);
      fs.rmdirSync(probe);
      return root;
    } catch {
      // read-only here
    }
  }
  return undefined;
}

test('a veth is named with the container of its namespace, and the host end with its peer\'s, from a real process\'s cgroup', { ...opts, skip: needsRoot || (cgroupRoot() ? false : 'no writable cgroup hierarchy here') }, () => withNetns(2, async (cns, hns) => {
  const id = `${'c0ffee'.repeat(10)}abcd`;
  const group = path.join(cgroupRoot()!, `nlmon-test-${process.pid}`);
  const scope = path.join(group, `docker-${id}.scope`);
  const sleeper = execa('ip', ['netns', 'exec', cns, 'sleep', '60'], { reject: false });
  const c = collector();
  const m = new Monitor({ namespaces: [cns, hns], netnsDirs: ['/var/run/netns'], receiveBuffer: DEFAULT_RECEIVE_BUFFER, stage: containerStage(new ContainerResolver({ waitMs: 1000, host: new HostAttribution() })) }, c.listener);
  try {
    fs.mkdirSync(scope, { recursive: true });
    await until(() => fs.existsSync(`/proc/${sleeper.pid}/ns/net`) && fs.readlinkSync(`/proc/${sleeper.pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net'), 'the process in the container namespace');
    fs.writeFileSync(path.join(scope, 'cgroup.procs'), String(sleeper.pid));
    await m.start();
    ip('-n', hns, 'link', 'add', 'hv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', cns);
    await until(() => c.find((e) => e.interface === 'eth0' && e.namespace === cns) && c.find((e) => e.interface === 'hv0'), 'both ends');
    const inside = c.find((e) => e.interface === 'eth0' && e.namespace === cns)!;
    assert.equal(inside.container_id, id);
    assert.equal(inside.container_runtime, 'docker');
    const hostEnd = c.find((e) => e.interface === 'hv0')!;
    assert.equal(hostEnd.peer_namespace, cns);
    assert.equal(hostEnd.container_id, id, 'the host end takes its peer namespace\'s container');
    assert.equal(m.stats().namespaces.find((n) => n.name === cns)!.container, id.slice(0, 12));
    assert.equal(m.stats().namespaces.find((n) => n.name === hns)!.container, '');
  } finally {
    m.stop();
    sleeper.kill('SIGKILL');
    await sleeper;
    for (const d of [scope, group]) try { fs.rmdirSync(d); } catch { /* gone */ }
  }
}));
