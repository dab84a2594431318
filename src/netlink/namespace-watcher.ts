// NamespaceWatcher: one namespace's socket, its LinkTable and (with addresses) its AddrTable.
// Loads the tables with dumps at start (links, then addresses: one dump at a time per socket),
// and on every overrun dumps both again and emits the differences, then a resync event. Each
// dump's state and its ordering rule live in a DumpSync. A socket that fails (any error but an
// overrun) is reopened and the tables resynced. The peer namespaces of its veths are named by
// PeerNames (peer-names.ts) before the events go on.
import type { NativeBinding, NativeRecord, NativeWatcher, WatcherOptions } from '../native/addon.js';
import { RTM_DELLINK, type NlEvent } from '../event/event.js';
import { LinkTable } from './link-table.js';
import { AddrTable, addrKey } from './addr-table.js';
import { DumpSync, type DumpEnd, type SyncMode } from './dump-sync.js';
import { resyncEvent } from '../event/make.js';
import { PeerNames } from './peer-names.js';

export interface NamespaceRef {
  /** `default`, or the file name under a netns directory. */
  name: string;
  /** The namespace file; '' for the namespace nlmon runs in. */
  path: string;
}

export interface NamespaceSink {
  events(events: NlEvent[]): void;
  overrun(ns: string): void;
  resynced(ns: string): void;
  error(ns: string, err: Error): void;
  /** The socket failed and could not be opened again: the namespace is no longer watched. */
  lost(ns: string, err: Error): void;
  /** Every namespace file nlmon knows of (watched or not), to name the peers of veths. */
  namespaceFiles?(): NamespaceRef[];
}

export interface NamespaceStats {
  name: string;
  path: string;
  links: number;
  /** IPv4 and IPv6 addresses known (0 when addresses are not watched). */
  addresses: number;
  events: number;
  overruns: number;
  resyncs: number;
  /** Sockets opened again after an error. */
  reopens: number;
  malformed: number;
  receive_buffer: number;
  /** Datagrams read ahead of the event loop, and the most bytes a queue of them held
   * (docs/events.md, "Read-ahead"). */
  read_ahead: number;
  read_ahead_peak: number;
}

/** The one line that says why a namespace could not be opened (on the shared socket or not). */
export function describeOpenError(name: string, err: NodeJS.ErrnoException, shared: boolean): string {
  if ((err.code === 'EPERM' || err.code === 'EACCES') && shared) {
    return `cannot watch network namespace "${name}": permission denied (the shared intake needs CAP_NET_ADMIN over the namespace, and to read its file)`;
  }
  if (err.code === 'EPERM' || err.code === 'EACCES') {
    return `cannot enter network namespace "${name}": permission denied (run as root, with CAP_SYS_ADMIN and CAP_NET_ADMIN, or use intake: shared with CAP_NET_ADMIN and CAP_NET_BROADCAST)`;
  }
  if (err.code === 'EINVAL') return `"${err.path ?? name}" is not a network namespace`;
  if (err.code === 'ENOENT') return `network namespace "${name}" not found (${err.path ?? name})`;
  return `cannot watch network namespace "${name}": ${err.message}`;
}

/** Delay before a dump refused or failed by the kernel (EBUSY, EINTR) is asked for again. */
const DUMP_RETRY_MS = 50;
/** Least time between two reopens of a failing socket. */
const REOPEN_MIN_MS = 1000;

type DumpWhat = 'link' | 'addr';

export class NamespaceWatcher {
  readonly table: LinkTable;
  readonly addrs: AddrTable;
  private socket: NativeWatcher;
  private readonly sync = new DumpSync<number>();
  private readonly addrSync = new DumpSync<string>();
  private dumpSeq = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The mode and the table of the dump the retry timer will ask for. */
  private retryMode: SyncMode = 'resync';
  private retryWhat: DumpWhat = 'link';
  private reopenTimer: NodeJS.Timeout | undefined;
  private lastReopen = 0;
  private closed = false;
  private loadedResolve!: () => void;
  /** Settles when the initial dump has been applied. */
  readonly loaded: Promise<void>;
  private eventCount = 0;
  private overrunCount = 0;
  private resyncCount = 0;
  private reopenCount = 0;
  /** Counts of the sockets closed after errors. */
  private before = { malformed: 0, read_ahead: 0, read_ahead_peak: 0 };

