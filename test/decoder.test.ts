// The C++ decoder on hand-built datagrams: every attribute, dump markers, and bad input.
import test from 'node:test';
import assert from 'node:assert/strict';
import { nativeBinding, type AddrMessage, type LinkMessage } from '../src/native/addon.js';
import { addrMsg, attr, doneMsg, errorMsg, linkMsg, nlmsg, nsidMsg, veth } from './helpers/nlmsg.js';

const decode = (b: Buffer) => nativeBinding().decode(b);

test('decodes every attribute of a veth RTM_NEWLINK', () => {
  const r = decode(linkMsg(veth(3, 'veth0', {
    flags: 0x11043, mtu: 9000, txqlen: 500, operstate: 6, master: 7, link: 2, linkNetnsid: 4, alias: 'uplink',
    address: [0xaa, 0xbb, 0xcc, 0x0d, 0x0e, 0x0f],
  })));
  assert.equal(r.malformed, 0);
  assert.equal(r.records.length, 1);
  const m = r.records[0] as LinkMessage;
  assert.deepEqual(m, {
    kind: 'link', message_type: 16, seq: 0, dump: false, dump_interrupted: false, origin: -1, ifindex: 3, flags: 0x11043, mtu: 9000,
    txqlen: 500, master: 7, link: 2, link_netnsid: 4, operstate: 6, interface: 'veth0',
    address: 'aa:bb:cc:0d:0e:0f', link_kind: 'veth', alias: 'uplink',
  });
});

test('missing optional attributes take their defaults', () => {
  const m = decode(linkMsg({ ifindex: 9, name: 'x' })).records[0] as LinkMessage;
  assert.equal(m.address, '');
  assert.equal(m.link_kind, '');
  assert.equal(m.link_netnsid, -1);
  assert.equal(m.master, 0);
  assert.equal(m.operstate, 0);
});

test('several messages in one datagram keep their order; dump flags are reported', () => {
  const dg = Buffer.concat([
    linkMsg(veth(1, 'a', { nlFlags: 2, seq: 5 })),
    linkMsg(veth(2, 'b', { nlFlags: 2 | 0x10, seq: 5, type: 16 })),
    linkMsg(veth(3, 'c', { type: 17 })),
    doneMsg(5, true),
  ]);
  const r = decode(dg);
  assert.equal(r.records.length, 4);
  const [a, b, c, d] = r.records;
  assert.ok(a?.kind === 'link' && a.dump && !a.dump_interrupted && a.interface === 'a' && a.seq === 5);
  assert.ok(b?.kind === 'link' && b.dump && b.dump_interrupted);
  assert.ok(c?.kind === 'link' && !c.dump && c.message_type === 17 && c.seq === 0);
  assert.deepEqual(d, { kind: 'done', seq: 5, dump_interrupted: true, errno: 0 });
});

test('NLMSG_DONE carrying an errno (a dump that failed part way) reports it; a short one reports none', () => {
  assert.deepEqual(decode(doneMsg(6, false, 4)).records, [{ kind: 'done', seq: 6, dump_interrupted: false, errno: 4 }]);
  const short = decode(nlmsg(3, 2, 7, Buffer.alloc(0)));
  assert.deepEqual(short.records, [{ kind: 'done', seq: 7, dump_interrupted: false, errno: 0 }]);
  assert.equal(short.malformed, 0);
});

test('an error answer is a record; an ACK and other families are ignored', () => {
  const r = decode(Buffer.concat([errorMsg(7, 16), errorMsg(8, 0), linkMsg({ ifindex: 4, name: 'br0', family: 7 })]));
  assert.deepEqual(r.records, [{ kind: 'error', seq: 7, errno: 16 }]);
  assert.equal(r.ignored, 2);
});

test('a name without its NUL is bounded by the attribute', () => {
  const ifi = Buffer.alloc(16);
  ifi.writeInt32LE(5, 4);
  const m = decode(nlmsg(16, 0, 0, Buffer.concat([ifi, attr(3, Buffer.from('abcd'))]))).records[0] as LinkMessage;
  assert.equal(m.interface, 'abcd');
});

