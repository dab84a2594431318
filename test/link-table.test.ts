// LinkTable classification and the resync protocol of NamespaceWatcher, on the fake binding.
import test from 'node:test';
import assert from 'node:assert/strict';
import { LinkTable } from '../src/netlink/link-table.js';
import { NamespaceWatcher } from '../src/netlink/namespace-watcher.js';
import { ContainerStage } from '../src/containers/attribution-stage.js';
import { nativeBinding, type LinkMessage } from '../src/native/addon.js';
import type { NlEvent } from '../src/event/event.js';
import { FakeBinding } from './helpers/fake-binding.js';
import { until } from './helpers/index.js';
import { doneMsg, errorMsg, linkMsg, nsidMsg, veth, type LinkSpec } from './helpers/nlmsg.js';

const msg = (s: LinkSpec) => nativeBinding().decode(linkMsg(s)).records[0] as LinkMessage;

test('classifies added, up, down, changed, renamed, removed', () => {
  const t = new LinkTable('ns1');
  const ev = (s: LinkSpec) => t.apply(msg(s));
  const added = ev(veth(3, 'va'));
  assert.equal(added?.event, 'link_added');
  assert.equal(added?.event_type, 1);
  assert.equal(added?.namespace, 'ns1');
  assert.equal(added?.kind, 'veth');
  const up = ev(veth(3, 'va', { flags: 0x1003, operstate: 3 }));
  assert.equal(up?.event, 'link_up');
  assert.equal(up?.operstate, 'lowerlayerdown');
  assert.deepEqual(up?.changed, ['operstate', 'up']);
  assert.equal(up?.up, true);
  const mtu = ev(veth(3, 'va', { flags: 0x1003, operstate: 3, mtu: 1400 }));
  assert.equal(mtu?.event, 'link_changed');
  assert.deepEqual(mtu?.changed, ['mtu']);
  const renamed = ev(veth(3, 'vx', { flags: 0x1003, operstate: 3, mtu: 1400 }));
  assert.equal(renamed?.event, 'link_renamed');
  assert.equal(renamed?.event_type, 6);
  assert.equal(renamed?.old_interface, 'va');
  assert.deepEqual(renamed?.changed, ['interface']);
  assert.equal(ev(veth(3, 'vx', { flags: 0x1003, operstate: 3, mtu: 1400 })), undefined, 'an identical notification is no event');
  assert.equal(t.unchanged, 1);
  const down = ev(veth(3, 'vx', { mtu: 1400 }));
  assert.equal(down?.event, 'link_down');
  assert.equal(down?.operstate, 'down');
  const removed = ev(veth(3, 'vx', { type: 17, mtu: 1400 }));
  assert.equal(removed?.event, 'link_removed');
  assert.equal(removed?.message_type, 17);
  assert.equal(t.size, 0);
});

test('operstate alone is link_changed; the flags it reports are the raw ones', () => {
  const t = new LinkTable('d');
  t.apply(msg(veth(2, 'a', { flags: 0x1003, operstate: 2 })));
  const e = t.apply(msg(veth(2, 'a', { flags: 0x11043, operstate: 6 })));
  assert.equal(e?.event, 'link_changed');
  assert.deepEqual(e?.changed, ['operstate']);
  assert.equal(e?.running, true);
  assert.equal(e?.lower_up, true);
  assert.equal(e?.flags, 0x11043);
});

function setup(listExisting = false) {
  const binding = new FakeBinding();
  const events: NlEvent[] = [];
  const notes: string[] = [];
  const ns = new NamespaceWatcher({ name: 'n', path: '/x/n' }, binding, 1 << 20, listExisting, {
    events: (e) => events.push(...e),
    overrun: (n) => notes.push(`overrun ${n}`),
    resynced: (n) => notes.push(`resynced ${n}`),
    error: (n, err) => notes.push(`error ${n} ${err.message}`),
    lost: (n, err) => notes.push(`lost ${n} ${err.message}`),
  });
  const w = binding.watchers[0]!;
  return { ns, w, events, notes };
}

