// NamespaceWatcher: one namespace's socket and LinkTable. Loads the table with a dump at start,
// and on every overrun dumps again and emits the differences, then a resync event.
import type { NativeBinding, NativeRecord, NativeWatcher } from './native.js';
import type { NlEvent } from '../event/event.js';
import { LinkTable, type SyncMode } from './link-table.js';
import { resyncEvent } from '../event/make.js';

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
}

export interface NamespaceStats {
  name: string;
  path: string;
  links: number;
  events: number;
  overruns: number;
  resyncs: number;
  malformed: number;
  receive_buffer: number;
}

/** Delay before a dump refused by the kernel (EBUSY, EINTR) is asked for again. */
const DUMP_RETRY_MS = 50;

export class NamespaceWatcher {
  readonly table: LinkTable;
  private readonly socket: NativeWatcher;
  private dumpSeq = 0;
  private dumping: { seq: number; mode: SyncMode; interrupted: boolean } | undefined;
  private rerun = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private loadedResolve!: () => void;
  /** Settles when the initial dump has been applied. */
  readonly loaded: Promise<void>;
  private eventCount = 0;
  private overrunCount = 0;
  private resyncCount = 0;

  /** Opens the socket (throws a Node-style error if it cannot) and asks for the first dump. */
  constructor(
    readonly ref: NamespaceRef,
    binding: NativeBinding,
    receiveBuffer: number,
    listExisting: boolean,
    private readonly sink: NamespaceSink,
  ) {
    this.table = new LinkTable(ref.name);
    this.loaded = new Promise((resolve) => { this.loadedResolve = resolve; });
    this.socket = binding.openWatcher({
      netns: ref.path,
      receiveBuffer,
      onBatch: (records) => this.onBatch(records),
      onOverrun: () => this.onOverrun(),
      onError: (err) => this.sink.error(ref.name, err),
    });
    this.startDump(listExisting ? 'list' : 'silent');
  }

  get receiveBuffer(): number {
    return this.socket.receiveBuffer;
  }

  stats(): NamespaceStats {
    return {
      name: this.ref.name,
      path: this.ref.path,
      links: this.table.size,
      events: this.eventCount,
      overruns: this.overrunCount,
      resyncs: this.resyncCount,
      malformed: this.closed ? 0 : this.socket.stats().malformed,
      receive_buffer: this.socket.receiveBuffer,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket.close();
    this.loadedResolve();
  }

  private startDump(mode: SyncMode): void {
    if (this.closed) return;
    this.dumpSeq = (this.dumpSeq + 1) >>> 0 || 1;
    this.dumping = { seq: this.dumpSeq, mode, interrupted: false };
    this.table.beginSync(mode);
    try {
      this.socket.requestDump(this.dumpSeq);
    } catch (err) {
      this.retryDump(mode, err as Error);
    }
  }

  private retryDump(mode: SyncMode, err: Error): void {
    this.table.abandonSync();
    this.dumping = undefined;
    this.sink.error(this.ref.name, new Error(`link dump failed (${err.message}); retrying`));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.startDump(this.rerun ? 'resync' : mode);
      this.rerun = false;
    }, DUMP_RETRY_MS);
  }

  private onBatch(records: NativeRecord[]): void {
    let out: NlEvent[] | undefined;
    for (const r of records) {
      if (r.kind === 'link') {
        if (r.dump) {
          if (!this.dumping) continue; // a reply to a dump that was abandoned
          if (r.dump_interrupted) this.dumping.interrupted = true;
        }
        const ev = this.table.apply(r);
        if (ev) (out ??= []).push(ev);
      } else if (r.kind === 'done') {
        if (this.dumping && r.seq === this.dumping.seq) {
          const extra = this.finishDump(r.dump_interrupted);
          if (extra.length) (out ??= []).push(...extra);
        }
      } else if (this.dumping && r.seq === this.dumping.seq) {
        this.retryDump(this.dumping.mode, new Error(`kernel answered errno ${r.errno}`));
      }
    }
    if (out) {
      this.eventCount += out.length;
      this.sink.events(out);
    }
  }

  /** Closes the current dump; returns the events it ends with. */
  private finishDump(interrupted: boolean): NlEvent[] {
    const d = this.dumping!;
    this.dumping = undefined;
    if (interrupted || d.interrupted) {
      // The link list changed during the dump: it may miss links, so diff nothing and redo it.
      this.table.abandonSync();
      this.startDump(d.mode === 'resync' || this.rerun ? 'resync' : d.mode);
      this.rerun = false;
      return [];
    }
    const out = this.table.endSync();
    if (d.mode === 'resync') {
      out.push(resyncEvent(this.ref.name));
      this.resyncCount++;
      this.sink.resynced(this.ref.name);
    }
    this.loadedResolve();
    if (this.rerun) {
      this.rerun = false;
      this.startDump('resync');
    }
    return out;
  }

  private onOverrun(): void {
    this.overrunCount++;
    this.sink.overrun(this.ref.name);
    if (this.dumping || this.retryTimer) {
      this.rerun = true; // notifications were lost during this dump too: another one follows
      return;
    }
    this.startDump('resync');
  }
}
