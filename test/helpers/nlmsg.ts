// Builds rtnetlink datagrams byte by byte, as the kernel lays them out, for decoder and
// link-table tests that run without privileges.

export interface LinkSpec {
  type?: number;          // 16 RTM_NEWLINK (default), 17 RTM_DELLINK
  family?: number;        // 0 AF_UNSPEC (default)
  nlFlags?: number;       // nlmsg_flags (NLM_F_MULTI = 2 for dump replies)
  seq?: number;
  ifindex: number;
  flags?: number;
  name?: string | Buffer;
  mtu?: number;
  txqlen?: number;
  operstate?: number;
  address?: number[];
  kind?: string;
  master?: number;
  link?: number;
  linkNetnsid?: number;
  alias?: string;
}

const align4 = (n: number) => (n + 3) & ~3;

export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0, 0); return b; };
const i32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32LE(v, 0); return b; };
const cstr = (s: string | Buffer) => Buffer.concat([Buffer.isBuffer(s) ? s : Buffer.from(s), Buffer.from([0])]);

export function nlmsg(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(0, 12);
  const msg = Buffer.concat([h, body]);
  return Buffer.concat([msg, Buffer.alloc(align4(msg.length) - msg.length)]);
}

export function linkMsg(s: LinkSpec): Buffer {
  const ifi = Buffer.alloc(16);
  ifi.writeUInt8(s.family ?? 0, 0);
  ifi.writeUInt16LE(1, 2); // ARPHRD_ETHER
  ifi.writeInt32LE(s.ifindex, 4);
  ifi.writeUInt32LE((s.flags ?? 0x1002) >>> 0, 8);
  const attrs: Buffer[] = [];
  if (s.address) attrs.push(attr(1, Buffer.from(s.address)));
  if (s.name !== undefined) attrs.push(attr(3, cstr(s.name)));
  if (s.mtu !== undefined) attrs.push(attr(4, u32(s.mtu)));
  if (s.link !== undefined) attrs.push(attr(5, i32(s.link)));
  if (s.master !== undefined) attrs.push(attr(10, u32(s.master)));
  if (s.txqlen !== undefined) attrs.push(attr(13, u32(s.txqlen)));
  if (s.operstate !== undefined) attrs.push(attr(16, Buffer.from([s.operstate])));
  if (s.kind !== undefined) attrs.push(attr(18 | 0x8000, attr(1, cstr(s.kind))));
  if (s.alias !== undefined) attrs.push(attr(20, cstr(s.alias)));
  if (s.linkNetnsid !== undefined) attrs.push(attr(37, i32(s.linkNetnsid)));
  return nlmsg(s.type ?? 16, s.nlFlags ?? 0, s.seq ?? 0, Buffer.concat([ifi, ...attrs]));
}

/** NLMSG_DONE; a non-zero errno is a dump that failed part way. */
export function doneMsg(seq: number, interrupted = false, errno = 0): Buffer {
  return nlmsg(3, 2 | (interrupted ? 0x10 : 0), seq, i32(-errno));
}

export function errorMsg(seq: number, errno: number): Buffer {
  return nlmsg(2, 0, seq, Buffer.concat([i32(-errno), Buffer.alloc(16)]));
}

/** A veth end as the kernel reports it. */
export function veth(ifindex: number, name: string, extra: Partial<LinkSpec> = {}): LinkSpec {
  return {
    ifindex, name, flags: 0x1002, mtu: 1500, txqlen: 1000, operstate: 2,
    address: [0x02, 0, 0, 0, 0, ifindex], kind: 'veth', link: 0, ...extra,
  };
}

/** RTM_NEWNSID answering RTM_GETNSID: the id (or -1 for none) of the namespace asked about. */
export function nsidMsg(seq: number, nsid: number): Buffer {
  return nlmsg(88, 0, seq, Buffer.concat([Buffer.alloc(4), attr(1, i32(nsid))]));
}

export interface AddrSpec {
  type?: number;          // 20 RTM_NEWADDR (default), 21 RTM_DELADDR
  family?: number;        // 2 AF_INET (default), 10 AF_INET6
  prefixlen?: number;
  flags?: number;         // ifa_flags (8 bits)
  scope?: number;
  ifindex: number;
  nlFlags?: number;
  seq?: number;
  address?: number[];     // IFA_ADDRESS
  local?: number[];       // IFA_LOCAL
  label?: string;
  cacheinfo?: boolean;
  extFlags?: number;      // IFA_FLAGS (32 bits)
}

/** RTM_NEWADDR / RTM_DELADDR as the kernel sends it (an IPv4 address has IFA_LOCAL too). */
export function addrMsg(s: AddrSpec): Buffer {
  const ifa = Buffer.alloc(8);
  ifa.writeUInt8(s.family ?? 2, 0);
  ifa.writeUInt8(s.prefixlen ?? 24, 1);
  ifa.writeUInt8(s.flags ?? 0x80, 2); // IFA_F_PERMANENT
  ifa.writeUInt8(s.scope ?? 0, 3);
  ifa.writeUInt32LE(s.ifindex, 4);
  const attrs: Buffer[] = [];
  if (s.address) attrs.push(attr(1, Buffer.from(s.address)));
  if (s.local) attrs.push(attr(2, Buffer.from(s.local)));
  if (s.label !== undefined) attrs.push(attr(3, cstr(s.label)));
  if (s.cacheinfo) attrs.push(attr(6, Buffer.from(new Uint32Array([0xffffffff, 0xffffffff, 100, 100]).buffer)));
  if (s.extFlags !== undefined) attrs.push(attr(8, u32(s.extFlags)));
  return nlmsg(s.type ?? 20, s.nlFlags ?? 0, s.seq ?? 0, Buffer.concat([ifa, ...attrs]));
}
