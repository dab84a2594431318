// Retrying a run (docs/hooks.md, "Retries"): exponential backoff with full jitter, the run's
// max_concurrent slot given back while it waits and taken again before the next attempt, and
// every wait ended at once when the daemon stops. Used by the url and script actions.
import type { RunSlot } from './action.js';

/** First backoff; each retry doubles it, up to MAX_BACKOFF_MS, with full jitter. */
const BASE_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;

/** The wait before retry number n (1-based): exponential with full jitter. */
export function backoffMs(n: number, random = Math.random): number {
  const cap = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (n - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

export class RetryWaits {
  private readonly sleepers = new Set<() => void>();
  private ended = false;

  /** Whether the daemon stopped: no more attempts. */
  get closed(): boolean {
    return this.ended;
  }

  /** Waits ms with the slot given back, then takes it again. (Not an async function: a waiting
   * run holds one promise here, not a suspended frame as well.) */
  wait(ms: number, slot?: RunSlot): Promise<void> {
    slot?.release();
    const slept = new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
    return slot ? slept.then(() => slot.acquire()) : slept;
  }

  /** The daemon stops: every wait ends now, and the runs end with their last attempt. */
  close(): void {
    this.ended = true;
    for (const wake of [...this.sleepers]) wake();
  }
}
