// Monitor: the set of watched namespaces (default, a list of names, or all files in the netns
// directories, found by netns-discovery.ts as they come and go), and the numbering of their
// events; between the two, an optional stage (event/stage.ts: the containers stage) that holds
// a namespace's events in order.
import fs from 'node:fs';
import path from 'node:path';
import { nativeBinding, type NativeBinding } from '../native/addon.js';
import type { NlEvent } from '../event/event.js';
import type { EventStage } from '../event/stage.js';
import type { LinkState } from '../event/make.js';
import { printable } from '../event/format.js';
import { NamespaceWatcher, describeOpenError, type NamespaceRef } from './namespace-watcher.js';
import type { AddrState } from './addr-table.js';
import { NetnsDiscovery, ScanError, type NetnsFile } from './netns-discovery.js';
import { SharedIntake, chooseIntake } from './shared-intake.js';
import { LastPeers } from './peer-names.js';
import { daemonCapabilities } from '../native/capabilities.js';

import { MonitorError, type LogLevel, type MonitorListener, type MonitorOptions, type MonitorStats } from './monitor-api.js';

export { MonitorError, type IntakeMode, type LogLevel, type MonitorListener, type MonitorOptions, type MonitorStats } from './monitor-api.js';

const DEFAULT_NS = 'default';

export class Monitor {
  private readonly binding: NativeBinding;
  private readonly discovery: NetnsDiscovery;
  private readonly receiveBuffer: number;
  private readonly listExisting: boolean;
  private readonly watchers = new Map<string, { ns: NamespaceWatcher; ino: number }>();
  private readonly reported = new Set<string>();
  /** EINVAL opens per file (path:inode), and files that stayed something else than a namespace. */
  private readonly einval = new Map<string, number>();
  private readonly notNamespace = new Set<string>();
  private running = false;
  private sequence = 0;
  private starting = false;
  /** Opening what the configuration names (at start or on reload), not what discovery found. */
  private configuring = false;
  private defaultIno = -1;
  private readonly stage: EventStage | undefined;
  /** The shared socket, when that intake runs. */
  private intake: SharedIntake | undefined;
  private readonly lastPeers = new LastPeers();

  constructor(private options: MonitorOptions, private readonly listener: MonitorListener) {
    this.binding = options.binding ?? nativeBinding();
    this.stage = options.stage?.((events) => this.emit(events), { locate: (name) => this.locate(name) });
    this.discovery = new NetnsDiscovery(options.netnsDirs, () => this.reconcile(false), options.rescanMs);
    this.receiveBuffer = options.receiveBuffer;
    this.listExisting = options.listExisting ?? false;
  }

  /** Opens every namespace asked for and waits for their link tables to load. Throws a
   * MonitorError when a named namespace is missing or cannot be entered. */
  async start(): Promise<void> {
    this.running = true;
    this.starting = true;
    try {
      this.defaultIno = fs.statSync('/proc/self/ns/net').ino;
    } catch {
      // no /proc: the default namespace is not compared with the files
    }
    try {
      this.startIntake();
      this.watchWanted();
    } finally {
      this.starting = false;
    }
    await Promise.all([...this.watchers.values()].map((w) => w.ns.loaded));
  }

  /** Opens the shared socket when that intake is chosen, and says so. */
  private startIntake(): void {
    if (chooseIntake(this.options.intake ?? 'auto', this.options.capabilities ?? daemonCapabilities()) === 'per_namespace') return;
    const intake = new SharedIntake(this.binding, this.receiveBuffer, this.options.addresses ?? true, { namespacesChanged: () => this.discovery.soon() });
    try {
      intake.start();
    } catch (e) {
      this.running = false;
      throw new MonitorError(SharedIntake.describe(e as NodeJS.ErrnoException));
    }
    this.intake = intake;
    this.log('info', `intake: one shared socket for every namespace (NETLINK_LISTEN_ALL_NSID, receive buffer ${intake.receiveBuffer} bytes)`);
  }

