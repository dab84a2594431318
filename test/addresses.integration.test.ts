// Address events on real netlink, in namespaces the tests make: IPv4 and IPv6 added and removed,
// IPv6 duplicate address detection, a link deleted with its addresses, the seed filter, and the
// overrun resync of the address table, checked against `ip -j addr show`; the read-ahead that
// keeps a burst while the JavaScript thread is busy.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execa, execaSync } from 'execa';
import { Monitor } from '../src/netlink/monitor.js';
import { DEFAULT_RECEIVE_BUFFER } from '../src/netlink/config.js';
import { compileCondition } from '../src/event/filter.js';
import { scopeName, type AddrState } from '../src/netlink/addr-table.js';
import type { NlEvent } from '../src/event/event.js';
import { LINKBURST, ip, needsRoot, sleep, until, withNetns } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 60000 };

function collector() {
  const events: NlEvent[] = [];
  return {
    events,
    listener: { events: (e: NlEvent[]) => { events.push(...e); } },
    find: (pred: (e: NlEvent) => boolean) => events.find(pred),
  };
}

interface AddrSummary { ifindex: number; family: string; ip: string; prefixlen: number; scope: string }

/** The kernel's addresses of a namespace (`ip -j addr show`), as nlmon's table should hold them. */
function kernelAddrs(ns: string): AddrSummary[] {
  const links = JSON.parse(ip('-n', ns, '-j', 'addr', 'show')) as Array<{ ifindex: number; addr_info: Array<{ family: string; local: string; prefixlen: number; scope: string }> }>;
  return links.flatMap((l) => l.addr_info.map((a) => ({ ifindex: l.ifindex, family: a.family, ip: a.local, prefixlen: a.prefixlen, scope: a.scope })))
    .sort(byAddr);
}

function tableAddrs(t: readonly AddrState[]): AddrSummary[] {
  return t.map((a) => ({ ifindex: a.ifindex, family: a.family, ip: a.ip, prefixlen: a.prefixlen, scope: scopeName(a.scope) })).sort(byAddr);
}

function byAddr(a: AddrSummary, b: AddrSummary): number {
  return a.ifindex - b.ifindex || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.prefixlen - b.prefixlen);
}

