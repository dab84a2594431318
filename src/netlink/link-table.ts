// LinkTable: the known links of one namespace. Classifies each decoded message into an event
// (added / removed / up / down / changed / renamed), dump replies included; what a complete dump
// removes is decided by DumpSync (dump-sync.ts).
import type { LinkMessage } from '../native/addon.js';
import { IFF_UP, RTM_DELLINK, RTM_NEWLINK, type ChangedField, type EventName, type NlEvent } from '../event/event.js';
import { makeEvent, type LinkState } from '../event/make.js';
import type { SyncMode } from './dump-sync.js';


function toState(m: LinkMessage): LinkState {
  return {
    ifindex: m.ifindex, flags: m.flags, mtu: m.mtu, txqlen: m.txqlen, master: m.master, link: m.link,
    link_netnsid: m.link_netnsid, operstate: m.operstate, interface: m.interface, address: m.address,
    link_kind: m.link_kind, alias: m.alias,
  };
}

function changedFields(a: LinkState, b: LinkState): ChangedField[] {
  const c: ChangedField[] = [];
  if (a.operstate !== b.operstate) c.push('operstate');
  if ((a.flags & IFF_UP) !== (b.flags & IFF_UP)) c.push('up');
  if (a.mtu !== b.mtu) c.push('mtu');
  if (a.address !== b.address) c.push('address');
  if (a.interface !== b.interface) c.push('interface');
  if (a.master !== b.master) c.push('master');
  if (a.link_kind !== b.link_kind) c.push('kind');
  if (a.alias !== b.alias) c.push('alias');
  return c;
}

/** True when nothing nlmon keeps differs (fields outside `changed` count too). */
function sameState(a: LinkState, b: LinkState): boolean {
  return a.flags === b.flags && a.mtu === b.mtu && a.txqlen === b.txqlen && a.master === b.master &&
    a.link === b.link && a.link_netnsid === b.link_netnsid && a.operstate === b.operstate &&
    a.interface === b.interface && a.address === b.address && a.link_kind === b.link_kind && a.alias === b.alias;
}

export class LinkTable {
  private readonly links = new Map<number, LinkState>();
  /** Notifications that matched the known state exactly (no event). */
  unchanged = 0;

  constructor(readonly namespace: string) {}

  get size(): number {
    return this.links.size;
  }

  get(ifindex: number): LinkState | undefined {
    return this.links.get(ifindex);
  }

  /** The known links, ordered by ifindex. */
  snapshot(): LinkState[] {
    return [...this.links.values()].sort((a, b) => a.ifindex - b.ifindex);
  }

  /** After a complete dump: removes the links it neither saw nor may keep; returns their
   * link_removed events when the dump was a resync (the first load reports none). */
  removeMissing(kept: (ifindex: number) => boolean, mode: SyncMode): NlEvent[] {
    const out: NlEvent[] = [];
    for (const [ifindex, s] of this.links) {
      if (kept(ifindex)) continue;
      this.links.delete(ifindex);
      if (mode === 'resync') out.push(makeEvent(this.namespace, RTM_DELLINK, 'link_removed', s, [], '', true));
    }
    return out;
  }

  /** Forgets every link (the namespace's socket was reopened and a dump will fill it again). */
  clear(): void {
    this.links.clear();
  }

  /** The kernel announces the first end of a veth pair before its peer exists (IFLA_LINK 0)
   * and does not announce it again when the peer appears: complete it from the peer. */
  private linkVethPeer(s: LinkState): void {
    if (s.link_kind !== 'veth' || s.link <= 0 || s.link_netnsid !== -1) return;
    const peer = this.links.get(s.link);
    if (peer && peer.link_kind === 'veth' && peer.link === 0 && peer.link_netnsid === -1) peer.link = s.ifindex;
  }

  /** Applies one message, a notification or (with the mode of its dump) a dump reply; returns
   * its event, or undefined when nothing nlmon keeps changed or the dump's mode reports none. */
  apply(m: LinkMessage, dumpMode?: SyncMode): NlEvent | undefined {
    const resync = dumpMode === 'resync';
    if (m.message_type === RTM_DELLINK) {
      this.links.delete(m.ifindex);
      return makeEvent(this.namespace, RTM_DELLINK, 'link_removed', toState(m), [], '', resync);
    }
    const old = this.links.get(m.ifindex);
    const now = toState(m);
    this.links.set(m.ifindex, now);
    if (!old) {
      this.linkVethPeer(now);
      if (dumpMode === 'silent') return undefined;
      return makeEvent(this.namespace, RTM_NEWLINK, 'link_added', now, [], '', resync);
    }
    if (sameState(old, now)) {
      if (!dumpMode) this.unchanged++;
      return undefined;
    }
    if (dumpMode === 'silent' || dumpMode === 'list') return undefined; // a notification got there first
    const changed = changedFields(old, now);
    let event: EventName;
    if (old.interface !== now.interface) event = 'link_renamed';
    else if ((old.flags & IFF_UP) !== (now.flags & IFF_UP)) event = (now.flags & IFF_UP) ? 'link_up' : 'link_down';
    else event = 'link_changed';
    return makeEvent(this.namespace, RTM_NEWLINK, event, now, changed, event === 'link_renamed' ? old.interface : '', resync);
  }
}
