// HookScheduler: matches events against hooks and runs them: at most max_concurrent at once,
// a FIFO of at most queue_limit waiting (the oldest dropped past it), and sync hooks holding
// back the dispatch of later events until they end. Intake never waits: events queue here.
import type { NlEvent } from '../event/event.js';
import type { HookBase, HookRunner, RunResult, RunSlot } from './action.js';
import { hookTarget } from './registry.js';
import { HookStats, type HookStatsSnapshot } from './stats.js';
import { Fifo } from './fifo.js';

export interface SchedulerObserver {
  started?(hook: HookBase, event: NlEvent): void;
  finished?(hook: HookBase, event: NlEvent, result: RunResult): void;
  dropped?(hook: HookBase, event: NlEvent): void;
}

export interface SchedulerLimits {
  maxConcurrent: number;
  queueLimit: number;
}

interface Job {
  hook: HookBase;
  event: NlEvent;
  /** Set for sync runs: called once when the run ends or is dropped. */
  release: (() => void) | undefined;
}

export interface HookStatus extends HookStatsSnapshot {
  name: string;
  enabled: boolean;
  async: boolean;
  /** The action's key: script, url, module. */
  action: string;
  /** What it runs: the script's command line, the URL or the module's path. */
  target: string;
  condition: string;
}

export class HookScheduler {
  private hooks: HookBase[] = [];
  private readonly stats = new Map<string, HookStats>();
  private readonly waiting = new Fifo<Job>();
  /** Slots held: runs in progress, less those waiting to retry. */
  private running = 0;
  /** Runs started and not finished (waiting to retry included). */
  private active = 0;
  /** Runs that gave their slot back to wait and want one again: served before new jobs. */
  private readonly slotWaiters = new Fifo<() => void>();
  private readonly pending = new Fifo<NlEvent>();
  private syncOutstanding = 0;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private limits: SchedulerLimits, private readonly runner: HookRunner, private readonly observer: SchedulerObserver = {}) {}

  /** Replaces the hooks; statistics of hooks that keep their name survive. */
  setHooks(hooks: HookBase[], limits?: SchedulerLimits): void {
    this.hooks = hooks;
    if (limits) this.limits = limits;
    const names = new Set(hooks.map((h) => h.name));
    for (const h of hooks) if (!this.stats.has(h.name)) this.stats.set(h.name, new HookStats());
    for (const name of [...this.stats.keys()]) {
      const s = this.stats.get(name)!;
      if (!names.has(name) && s.running === 0 && s.queued === 0) this.stats.delete(name);
    }
    this.startMore();
  }

  hook(name: string): HookBase | undefined {
    return this.hooks.find((h) => h.name === name);
  }

  /** Turns a hook on or off at once; false if there is no such hook. */
  setEnabled(name: string, enabled: boolean): boolean {
    const h = this.hook(name);
    if (!h) return false;
    h.enabled = enabled;
    return true;
  }

  resetStats(name?: string): boolean {
    const names = name === undefined ? this.hooks.map((h) => h.name) : [name];
    if (name !== undefined && !this.stats.has(name)) return false;
    for (const n of names) {
      const old = this.stats.get(n);
      const fresh = new HookStats();
      if (old) {
        fresh.running = old.running;
        fresh.queued = old.queued;
      }
      this.stats.set(n, fresh);
    }
    return true;
  }

  status(): HookStatus[] {
    return this.hooks.map((h) => ({
      name: h.name, enabled: h.enabled, async: h.async, action: h.action, target: hookTarget(h), condition: h.condition,
      ...this.stats.get(h.name)!.snapshot(),
    }));
  }

  get queueDepth(): number {
    return this.waiting.length;
  }

  /** Runs in progress (those waiting to retry included). */
  get runningCount(): number {
    return this.active;
  }

  /** Events waiting for a sync run to end before they are matched. */
  get backlog(): number {
    return this.pending.length;
  }

  /** Takes a batch of events in order. Never blocks. */
  submit(events: NlEvent[]): void {
    if (this.stopping) return;
    if (this.syncOutstanding === 0 && this.backlog === 0) {
      for (let i = 0; i < events.length; i++) {
        this.dispatch(events[i]!);
        if (this.syncOutstanding > 0) {
          for (let j = i + 1; j < events.length; j++) this.pending.push(events[j]!);
          return;
        }
      }
      return;
    }
    for (const e of events) this.pending.push(e);
  }

  /** Events that were waiting behind a sync run when the scheduler stopped: never matched. */
  discarded = 0;

  /** Stops taking events, drops what waits (runs counted as dropped, events behind a sync run
   * as discarded), and resolves when no run is left. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.discarded += this.pending.length;
    this.pending.clear();
    for (let job = this.waiting.shift(); job; job = this.waiting.shift()) this.drop(job);
    if (this.active > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private dispatch(e: NlEvent): void {
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) {
      const hook = hooks[i]!;
      if (!hook.enabled || !hook.match(e)) continue;
      let release: (() => void) | undefined;
      if (!hook.async) {
        this.syncOutstanding++;
        let released = false;
        release = () => {
          if (released) return;
          released = true;
          this.syncOutstanding--;
          if (this.syncOutstanding === 0) queueMicrotask(() => this.drainPending());
        };
      }
      this.enqueue({ hook, event: e, release });
    }
  }

  private drainPending(): void {
    while (this.syncOutstanding === 0 && this.pending.length > 0) this.dispatch(this.pending.shift()!);
  }

  private enqueue(job: Job): void {
    if (this.queueDepth >= this.limits.queueLimit && this.running >= this.limits.maxConcurrent) {
      this.drop(this.waiting.shift()!);
    }
    this.statsOf(job).queued++;
    this.waiting.push(job);
    this.startMore();
  }

  /** Looked up at each use: reset-stats may have replaced the object since the job began. */
  private statsOf(job: Job): HookStats {
    let s = this.stats.get(job.hook.name);
    if (!s) {
      s = new HookStats();
      this.stats.set(job.hook.name, s);
    }
    return s;
  }

  private drop(job: Job): void {
    this.statsOf(job).queued--;
    this.statsOf(job).dropped++;
    this.observer.dropped?.(job.hook, job.event);
    job.release?.();
  }

  /** The slot of a run that may wait between attempts (see RunSlot). */
  private readonly slot: RunSlot = {
    release: () => {
      this.running--;
      this.startMore();
    },
    acquire: () => new Promise<void>((resolve) => {
      this.slotWaiters.push(() => {
        this.running++;
        resolve();
      });
      this.startMore();
    }),
  };

  private startMore(): void {
    while (this.running < this.limits.maxConcurrent && this.slotWaiters.length > 0) this.slotWaiters.shift()!();
    while (this.running < this.limits.maxConcurrent && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.statsOf(job).queued--;
      this.statsOf(job).running++;
      this.running++;
      this.active++;
      this.observer.started?.(job.hook, job.event);
      this.runner.run(job.hook, job.event, this.slot).then((r) => this.finish(job, r), (err: Error) => this.finish(job, {
        outcome: 'failure', duration_ms: 0, error: `runner: ${err.message}`, stdout: '', stderr: '',
      }));
    }
  }

  private finish(job: Job, r: RunResult): void {
    this.running--;
    this.active--;
    this.statsOf(job).running--;
    this.statsOf(job).record(r, new Date());
    this.observer.finished?.(job.hook, job.event, r);
    job.release?.();
    this.startMore();
    if (this.active === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }
}
