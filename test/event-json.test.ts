// The event JSON is byte-identical for the same input (docs/events.md): a fixed run of kernel
// messages — links added, brought up, changed, renamed, moved under a master, removed; IPv4 and
// IPv6 addresses added, made tentative and removed; names and aliases that need escaping — is
// decoded by the addon, classified by the link and address tables, and written by the event
// writer, and every line is compared with test/fixtures/events.jsonl, recorded from the writer
// as it was before the event path was made cheaper. NLMON_RECORD=1 writes the file again (only
// for a change to the event schema that docs/events.md records).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { nativeBinding, type AddrMessage, type LinkMessage } from '../src/native/addon.js';
import { LinkTable } from '../src/netlink/link-table.js';
import { AddrTable } from '../src/netlink/addr-table.js';
import { formatEventJson } from '../src/event/format.js';
import { EventLines, eventJsonBound, writeEventJson } from '../src/event/json.js';
import { eventHost, makeEvent, NO_LINK, setEventHost } from '../src/event/make.js';
import type { NlEvent } from '../src/event/event.js';
import { addrMsg, linkMsg, veth } from './helpers/nlmsg.js';
import { ROOT } from './helpers/index.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'events.jsonl');

const v4 = (a: string) => a.split('.').map(Number);
const v6 = (tail: number) => [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, tail];

/** The input: datagrams as the kernel would send them, in order. */
function datagrams(): Buffer[] {
  const up = { flags: 0x11043, operstate: 6 };
  return [
    linkMsg({ ifindex: 1, name: 'lo', flags: 0x10049, mtu: 65536, txqlen: 1000, operstate: 0, address: [0, 0, 0, 0, 0, 0] }),
    linkMsg(veth(2, 'veth0', { link: 3 })),
    linkMsg(veth(3, 'veth1', { link: 2 })),
    linkMsg(veth(2, 'veth0', { link: 3, flags: 0x1003, operstate: 2 })),
    linkMsg(veth(2, 'veth0', { link: 3, ...up })),
    linkMsg(veth(2, 'veth0', { link: 3, ...up, mtu: 9000, txqlen: 500 })),
    linkMsg(veth(3, 'veth1', { link: 2, linkNetnsid: 4, alias: 'to "web" \\ tab\there, é ✓ \u0001' })),
    linkMsg({ ifindex: 4, name: 'br0', flags: 0x1003, mtu: 1500, txqlen: 1000, operstate: 6, kind: 'bridge', address: [0x02, 0, 0, 0, 0, 4] }),
    linkMsg(veth(2, 'veth0', { link: 3, ...up, mtu: 9000, txqlen: 500, master: 4 })),
    addrMsg({ ifindex: 2, address: v4('10.1.2.3'), local: v4('10.1.2.3'), prefixlen: 24, label: 'veth0', cacheinfo: true }),
    addrMsg({ ifindex: 2, family: 10, address: v6(1), prefixlen: 64, flags: 0x40, extFlags: 0x40, cacheinfo: true }),
    addrMsg({ ifindex: 2, family: 10, address: v6(1), prefixlen: 64, flags: 0x80, extFlags: 0x80, cacheinfo: true }),
    addrMsg({ ifindex: 2, family: 10, address: v6(2), prefixlen: 128, scope: 253, extFlags: 0x100, cacheinfo: true }),
    linkMsg(veth(3, 'eth"0\n', { link: 2, linkNetnsid: 4, alias: 'to "web" \\ tab\there, é ✓ \u0001' })),
    linkMsg(veth(2, 'veth0', { link: 3, flags: 0x1002, operstate: 2, mtu: 9000, txqlen: 500, master: 0 })),
    addrMsg({ type: 21, ifindex: 2, address: v4('10.1.2.3'), local: v4('10.1.2.3'), prefixlen: 24, label: 'veth0' }),
    linkMsg({ ...veth(3, 'eth"0\n', { link: 2, linkNetnsid: 4 }), type: 17 }),
    linkMsg({ ...veth(2, 'veth0', { link: 3, mtu: 9000, txqlen: 500 }), type: 17 }),
  ];
}

const CONTAINER = {
  container_id: 'f00dcafe', container_name: 'web\u2028"1"', container_image: 'docker.io/library/nginx:1.27', container_runtime: 'podman',
  pod_name: 'web-0', pod_namespace: 'default', pod_uid: '7c1e',
};

