// Retrying a run (docs/hooks.md, "Retries"): exponential backoff with full jitter, the run's
// max_concurrent slot given back while it waits and taken again before the next attempt, and
// every wait ended at once when the daemon stops. Used by the url and script actions.
//
// Thousands of runs may wait at once (a receiver answering 503 with a long Retry-After holds up
// to queue_limit of them), so a waiting run costs one promise and one entry in a heap ordered by
// when it wakes, under a single timer for the earliest: no timer, closure or second promise each.
import type { RunSlot } from './action.js';

/** First backoff; each retry doubles it, up to MAX_BACKOFF_MS, with full jitter. */
const BASE_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;

/** The wait before retry number n (1-based): exponential with full jitter. */
export function backoffMs(n: number, random = Math.random): number {
  const cap = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (n - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

interface Sleeper {
  /** performance.now() at which it wakes. */
  due: number;
  /** Taken in order of waiting among those due at once. */
  seq: number;
  resolve: () => void;
  slot: RunSlot | undefined;
}

const before = (a: Sleeper, b: Sleeper) => a.due < b.due || (a.due === b.due && a.seq < b.seq);

export class RetryWaits {
  /** A binary min-heap on (due, seq). */
  private readonly heap: Sleeper[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private ended = false;

  /** Whether the daemon stopped: no more attempts. */
  get closed(): boolean {
    return this.ended;
  }

  /** Runs waiting. */
  get size(): number {
    return this.heap.length;
  }

  /** Waits ms with the slot given back, then takes it again. */
  wait(ms: number, slot?: RunSlot): Promise<void> {
    slot?.release();
    return new Promise<void>((resolve) => {
      this.push({ due: performance.now() + ms, seq: this.seq++, resolve, slot });
      this.arm();
    });
  }

  /** The daemon stops: every wait ends now, and the runs end with their last attempt. */
  close(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    while (this.heap.length) this.wake(this.pop());
  }

  private wake(s: Sleeper): void {
    if (s.slot) void s.slot.acquire().then(s.resolve);
    else s.resolve();
  }

  /** The timer set for the earliest sleeper. */
  private arm(): void {
    const first = this.heap[0];
    if (!first || first.due >= this.timerDue) return;
    clearTimeout(this.timer);
    this.timerDue = first.due;
    this.timer = setTimeout(() => this.fire(), Math.max(0, first.due - performance.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    // A timer may fire a little before its time by performance.now(): a millisecond's grace.
    const now = performance.now() + 1;
    while (this.heap.length && this.heap[0]!.due <= now) this.wake(this.pop());
    this.arm();
  }

  private push(s: Sleeper): void {
    const h = this.heap;
    let i = h.push(s) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Sleeper {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