  /** Changes what is watched without a restart (a reload): namespaces no longer asked for are
   * closed, new ones opened; tables of the others are kept. A missing name is logged. */
  setNamespaces(namespaces: 'all' | string[], netnsDirs: string[]): void {
    this.options = { ...this.options, namespaces, netnsDirs };
    this.discovery.setDirectories(netnsDirs);
    this.watchWanted();
  }

  private wants(name: string, file: string): boolean {
    const want = this.options.namespaces;
    if (want === 'all') return name === DEFAULT_NS || this.discovery.contains(file);
    return name === DEFAULT_NS ? want.includes(DEFAULT_NS) : want.includes(file) || (this.discovery.contains(file) && want.includes(name));
  }

  /** Opens what options.namespaces asks for and closes the rest; throws at start only. The
   * namespaces it opens (at start, or added by a reload) load silently unless list_existing. */
  private watchWanted(): void {
    this.configuring = true;
    try {
      this.watchConfigured();
    } finally {
      this.configuring = false;
    }
  }

  private watchConfigured(): void {
    const want = this.options.namespaces;
    const fatal = this.starting;
    for (const [name, w] of this.watchers) {
      if (this.wants(name, w.ns.ref.path)) continue;
      this.drop(name);
      this.log('info', `namespace ${name}: no longer watched`);
    }
    if ((want === 'all' || want.includes(DEFAULT_NS)) && !this.watchers.has(DEFAULT_NS)) {
      this.open({ name: DEFAULT_NS, path: '' }, this.defaultIno, fatal);
    }
    let found: Map<string, NetnsFile>;
    try {
      found = this.discovery.scan();
    } catch (e) {
      if (!(e instanceof ScanError)) throw e;
      if (fatal) {
        this.stop();
        throw new MonitorError(`namespace discovery: ${e.message}`);
      }
      this.log('warn', `namespace discovery: ${e.message}; the namespaces watched stay as they are`);
      return;
    }
    if (want !== 'all') {
      for (const file of want.filter((n) => n.includes('/'))) {
        const name = path.basename(file);
        if (!this.watchers.has(name)) this.open({ name, path: file }, -1, fatal);
      }
      const missing = want.filter((n) => n !== DEFAULT_NS && !n.includes('/') && !found.has(n));
      for (const name of missing) {
        const msg = `network namespace "${name}" not found (looked in ${this.discovery.directories.join(', ')})`;
        if (fatal) {
          this.stop();
          throw new MonitorError(msg);
        }
        this.log('warn', `${msg}; it will be watched when it appears`);
      }
    }
    this.reconcile(fatal, found);
    this.discovery.follow(want === 'all' || want.some((n) => n !== DEFAULT_NS && !n.includes('/')));
  }

  stop(): void {
    this.running = false;
    this.discovery.stop();
    for (const [name, w] of this.watchers) {
      w.ns.close();
      this.stage?.closeNamespace(name);
    }
    this.watchers.clear();
    this.intake?.stop();
    this.intake = undefined;
  }

  private paused = false;

  /** Stops reading every namespace's socket until resume(): for a consumer that cannot keep
   * up. Memory stays bounded; the kernel overruns and each namespace resyncs after resume(). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    for (const w of this.watchers.values()) w.ns.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const w of this.watchers.values()) w.ns.resume();
  }

  /** Names of the namespaces watched now. */
  namespaces(): string[] {
    return [...this.watchers.keys()];
  }

  /** The known links of one namespace, or undefined if it is not watched. */
  table(name: string): LinkState[] | undefined {
    return this.watchers.get(name)?.ns.table.snapshot();
  }

  /** The known addresses of one namespace, or undefined if it is not watched. */
  addresses(name: string): AddrState[] | undefined {
    return this.watchers.get(name)?.ns.addrs.snapshot();
  }

  /** Resolves when the named namespace is watched and loaded (for callers that wait on one). */
  async loaded(name: string): Promise<boolean> {
    const w = this.watchers.get(name);
    if (!w) return false;
    await w.ns.loaded;
    return true;
  }

