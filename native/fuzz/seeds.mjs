// Writes seed datagrams for the decoder fuzzer (built by the same helpers the tests use).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const dir = process.argv[2];
const { addrMsg, linkMsg, doneMsg, errorMsg, nsidMsg, veth } = await import(path.resolve('dist/test/helpers/nlmsg.js'));
mkdirSync(dir, { recursive: true });
const seeds = {
  veth: linkMsg(veth(3, 'veth0', { alias: 'a', master: 2, link: 4, linkNetnsid: 1 })),
  dellink: linkMsg(veth(3, 'veth0', { type: 17 })),
  dump: Buffer.concat([linkMsg({ ...veth(1, 'lo'), nlFlags: 2, seq: 1 }), linkMsg({ ...veth(2, 'br0', { kind: 'bridge' }), nlFlags: 2, seq: 1 }), doneMsg(1, true)]),
  error: errorMsg(4, 16),
  failedDump: doneMsg(5, false, 4),
  nsid: nsidMsg(0x40000001, 3),
  newaddr4: addrMsg({ ifindex: 3, prefixlen: 24, address: [10, 9, 8, 7], local: [10, 9, 8, 7], label: 'd0', cacheinfo: true, extFlags: 0x80 }),
  deladdr6: addrMsg({ type: 21, family: 10, prefixlen: 64, scope: 253, ifindex: 4, address: [0xfd, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], cacheinfo: true, extFlags: 0x240 }),
  addrDump: Buffer.concat([addrMsg({ ifindex: 1, prefixlen: 8, local: [127, 0, 0, 1], address: [127, 0, 0, 1], nlFlags: 2, seq: 2 }), addrMsg({ family: 10, ifindex: 1, prefixlen: 128, address: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], nlFlags: 2, seq: 2 }), doneMsg(2)]),
};
for (const [name, bytes] of Object.entries(seeds)) writeFileSync(path.join(dir, name), bytes);