const dumpOf = (seq: number, specs: LinkSpec[], interrupted = false) =>
  [...specs.map((s) => linkMsg({ ...s, nlFlags: 2 | (interrupted ? 0x10 : 0), seq })), doneMsg(seq)];

test('the initial dump fills the table silently, or as link_added with list_existing', async () => {
  for (const listExisting of [false, true]) {
    const { ns, w, events } = setup(listExisting);
    assert.equal(w.dumpRequests.length, 1);
    w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'lo', { kind: '' }), veth(2, 'va')]));
    await ns.loaded;
    assert.equal(ns.table.size, 2);
    assert.deepEqual(events.map((e) => `${e.event}:${e.interface}:${e.resync}`), listExisting ? ['link_added:lo:false', 'link_added:va:false'] : []);
  }
});

test('an overrun dumps again and emits each difference with resync: true, then a resync event', async () => {
  const { ns, w, events, notes } = setup();
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a'), veth(2, 'b'), veth(3, 'c')]));
  await ns.loaded;
  w.overrun();
  assert.equal(w.dumpRequests.length, 2);
  // While dumping: b went up, c was deleted, d was created, e was created during the dump
  // after the dump had passed its index (its notification arrives after the dump's first
  // reply, and the dump never shows it).
  const [first, ...rest] = dumpOf(w.lastDumpSeq, [veth(1, 'a'), veth(2, 'b', { flags: 0x1003, operstate: 6 }), veth(4, 'd')]);
  w.deliver(first!);
  w.deliver(linkMsg(veth(5, 'e')));
  w.deliver(...rest);
  const got = events.map((e) => `${e.event}:${e.interface}:${e.resync}`);
  assert.deepEqual(got, ['link_added:e:false', 'link_up:b:true', 'link_added:d:true', 'link_removed:c:true', 'resync::true']);
  assert.equal(events.at(-1)?.event_type, 7);
  assert.equal(events.at(-1)?.ifindex, 0);
  assert.deepEqual(ns.table.snapshot().map((l) => l.interface), ['a', 'b', 'd', 'e']);
  assert.deepEqual(notes, ['overrun n', 'resynced n']);
  assert.equal(ns.stats().overruns, 1);
  assert.equal(ns.stats().resyncs, 1);
});

test('a notification queued before the dump\'s first reply is older than the dump: a link it touched but the dump lacks is removed', () => {
  const { w, events, ns } = setup();
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'lo', { kind: '' }), veth(8, 'p9', { link: 9 }), veth(9, 'd9', { link: 8 })]));
  // The reader stalled while d9 flapped; then `ip link del p9` removed both ends, but those
  // notifications were lost in the overrun. The flaps still queued arrive before the dump.
  w.overrun();
  w.deliver(linkMsg(veth(9, 'd9', { link: 8, flags: 0x1003, operstate: 2 })), linkMsg(veth(9, 'd9', { link: 8 })));
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'lo', { kind: '' })]));
  assert.deepEqual(events.map((e) => `${e.event}:${e.interface}:${e.resync}`),
    ['link_up:d9:false', 'link_down:d9:false', 'link_removed:p9:true', 'link_removed:d9:true', 'resync::true']);
  assert.deepEqual(ns.table.snapshot().map((l) => l.interface), ['lo']);
  // A notification after the first reply may be newer than the dump: its link is kept.
  w.overrun();
  const [first, ...rest] = dumpOf(w.lastDumpSeq, [veth(1, 'lo', { kind: '' })]);
  w.deliver(first!, linkMsg(veth(12, 'late')));
  w.deliver(...rest);
  assert.deepEqual(ns.table.snapshot().map((l) => l.interface), ['lo', 'late']);
});

