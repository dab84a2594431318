// AddrTable: the known IPv4 and IPv6 addresses of one namespace, beside its LinkTable. Classifies
// each decoded address message into addr_added / addr_removed / addr_changed, dump replies
// included; what a complete dump removes is decided by DumpSync (dump-sync.ts), as for links.
import type { AddrMessage } from '../native/addon.js';
import { RTM_DELADDR, RTM_NEWADDR, type ChangedField, type EventName, type NlEvent } from '../event/event.js';
import { makeEvent, NO_LINK, type LinkState } from '../event/make.js';
import type { SyncMode } from './dump-sync.js';

/** What nlmon keeps of one address. */
export interface AddrState {
  ifindex: number;
  family: 'inet' | 'inet6';
  ip: string;
  peer: string;
  prefixlen: number;
  scope: number;
  flags: number;
  label: string;
}

/** The kernel's identity of an address: its link, address, prefix and peer. */
export function addrKey(m: { ifindex: number; ip: string; prefixlen: number; peer: string }): string {
  return `${m.ifindex}/${m.ip}/${m.prefixlen}/${m.peer}`;
}

const SCOPES: Readonly<Record<number, string>> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

export function scopeName(n: number): string {
  return SCOPES[n] ?? String(n);
}

/** IFA_F_* by name, as `ip address` prints them. */
const ADDR_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x01, 'secondary'], [0x02, 'nodad'], [0x04, 'optimistic'], [0x08, 'dadfailed'], [0x10, 'homeaddress'],
  [0x20, 'deprecated'], [0x40, 'tentative'], [0x80, 'permanent'], [0x100, 'mngtmpaddr'], [0x200, 'noprefixroute'],
  [0x400, 'autojoin'], [0x800, 'stable-privacy'],
];

const flagNamesSeen = new Map<number, string>();

/** The names of IFA_F_* flags, space-separated (kept per value: an address burst has few). */
export function addrFlagNames(flags: number): string {
  let names = flagNamesSeen.get(flags);
  if (names === undefined) {
    names = ADDR_FLAGS.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name).join(' ');
    if (flagNamesSeen.size < 4096) flagNamesSeen.set(flags, names);
  }
  return names;
}

function toState(m: AddrMessage): AddrState {
  return { ifindex: m.ifindex, family: m.family, ip: m.ip, peer: m.peer, prefixlen: m.prefixlen, scope: m.scope, flags: m.flags, label: m.label };
}

export class AddrTable {
  private readonly addrs = new Map<string, AddrState>();

  /** linkOf gives the link an address is on (its fields go into the event). */
  constructor(readonly namespace: string, private readonly linkOf: (ifindex: number) => LinkState | undefined) {}

  get size(): number {
    return this.addrs.size;
  }

  /** The known addresses, by link then address. */
  snapshot(): AddrState[] {
    return [...this.addrs.values()].sort((a, b) => a.ifindex - b.ifindex || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.prefixlen - b.prefixlen));
  }

  /** The event of an address, with the fields of the link it is on. */
  private event(type: number, name: EventName, a: AddrState, changed: ChangedField[], resync: boolean): NlEvent {
    const link = this.linkOf(a.ifindex) ?? { ...NO_LINK, ifindex: a.ifindex, interface: a.label };
    const e = makeEvent(this.namespace, type, name, link, changed, '', resync);
    e.family = a.family;
    e.ip = a.ip;
    e.prefixlen = a.prefixlen;
    e.scope = scopeName(a.scope);
    e.addr_flags = addrFlagNames(a.flags);
    return e;
  }

  /** Applies one message, a notification or (with the mode of its dump) a dump reply; returns its
   * event, or undefined when nothing nlmon keeps changed (the kernel repeats an address when only
   * its lifetimes move) or the dump's mode reports none. */
  apply(m: AddrMessage, dumpMode?: SyncMode): NlEvent | undefined {
    const resync = dumpMode === 'resync';
    const key = addrKey(m);
    const now = toState(m);
    if (m.message_type === RTM_DELADDR) {
      this.addrs.delete(key);
      return this.event(RTM_DELADDR, 'addr_removed', now, [], resync);
    }
    const old = this.addrs.get(key);
    this.addrs.set(key, now);
    if (!old) return dumpMode === 'silent' ? undefined : this.event(RTM_NEWADDR, 'addr_added', now, [], resync);
    const changed: ChangedField[] = [];
    if (old.flags !== now.flags) changed.push('addr_flags');
    if (old.scope !== now.scope) changed.push('scope');
    if (!changed.length || dumpMode === 'silent' || dumpMode === 'list') return undefined;
    return this.event(RTM_NEWADDR, 'addr_changed', now, changed, resync);
  }

  /** After a complete dump: removes the addresses it neither saw nor may keep; returns their
   * addr_removed events when the dump was a resync. */
  removeMissing(kept: (key: string) => boolean, mode: SyncMode): NlEvent[] {
    const out: NlEvent[] = [];
    for (const [key, a] of this.addrs) {
      if (kept(key)) continue;
      this.addrs.delete(key);
      if (mode === 'resync') out.push(this.event(RTM_DELADDR, 'addr_removed', a, [], true));
    }
    return out;
  }

  /** A link went: its addresses go with it, silently (the kernel reports RTM_DELADDR for those it
   * removes; an address left over would be a ghost). */
  dropLink(ifindex: number): void {
    for (const [key, a] of this.addrs) if (a.ifindex === ifindex) this.addrs.delete(key);
  }

  clear(): void {
    this.addrs.clear();
  }
}