test('non-ASCII names arrive as UTF-8', () => {
  const m = decode(linkMsg(veth(5, 'vé€th'))).records[0] as LinkMessage;
  assert.equal(m.interface, 'vé€th');
});

test('malformed messages are counted and skipped, never read past their end', () => {
  const good = linkMsg(veth(1, 'ok'));
  const cases: Array<[string, Buffer]> = [
    ['nlmsg_len past the datagram', (() => { const b = Buffer.from(good); b.writeUInt32LE(b.length + 8, 0); return b; })()],
    ['nlmsg_len below the header', (() => { const b = Buffer.from(good); b.writeUInt32LE(8, 0); return b; })()],
    ['body shorter than ifinfomsg', nlmsg(16, 0, 0, Buffer.alloc(8))],
    ['rta_len past the message', (() => { const b = Buffer.from(good); b.writeUInt16LE(200, 32); return b; })()],
    ['rta_len below the attribute header', (() => { const b = Buffer.from(good); b.writeUInt16LE(2, 32); return b; })()],
    ['short IFLA_MTU', nlmsg(16, 0, 0, Buffer.concat([linkMsg({ ifindex: 1, name: 'a' }).subarray(16), attr(4, Buffer.from([1, 2]))]))],
    ['no name', linkMsg({ ifindex: 3, mtu: 1500 })],
    ['ifindex 0', linkMsg({ ifindex: 0, name: 'zero' })],
    ['address longer than MAX_ADDR_LEN', linkMsg({ ifindex: 3, name: 'a', address: new Array(33).fill(1) })],
    ['bad nested IFLA_LINKINFO', nlmsg(16, 0, 0, Buffer.concat([linkMsg({ ifindex: 1, name: 'a' }).subarray(16), attr(18, Buffer.from([0xff, 0, 1, 0]))]))],
    ['short NLMSG_ERROR', nlmsg(2, 0, 0, Buffer.alloc(2))],
  ];
  for (const [what, bytes] of cases) {
    const r = decode(bytes);
    assert.equal(r.records.filter((x) => x.kind === 'link').length, 0, what);
    assert.equal(r.malformed, 1, what);
  }
  // A bad message does not hide the good ones before it.
  const r = decode(Buffer.concat([good, nlmsg(16, 0, 0, Buffer.alloc(4))]));
  assert.equal(r.records.length, 1);
  assert.equal(r.malformed, 1);
});

test('truncated copies of a valid datagram never crash and never invent records', () => {
  const dg = Buffer.concat([linkMsg(veth(1, 'a', { alias: 'x' })), linkMsg(veth(2, 'b')), doneMsg(1)]);
  for (let n = 0; n < dg.length; n++) {
    const r = decode(dg.subarray(0, n));
    assert.ok(r.records.length <= 3);
    for (const rec of r.records) if (rec.kind === 'link') assert.ok(rec.interface === 'a' || rec.interface === 'b');
  }
});

test('RTM_NEWNSID answering RTM_GETNSID gives its id; RTM_DELNSID says one is gone; a short or bad one is malformed', () => {
  assert.deepEqual(decode(nsidMsg(0x40000001, 3)).records, [{ kind: 'nsid', seq: 0x40000001, port: 0, message_type: 88, nsid: 3 }]);
  assert.deepEqual(decode(nlmsg(88, 0, 5, Buffer.alloc(4))).records, [{ kind: 'nsid', seq: 5, port: 0, message_type: 88, nsid: -1 }], 'no NETNSA_NSID: no id');
  assert.deepEqual(decode(nlmsg(89, 0, 0, Buffer.concat([Buffer.alloc(4), attr(1, Buffer.from([7, 0, 0, 0]))]))).records, [{ kind: 'nsid', seq: 0, port: 0, message_type: 89, nsid: 7 }], 'an id gone');
  const short = decode(nlmsg(88, 0, 5, Buffer.alloc(2)));
  assert.equal(short.records.length, 0);
  assert.equal(short.malformed, 1);
  const badAttr = decode(nlmsg(88, 0, 5, Buffer.concat([Buffer.alloc(4), attr(1, Buffer.alloc(2))])));
  assert.equal(badAttr.records.length, 0);
  assert.equal(badAttr.malformed, 1);
});