  /** Opens the socket (throws a Node-style error if it cannot) and asks for the first dump. */
  constructor(
    readonly ref: NamespaceRef,
    private readonly binding: NativeBinding,
    private readonly receiveBuffer: number,
    listExisting: boolean,
    private readonly sink: NamespaceSink,
    /** Watch the namespace's IPv4 and IPv6 addresses too. */
    private readonly addresses = false,
  ) {
    this.table = new LinkTable(ref.name);
    this.addrs = new AddrTable(ref.name, (ifindex) => this.table.get(ifindex));
    this.loaded = new Promise((resolve) => { this.loadedResolve = resolve; });
    this.peerNames = new PeerNames((seq, fd) => this.socket.requestNsid(seq, fd), () => this.sink.namespaceFiles?.() ?? [], (events) => this.pass(events));
    this.socket = binding.openWatcher(this.socketOptions());
    this.startDump(listExisting ? 'list' : 'silent');
  }

  get receiveBufferGranted(): number {
    return this.socket.receiveBuffer;
  }

  stats(): NamespaceStats {
    return {
      name: this.ref.name,
      path: this.ref.path,
      links: this.table.size,
      addresses: this.addrs.size,
      events: this.eventCount,
      overruns: this.overrunCount,
      resyncs: this.resyncCount,
      reopens: this.reopenCount,
      ...this.socketCounts(),
      receive_buffer: this.socket.receiveBuffer,
    };
  }

  /** The socket's counts, with those of the sockets it replaced after errors. */
  private socketCounts(): Pick<NamespaceStats, 'malformed' | 'read_ahead' | 'read_ahead_peak'> {
    const now = this.closed ? undefined : this.socket.stats();
    return {
      malformed: this.before.malformed + (now?.malformed ?? 0),
      read_ahead: this.before.read_ahead + (now?.readAhead ?? 0),
      read_ahead_peak: Math.max(this.before.read_ahead_peak, now?.readAheadPeak ?? 0),
    };
  }

  private paused = false;
  private readonly peerNames: PeerNames;