test('a dump whose NLMSG_DONE carries an errno failed part way: nothing is removed and it is done again', async () => {
  const { w, events, ns, notes } = setup();
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a'), veth(2, 'b'), veth(3, 'c')]));
  await ns.loaded;
  w.overrun();
  w.deliver(linkMsg({ ...veth(1, 'a'), nlFlags: 2, seq: w.lastDumpSeq }), doneMsg(w.lastDumpSeq, false, 4));
  assert.equal(ns.table.size, 3, 'no link removed on a failed dump');
  assert.equal(events.length, 0);
  assert.match(notes.join('\n'), /failed part way \(errno 4\); retrying/);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(w.dumpRequests.length, 3, 'asked again');
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a'), veth(3, 'c')]));
  assert.deepEqual(events.map((e) => `${e.event}:${e.interface}:${e.resync}`), ['link_removed:b:true', 'resync::true']);
});

test('a socket error other than an overrun reopens the socket and resyncs; a namespace that cannot be entered any more is given up', async () => {
  const binding = new FakeBinding();
  const events: NlEvent[] = [];
  const notes: string[] = [];
  const ns = new NamespaceWatcher({ name: 'n', path: '/x/n' }, binding, 1 << 20, false, {
    events: (e) => events.push(...e), overrun: () => {}, resynced: () => {},
    error: (n, err) => notes.push(`error ${err.message}`), lost: (n, err) => notes.push(`lost ${err.message}`),
  });
  const w = binding.watchers[0]!;
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a'), veth(2, 'b')]));
  await ns.loaded;
  w.options.onError(Object.assign(new Error('poll EIO: i/o error'), { code: 'EIO' }));
  assert.match(notes[0]!, /socket error \(poll EIO: i\/o error\); reopening it and resyncing/);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(w.closed, 'the failed socket is closed');
  const w2 = binding.watchers[1]!;
  assert.ok(w2 && !w2.closed, 'a new socket is open in the same namespace');
  assert.equal(w2.options.netns, '/x/n');
  w2.deliver(...dumpOf(w2.lastDumpSeq, [veth(1, 'a')]));
  assert.deepEqual(events.map((e) => `${e.event}:${e.interface}:${e.resync}`), ['link_removed:b:true', 'resync::true']);
  assert.equal(ns.stats().reopens, 1);
  binding.failOpen = Object.assign(new Error('setns ENOENT'), { code: 'ENOENT' });
  w2.options.onError(Object.assign(new Error('poll EIO'), { code: 'EIO' }));
  await new Promise((r) => setTimeout(r, 1100));
  assert.match(notes.at(-1)!, /lost setns ENOENT/);
  assert.ok(w2.closed);
});

test('an interrupted dump is redone; an overrun during a dump runs another one after it', async () => {
  const { ns, w, events } = setup();
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a'), veth(2, 'b')]));
  await ns.loaded;
  w.overrun();
  w.overrun();
  assert.equal(w.dumpRequests.length, 2, 'one dump at a time');
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a'), veth(2, 'b')], true));
  assert.equal(w.dumpRequests.length, 3, 'interrupted dump redone');
  assert.equal(ns.table.size, 2, 'nothing removed on an interrupted dump');
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a')]));
  assert.deepEqual(events.map((e) => `${e.event}:${e.interface}`), ['link_removed:b', 'resync:']);
  assert.equal(w.dumpRequests.length, 3, 'the redone dump started after both overruns: no more needed');
  w.overrun();
  assert.equal(w.dumpRequests.length, 4);
  w.overrun();
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a')]));
  assert.equal(w.dumpRequests.length, 5, 'an overrun during a dump asks for one more after it');
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a')]));
  assert.deepEqual(events.map((e) => e.event), ['link_removed', 'resync', 'resync', 'resync']);
  assert.equal(w.dumpRequests.length, 5);
});

test('a refused dump is asked for again; stray dump replies are ignored', async () => {
  const { ns, w, notes } = setup();
  w.deliver(linkMsg({ ...veth(9, 'stray'), nlFlags: 2, seq: 999 }));
  w.deliver(errorMsg(w.lastDumpSeq, 16));
  assert.match(notes.join('\n'), /the kernel refused the dump \(errno 16\); retrying/);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(w.dumpRequests.length, 2);
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'a')]));
  await ns.loaded;
  assert.deepEqual(ns.table.snapshot().map((l) => l.interface), ['a']);
  ns.close();
  assert.ok(w.closed);
});

