// DumpSync: the state of one table's dump (the first load, or a resync after an overrun) and the
// ordering rule that decides what a complete dump may remove (docs/events.md, "Resync").
//
// Dump replies and notifications arrive on one socket in the kernel's order. A notification
// received before the dump's first reply was queued before the kernel began the dump, so it is
// older than everything the dump says. Only one received after the first reply can be newer
// than the dump. So a key missing from a complete dump is removed unless a notification received
// after the first reply touched it.

/** How a dump's replies are reported. */
export type SyncMode =
  | 'silent'     // initial load: fill the table, emit nothing
  | 'list'       // initial load with list_existing: every entry as added
  | 'resync';    // after an overrun: every difference as its event, resync: true

/** What the end of a dump means for the table. */
export type DumpEnd<K> =
  | { outcome: 'complete'; mode: SyncMode; kept: (key: K) => boolean }
  /** `now` after an interruption (links changed while it was read); `later` when the kernel
   * refused or failed it, which a retry at once would likely meet again. */
  | { outcome: 'redo'; mode: SyncMode; reason: string; when: 'now' | 'later' };

interface Dump<K> {
  seq: number;
  mode: SyncMode;
  /** The dump's first reply has arrived: notifications from now on may be newer than it. */
  replying: boolean;
  interrupted: boolean;
  seen: Set<K>;
  touched: Set<K>;
}

export class DumpSync<K> {
  private dump: Dump<K> | undefined;
  private owed = false;

  /** A dump is requested (or being received). */
  get active(): boolean {
    return this.dump !== undefined;
  }

  /** The mode of the dump in progress. */
  get mode(): SyncMode | undefined {
    return this.dump?.mode;
  }

  /** A dump with this sequence number has been requested. */
  begin(seq: number, mode: SyncMode): void {
    this.dump = { seq, mode, replying: false, interrupted: false, seen: new Set(), touched: new Set() };
  }

  /** Forgets the dump in progress (its request failed); later replies to it are dropped. */
  abandon(): SyncMode | undefined {
    const mode = this.dump?.mode;
    this.dump = undefined;
    return mode;
  }

  /** A dump reply for key: false if it answers no dump in progress (drop it). */
  reply(seq: number, key: K, interrupted: boolean): boolean {
    const d = this.dump;
    if (!d || seq !== d.seq) return false;
    d.replying = true;
    if (interrupted) d.interrupted = true;
    d.seen.add(key);
    return true;
  }

  /** A notification about key. */
  notification(key: K): void {
    const d = this.dump;
    if (d?.replying) d.touched.add(key);
  }

  /** NLMSG_DONE: undefined if it closes no dump in progress. A dump that was interrupted
   * (NLM_F_DUMP_INTR) or failed part way (an errno in NLMSG_DONE) may miss entries: it removes
   * nothing and must be done again. */
  done(seq: number, interrupted: boolean, errno: number): DumpEnd<K> | undefined {
    const d = this.dump;
    if (!d || seq !== d.seq) return undefined;
    this.dump = undefined;
    if (errno !== 0) return { outcome: 'redo', mode: d.mode, reason: `the dump failed part way (errno ${errno})`, when: 'later' };
    if (interrupted || d.interrupted) return { outcome: 'redo', mode: d.mode, reason: 'the dump was interrupted by a change', when: 'now' };
    return { outcome: 'complete', mode: d.mode, kept: (key) => d.seen.has(key) || d.touched.has(key) };
  }

  /** NLMSG_ERROR answering the dump request: undefined if it answers no dump in progress. */
  error(seq: number, errno: number): DumpEnd<K> | undefined {
    const d = this.dump;
    if (!d || seq !== d.seq) return undefined;
    this.dump = undefined;
    return { outcome: 'redo', mode: d.mode, reason: `the kernel refused the dump (errno ${errno})`, when: 'later' };
  }

  /** Notifications were lost. True when a resync dump should start now; false when a dump is in
   * progress, which cannot be trusted to cover what was lost: one more is owed after it. */
  overrun(): boolean {
    if (this.dump) {
      this.owed = true;
      return false;
    }
    return true;
  }

  /** After a dump ends (or is abandoned): true if an overrun during it owes another dump. */
  takeOwed(): boolean {
    const o = this.owed;
    this.owed = false;
    return o;
  }
}
