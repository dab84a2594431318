// PeerNames: names the peer namespace of a namespace's events (`peer_namespace`, from the
// link's IFLA_LINK_NETNSID). The ids are the namespace's own names for other namespaces: the
// kernel says which id each namespace file has here (RTM_GETNSID, answered on the same socket
// within the next batch). An event whose id is not known yet holds itself and the events after
// it until the answers are in; other namespaces never wait.
import fs from 'node:fs';
import type { NlEvent } from '../event/event.js';

/** Sequence numbers of RTM_GETNSID requests: apart from the dumps'. */
const PEER_SEQ_BASE = 0x40000000;
/** The longest a namespace's events wait for the ids of its peers (the kernel answers at once). */
const PEER_WAIT_MS = 200;

export class PeerNames {
  /** Peer namespaces by the id this namespace has for them, as the kernel answered. */
  private readonly peers = new Map<number, string>();
  /** Ids no known namespace file had when last asked (until namespace files change). */
  private readonly unknownIds = new Set<number>();
  private readonly asked = new Map<number, string>();
  private seq = PEER_SEQ_BASE;
  private timer: NodeJS.Timeout | undefined;
  private held: NlEvent[] | undefined;
  private releasing = false;

  constructor(
    /** Sends RTM_GETNSID for the namespace file open as fd (throws if the socket refuses). */
    private readonly request: (seq: number, fd: number) => void,
    /** Every namespace file nlmon knows of (watched or not). */
    private readonly files: () => ReadonlyArray<{ name: string; path: string }>,
    /** Where the named events go, in order. */
    private readonly out: (events: NlEvent[]) => void,
  ) {}

  /** Names the peer namespace of each event, then hands the events on, in order. */
  deliver(events: NlEvent[]): void {
    if (this.held) {
      this.held.push(...events);
      return;
    }
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.link_netnsid < 0) continue;
      const name = this.peers.get(e.link_netnsid);
      if (name !== undefined) {
        e.peer_namespace = name;
        continue;
      }
      if (this.unknownIds.has(e.link_netnsid) || this.releasing || !this.ask()) continue;
      if (i > 0) this.out(events.slice(0, i));
      this.held = events.slice(i);
      return;
    }
    this.out(events);
  }

  /** Whether a record with this sequence number answers one of our requests. */
  owns(seq: number): boolean {
    return this.asked.has(seq);
  }

  /** The kernel's answer to a request: the id, or -1 (an error: that file has no id here). */
  answer(seq: number, nsid: number): void {
    const name = this.asked.get(seq);
    if (name === undefined) return;
    this.asked.delete(seq);
    if (nsid >= 0 && !this.peers.has(nsid)) this.peers.set(nsid, name);
    if (this.asked.size === 0) this.answered();
  }

  /** Namespace files came or went: ids are asked again when next seen. */
  forget(): void {
    this.peers.clear();
    this.unknownIds.clear();
  }

  /** The namespace is closed: what is held goes on unnamed. */
  close(): void {
    clearTimeout(this.timer);
    const held = this.held;
    this.held = undefined;
    if (held?.length) this.out(held);
  }

  /** Asks the id of every namespace file nlmon knows of; false if none could be asked. */
  private ask(): boolean {
    for (const f of this.files()) {
      let fd: number;
      try {
        fd = fs.openSync(f.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      } catch {
        continue;
      }
      try {
        this.seq = this.seq >= 0x7fffffff ? PEER_SEQ_BASE : this.seq + 1;
        this.request(this.seq, fd);
        this.asked.set(this.seq, f.name);
      } catch {
        // the socket refused: this file stays unknown
      } finally {
        fs.closeSync(fd);
      }
    }
    if (this.asked.size === 0) return false;
    this.timer = setTimeout(() => this.answered(true), PEER_WAIT_MS);
    return true;
  }

  /** Every answer is in (or the wait is over): release what was held. An id no file had is
   * remembered as unknown; after a wait that ran out (answers lost in an overrun) it is asked
   * again when next seen. */
  private answered(timedOut = false): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.asked.clear();
    const held = this.held ?? [];
    this.held = undefined;
    if (!timedOut) for (const e of held) if (e.link_netnsid >= 0 && !this.peers.has(e.link_netnsid)) this.unknownIds.add(e.link_netnsid);
    // What was held goes on now, named or not: asked again only by later events.
    this.releasing = true;
    try {
      if (held.length) this.deliver(held);
    } finally {
      this.releasing = false;
    }
  }
}

/** When a container goes, its namespace may be gone before its host veth's `link_down` and
 * `link_removed` (the kernel then says link_netnsid -1): those events carry the peer they were
 * last named with (docs/events.md, "Removals"). Applied after the containers stage, which keeps
 * a link's container by itself (a peer carried before it would send it looking up a namespace
 * that is gone). One entry per veth with a named peer, while the link lives. */
export class LastPeers {
  private readonly peers = new Map<string, Map<number, { netnsid: number; name: string }>>();

  apply(events: NlEvent[]): void {
    for (const e of events) {
      if (e.family !== '' || e.ifindex <= 0 || e.kind !== 'veth') continue;
      let mine = this.peers.get(e.namespace);
      if (e.peer_namespace) {
        if (!mine) this.peers.set(e.namespace, (mine = new Map()));
        mine.set(e.ifindex, { netnsid: e.link_netnsid, name: e.peer_namespace });
      } else if (e.link_netnsid < 0 && (e.event === 'link_removed' || e.event === 'link_down')) {
        const p = mine?.get(e.ifindex);
        if (p) [e.link_netnsid, e.peer_namespace] = [p.netnsid, p.name];
      }
      if (e.event === 'link_removed') mine?.delete(e.ifindex);
    }
  }

  /** A namespace is no longer watched. */
  forget(namespace: string): void {
    this.peers.delete(namespace);
  }
}