test('the first veth end learns its peer when the peer is announced', () => {
  const t = new LinkTable('d');
  t.apply(msg(veth(2, 'vb', { link: 0 })));
  t.apply(msg(veth(3, 'va', { link: 2 })));
  assert.equal(t.get(2)?.link, 3);
  const other = new LinkTable('d');
  other.apply(msg(veth(2, 'vb', { link: 0 })));
  other.apply(msg(veth(3, 'va', { link: 2, linkNetnsid: 1 })));
  assert.equal(other.get(2)?.link, 0, 'a peer in another namespace is not this ifindex');
});

test('formatEventJson is byte for byte JSON.stringify of every kind of event', async () => {
  const { formatEventJson } = await import('../src/event/format.js');
  const t = new LinkTable('ns "quoted" \\ é');
  const events = [
    t.apply(msg(veth(3, 'va', { alias: 'a "b" \\ c\n\u0001', kind: 'veth"x' }))),
    t.apply(msg(veth(3, 'vé\'"', { flags: 0x11043, operstate: 6, mtu: 9000 }))),
    t.apply(msg(veth(3, 'vé\'"', { type: 17 }))),
  ];
  for (const e of events) {
    assert.ok(e);
    e.sequence = 12345678901;
    e.timestamp = 1795394121813;
    assert.equal(formatEventJson(e), JSON.stringify(e));
  }
  const odd = { ...events[0]!, event: 'link_"x' as never, operstate: 'up\\', address: 'a"b', changed: ['mtu', 'q"\u0002'] as never, namespace: 'lone \ud800 and pair \ud83d\ude00' };
  assert.equal(formatEventJson(odd), JSON.stringify(odd), 'every string field is escaped');
  const { resyncEvent } = await import('../src/event/make.js');
  const r = resyncEvent('x');
  assert.equal(formatEventJson(r), JSON.stringify(r));
});

test('a veth whose peer is in another namespace names it: events wait, in order, for the kernel to say which file has that id', async () => {
  const binding = new FakeBinding();
  const events: NlEvent[] = [];
  const ns = new NamespaceWatcher({ name: 'n', path: '/x/n' }, binding, 1 << 20, false, {
    events: (e) => events.push(...e), overrun: () => {}, resynced: () => {}, error: () => {}, lost: () => {},
    namespaceFiles: () => [{ name: 'default', path: '/proc/self/ns/net' }, { name: 'blue', path: '/proc/self/ns/net' }],
  });
  const w = binding.watchers[0]!;
  w.deliver(...dumpOf(w.lastDumpSeq, [veth(1, 'lo', { kind: '' })]));
  await ns.loaded;
  w.deliver(linkMsg(veth(5, 'va', { link: 7, linkNetnsid: 3 })), linkMsg(veth(6, 'local')));
  assert.equal(events.length, 0, 'held until the ids are known');
  assert.equal(w.nsidRequests.length, 2, 'one question per namespace file');
  const [def, blue] = w.nsidRequests;
  w.deliver(nsidMsg(def!.seq, -1), nsidMsg(blue!.seq, 3));
  assert.deepEqual(events.map((e) => `${e.interface}:${e.peer_namespace}`), ['va:blue', 'local:']);
  // Known now: no question, no wait.
  w.deliver(linkMsg(veth(5, 'va', { link: 7, linkNetnsid: 3, mtu: 1400 })));
  assert.equal(w.nsidRequests.length, 2);
  assert.equal(events.at(-1)?.peer_namespace, 'blue');
  // An id no file has is asked about once, not per event, until namespace files change.
  w.deliver(linkMsg(veth(8, 'vx', { link: 2, linkNetnsid: 9 })));
  for (const r of w.nsidRequests.slice(2)) w.deliver(nsidMsg(r.seq, -1));
  w.deliver(linkMsg(veth(8, 'vx', { link: 2, linkNetnsid: 9, mtu: 1300 })));
  assert.equal(w.nsidRequests.length, 4);
  assert.deepEqual(events.slice(-2).map((e) => `${e.interface}:${e.peer_namespace}`), ['vx:', 'vx:']);
  ns.close();
});