  /** Stops reading (a consumer that cannot keep up). The kernel overruns the socket meanwhile,
   * and the resync after resume() brings the table back to the kernel's. */
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.peerNames.close();
    clearTimeout(this.retryTimer);
    clearTimeout(this.reopenTimer);
    this.socket.close();
    this.loadedResolve();
  }

  private socketOptions(): WatcherOptions {
    return {
      netns: this.ref.path,
      receiveBuffer: this.receiveBuffer,
      addresses: this.addresses,
      onBatch: (records) => this.onBatch(records),
      onOverrun: () => this.onOverrun(),
      onError: (err) => this.onSocketError(err),
    };
  }

  /** Asks for a dump of the links (a load or resync always starts there) or the addresses. */
  private startDump(mode: SyncMode, what: DumpWhat = 'link'): void {
    if (this.closed) return;
    const sync = what === 'link' ? this.sync : this.addrSync;
    this.dumpSeq = (this.dumpSeq + 1) >>> 0 || 1;
    sync.begin(this.dumpSeq, mode);
    try {
      this.socket.requestDump(this.dumpSeq, what);
    } catch (err) {
      sync.abandon();
      this.retryDump(mode, `${what === 'link' ? 'link' : 'address'} dump failed (${(err as Error).message})`, what);
    }
  }

  /** An overrun during a dump of either table owes a resync of both. */
  private takeOwed(): boolean {
    const links = this.sync.takeOwed();
    const addrs = this.addrSync.takeOwed();
    return links || addrs;
  }

  /** Asks for the dump again after a short delay (the kernel refused it, or it failed). */
  private retryDump(mode: SyncMode, why: string, what: DumpWhat = 'link'): void {
    this.sink.error(this.ref.name, new Error(`${why}; retrying`));
    const owed = this.takeOwed();
    this.retryMode = owed ? 'resync' : mode;
    this.retryWhat = owed ? 'link' : what;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.startDump(this.retryMode, this.retryWhat);
    }, DUMP_RETRY_MS);
  }

  private onBatch(records: NativeRecord[]): void {
    let out: NlEvent[] | undefined;
    for (const r of records) {
      if (r.kind === 'link') {
        let mode: SyncMode | undefined;
        if (r.dump) {
          if (!this.sync.reply(r.seq, r.ifindex, r.dump_interrupted)) continue; // a reply to an abandoned dump
          mode = this.sync.mode;
        } else {
          this.sync.notification(r.ifindex);
        }
        const ev = this.table.apply(r, mode);
        if (ev) (out ??= []).push(ev);
        if (r.message_type === RTM_DELLINK) this.addrs.dropLink(r.ifindex);
      } else if (r.kind === 'addr') {
        if (!this.addresses) continue;
        const key = addrKey(r);
        let mode: SyncMode | undefined;
        if (r.dump) {
          if (!this.addrSync.reply(r.seq, key, r.dump_interrupted)) continue;
          mode = this.addrSync.mode;
        } else {
          this.addrSync.notification(key);
        }
        const ev = this.addrs.apply(r, mode);
        if (ev) (out ??= []).push(ev);
      } else if (r.kind === 'nsid') {
        this.peerNames.answer(r.seq, r.nsid);
      } else {
        if (r.kind === 'error' && this.peerNames.owns(r.seq)) {
          this.peerNames.answer(r.seq, -1);
          continue;
        }
        const end = r.kind === 'done' ? this.sync.done(r.seq, r.dump_interrupted, r.errno) : this.sync.error(r.seq, r.errno);
        let extra: NlEvent[];
        if (end) {
          extra = this.endDump(end);
        } else {
          const addrEnd = r.kind === 'done' ? this.addrSync.done(r.seq, r.dump_interrupted, r.errno) : this.addrSync.error(r.seq, r.errno);
          if (!addrEnd) continue;
          extra = this.endAddrDump(addrEnd);
        }
        if (extra.length) (out ??= []).push(...extra);
      }
    }
    if (out) {
      // The time of receipt: events may then wait for a peer's name or a container.
      const now = Date.now();
      for (const e of out) e.timestamp = now;
      this.peerNames.deliver(out);
    }
  }

  private pass(events: NlEvent[]): void {
    this.eventCount += events.length;
    this.sink.events(events);
  }

  /** Namespace files came or went: ids are asked again when next seen. */
  forgetPeers(): void {
    this.peerNames.forget();
  }

  /** Acts on the end of a link dump; returns the events it ends with. A complete one goes on to
   * the address dump when addresses are watched. */
  private endDump(end: DumpEnd<number>): NlEvent[] {
    const owed = this.takeOwed();
    if (end.outcome === 'redo') {
      // The dump may miss links: remove nothing and ask again. An interruption only means that
      // links changed while it was read: ask again at once.
      const mode = end.mode === 'resync' || owed ? 'resync' : end.mode;
      if (end.when === 'now') this.startDump(mode);
      else this.retryDump(mode, `link ${end.reason}`);
      return [];
    }
    const out = this.table.removeMissing(end.kept, end.mode);
    for (const e of out) this.addrs.dropLink(e.ifindex);
    if (!this.addresses) {
      this.finishLoad(end.mode, out);
      if (owed) this.startDump('resync');
    } else {
      // The addresses are dumped next; after an overrun meanwhile, both tables again first.
      this.startDump(owed ? 'resync' : end.mode, owed ? 'link' : 'addr');
    }
    return out;
  }

  /** Acts on the end of an address dump; returns the events it ends with. */
  private endAddrDump(end: DumpEnd<string>): NlEvent[] {
    const owed = this.takeOwed();
    if (end.outcome === 'redo') {
      if (owed) this.startDump('resync');
      else if (end.when === 'now') this.startDump(end.mode, 'addr');
      else this.retryDump(end.mode, `address ${end.reason}`, 'addr');
      return [];
    }
    const out = this.addrs.removeMissing(end.kept, end.mode);
    this.finishLoad(end.mode, out);
    if (owed) this.startDump('resync');
    return out;
  }

  /** Every table is loaded (or resynced): a resync ends with its marker event. */
  private finishLoad(mode: SyncMode, out: NlEvent[]): void {
    if (mode === 'resync') {
      out.push(resyncEvent(this.ref.name));
      this.resyncCount++;
      this.sink.resynced(this.ref.name);
    }
    this.loadedResolve();
  }

  private onOverrun(): void {
    this.overrunCount++;
    this.sink.overrun(this.ref.name);
    if (this.retryTimer) {
      this.retryMode = 'resync'; // the dump about to be retried becomes a resync of both tables
      this.retryWhat = 'link';
      return;
    }
    if (this.addrSync.active) this.addrSync.overrun(); // owes a resync once it ends
    else if (this.sync.overrun()) this.startDump('resync');
  }

  /** libuv stops polling a socket on any error but the overrun; the socket would stay open and
   * silent. Close it, open a new one in the same namespace and resync; if the namespace cannot
   * be entered any more, say so and give it up. */
  private onSocketError(err: Error): void {
    if (this.closed) return;
    this.sink.error(this.ref.name, new Error(`socket error (${err.message}); reopening it and resyncing`));
    if (this.reopenTimer) return;
    const wait = Math.max(0, this.lastReopen + REOPEN_MIN_MS - Date.now());
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.reopen();
    }, wait);
  }

  private reopen(): void {
    if (this.closed) return;
    this.lastReopen = Date.now();
    this.before = this.socketCounts();
    this.socket.close();
    this.sync.abandon();
    this.addrSync.abandon();
    this.takeOwed();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    try {
      this.socket = this.binding.openWatcher(this.socketOptions());
    } catch (e) {
      this.closed = true;
      this.loadedResolve();
      this.sink.lost(this.ref.name, e as Error);
      return;
    }
    this.reopenCount++;
    if (this.paused) this.socket.pause();
    this.startDump('resync');
  }
}
