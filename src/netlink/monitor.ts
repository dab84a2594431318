// Monitor: the set of watched namespaces (default, a list of names, or all files in the netns
// directories, followed as they come and go), numbering and time-stamping their events.
import fs from 'node:fs';
import path from 'node:path';
import { nativeBinding, type NativeBinding } from './native.js';
import type { NlEvent } from '../event/event.js';
import type { LinkState } from './link-table.js';
import { NamespaceWatcher, type NamespaceRef, type NamespaceStats } from './namespace-watcher.js';

export const DEFAULT_NETNS_DIRS = ['/var/run/netns', '/var/run/docker/netns'];
export const DEFAULT_RECEIVE_BUFFER = 16 * 1024 * 1024;

export interface MonitorOptions {
  /** `all`, or namespace names (`default`, a file name in a netns dir, or a path). */
  namespaces: 'all' | string[];
  netnsDirs?: string[];
  receiveBuffer?: number;
  listExisting?: boolean;
  binding?: NativeBinding;
  /** How often the netns directories are read again besides inotify (ms). */
  rescanMs?: number;
}

export type LogLevel = 'info' | 'warn' | 'error';

export interface MonitorListener {
  /** Each batch of events, numbered and time-stamped, in order. */
  events(events: NlEvent[]): void;
  log?(level: LogLevel, message: string): void;
}

/** A problem the operator must fix before the monitor can run (exit 1, one line). */
export class MonitorError extends Error {}

export interface MonitorStats {
  events: number;
  overruns: number;
  resyncs: number;
  namespaces: NamespaceStats[];
}

interface Candidate {
  path: string;
  ino: number;
}

const DEFAULT_NS = 'default';

function describeOpenError(name: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'EPERM' || err.code === 'EACCES') {
    return `cannot enter network namespace "${name}": permission denied (run as root, or with CAP_SYS_ADMIN and CAP_NET_ADMIN)`;
  }
  if (err.code === 'EINVAL') return `"${err.path ?? name}" is not a network namespace`;
  if (err.code === 'ENOENT') return `network namespace "${name}" not found (${err.path ?? name})`;
  return `cannot watch network namespace "${name}": ${err.message}`;
}

export class Monitor {
  private readonly binding: NativeBinding;
  private netnsDirs: string[];
  private readonly receiveBuffer: number;
  private readonly listExisting: boolean;
  private readonly watchers = new Map<string, { ns: NamespaceWatcher; ino: number }>();
  private readonly dirWatchers = new Map<string, fs.FSWatcher>();
  private readonly reported = new Set<string>();
  private rescanTimer: NodeJS.Timeout | undefined;
  private soonTimer: NodeJS.Timeout | undefined;
  private running = false;
  private sequence = 0;
  private starting = false;
  private defaultIno = -1;

