// Namespace discovery: the namespace files in the netns directories, followed with inotify and a
// periodic rescan, and the plan that turns what is found into namespaces to open and to close
// (a file whose inode changed is another namespace; two files of one namespace are watched once).
import fs from 'node:fs';
import path from 'node:path';

/** A namespace file found in a netns directory. */
export interface NetnsFile {
  name: string;
  path: string;
  /** Inode of the nsfs file: the namespace's identity. */
  ino: number;
}

/** A namespace the monitor watches now. */
export interface WatchedNetns {
  name: string;
  path: string;
  ino: number;
}

export interface DiscoveryPlan {
  /** Watched names whose file is gone or now holds another namespace. */
  close: string[];
  /** Files to open, in directory order. */
  open: NetnsFile[];
  /** Files skipped because they are a namespace already watched under another name. */
  aliases: NetnsFile[];
}

/** A directory or file that could not be read for another reason than its absence (EMFILE,
 * EACCES…): the scan says nothing about which namespaces are gone, so nothing is closed. */
export class ScanError extends Error {
  constructor(readonly file: string, readonly reason: NodeJS.ErrnoException) {
    super(`cannot read ${file}: ${reason.message}`);
  }
}

/** Debounce for bursts of inotify events (one `ip netns add` makes several). */
const SOON_MS = 5;

export class NetnsDiscovery {
  private dirs: string[];
  /** inotify on each directory that exists, with the directory's inode (made again: watched again). */
  private readonly dirWatchers = new Map<string, { watcher: fs.FSWatcher; ino: number }>();
  private readonly laterTimers = new Set<NodeJS.Timeout>();
  private rescanTimer: NodeJS.Timeout | undefined;
  private soonTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** What the last scan found that is not a regular file (a FIFO, a directory…): never a
   * namespace, and never opened (opening a FIFO would block). */
  skipped: NetnsFile[] = [];

  /** onChange runs after inotify reports a change in a directory, and when a directory is made,
   * removed or replaced: every rescanMs while following, each directory itself is looked at (one
   * stat each, whatever the number of namespaces in it), since inotify cannot watch a directory
   * that does not exist yet. */
  constructor(dirs: readonly string[], private readonly onChange: () => void, private readonly rescanMs = 1000) {
    this.dirs = [...dirs];
  }

  get directories(): readonly string[] {
    return this.dirs;
  }

  setDirectories(dirs: readonly string[]): void {
    this.dirs = [...dirs];
    for (const [dir, w] of this.dirWatchers) {
      if (this.dirs.includes(dir)) continue;
      w.watcher.close();
      this.dirWatchers.delete(dir);
    }
  }

  /** True when file is directly inside one of the directories. */
  contains(file: string): boolean {
    return this.dirs.includes(path.dirname(file));
  }

  get following(): boolean {
    return this.rescanTimer !== undefined;
  }

  /** Starts or stops following the directories (inotify and the periodic rescan). */
  follow(on: boolean): void {
    if (on && !this.rescanTimer) {
      this.watchDirs();
      this.rescanTimer = setInterval(() => {
        if (this.watchDirs()) this.onChange();
      }, this.rescanMs);
    } else if (!on && this.rescanTimer) {
      clearInterval(this.rescanTimer);
      this.rescanTimer = undefined;
      for (const w of this.dirWatchers.values()) w.watcher.close();
      this.dirWatchers.clear();
    }
  }

  /** Calls onChange after ms (a file being made into a namespace is looked at again). */
  later(ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.laterTimers.delete(t);
      this.onChange();
    }, ms);
    this.laterTimers.add(t);
  }

  /** Calls onChange shortly (once for a burst of calls). */
  soon(): void {
    if (this.soonTimer || this.stopped) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      this.onChange();
    }, SOON_MS);
  }

  stop(): void {
    this.stopped = true;
    this.follow(false);
    clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
    for (const t of this.laterTimers) clearTimeout(t);
    this.laterTimers.clear();
  }

  /** Namespace files now in the directories, by name (the first directory wins). */
  scan(): Map<string, NetnsFile> {
    const found = new Map<string, NetnsFile>();
    this.skipped = [];
    for (const dir of this.dirs) {
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // not there (yet)
        throw new ScanError(dir, e as NodeJS.ErrnoException);
      }
      for (const name of names) {
        if (found.has(name)) continue;
        const file = path.join(dir, name);
        let st: fs.Stats;
        try {
          st = fs.statSync(file);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone between readdir and stat
          throw new ScanError(file, e as NodeJS.ErrnoException);
        }
        if (st.isFile()) found.set(name, { name, path: file, ino: st.ino });
        else this.skipped.push({ name, path: file, ino: st.ino });
      }
    }
    return found;
  }

  /** What to change so that the watched namespaces of the directories match the files found.
   * `wants` says whether a file is asked for at all. */
  plan(found: Map<string, NetnsFile>, watched: Iterable<WatchedNetns>, wants: (name: string, file: string) => boolean): DiscoveryPlan {
    const close: string[] = [];
    const keptInos = new Set<number>();
    const watchedNames = new Set<string>();
    for (const w of watched) {
      watchedNames.add(w.name);
      if (w.path && this.contains(w.path)) {
        const f = found.get(w.name);
        if (!f || f.ino !== w.ino) {
          close.push(w.name);
          continue;
        }
      }
      keptInos.add(w.ino);
    }
    const open: NetnsFile[] = [];
    const aliases: NetnsFile[] = [];
    for (const f of found.values()) {
      if (!wants(f.name, f.path) || (watchedNames.has(f.name) && !close.includes(f.name))) continue;
      if (keptInos.has(f.ino)) {
        aliases.push(f);
        continue;
      }
      open.push(f);
      keptInos.add(f.ino);
    }
    return { close, open, aliases };
  }

  /** Watches each directory that exists with inotify, and stops watching those gone or made
   * again (another inode). Returns whether any of that changed. */
  private watchDirs(): boolean {
    let changed = false;
    for (const dir of this.dirs) {
      let ino = -1;
      try {
        ino = fs.statSync(dir).ino;
      } catch {
        // not there (yet)
      }
      const w = this.dirWatchers.get(dir);
      if (w && w.ino === ino) continue;
      if (w) {
        w.watcher.close();
        this.dirWatchers.delete(dir);
        changed = true;
      }
      if (ino < 0) continue;
      try {
        const watcher = fs.watch(dir, { persistent: false }, () => this.soon());
        watcher.on('error', () => {
          watcher.close();
          if (this.dirWatchers.get(dir)?.watcher === watcher) this.dirWatchers.delete(dir);
        });
        this.dirWatchers.set(dir, { watcher, ino });
        changed = true;
      } catch {
        // gone again, or not readable: looked at again next time
      }
    }
    return changed;
  }
}
