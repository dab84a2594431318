// LinkTable: the known links of one namespace. Classifies each decoded message into an event
// (added / removed / up / down / changed / renamed) and diffs dump replies during a sync.
import type { LinkMessage } from './native.js';
import { IFF_UP, RTM_DELLINK, RTM_NEWLINK, type ChangedField, type EventName, type NlEvent } from '../event/event.js';
import { makeEvent, type LinkState } from '../event/make.js';

/** How a sync's dump replies are reported. */
export type SyncMode =
  | 'silent'     // initial load: fill the table, emit nothing
  | 'list'       // initial load with list_existing: every link as link_added
  | 'resync';    // after an overrun: every difference as its event, resync: true

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
  private sync: { mode: SyncMode; seen: Set<number>; touched: Set<number> } | undefined;
  /** Notifications that matched the known state exactly (no event). */
  unchanged = 0;

  constructor(readonly namespace: string) {}

  get size(): number {
    return this.links.size;
  }

  get syncing(): boolean {
    return this.sync !== undefined;
  }

  get(ifindex: number): LinkState | undefined {
    return this.links.get(ifindex);
  }

  /** The known links, ordered by ifindex. */
  snapshot(): LinkState[] {
    return [...this.links.values()].sort((a, b) => a.ifindex - b.ifindex);
  }

  /** Starts a sync: dump replies from now on are diffed, and links not in the dump are
   * removed at endSync unless a notification touched them meanwhile. */
  beginSync(mode: SyncMode): void {
    this.sync = { mode, seen: new Set(), touched: new Set() };
  }

  /** Ends the sync; returns the removals it found (resync mode only emits them). */
  endSync(): NlEvent[] {
    const sync = this.sync;
    this.sync = undefined;
    if (!sync) return [];
    const out: NlEvent[] = [];
    for (const [ifindex, s] of this.links) {
      if (sync.seen.has(ifindex) || sync.touched.has(ifindex)) continue;
      this.links.delete(ifindex);
      if (sync.mode === 'resync') out.push(makeEvent(this.namespace, RTM_DELLINK, 'link_removed', s, [], '', true));
    }
    return out;
  }

  /** Abandons a sync whose dump was interrupted; the caller starts another. */
  abandonSync(): void {
    this.sync = undefined;
  }

  /** The kernel announces the first end of a veth pair before its peer exists (IFLA_LINK 0)
   * and does not announce it again when the peer appears: complete it from the peer. */
  private linkVethPeer(s: LinkState): void {
    if (s.link_kind !== 'veth' || s.link <= 0 || s.link_netnsid !== -1) return;
    const peer = this.links.get(s.link);
    if (peer && peer.link_kind === 'veth' && peer.link === 0 && peer.link_netnsid === -1) peer.link = s.ifindex;
  }

  /** Applies one message; returns its event, or undefined when nothing nlmon keeps changed. */
  apply(m: LinkMessage): NlEvent | undefined {
    const sync = this.sync;
    let resync = false;
    let mode: SyncMode | undefined;
    if (m.dump) {
      if (!sync) return undefined; // a reply to a dump we no longer track
      sync.seen.add(m.ifindex);
      mode = sync.mode;
      resync = mode === 'resync';
    } else if (sync) {
      sync.touched.add(m.ifindex);
    }
    if (m.message_type === RTM_DELLINK) {
      this.links.delete(m.ifindex);
      return makeEvent(this.namespace, RTM_DELLINK, 'link_removed', toState(m), [], '', resync);
    }
    const old = this.links.get(m.ifindex);
    const now = toState(m);
    this.links.set(m.ifindex, now);
    if (!old) {
      this.linkVethPeer(now);
      if (mode === 'silent') return undefined;
      return makeEvent(this.namespace, RTM_NEWLINK, 'link_added', now, [], '', resync);
    }
    if (sameState(old, now)) {
      if (!m.dump) this.unchanged++;
      return undefined;
    }
    if (mode === 'silent' || mode === 'list') return undefined; // a notification got there first
    const changed = changedFields(old, now);
    let event: EventName;
    if (old.interface !== now.interface) event = 'link_renamed';
    else if ((old.flags & IFF_UP) !== (now.flags & IFF_UP)) event = (now.flags & IFF_UP) ? 'link_up' : 'link_down';
    else event = 'link_changed';
    return makeEvent(this.namespace, RTM_NEWLINK, event, now, changed, event === 'link_renamed' ? old.interface : '', resync);
  }
}
