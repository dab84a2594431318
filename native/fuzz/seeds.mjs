// Writes seed datagrams for the decoder fuzzer (built by the same helpers the tests use).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const dir = process.argv[2];
const { linkMsg, doneMsg, errorMsg, nsidMsg, veth } = await import(path.resolve('dist/test/helpers/nlmsg.js'));
mkdirSync(dir, { recursive: true });
const seeds = {
  veth: linkMsg(veth(3, 'veth0', { alias: 'a', master: 2, link: 4, linkNetnsid: 1 })),
  dellink: linkMsg(veth(3, 'veth0', { type: 17 })),
  dump: Buffer.concat([linkMsg({ ...veth(1, 'lo'), nlFlags: 2, seq: 1 }), linkMsg({ ...veth(2, 'br0', { kind: 'bridge' }), nlFlags: 2, seq: 1 }), doneMsg(1, true)]),
  error: errorMsg(4, 16),
  failedDump: doneMsg(5, false, 4),
  nsid: nsidMsg(0x40000001, 3),
};
for (const [name, bytes] of Object.entries(seeds)) writeFileSync(path.join(dir, name), bytes);
