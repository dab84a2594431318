// SharedIntake: one netlink socket for every watched namespace (`monitoring.intake: shared`,
// docs/config.md). The socket lives in nlmon's own namespace with NETLINK_LISTEN_ALL_NSID, so it
// hears the link and address notifications of every namespace that has an id here, each with
// that id; a namespace without one is given one (RTM_NEWNSID, CAP_NET_ADMIN) when it is opened.
// Dumps of a namespace go through IFLA_TARGET_NETNSID / IFA_TARGET_NETNSID, one at a time (a
// socket runs one dump at a time). Each namespace gets a channel that looks like its own socket
// to its NamespaceWatcher: the same records, dumps, overruns and errors, so the per-namespace
// load, resync and ordering rules (docs/events.md) stay what they are with a socket each.
import type { NativeBinding, NativeRecord, NativeWatcher, NativeWatcherStats, WatcherOptions } from '../native/addon.js';
import { hasCapability } from '../native/capabilities.js';

/** How namespaces are read (`monitoring.intake`): a socket in each, entered with setns
 * (CAP_SYS_ADMIN), or this shared socket (CAP_NET_ADMIN and CAP_NET_BROADCAST). */
export type IntakeMode = 'auto' | 'per_namespace' | 'shared';

/** The intake `auto` (or the configuration) gives: shared when nlmon cannot enter namespaces
 * (no CAP_SYS_ADMIN) and has what the shared socket needs. Chosen at start, for reloads too. */
export function chooseIntake(mode: IntakeMode, caps: bigint): 'per_namespace' | 'shared' {
  if (mode !== 'auto') return mode;
  const shared = !hasCapability(caps, 'CAP_SYS_ADMIN') && hasCapability(caps, 'CAP_NET_ADMIN') && hasCapability(caps, 'CAP_NET_BROADCAST');
  return shared ? 'shared' : 'per_namespace';
}

/** RTM_NEWNSID, RTM_DELNSID. */
const RTM_NEWNSID = 88;
const RTM_DELNSID = 89;
/** Sequence numbers of the shared socket's requests: every channel's are renumbered. */
const SEQ_LIMIT = 0x7fffffff;
/** How long an RTM_GETNSID answer is waited for. The kernel answers at once, but an answer to a
 * full receive buffer is dropped (an overrun): past this the request is forgotten. */
const ANSWER_WAIT_MS = 200;
/** The counts of a channel that is not the socket's own namespace, or of no socket. */
const NO_STATS: NativeWatcherStats = Object.freeze({ datagrams: 0, messages: 0, malformed: 0, ignored: 0, readAhead: 0, readAheadPeak: 0 });

export interface SharedIntakeListener {
  /** A namespace was given an id here or lost it: the netns directories may have changed. */
  namespacesChanged(): void;
}

/** What a request on the shared socket was for. */
interface Pending {
  channel: Channel;
  /** The channel's own sequence number (a dump's or an RTM_GETNSID's). */
  seq: number;
  /** A dump (the socket is busy until it ends). */
  dump?: boolean;
  /** A translation: the id, here, whose id in the channel's namespace is asked for. */
  translate?: number;
}

interface QueuedDump {
  channel: Channel;
  seq: number;
  what: 'link' | 'addr';
}

/** One namespace's view of the shared socket. */
class Channel implements NativeWatcher {
  /** Ids of peer namespaces as nlmon's namespace knows them → as this namespace knows them. */
  readonly ids = new Map<number, number>();
  /** Records waiting for a translation, in order; everything after them waits too. */
  held: NativeRecord[] | undefined;
  closed = false;
  paused = false;

  constructor(
    private readonly intake: SharedIntake,
    /** The id nlmon's namespace has for this one; -1 for nlmon's own. */
    readonly nsid: number,
    readonly options: WatcherOptions,
  ) {}

