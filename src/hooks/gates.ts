// What a matched run passes before it is queued (docs/hooks.md, "Debounce and pacing"):
// - debounce_ms: the events of one key (order_by's, or the hook's as a whole) that come within
//   debounce_ms of each other collapse into one run with the latest event, started once the key
//   has been quiet that long, or max_delay_ms after its first event; the run knows how many
//   events it stands for and the first one's sequence (coalescedOf).
// - min_interval_ms with burst: a token bucket per hook; runs beyond it wait, in order.
// Both are bounded by the hook's queue_limit: past it, the oldest waiting key runs at once, and
// the oldest run waiting for its interval is dropped (counted). Time comes from a Clock, so that
// `nlmon replay` can run them on the events' own timestamps.
import type { NlEvent } from '../event/event.js';
import type { HookBase } from './action.js';
import type { Job } from './key-order.js';
import { Fifo } from './fifo.js';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What a run stands for: how many events, and the first one's sequence. */
export interface Coalesced {
  count: number;
  first_sequence: number;
}

const coalesced = new WeakMap<NlEvent, Coalesced>();

/** The events a run's event stands for: itself alone unless a debounce folded others into it. */
export function coalescedOf(e: NlEvent): Coalesced {
  return coalesced.get(e) ?? { count: 1, first_sequence: e.sequence };
}

/** Whether a hook's runs go through the gates at all. */
export function gated(hook: HookBase): boolean {
  return (hook.debounce_ms ?? 0) > 0 || (hook.min_interval_ms ?? 0) > 0;
}

interface Pending {
  job: Job;
  count: number;
  first_sequence: number;
  first_at: number;
  timer: unknown;
}

interface Bucket {
  tokens: number;
  refilled_at: number;
  waiting: Fifo<Job>;
  timer: unknown;
}

export class Gates {
  /** Keys waiting out their debounce, per hook, oldest first. */
  private readonly pending = new Map<string, Map<string, Pending>>();
  private readonly buckets = new Map<string, Bucket>();
  /** Events folded into another run, per hook. */
  private readonly folded = new Map<string, number>();

  constructor(
    /** Where a run goes when the gates let it (the scheduler's queue). */
    private readonly pass: (job: Job) => void,
    /** A run dropped here (its interval's queue full, or a stop). */
    private readonly drop: (job: Job, why: string) => void,
    /** Runs of a hook that may wait here. */
    private readonly limit: (hook: HookBase) => number,
    private readonly clock: Clock = realClock,
  ) {}

  /** Runs waiting here for a hook (a debounced key counts once). */
  waitingOf(hook: string): number {
    return (this.pending.get(hook)?.size ?? 0) + (this.buckets.get(hook)?.waiting.length ?? 0);
  }

  /** Events of a hook folded into other runs so far. */
  foldedOf(hook: string): number {
    return this.folded.get(hook) ?? 0;
  }

  submit(job: Job): void {
    const hook = job.hook;
    if (!hook.debounce_ms) return this.pace(job);
    let keys = this.pending.get(hook.name);
    if (!keys) this.pending.set(hook.name, (keys = new Map()));
    const key = job.key ?? hook.name;
    const now = this.clock.now();
    const p = keys.get(key);
    if (p) {
      p.job = job;
      p.count++;
      this.folded.set(hook.name, this.foldedOf(hook.name) + 1);
      this.arm(keys, key, p, now);
      return;
    }
    if (keys.size >= this.limit(hook)) {
      const [oldest] = keys.keys();
      this.fire(keys, oldest!);
    }
    const fresh: Pending = { job, count: 1, first_sequence: job.event.sequence, first_at: now, timer: undefined };
    keys.set(key, fresh);
    this.arm(keys, key, fresh, now);
  }

  /** Every run waiting here, for a stop (timers cleared). */
  drain(): Job[] {
    const out: Job[] = [];
    for (const keys of this.pending.values()) {
      for (const p of keys.values()) {
        this.clock.clearTimeout(p.timer);
        out.push(p.job);
      }
    }
    this.pending.clear();
    for (const b of this.buckets.values()) {
      this.clock.clearTimeout(b.timer);
      for (let j = b.waiting.shift(); j; j = b.waiting.shift()) out.push(j);
    }
    this.buckets.clear();
    return out;
  }

  /** (Re)sets a key's timer: quiet for debounce_ms, and never past max_delay_ms from its first. */
  private arm(keys: Map<string, Pending>, key: string, p: Pending, now: number): void {
    const hook = p.job.hook;
    let at = now + hook.debounce_ms!;
    if (hook.max_delay_ms !== undefined) at = Math.min(at, p.first_at + hook.max_delay_ms);
    this.clock.clearTimeout(p.timer);
    p.timer = this.clock.setTimeout(() => this.fire(keys, key), Math.max(0, at - now));
  }

  private fire(keys: Map<string, Pending>, key: string): void {
    const p = keys.get(key);
    if (!p) return;
    keys.delete(key);
    this.clock.clearTimeout(p.timer);
    let job = p.job;
    if (p.count > 1) {
      const event = { ...job.event };
      coalesced.set(event, { count: p.count, first_sequence: p.first_sequence });
      job = { ...job, event };
    }
    this.pace(job);
  }

  /** The token bucket of min_interval_ms and burst. */
  private pace(job: Job): void {
    const hook = job.hook;
    const interval = hook.min_interval_ms ?? 0;
    if (interval <= 0) return this.pass(job);
    let b = this.buckets.get(hook.name);
    if (!b) this.buckets.set(hook.name, (b = { tokens: hook.burst ?? 1, refilled_at: this.clock.now(), waiting: new Fifo(), timer: undefined }));
    this.refill(b, hook);
    if (b.waiting.length === 0 && b.tokens >= 1) {
      b.tokens--;
      return this.pass(job);
    }
    if (b.waiting.length >= this.limit(hook)) this.drop(b.waiting.shift()!, `queue_limit ${this.limit(hook)} of hook ${hook.name} reached (waiting for min_interval_ms)`);
    b.waiting.push(job);
    this.wake(b, hook);
  }

  private refill(b: Bucket, hook: HookBase): void {
    const interval = hook.min_interval_ms!;
    const now = this.clock.now();
    if (b.tokens >= (hook.burst ?? 1)) {
      b.refilled_at = now; // full: the next token is earned an interval after it is spent
      return;
    }
    const earned = Math.floor((now - b.refilled_at) / interval);
    if (earned <= 0) return;
    const burst = hook.burst ?? 1;
    b.tokens = Math.min(burst, b.tokens + earned);
    b.refilled_at = b.tokens >= burst ? now : b.refilled_at + earned * interval;
  }

  /** Arms the bucket's timer for its next token, when runs wait. */
  private wake(b: Bucket, hook: HookBase): void {
    if (b.timer !== undefined || b.waiting.length === 0) return;
    const wait = Math.max(0, b.refilled_at + hook.min_interval_ms! - this.clock.now());
    b.timer = this.clock.setTimeout(() => {
      b.timer = undefined;
      this.refill(b, hook);
      while (b.tokens >= 1 && b.waiting.length > 0) {
        b.tokens--;
        this.pass(b.waiting.shift()!);
      }
      if (b.waiting.length === 0 && b.tokens >= (hook.burst ?? 1)) this.buckets.delete(hook.name);
      else this.wake(b, hook);
    }, wait);
  }
}