  stats(): MonitorStats {
    const namespaces = [...this.watchers.values()].map((w) => ({ ...w.ns.stats(), container: this.stage?.describe(w.ns.ref.name) ?? '' }));
    return {
      intake: this.intake ? 'shared' : 'per_namespace',
      events: this.sequence,
      overruns: namespaces.reduce((n, s) => n + s.overruns, 0),
      resyncs: namespaces.reduce((n, s) => n + s.resyncs, 0),
      namespaces,
    };
  }

  /** Namespace files of the last scan, and a signature of them to see when they change. */
  private lastFiles = new Map<string, NetnsFile>();
  private lastSignature = '';

  /** When each namespace (by inode) was first seen; 0 for those there at start. */
  private readonly seenAt = new Map<number, number>();

  private noteFiles(files: Map<string, NetnsFile>): void {
    this.lastFiles = new Map(files);
    const now = this.starting ? 0 : Date.now();
    const present = new Set<number>();
    for (const f of files.values()) {
      present.add(f.ino);
      if (!this.seenAt.has(f.ino)) this.seenAt.set(f.ino, now);
    }
    for (const ino of this.seenAt.keys()) {
      if (present.has(ino)) continue;
      // The namespace is gone: its inode may be given to a new one.
      this.seenAt.delete(ino);
      this.stage?.forgetInode(ino);
    }
    const sig = [...files.values()].map((f) => `${f.name}:${f.ino}`).sort().join('\n');
    if (sig === this.lastSignature) return;
    this.lastSignature = sig;
    // An id a namespace had for another may now name a new one: ask again when next seen.
    for (const w of this.watchers.values()) w.ns.forgetPeers();
  }

  /** Every namespace file known: nlmon's own namespace, the files in the netns directories
   * (watched or not), and the namespaces named by path. */
  private namespaceFiles(): NamespaceRef[] {
    // Asked when a veth names a namespace id not known yet: read the directories now, since its
    // peer is often a namespace made moments ago (a container's) that inotify has not reported.
    try {
      this.noteFiles(this.discovery.scan());
    } catch {
      // keep the last scan's files
    }
    const out: NamespaceRef[] = [{ name: DEFAULT_NS, path: '/proc/self/ns/net' }];
    for (const f of this.lastFiles.values()) out.push({ name: f.name, path: f.path });
    for (const w of this.watchers.values()) if (w.ns.ref.path && !this.discovery.contains(w.ns.ref.path)) out.push(w.ns.ref);
    return out;
  }

  private reportOnce(key: string, level: LogLevel, message: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.log(level, message);
  }

  /** A namespace's nsfs inode and when it was first seen, by name (for the stage). */
  private locate(name: string): { ino: number; since: number } | undefined {
    const ino = this.watchers.get(name)?.ino ?? this.lastFiles.get(name)?.ino;
    return ino === undefined ? undefined : { ino, since: this.seenAt.get(ino) ?? 0 };
  }

  private drop(name: string): void {
    const w = this.watchers.get(name);
    if (w && w.ino >= 0) this.stage?.forgetInode(w.ino);
    w?.ns.close();
    this.stage?.closeNamespace(name);
    this.lastPeers.forget(name);
    this.watchers.delete(name);
    this.listener.namespaceClosed?.(name);
  }

  /** Namespace names are file names anyone who can write a netns directory chooses: escaped. */
  private log(level: LogLevel, message: string): void {
    this.listener.log?.(level, printable(message));
  }