/** The events of the input, as the pipeline numbers and stamps them (sequence from 1; the
 * time is part of the input: one second apart from a fixed instant). */
function events(): NlEvent[] {
  const links = new LinkTable('ns "1"');
  const addrs = new AddrTable('ns "1"', (i) => links.get(i));
  const out: NlEvent[] = [];
  for (const dg of datagrams()) {
    for (const r of nativeBinding().decode(dg).records) {
      const e = r.kind === 'link' ? links.apply(r as LinkMessage) : r.kind === 'addr' ? addrs.apply(r as AddrMessage) : undefined;
      if (!e) continue;
      // Some events name a container, as the attribution stage would: every field, or one.
      if (out.length % 5 === 3) Object.assign(e, CONTAINER);
      else if (out.length % 5 === 4) e.pod_uid = 'uid-"4"';
      e.sequence = out.length + 1;
      e.timestamp = 1_765_000_000_000 + out.length * 1000;
      out.push(e);
    }
  }
  return out;
}

test('the event JSON of a fixed run of kernel messages is byte-identical to the recorded output', () => {
  const saved = eventHost();
  setEventHost('host-1');
  try {
    const lines = events().map((e) => `${formatEventJson(e)}\n`).join('');
    if (process.env.NLMON_RECORD === '1') fs.writeFileSync(FIXTURE, lines);
    const want = fs.readFileSync(FIXTURE, 'utf8');
    assert.ok(want.split('\n').length > 18, 'the recording has every event');
    const got = lines.split('\n');
    want.split('\n').forEach((line, i) => assert.equal(got[i], line, `line ${i + 1}`));
    assert.equal(lines, want);
    for (const l of got.filter(Boolean)) JSON.parse(l);
    // The batch writer (monitor --json, the outputs) writes the same bytes.
    const batch = new EventLines();
    for (const e of events()) batch.add(e);
    assert.equal(batch.take().toString('utf8'), want);
  } finally {
    setEventHost(saved);
  }
});

/** Text from pieces that take every path of the writer: plain ASCII, the quote and backslash,
 * control characters, DEL, non-ASCII, a line separator, lone surrogates and a pair. */
const PIECES = ['a', 'eth0', ' ', '"', '\\', '\n', '\t', '\u0001', '\u001f', '\u007f', '\u0080', 'é', '✓', '\u2028', '\ud800', '\udfff', '😀', '\ud83d', 'x\u0000y'];
const NUMBERS = [0, -0, 1, 9, 10, 99, 100, -1, -10, 4294967295, 2 ** 31, -(2 ** 31), 1_765_000_000_123, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e15, 999_999_999_999_999];

test('the event writer gives JSON.stringify\'s bytes for any strings and numbers an event holds', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const text = (): string => (rand(4) === 0 ? '' : Array.from({ length: 1 + rand(6) }, () => PIECES[rand(PIECES.length)]).join(''));
  const number = (): number => NUMBERS[rand(NUMBERS.length)]!;
  const lines = new EventLines();
  let want = '';
  for (let i = 0; i < 3000; i++) {
    const e = makeEvent(text(), 16 + rand(6), 'link_changed', { ...NO_LINK }, [], '', rand(2) === 0) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(e)) {
      if (k === 'event' || k === 'message_type' || k === 'event_type') continue;
      if (typeof v === 'string' && rand(3) !== 0) e[k] = text();
      else if (typeof v === 'number' && rand(2) === 0) e[k] = number();
      else if (typeof v === 'boolean') e[k] = rand(2) === 0;
    }
    e.changed = rand(2) === 0 ? [] : Array.from({ length: 1 + rand(3) }, text);
    const ev = e as unknown as NlEvent;
    const json = JSON.stringify(ev);
    assert.equal(formatEventJson(ev), json);
    const buf = Buffer.alloc(eventJsonBound(ev) + 2, 0xee);
    const end = writeEventJson(buf, 1, ev);
    assert.ok(end <= eventJsonBound(ev) + 1, 'within its bound');
    assert.deepEqual(buf.subarray(1, end), Buffer.from(`${json}\n`));
    assert.equal(buf[0], 0xee, 'nothing written before the offset');
    lines.add(ev);
    want += `${json}\n`;
  }
  assert.deepEqual(lines.take(), Buffer.from(want));
  assert.equal(lines.take().length, 0, 'empty again after take()');
});