  constructor(private options: MonitorOptions, private readonly listener: MonitorListener) {
    this.binding = options.binding ?? nativeBinding();
    this.netnsDirs = options.netnsDirs ?? DEFAULT_NETNS_DIRS;
    this.receiveBuffer = options.receiveBuffer ?? DEFAULT_RECEIVE_BUFFER;
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
      this.watchWanted();
    } finally {
      this.starting = false;
    }
    await Promise.all([...this.watchers.values()].map((w) => w.ns.loaded));
  }

  /** Changes what is watched without a restart (a reload): namespaces no longer asked for are
   * closed, new ones opened; tables of the others are kept. A missing name is logged. */
  setNamespaces(namespaces: 'all' | string[], netnsDirs: string[]): void {
    this.options = { ...this.options, namespaces, netnsDirs };
    this.netnsDirs = netnsDirs;
    for (const [dir, w] of this.dirWatchers) {
      if (netnsDirs.includes(dir)) continue;
      w.close();
      this.dirWatchers.delete(dir);
    }
    this.watchWanted();
  }

  private wants(name: string, file: string): boolean {
    const want = this.options.namespaces;
    if (want === 'all') return name === DEFAULT_NS || this.inDirs(file);
    return name === DEFAULT_NS ? want.includes(DEFAULT_NS) : want.includes(file) || (this.inDirs(file) && want.includes(name));
  }

  /** Opens what options.namespaces asks for and closes the rest; throws at start only. */
  private watchWanted(): void {
    const want = this.options.namespaces;
    const fatal = this.starting;
    for (const [name, w] of this.watchers) {
      if (this.wants(name, w.ns.ref.path)) continue;
      w.ns.close();
      this.watchers.delete(name);
      this.log('info', `namespace ${name}: no longer watched`);
    }
    if ((want === 'all' || want.includes(DEFAULT_NS)) && !this.watchers.has(DEFAULT_NS)) {
      this.open({ name: DEFAULT_NS, path: '' }, this.defaultIno, fatal);
    }
    const found = this.scan();
    if (want !== 'all') {
      for (const file of want.filter((n) => n.includes('/'))) {
        const name = path.basename(file);
        if (!this.watchers.has(name)) this.open({ name, path: file }, -1, fatal);
      }
      const missing = want.filter((n) => n !== DEFAULT_NS && !n.includes('/') && !found.has(n));
      for (const name of missing) {
        const msg = `network namespace "${name}" not found (looked in ${this.netnsDirs.join(', ')})`;
        if (fatal) {
          this.stop();
          throw new MonitorError(msg);
        }
        this.log('warn', `${msg}; it will be watched when it appears`);
      }
    }
    this.reconcile(fatal, found);
    const followDirs = want === 'all' || want.some((n) => n !== DEFAULT_NS && !n.includes('/'));
    if (followDirs && !this.rescanTimer) {
      this.watchDirs();
      this.rescanTimer = setInterval(() => {
        this.watchDirs();
        this.reconcile(false);
      }, this.options.rescanMs ?? 1000);
    } else if (!followDirs && this.rescanTimer) {
      clearInterval(this.rescanTimer);
      this.rescanTimer = undefined;
      for (const w of this.dirWatchers.values()) w.close();
      this.dirWatchers.clear();
    }
  }

  stop(): void {
    this.running = false;
    clearInterval(this.rescanTimer);
    this.rescanTimer = undefined;
    clearTimeout(this.soonTimer);
    for (const w of this.dirWatchers.values()) w.close();
    this.dirWatchers.clear();
    for (const w of this.watchers.values()) w.ns.close();
    this.watchers.clear();
  }

  /** Names of the namespaces watched now. */
  namespaces(): string[] {
    return [...this.watchers.keys()];
  }

  /** The known links of one namespace, or undefined if it is not watched. */
  table(name: string): LinkState[] | undefined {
    return this.watchers.get(name)?.ns.table.snapshot();
  }

  /** Resolves when the named namespace is watched and loaded (for callers that wait on one). */
  async loaded(name: string): Promise<boolean> {
    const w = this.watchers.get(name);
    if (!w) return false;
    await w.ns.loaded;
    return true;
  }

  stats(): MonitorStats {
    const namespaces = [...this.watchers.values()].map((w) => w.ns.stats());
    return {
      events: this.sequence,
      overruns: namespaces.reduce((n, s) => n + s.overruns, 0),
      resyncs: namespaces.reduce((n, s) => n + s.resyncs, 0),
      namespaces,
    };
  }

  private log(level: LogLevel, message: string): void {
    this.listener.log?.(level, message);
  }

  /** Opens one namespace. At start a failure is fatal (thrown); later it is logged once. */
  private open(ref: NamespaceRef, ino: number, fatal: boolean): boolean {
    let ns: NamespaceWatcher;
    try {
      ns = new NamespaceWatcher(ref, this.binding, this.receiveBuffer, this.listExisting, {
        events: (events) => this.emit(events),
        overrun: (name) => this.log('warn', `namespace ${name}: netlink receive buffer overrun; resyncing the link table`),
        resynced: (name) => this.log('info', `namespace ${name}: link table resynced`),
        error: (name, err) => this.log('error', `namespace ${name}: ${err.message}`),
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // An `ip netns add` in progress: the file exists but is not bound to a namespace yet.
      if (err.code === 'EINVAL' && !fatal) {
        this.rescanSoon();
        return false;
      }
      const msg = describeOpenError(ref.name, err);
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
    if (ref.name !== DEFAULT_NS || ref.path) this.log('info', `namespace ${ref.name}: watching (receive buffer ${ns.receiveBuffer} bytes)`);
    return true;
  }

  private emit(events: NlEvent[]): void {
    const now = Date.now();
    for (const e of events) {
      e.sequence = ++this.sequence;
      e.timestamp = now;
    }
    this.listener.events(events);
  }

  /** Namespace files now in the netns directories, by name (the first directory wins). */
  private scan(): Map<string, Candidate> {
    const found = new Map<string, Candidate>();
    for (const dir of this.netnsDirs) {
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (found.has(name)) continue;
        const file = path.join(dir, name);
        try {
          found.set(name, { path: file, ino: fs.statSync(file).ino });
        } catch {
          // gone between readdir and stat
        }
      }
    }
    return found;
  }

  /** Opens namespaces that appeared, closes those whose file is gone or now another one. */
  private reconcile(atStart: boolean, found = this.scan()): void {
    if (!this.running) return;
    const want = this.options.namespaces;
    for (const [name, w] of this.watchers) {
      if (name === DEFAULT_NS || !this.inDirs(w.ns.ref.path)) continue;
      const c = found.get(name);
      if (!c || c.ino !== w.ino) {
        w.ns.close();
        this.watchers.delete(name);
        this.log('info', `namespace ${name}: gone; socket closed`);
      }
    }
    const watchedInos = new Set([...this.watchers.values()].map((w) => w.ino));
    for (const [name, c] of found) {
      if (!this.wants(name, c.path) || this.watchers.has(name)) continue;
      if (watchedInos.has(c.ino)) {
        const key = `alias:${name}:${c.ino}`;
        if (!this.reported.has(key)) {
          this.reported.add(key);
          this.log('info', `namespace ${name}: same namespace as one already watched; not watched twice`);
        }
        continue;
      }
      if (this.open({ name, path: c.path }, c.ino, atStart && want !== 'all')) watchedInos.add(c.ino);
    }
  }

  private inDirs(file: string): boolean {
    return this.netnsDirs.includes(path.dirname(file));
  }

  private rescanSoon(): void {
    if (this.soonTimer || !this.running) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      this.reconcile(false);
    }, 20);
  }

  private watchDirs(): void {
    for (const dir of this.netnsDirs) {
      if (this.dirWatchers.has(dir)) continue;
      try {
        const w = fs.watch(dir, { persistent: false }, () => this.rescanSoon());
        w.on('error', () => {
          w.close();
          this.dirWatchers.delete(dir);
        });
        this.dirWatchers.set(dir, w);
      } catch {
        // not there yet: the periodic rescan tries again
      }
    }
  }
}