  /** Opens one namespace. At start a failure is fatal (thrown); later it is logged once. */
  private open(ref: NamespaceRef, ino: number, fatal: boolean): boolean {
    let ns: NamespaceWatcher;
    try {
      // A namespace that appears after start (a container's) reports the links and addresses it
      // already holds as added: they appeared after nlmon started, and its eth0 is an event.
      ns = new NamespaceWatcher(ref, this.intake?.binding ?? this.binding, this.receiveBuffer, this.listExisting || !this.configuring, {
        events: (events) => (this.stage ? this.stage.submit(ref.name, events) : this.emit(events)),
        overrun: (name) => this.log('warn', `namespace ${name}: netlink receive buffer overrun; resyncing the tables`),
        resynced: (name) => this.log('info', `namespace ${name}: tables resynced`),
        error: (name, err) => this.log('error', `namespace ${name}: ${err.message}`),
        namespaceFiles: () => this.namespaceFiles(),
        lost: (name, err) => {
          this.drop(name);
          this.log('error', `namespace ${name}: the socket failed and cannot be opened again (${err.message}); no longer watched`);
        },
      }, this.options.addresses ?? true);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // An `ip netns add` in progress: the file exists but is not bound to a namespace yet. Try
      // again soon, a few times; a file that stays something else is left alone until it changes.
      if (err.code === 'EINVAL' && !fatal) {
        const key = `${ref.path}:${ino}`;
        const tries = (this.einval.get(key) ?? 0) + 1;
        this.einval.set(key, tries);
        if (tries < 8) {
          this.discovery.later(5 * 2 ** tries); // 10 ms to 1.3 s: about 2.5 s in all
        } else {
          this.notNamespace.add(key);
          this.log('warn', `namespace file ${ref.path} is not a network namespace; skipped until it changes`);
        }
        return false;
      }
      const msg = describeOpenError(ref.name, err, this.intake !== undefined);
      if (fatal || (this.starting && err.code === 'EPERM')) {
        this.stop();
        throw new MonitorError(msg);
      }
      const key = `${ref.name}:${ino}`;
      if (!this.reported.has(key)) {
        this.reported.add(key);
        this.log('error', msg);
      }
      return false;
    }
    this.watchers.set(ref.name, { ns, ino });
    if (this.paused) ns.pause();
    if (ref.name !== DEFAULT_NS || ref.path) this.log('info', `namespace ${ref.name}: watching (receive buffer ${ns.receiveBufferGranted} bytes)`);
    return true;
  }

  private emit(events: NlEvent[]): void {
    this.lastPeers.apply(events);
    for (const e of events) e.sequence = ++this.sequence;
    this.listener.events(events);
  }

  /** Opens namespaces that appeared, closes those whose file is gone or now another one. */
  private reconcile(atStart: boolean, found?: Map<string, NetnsFile>): void {
    if (!this.running) return;
    const watched = [...this.watchers].map(([name, w]) => ({ name, path: w.ns.ref.path, ino: w.ino }));
    let files: Map<string, NetnsFile>;
    try {
      files = found ?? this.discovery.scan();
    } catch (e) {
      if (!(e instanceof ScanError)) throw e;
      // Only a file that is not there is a namespace gone: on EMFILE or EACCES keep what is
      // watched, and look again at the next rescan.
      this.reportOnce(`scan:${e.reason.code}:${Math.floor(Date.now() / 60000)}`, 'warn', `namespace discovery: ${e.message}; keeping the namespaces watched`);
      return;
    }
    for (const f of this.discovery.skipped) this.reportOnce(`skip:${f.path}:${f.ino}`, 'warn', `namespace file ${f.path} is not a regular file; skipped`);
    this.noteFiles(files);
    const present = new Set([...files.values()].map((f) => `${f.path}:${f.ino}`));
    for (const key of this.einval.keys()) if (!present.has(key)) this.einval.delete(key);
    for (const key of this.notNamespace) if (!present.has(key)) this.notNamespace.delete(key);
    for (const [name, f] of files) if (this.notNamespace.has(`${f.path}:${f.ino}`)) files.delete(name);
    const plan = this.discovery.plan(files, watched, (name, file) => this.wants(name, file));
    for (const name of plan.close) {
      this.drop(name);
      this.log('info', `namespace ${name}: gone; socket closed`);
    }
    for (const f of plan.aliases) this.reportOnce(`alias:${f.name}:${f.ino}`, 'info', `namespace ${f.name}: same namespace as one already watched; not watched twice`);
    const fatal = atStart && this.options.namespaces !== 'all';
    for (const f of plan.open) this.open({ name: f.name, path: f.path }, f.ino, fatal);
  }
}