  get receiveBuffer(): number {
    return this.intake.receiveBuffer;
  }
  get receiveBufferForced(): boolean {
    return this.intake.receiveBufferForced;
  }
  get portId(): number {
    return this.intake.portId;
  }
  requestDump(seq: number, what: 'link' | 'addr' = 'link'): void {
    this.intake.queueDump({ channel: this, seq, what });
  }
  requestNsid(seq: number, fd: number): void {
    this.intake.askNsid(this, seq, fd);
  }
  /** The socket's counts are the default namespace's (they cannot be told apart by namespace). */
  stats(): NativeWatcherStats {
    return this.nsid < 0 ? this.intake.socketStats() : NO_STATS;
  }
  pause(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    this.intake.paused(1);
  }
  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    this.intake.paused(-1);
  }
  close(): void {
    if (this.closed) return;
    if (this.paused) this.resume();
    this.closed = true;
    this.intake.closed(this);
  }
}

export class SharedIntake {
  private socket: NativeWatcher | undefined;
  private readonly channels = new Map<number, Channel>();
  private readonly pending = new Map<number, Pending>();
  private readonly dumps: QueuedDump[] = [];
  /** The sequence number of the dump being read; undefined when the socket has none. */
  private dumping: number | undefined;
  private seq = 0;
  private pausedChannels = 0;
  /** The id nlmon's namespace has for itself: its own notifications come with it once given. */
  private selfNsid = -1;
  /** Notifications from namespaces with an id here that nlmon does not watch. */
  private unwatched = 0;
  /** The binding a NamespaceWatcher opens its "socket" with: a channel of this intake. */
  readonly binding: NativeBinding;

  constructor(
    private readonly native: NativeBinding,
    private readonly receiveBufferWanted: number,
    private readonly addresses: boolean,
    private readonly listener: SharedIntakeListener,
  ) {
    this.binding = { ...native, openWatcher: (options) => this.open(options) };
  }

  /** Why the shared socket could not be opened, in one line. */
  static describe(err: NodeJS.ErrnoException): string {
    return err.code === 'EPERM' || err.code === 'EACCES'
      ? `intake: shared: permission denied (${err.message}): it needs CAP_NET_ADMIN and CAP_NET_BROADCAST`
      : `intake: shared: ${err.message}`;
  }

  /** Opens the shared socket (throws a Node-style error: EPERM without CAP_NET_BROADCAST). */
  start(): void {
    if (this.socket) return;
    // Once any dump has named nlmon's namespace for a peer, the kernel gives it an id for itself,
    // and its own notifications come with that id: ask for it first, so they are recognised.
    this.selfNsid = this.native.namespaceId('/proc/self/ns/net').nsid;
    this.socket = this.native.openWatcher({
      netns: '',
      receiveBuffer: this.receiveBufferWanted,
      addresses: this.addresses,
      allNsid: true,
      onBatch: (records) => this.onBatch(records),
      onOverrun: () => {
        for (const c of [...this.channels.values()]) c.options.onOverrun();
      },
      onError: (err) => this.onError(err),
    });
    if (this.pausedChannels > 0) this.socket.pause();
  }

  get receiveBuffer(): number {
    return this.socket?.receiveBuffer ?? 0;
  }
  get receiveBufferForced(): boolean {
    return this.socket?.receiveBufferForced ?? false;
  }
  get portId(): number {
    return this.socket?.portId ?? 0;
  }
  /** Notifications heard from namespaces nlmon does not watch (dropped). */
  get ignored(): number {
    return this.unwatched;
  }

  socketStats(): NativeWatcherStats {
    return this.socket?.stats() ?? NO_STATS;
  }

  stop(): void {
    for (const c of [...this.channels.values()]) c.close();
    this.socket?.close();
    this.socket = undefined;
  }

