// HookScheduler: matches events against hooks and runs them (docs/hooks.md, "Concurrency and
// queueing"): at most max_concurrent at once, and at most a hook's own share of them; each hook's
// runs wait in its own FIFO, served round-robin across hooks so that one hook's flood does not
// delay another's; a bounded number of runs per hook and in all may wait (queued, or waiting to
// retry), the oldest queued dropped past it; runs of one key (order_by) start one after another
// (key-order.ts); sync hooks hold back the dispatch of later events until they end, up to
// backlog_limit events. Intake never waits: events queue here.
import type { NlEvent } from '../event/event.js';
import type { HookBase, HookRunner, RunResult } from './action.js';
import { hookTarget } from './registry.js';
import { HookStats, type HookStatus } from './stats.js';

export type { HookStatus } from './stats.js';
import { Fifo } from './fifo.js';
import { KeyOrder, orderKey, type Job } from './key-order.js';
import { Gates, gated, realClock, type Clock } from './gates.js';
import type { SchedulerLimits, SchedulerObserver } from './scheduler-api.js';
import { SchedulerSlot, type Lane, type SlotOwner, type SlotWaiter } from './lane.js';

export type { SchedulerLimits, SchedulerObserver } from './scheduler-api.js';

const DEFAULT_BACKLOG_LIMIT = 100_000;

