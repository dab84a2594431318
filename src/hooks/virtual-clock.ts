// A Clock (gates.ts) whose time moves only when told: `nlmon replay` runs debounce_ms and
// min_interval_ms on the recorded events' own timestamps, and tests run them without waiting.
import type { Clock } from './gates.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

export class VirtualClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Set<Timer>();

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.add(t);
    return t;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as Timer);
  }

  /** Moves time to `to` (never back), running each timer due on the way, in order of its time. */
  advance(to: number): void {
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.timers) if (t.at <= to && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.timers.delete(next);
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = Math.max(this.time, to);
  }

  /** Runs every timer left, however far ahead. */
  runAll(): void {
    while (this.timers.size) this.advance(Math.max(...[...this.timers].map((t) => t.at)));
  }
}