test('events wait, in order, for a container being looked up, up to wait_ms; other namespaces do not; a removal carries the container its link had', async () => {
  const binding = new FakeBinding();
  const web = { container_id: 'c'.repeat(64), container_name: 'web-1', container_image: 'nginx', container_runtime: 'podman' as const, pod_name: '', pod_namespace: '', pod_uid: '' };
  let answer: typeof web | undefined;
  let lookup: { promise: Promise<void>; resolve: () => void } | undefined;
  const out: NlEvent[] = [];
  // The pipeline as the monitor wires it: each watcher names its veths' peers, then the
  // containers stage holds a namespace's events while the container of blue is looked up.
  const stage = new ContainerStage({
    waitMs: 200,
    lookup: (ino: number, _since: number, wait: boolean) => {
      if (ino !== 100) return undefined;
      if (answer) return answer;
      if (!lookup) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => { resolve = r; });
        lookup = { promise, resolve };
      }
      return wait ? lookup.promise : undefined;
    },
    forget: () => {},
  }, (e) => out.push(...e), { locate: (name) => (name === 'blue' ? { ino: 100, since: 0 } : undefined) });
  const sink = (ns: string, peers: Array<{ name: string; path: string }>) => ({
    events: (e: NlEvent[]) => stage.submit(ns, e), overrun: () => {}, resynced: () => {}, error: () => {}, lost: () => {},
    namespaceFiles: () => peers,
  });
  const host = new NamespaceWatcher({ name: 'default', path: '' }, binding, 1 << 20, false, sink('default', [{ name: 'blue', path: '/proc/self/ns/net' }]));
  const other = new NamespaceWatcher({ name: 'red', path: '/x/red' }, binding, 1 << 20, false, sink('red', []));
  const [w, r] = binding.watchers;
  w!.deliver(...dumpOf(w!.lastDumpSeq, [veth(1, 'lo', { kind: '' })]));
  r!.deliver(...dumpOf(r!.lastDumpSeq, [veth(1, 'lo', { kind: '' })]));
  await Promise.all([host.loaded, other.loaded]);
  w!.deliver(linkMsg(veth(1, 'lo', { kind: '', mtu: 1400 })), linkMsg(veth(5, 'veth0', { link: 2, linkNetnsid: 0 })), linkMsg(veth(6, 'after')));
  w!.deliver(nsidMsg(w!.nsidRequests[0]!.seq, 0));
  assert.deepEqual(out.map((e) => e.interface), ['lo'], 'what comes before the veth goes on');
  r!.deliver(linkMsg(veth(9, 'elsewhere')));
  assert.deepEqual(out.map((e) => e.interface), ['lo', 'elsewhere'], 'another namespace does not wait');
  w!.deliver(linkMsg(veth(7, 'later')));
  answer = web;
  lookup!.resolve();
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(out.map((e) => `${e.interface}:${e.container_name}`), ['lo:', 'elsewhere:', 'veth0:web-1', 'after:', 'later:'], 'in order, once known');
  // The namespace and the engine forget the container before the veth's last events arrive.
  answer = undefined;
  lookup = undefined;
  w!.deliver(linkMsg(veth(5, 'veth0', { link: 2, linkNetnsid: -1, flags: 0x1000 })), linkMsg(veth(5, 'veth0', { type: 17, link: 2, linkNetnsid: -1, flags: 0x1000 })));
  assert.deepEqual(out.slice(-2).map((e) => `${e.event}:${e.container_name}`), ['link_changed:web-1', 'link_removed:web-1']);
  // A lookup that never ends holds events for wait_ms at most.
  w!.deliver(linkMsg(veth(11, 'veth1', { link: 2, linkNetnsid: 0 })), linkMsg(veth(12, 'next')));
  const t0 = Date.now();
  await until(() => out.some((e) => e.interface === 'next'), 'the wait to end', 2000);
  assert.ok(Date.now() - t0 >= 150, 'it waited');
  assert.deepEqual(out.slice(-2).map((e) => `${e.interface}:${e.container_name}`), ['veth1:', 'next:']);
  host.close();
  other.close();
});