export class HookScheduler implements SlotOwner {
  private hooks: Array<HookBase> = [];
  private readonly stats = new Map<string, HookStats>();
  private readonly lanes = new Map<string, Lane>();
  private readonly order = new KeyOrder();
  /** Lanes with queued jobs, served in turn. */
  private readonly ring = new Fifo<Lane>();
  private queued = 0;
  private retrying = 0;
  /** Slots held: runs in progress, less those waiting to retry. */
  private running = 0;
  /** Runs started and not finished (waiting to retry included). */
  private active = 0;
  /** Runs that gave their slot back to wait and want one again, with their lane. */
  private readonly slotWaiters = new Fifo<SlotWaiter>();
  /** Whether the last slot went to a retry: retries and new runs take turns. */
  private lastWasRetry = false;
  private readonly pending = new Fifo<NlEvent>();
  private syncOutstanding = 0;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];
  /** The share of max_concurrent of a hook that does not set its own. */
  private defaultShare = 1;

  /** debounce_ms and min_interval_ms: where a matched run waits before it is queued. */
  private readonly gates: Gates;

  constructor(private limits: SchedulerLimits, private readonly runner: HookRunner, private readonly observer: SchedulerObserver = {}, clock: Clock = realClock) {
    this.gates = new Gates((job) => this.enqueue(job), (job, why) => this.drop(job, why, false), (hook) => this.waitLimit(hook), clock);
  }

  /** Replaces the hooks; statistics of hooks that keep their name survive. */
  setHooks(hooks: Array<HookBase>, limits?: SchedulerLimits): void {
    this.hooks = hooks;
    if (limits) this.limits = limits;
    // Alone, a hook may use every slot; beside others, half of them unless it says otherwise.
    const enabled = hooks.filter((h) => h.enabled).length;
    this.defaultShare = enabled > 1 ? Math.max(1, Math.ceil(this.limits.maxConcurrent / 2)) : this.limits.maxConcurrent;
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
    for (const n of names) this.stats.set(n, HookStats.keepingGauges(this.stats.get(n)));
    return true;
  }

  status(): HookStatus[] {
    return this.hooks.map((h) => ({
      name: h.name, enabled: h.enabled, async: h.async, action: h.action, target: hookTarget(h), condition: h.condition,
      ...this.stats.get(h.name)!.snapshot(), delayed: this.gates.waitingOf(h.name), coalesced: this.gates.foldedOf(h.name),
    }));
  }

  /** Runs queued for a slot. */
  get queueDepth(): number {
    return this.queued;
  }

  /** Runs in progress (those waiting to retry included). */
  get runningCount(): number {
    return this.active;
  }

  /** Events waiting for a sync run to end before they are matched. */
  get backlog(): number {
    return this.pending.length;
  }

  /** Events that were waiting behind a sync run when the scheduler stopped: never matched. */
  discarded = 0;
  /** Events dropped from that wait because backlog_limit was reached: never matched. */
  backlogDropped = 0;

  /** Takes a batch of events in order. Never blocks. */
  submit(events: NlEvent[]): void {
    if (this.stopping) return;
    if (this.syncOutstanding === 0 && this.backlog === 0) {
      for (let i = 0; i < events.length; i++) {
        this.dispatch(events[i]!);
        if (this.syncOutstanding > 0) {
          for (let j = i + 1; j < events.length; j++) this.hold(events[j]!);
          return;
        }
      }
      return;
    }
    for (const e of events) this.hold(e);
  }

  /** Stops taking events, drops what waits (runs counted as dropped, events behind a sync run
   * as discarded), and resolves when no run is left. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.discarded += this.pending.length;
    this.pending.clear();
    for (const lane of this.lanes.values()) {
      for (let job = lane.jobs.shift(); job; job = lane.jobs.shift()) this.drop(job, 'the daemon stops');
    }
    for (const job of this.order.drain()) this.drop(job, 'the daemon stops');
    for (const job of this.gates.drain()) this.drop(job, 'the daemon stops', false);
    if (this.active > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** An event waits behind a sync run; past backlog_limit the oldest waiting one is dropped. */
  private hold(e: NlEvent): void {
    const limit = this.limits.backlogLimit ?? DEFAULT_BACKLOG_LIMIT;
    if (this.pending.length >= limit) {
      this.pending.shift();
      this.backlogDropped++;
      this.observer.backlogDropped?.(this.backlogDropped, limit);
    }
    this.pending.push(e);
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
      const key = orderKey(hook, e);
      const job: Job = { hook, event: e, release, ...(key !== undefined ? { key } : {}) };
      if (gated(hook)) this.gates.submit(job);
      else this.enqueue(job);
    }
  }

  private drainPending(): void {
    while (this.syncOutstanding === 0 && this.pending.length > 0) this.dispatch(this.pending.shift()!);
  }

  private lane(name: string): Lane {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = { jobs: new Fifo(), running: 0, retrying: 0, ready: false };
      this.lanes.set(name, lane);
    }
    return lane;
  }

  private enqueue(job: Job): void {
    const lane = this.lane(job.hook.name);
    // The hook's own bound, then the daemon's (while every slot is taken): runs queued or
    // waiting to retry; the oldest queued run is dropped past it (the new one, when only runs
    // waiting to retry fill it).
    if (lane.jobs.length + lane.retrying + this.order.parkedOf(job.hook.name) >= this.waitLimit(job.hook)) {
      const oldest = lane.jobs.shift();
      if (!oldest) return this.drop(job, `queue_limit ${this.waitLimit(job.hook)} of hook ${job.hook.name} reached, all waiting to retry`, false);
      this.drop(oldest, `queue_limit ${this.waitLimit(job.hook)} of hook ${job.hook.name} reached`);
    } else if (this.queued + this.retrying >= this.limits.queueLimit && this.running >= this.limits.maxConcurrent) {
      const victim = this.longestLane() ?? lane;
      const oldest = victim.jobs.shift();
      if (!oldest) return this.drop(job, `queue_limit ${this.limits.queueLimit} reached, all waiting to retry`, false);
      this.drop(oldest, `queue_limit ${this.limits.queueLimit} reached`);
    }
    this.statsOf(job).queued++;
    this.queued++;
    if (job.key !== undefined && !this.order.admit(job)) return; // waits behind its key's run
    this.queue(lane, job);
  }

  /** Puts a counted run on its hook's queue, and the hook on the ring. */
  private queue(lane: Lane, job: Job): void {
    lane.jobs.push(job);
    if (!lane.ready) {
      lane.ready = true;
      this.ring.push(lane);
    }
    this.startMore();
  }

  /** The lane with the most queued runs: a full daemon drops from the hook that fills it. */
  private longestLane(): Lane | undefined {
    let best: Lane | undefined;
    for (const l of this.lanes.values()) if (l.jobs.length && (!best || l.jobs.length > best.jobs.length)) best = l;
    return best;
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

  /** Counts a run as dropped; `queued` says whether it had been counted as queued. */
  private drop(job: Job, why: string, queued = true): void {
    if (queued) {
      this.statsOf(job).queued--;
      this.queued--;
    }
    this.statsOf(job).dropped++;
    this.observer.dropped?.(job.hook, job.event, why);
    job.release?.();
    this.nextOfKey(job);
  }

  /** A run of a key ended or was dropped: the next run of that key is queued. */
  private nextOfKey(job: Job): void {
    if (job.key === undefined || this.stopping) return;
    const next = this.order.release(job.key);
    if (next) this.queue(this.lane(next.hook.name), next);
  }

  /** Runs of a hook that may wait: queued, or waiting to retry. */
  private waitLimit(hook: HookBase): number {
    return hook.queue_limit ?? this.limits.queueLimit;
  }

  private share(hook: HookBase): number {
    return Math.min(this.limits.maxConcurrent, hook.max_concurrent ?? this.defaultShare);
  }

  /** A run going to wait between attempts (a webhook's retry) gives its slot back. Public for
   * SchedulerSlot only. */
  slotReleased(job: Job, lane: Lane): void {
    this.running--;
    lane.running--;
    lane.retrying++;
    this.retrying++;
    this.statsOf(job).retrying++;
    // A run going to wait may take the place of a queued one: the bound holds.
    if (lane.jobs.length && lane.jobs.length + lane.retrying > this.waitLimit(job.hook)) {
      this.drop(lane.jobs.shift()!, `queue_limit ${this.waitLimit(job.hook)} of hook ${job.hook.name} reached`);
    }
    this.startMore();
  }

  /** ...and wants one again, within its hook's share, before the next attempt. */
  slotWanted(job: Job, lane: Lane, granted: () => void): void {
    this.slotWaiters.push({ job, lane, granted });
    this.startMore();
  }

  private grant(w: SlotWaiter): void {
    w.lane.retrying--;
    this.retrying--;
    this.statsOf(w.job).retrying--;
    this.running++;
    w.lane.running++;
    w.granted();
  }

  /** A retry waiting for a slot whose hook is under its share, taken off the queue. */
  private nextRetry(): SlotWaiter | undefined {
    for (let n = this.slotWaiters.length; n > 0; n--) {
      const w = this.slotWaiters.shift()!;
      if (w.lane.running < this.share(w.job.hook)) return w;
      this.slotWaiters.push(w); // its hook is at its share: later
    }
    return undefined;
  }

  /** The next queued job of the next lane (in turn) whose hook is under its share. */
  private nextJob(): Job | undefined {
    for (let n = this.ring.length; n > 0; n--) {
      const lane = this.ring.shift()!;
      const job = lane.jobs.shift();
      if (!job) {
        lane.ready = false;
        continue;
      }
      if (lane.running >= this.share(job.hook)) {
        lane.jobs.unshift(job);
        this.ring.push(lane);
        continue;
      }
      if (lane.jobs.length) this.ring.push(lane);
      else lane.ready = false;
      return job;
    }
    return undefined;
  }

  private startMore(): void {
    while (this.running < this.limits.maxConcurrent) {
      // Retries and new runs take turns, so that neither starves the other.
      const retryFirst = !this.lastWasRetry;
      const waiter = retryFirst ? this.nextRetry() : undefined;
      if (waiter) {
        this.lastWasRetry = true;
        this.grant(waiter);
        continue;
      }
      const job = this.nextJob();
      if (job) {
        this.lastWasRetry = false;
        this.start(job);
        continue;
      }
      const late = retryFirst ? undefined : this.nextRetry();
      if (!late) return;
      this.lastWasRetry = true;
      this.grant(late);
    }
  }

  private start(job: Job): void {
    const lane = this.lane(job.hook.name);
    this.statsOf(job).queued--;
    this.queued--;
    this.statsOf(job).running++;
    this.running++;
    lane.running++;
    this.active++;
    this.observer.started?.(job.hook, job.event);
    this.runner.run(job.hook, job.event, new SchedulerSlot(this, job, lane)).then((r) => this.finish(job, lane, r), (err: Error) => this.finish(job, lane, {
      outcome: 'failure', duration_ms: 0, error: `runner: ${err.message}`, stdout: '', stderr: '',
    }));
  }

  private finish(job: Job, lane: Lane, r: RunResult): void {
    this.running--;
    lane.running--;
    this.active--;
    this.statsOf(job).running--;
    this.statsOf(job).record(r, Date.now());
    this.observer.finished?.(job.hook, job.event, r);
    job.release?.();
    this.nextOfKey(job);
    this.startMore();
    if (this.active === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }
}