  /** A channel for the namespace at options.netns ('' for nlmon's own), given an id here if it
   * has none. Throws as the native open does (ENOENT, EINVAL, EPERM). */
  private open(options: WatcherOptions): NativeWatcher {
    this.start();
    const nsid = options.netns === '' ? -1 : this.native.namespaceId(options.netns).nsid;
    this.channels.get(nsid)?.close();
    const channel = new Channel(this, nsid === this.selfNsid ? -1 : nsid, options);
    this.channels.set(channel.nsid, channel);
    return channel;
  }

  queueDump(d: QueuedDump): void {
    this.dumps.push(d);
    this.pump();
  }

  /** RTM_GETNSID for a namespace file, as the channel's namespace knows it. */
  askNsid(channel: Channel, seq: number, fd: number): void {
    if (!this.socket) throw Object.assign(new Error('the shared socket is closed'), { code: 'EBADF' });
    const global = this.next();
    this.pending.set(global, { channel, seq });
    try {
      this.socket.requestNsid(global, fd, channel.nsid >= 0 ? channel.nsid : undefined);
    } catch (e) {
      this.pending.delete(global);
      throw e;
    }
    // PeerNames stops waiting on its own; the entry must not outlive a lost answer either.
    setTimeout(() => this.pending.delete(global), ANSWER_WAIT_MS * 5).unref();
  }

  paused(delta: number): void {
    const before = this.pausedChannels;
    this.pausedChannels += delta;
    if (before === 0 && this.pausedChannels > 0) this.socket?.pause();
    else if (before > 0 && this.pausedChannels === 0) this.socket?.resume();
  }

  closed(channel: Channel): void {
    if (this.channels.get(channel.nsid) === channel) this.channels.delete(channel.nsid);
    for (let i = this.dumps.length - 1; i >= 0; i--) if (this.dumps[i]!.channel === channel) this.dumps.splice(i, 1);
    // A dump of it in flight still ends on the socket (its records go nowhere) before the next.
  }

  private next(): number {
    this.seq = this.seq >= SEQ_LIMIT ? 1 : this.seq + 1;
    return this.seq;
  }

  /** Sends the next queued dump when the socket has none in flight. */
  private pump(): void {
    while (this.dumping === undefined && this.dumps.length > 0 && this.socket) {
      const d = this.dumps.shift()!;
      const global = this.next();
      try {
        this.socket.requestDump(global, d.what, d.channel.nsid >= 0 ? d.channel.nsid : undefined);
      } catch (e) {
        // The channel's watcher retries a failed dump after an error record, as with its own socket.
        const errno = Math.abs((e as NodeJS.ErrnoException).errno ?? 11);
        setImmediate(() => this.deliver(d.channel, [{ kind: 'error', seq: d.seq, errno }]));
        continue;
      }
      this.pending.set(global, { channel: d.channel, seq: d.seq, dump: true });
      this.dumping = global;
    }
  }

  private onBatch(records: NativeRecord[]): void {
    const batches = new Map<Channel, NativeRecord[]>();
    const out = (c: Channel): NativeRecord[] => {
      let list = batches.get(c);
      if (!list) batches.set(c, (list = []));
      return list;
    };
    const port = this.portId;
    for (const r of records) {
      // Notifications carry the seq (and port) of the request that caused them, often another
      // program's: a notification is a link or address message outside a dump, or an id message
      // not addressed to this socket.
      if (r.kind === 'nsid' && (r.port !== port || !this.pending.has(r.seq))) {
        this.idChanged(r.message_type, r.nsid);
        continue;
      }
      if ((r.kind === 'link' || r.kind === 'addr') && !r.dump) {
        const c = this.channels.get(r.origin === this.selfNsid ? -1 : r.origin);
        if (c) this.route(c, r, out);
        else this.unwatched++;
        continue;
      }
      const p = this.pending.get(r.seq);
      if (!p) continue; // an answer to a request of a channel closed since
      const ends = r.kind === 'done' || r.kind === 'error' || r.kind === 'nsid';
      if (ends) {
        this.pending.delete(r.seq);
        if (r.seq === this.dumping) this.dumping = undefined;
      }
      if (p.translate !== undefined) {
        this.translated(p.channel, p.translate, r.kind === 'nsid' ? r.nsid : -1, out);
        continue;
      }
      if (p.channel.closed) continue;
      this.route(p.channel, { ...r, seq: p.seq }, out);
    }
    for (const [c, list] of batches) this.deliver(c, list);
    this.pump();
  }

