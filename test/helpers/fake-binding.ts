// A NativeBinding that replays datagrams through the real decoder and lets a test inject
// overruns and answer dump requests, so the core runs without sockets or privileges.
import { nativeBinding, type NativeBinding, type NativeWatcher, type SpawnedChild, type SpawnRequest, type WatcherOptions } from '../../src/native/addon.js';

export class FakeWatcher implements NativeWatcher {
  readonly receiveBuffer = 212992;
  readonly receiveBufferForced = false;
  readonly portId = 4242;
  dumpRequests: number[] = [];
  /** What each dump request asked for, in order. */
  dumpWhat: Array<'link' | 'addr'> = [];
  nsidRequests: Array<{ seq: number; fd: number }> = [];
  closed = false;
  constructor(readonly options: WatcherOptions) {}
  requestDump(seq: number, what: 'link' | 'addr' = 'link'): void {
    if (this.closed) throw new Error('closed');
    this.dumpRequests.push(seq);
    this.dumpWhat.push(what);
  }
  requestNsid(seq: number, fd: number): void {
    this.nsidRequests.push({ seq, fd });
  }
  stats() {
    return { datagrams: 0, messages: 0, malformed: 0, ignored: 0, readAhead: 0, readAheadPeak: 0 };
  }
  paused = false;
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  close(): void {
    this.closed = true;
  }
  /** Delivers one batch made of the given datagrams, decoded by the real decoder. */
  deliver(...datagrams: Buffer[]): void {
    const records = datagrams.flatMap((d) => nativeBinding().decode(d).records);
    this.options.onBatch(records);
  }
  overrun(): void {
    this.options.onOverrun();
  }
  get lastDumpSeq(): number {
    const s = this.dumpRequests.at(-1);
    if (s === undefined) throw new Error('no dump was requested');
    return s;
  }
}

export class FakeBinding implements NativeBinding {
  readonly watchers: FakeWatcher[] = [];
  /** When set, openWatcher throws it (the namespace cannot be entered). */
  failOpen: Error | undefined;
  openWatcher(options: WatcherOptions): NativeWatcher {
    if (this.failOpen) throw this.failOpen;
    const w = new FakeWatcher(options);
    this.watchers.push(w);
    return w;
  }
  namespaceId(file: string) {
    return nativeBinding().namespaceId(file);
  }
  decode(bytes: Uint8Array) {
    return nativeBinding().decode(bytes);
  }
  spawnHook(req: SpawnRequest): Promise<SpawnedChild> {
    return nativeBinding().spawnHook(req);
  }
  watchExit(pid: number, pidfd: number, onExit: (code: number, signal: number) => void): void {
    nativeBinding().watchExit(pid, pidfd, onExit);
  }
  raiseFileLimit() {
    return { before: 1024, soft: 1024, hard: 1024 };
  }
}