test('addresses: IPv4 and IPv6 added and removed, with the link\'s fields; a deleted link leaves no address behind', opts, () => withNetns(1, async (ns) => {
  ip('-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
  const c = collector();
  const m = new Monitor({ namespaces: [ns], netnsDirs: ['/var/run/netns'], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, c.listener);
  await m.start();
  try {
    assert.deepEqual(tableAddrs(m.addresses(ns)!), kernelAddrs(ns), 'the first load');
    ip('-n', ns, 'addr', 'add', '10.9.8.7/24', 'dev', 'd0');
    const v4 = await until(() => c.find((e) => e.event === 'addr_added' && e.ip === '10.9.8.7'), 'addr_added 10.9.8.7');
    const d0 = m.table(ns)!.find((l) => l.interface === 'd0')!;
    assert.deepEqual(
      [v4.message_type, v4.event_type, v4.family, v4.prefixlen, v4.scope, v4.interface, v4.ifindex, v4.kind, v4.address, v4.namespace, v4.resync],
      [20, 8, 'inet', 24, 'global', 'd0', d0.ifindex, 'veth', d0.address, ns, false],
    );
    assert.match(v4.addr_flags, /\bpermanent\b/);
    ip('-n', ns, '-6', 'addr', 'add', 'fd00:9::7/64', 'dev', 'd0', 'nodad');
    const v6 = await until(() => c.find((e) => e.event === 'addr_added' && e.ip === 'fd00:9::7'), 'addr_added fd00:9::7');
    assert.deepEqual([v6.family, v6.prefixlen, v6.scope, v6.interface], ['inet6', 64, 'global', 'd0']);
    assert.match(v6.addr_flags, /\bnodad\b/);
    assert.doesNotMatch(v6.addr_flags, /tentative/);
    ip('-n', ns, 'addr', 'del', '10.9.8.7/24', 'dev', 'd0');
    const gone = await until(() => c.find((e) => e.event === 'addr_removed' && e.ip === '10.9.8.7'), 'addr_removed 10.9.8.7');
    assert.deepEqual([gone.message_type, gone.event_type, gone.interface, gone.prefixlen], [21, 9, 'd0', 24]);
    assert.deepEqual(tableAddrs(m.addresses(ns)!), kernelAddrs(ns));
    assert.equal(m.stats().namespaces.find((n) => n.name === ns)!.addresses, kernelAddrs(ns).length, 'counted per namespace');
    assert.ok(compileCondition('event == addr_added AND family == \'inet6\' AND ip =~ \'^fd00:\'')(v6));
    ip('-n', ns, 'link', 'del', 'd0');
    const linkGone = await until(() => c.find((e) => e.event === 'link_removed' && e.interface === 'd0'), 'd0 removed');
    // The seed filter of the original design selects both kinds.
    const seed = compileCondition('message_type IN [16, 17, 20, 21]');
    assert.ok(seed(v4) && seed(gone) && seed(linkGone));
    assert.ok(!compileCondition('message_type IN [16, 17]')(v4));
    await sleep(200);
    assert.equal(m.addresses(ns)!.filter((a) => a.ifindex === d0.ifindex).length, 0, 'no address of the deleted link is left');
    assert.deepEqual(tableAddrs(m.addresses(ns)!), kernelAddrs(ns));
  } finally {
    m.stop();
  }
}));

test('IPv6 duplicate address detection: addr_added tentative, then addr_changed when it completes', opts, () => withNetns(1, async (ns) => {
  ip('-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
  // One probe, 100 ms apart: DAD ends in well under a second.
  ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.d0.dad_transmits=1', 'net.ipv6.neigh.d0.retrans_time_ms=100');
  ip('-n', ns, 'link', 'set', 'd1', 'up');
  ip('-n', ns, 'link', 'set', 'd0', 'up');
  const c = collector();
  const m = new Monitor({ namespaces: [ns], netnsDirs: ['/var/run/netns'], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, c.listener);
  await m.start();
  try {
    ip('-n', ns, '-6', 'addr', 'add', 'fd00:9::8/64', 'dev', 'd0');
    const added = await until(() => c.find((e) => e.event === 'addr_added' && e.ip === 'fd00:9::8'), 'addr_added fd00:9::8');
    assert.match(added.addr_flags, /\btentative\b/);
    const done = await until(() => c.find((e) => e.event === 'addr_changed' && e.ip === 'fd00:9::8'), 'addr_changed when DAD completes', 5000);
    assert.deepEqual(done.changed, ['addr_flags']);
    assert.doesNotMatch(done.addr_flags, /tentative/);
    assert.equal(done.event_type, 10);
  } finally {
    m.stop();
  }
}));

test('overrun: addresses added and removed while the reader is blocked are reported by the resync; the table then equals ip -j addr show', opts, () => withNetns(1, async (ns) => {
  for (let i = 0; i < 4; i++) ip('-n', ns, 'link', 'add', `o${i}`, 'type', 'veth', 'peer', 'name', `p${i}`);
  ip('-n', ns, 'addr', 'add', '10.1.0.1/24', 'dev', 'p0');
  ip('-n', ns, 'addr', 'add', '10.1.0.2/24', 'dev', 'p3');
  const c = collector();
  const m = new Monitor({ namespaces: [ns], netnsDirs: ['/var/run/netns'], receiveBuffer: 8192 }, c.listener);
  await m.start();
  try {
    const script = [
      `${LINKBURST} /var/run/netns/${ns} 3001 0 o0 o1 o2 o3`,
      `ip -n ${ns} addr add 10.2.0.1/16 dev p1`,
      `ip -n ${ns} -6 addr add fd00:2::1/64 dev p2 nodad`,
      `ip -n ${ns} addr del 10.1.0.1/24 dev p0`,
      `ip -n ${ns} link del o3`, // its peer p3 goes too, with 10.1.0.2
    ].join(' && ');
    const changes = execa('sh', ['-c', script], { stdin: 'ignore' });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); // block the JS thread
    await changes;
    await until(() => m.stats().resyncs > 0, 'a resync', 15000);
    await sleep(300);
    assert.ok(m.stats().overruns >= 1, 'an overrun was counted');
    const resynced = c.events.filter((e) => e.resync && e.family);
    assert.ok(resynced.some((e) => e.event === 'addr_added' && e.ip === '10.2.0.1'), 'an address added meanwhile');
    assert.ok(resynced.some((e) => e.event === 'addr_added' && e.ip === 'fd00:2::1'));
    assert.ok(resynced.some((e) => e.event === 'addr_removed' && e.ip === '10.1.0.1'), 'an address removed meanwhile');
    assert.ok(!m.addresses(ns)!.some((a) => a.ip === '10.1.0.2'), 'the address of a link deleted meanwhile is gone');
    assert.deepEqual(tableAddrs(m.addresses(ns)!), kernelAddrs(ns));
  } finally {
    m.stop();
  }
}));

test('read-ahead: a burst made while the JS thread is blocked is read into the socket\'s queue; every event arrives, no overrun', opts, () => withNetns(1, async (ns) => {
  ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
  const c = collector();
  // 1 MiB asked, 2 MiB granted: the kernel alone holds about 2 500 address notifications (each
  // costs it about 830 bytes); the queue read ahead holds 1 MiB of their bytes (88 each with the
  // queue's header), so all 10 000 fit (docs/events.md, "Read-ahead").
  const m = new Monitor({ namespaces: [ns], netnsDirs: ['/var/run/netns'], receiveBuffer: 1 << 20 }, c.listener);
  await m.start();
  try {
    execaSync(LINKBURST, ['--addr', `/var/run/netns/${ns}`, '10000', '0', 'b0']); // blocks the JS thread
    await until(() => c.events.filter((e) => e.family === 'inet').length >= 10000, '10 000 address events', 20000).catch((e: Error) => {
      // What the reader did, for a failure seen once in CI (Node 22, 2026-12-07) and not again in
      // 14 runs by hand: overruns, what it read ahead, and the events that came.
      const st = m.stats();
      const nss = st.namespaces.find((n) => n.name === ns);
      throw new Error(`${e.message}: ${c.events.filter((x) => x.family === 'inet').length} came; overruns ${st.overruns}, resyncs ${st.resyncs}, read ahead ${nss?.read_ahead}, peak ${nss?.read_ahead_peak} bytes, receive buffer ${nss?.receive_buffer}`);
    });
    await sleep(200);
    const st = m.stats();
    assert.equal(st.overruns, 0);
    assert.equal(st.resyncs, 0);
    // Counted (nlmon status, the metrics): the reader took the burst, within the queue's cap.
    const nss = st.namespaces.find((n) => n.name === ns)!;
    assert.ok(nss.read_ahead > 0 && nss.read_ahead <= 10100, `read ahead ${nss.read_ahead}`); // the burst and a few others
    assert.ok(nss.read_ahead_peak > 0 && nss.read_ahead_peak <= (1 << 20) + 32768, `peak ${nss.read_ahead_peak}`);
    assert.equal(c.events.filter((e) => e.event === 'addr_added').length, 5000);
    assert.equal(c.events.filter((e) => e.event === 'addr_removed').length, 5000);
    assert.deepEqual(tableAddrs(m.addresses(ns)!), kernelAddrs(ns));
  } finally {
    m.stop();
  }
}));