test('RTM_NEWADDR / RTM_DELADDR: IPv4 with its label, IPv6 canonical, a point-to-point peer, IFA_FLAGS over ifa_flags', () => {
  const v4 = decode(addrMsg({ ifindex: 3, prefixlen: 24, address: [10, 9, 8, 7], local: [10, 9, 8, 7], label: 'd0', cacheinfo: true, extFlags: 0x80 }));
  assert.equal(v4.malformed, 0);
  assert.deepEqual(v4.records, [{
    kind: 'addr', message_type: 20, seq: 0, dump: false, dump_interrupted: false, origin: -1, ifindex: 3, flags: 0x80, prefixlen: 24, family: 'inet', scope: 0, ip: '10.9.8.7', peer: '', label: 'd0',
  }]);
  const fd00 = [0xfd, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
  const v6 = decode(addrMsg({ type: 21, family: 10, prefixlen: 64, flags: 0x40, scope: 253, ifindex: 4, address: fd00, extFlags: 0x240, nlFlags: 2, seq: 9 })).records[0] as AddrMessage;
  assert.deepEqual([v6.message_type, v6.family, v6.ip, v6.prefixlen, v6.scope, v6.flags, v6.dump, v6.seq], [21, 'inet6', 'fd00:9::7', 64, 253, 0x240, true, 9]);
  const ptp = decode(addrMsg({ ifindex: 5, prefixlen: 32, local: [10, 0, 0, 1], address: [10, 0, 0, 2] })).records[0] as AddrMessage;
  assert.deepEqual([ptp.ip, ptp.peer], ['10.0.0.1', '10.0.0.2']);
  const noExt = decode(addrMsg({ ifindex: 5, flags: 0x01, local: [1, 2, 3, 4] })).records[0] as AddrMessage;
  assert.equal(noExt.flags, 0x01, 'ifa_flags when there is no IFA_FLAGS');
  const other = decode(addrMsg({ family: 7, ifindex: 5, local: [1, 2, 3, 4] }));
  assert.deepEqual([other.records.length, other.ignored, other.malformed], [0, 1, 0], 'another family is ignored');
});

test('malformed address messages are counted and skipped', () => {
  const cases: Array<[string, Buffer]> = [
    ['body shorter than ifaddrmsg', nlmsg(20, 0, 0, Buffer.alloc(6))],
    ['IPv4 address of 16 bytes', addrMsg({ ifindex: 1, local: new Array(16).fill(1) })],
    ['IPv6 address of 4 bytes', addrMsg({ family: 10, ifindex: 1, address: [1, 2, 3, 4] })],
    ['prefix longer than the address', addrMsg({ ifindex: 1, prefixlen: 33, local: [1, 2, 3, 4] })],
    ['no address at all', addrMsg({ ifindex: 1, label: 'x' })],
    ['ifindex 0', addrMsg({ ifindex: 0, local: [1, 2, 3, 4] })],
    ['short IFA_CACHEINFO', Buffer.concat([nlmsg(20, 0, 0, Buffer.concat([addrMsg({ ifindex: 1, local: [1, 2, 3, 4] }).subarray(16), attr(6, Buffer.alloc(8))]))])],
    ['short IFA_FLAGS', nlmsg(20, 0, 0, Buffer.concat([addrMsg({ ifindex: 1, local: [1, 2, 3, 4] }).subarray(16), attr(8, Buffer.alloc(2))]))],
  ];
  for (const [what, bytes] of cases) {
    const r = decode(bytes);
    assert.equal(r.records.length, 0, what);
    assert.equal(r.malformed, 1, what);
  }
  const dg = Buffer.concat([addrMsg({ family: 10, ifindex: 2, address: new Array(16).fill(0xfe), label: 'abc', cacheinfo: true, extFlags: 0x80 }), addrMsg({ ifindex: 3, local: [1, 2, 3, 4] })]);
  for (let n = 0; n < dg.length; n++) {
    const r = decode(dg.subarray(0, n));
    assert.ok(r.records.length <= 2);
    for (const rec of r.records) assert.ok(rec.kind === 'addr' && (rec.ifindex === 2 || rec.ifindex === 3), 'truncated copies invent nothing');
  }
});