  private deliver(c: Channel, records: NativeRecord[]): void {
    if (!c.closed && records.length > 0) c.options.onBatch(records);
  }

  /** Hands a record to its channel in order. A dump reply's IFLA_LINK_NETNSID is an id of nlmon's
   * namespace (the kernel fills it in as the dumping socket's namespace sees it), while the
   * namespace's notifications carry its own ids: the dump's id is turned into the namespace's
   * own (RTM_GETNSID with NETNSA_TARGET_NSID, remembered), so that the two compare and
   * `link_netnsid` means what docs/events.md says. Records wait behind an id being asked for. */
  private route(c: Channel, r: NativeRecord, out: (c: Channel) => NativeRecord[]): void {
    if (c.held) {
      c.held.push(r);
      return;
    }
    if (r.kind === 'link' && r.dump && r.link_netnsid >= 0 && c.nsid >= 0) {
      const own = c.ids.get(r.link_netnsid);
      if (own === undefined) {
        c.held = [r];
        this.askTranslation(c, r.link_netnsid);
        return;
      }
      r.link_netnsid = own;
    }
    out(c).push(r);
  }

  private askTranslation(c: Channel, id: number): void {
    const global = this.next();
    try {
      this.socket!.requestNsid(global, -1, c.nsid, id);
      this.pending.set(global, { channel: c, seq: 0, translate: id });
    } catch {
      this.unanswered(c, id); // the socket refused the request
      return;
    }
    // A lost answer must not hold the namespace's records for ever.
    setTimeout(() => {
      if (this.pending.delete(global)) this.unanswered(c, id);
    }, ANSWER_WAIT_MS).unref();
  }

  /** No answer: the records held go on with the id as nlmon's namespace has it (not remembered,
   * so the next dump asks again). */
  private unanswered(c: Channel, id: number): void {
    const list: NativeRecord[] = [];
    this.translated(c, id, id, () => list);
    c.ids.delete(id);
    this.deliver(c, list);
  }

  private translated(c: Channel, id: number, own: number, out: (c: Channel) => NativeRecord[]): void {
    c.ids.set(id, own);
    const held = c.held;
    c.held = undefined;
    if (!held || c.closed) return;
    for (const r of held) this.route(c, r, out);
  }

  /** RTM_NEWNSID / RTM_DELNSID: a namespace was given an id here (a container's, made moments
   * ago), or its id is gone (the namespace is no more). Ids may be given again to other
   * namespaces: the translations are forgotten, and a gone namespace's channel hears no more. */
  private idChanged(type: number, nsid: number): void {
    if (type === RTM_DELNSID) {
      for (const c of this.channels.values()) c.ids.clear();
      const gone = this.channels.get(nsid);
      if (gone && nsid >= 0) this.channels.delete(nsid);
      if (nsid === this.selfNsid) this.selfNsid = -1;
    } else if (type !== RTM_NEWNSID) {
      return;
    }
    this.listener.namespacesChanged();
  }

  /** The shared socket failed: every namespace's watcher reopens its channel (on a new socket)
   * and resyncs, as each would with a socket of its own. */
  private onError(err: NodeJS.ErrnoException): void {
    this.socket?.close();
    this.socket = undefined;
    this.pending.clear();
    this.dumps.length = 0;
    this.dumping = undefined;
    for (const c of [...this.channels.values()]) {
      c.held = undefined;
      c.options.onError(err);
    }
  }
}
