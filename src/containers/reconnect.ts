// Reconnecting to a runtime's API (engine-api.ts, cri.ts): while its socket is absent or the API
// fails, try again every RECONNECT_MS, and say why once, not at every attempt. A socket that is
// simply not there (no such runtime on this host) is not worth a line.
import { clipped } from '../event/format.js';

export type EngineLog = (level: 'info' | 'warn' | 'error', message: string) => void;

/** Least time between two attempts to reach an API that is not there (or went away). */
export const RECONNECT_MS = 5000;
/** The most of a failure's reason logged: an API's error text is the peer's to choose. */
const MAX_REASON = 300;

/** Why a runtime's API failed, as a log line may say it: its error text, cut. */
export function reason(err: Error): string {
  return clipped(String(err.message), MAX_REASON);
}

export class Reconnect {
  private timer: NodeJS.Timeout | undefined;
  private reported = '';

  /** `what` names the API in the log line; `attempt` connects again. */
  constructor(private readonly what: string, private readonly log: EngineLog, private readonly attempt: () => void) {}

  /** The attempt failed: the next one in RECONNECT_MS. */
  failed(err: NodeJS.ErrnoException): void {
    const why = err.code === 'ENOENT' ? 'not there' : reason(err);
    if (why !== this.reported) {
      this.reported = why;
      if (err.code !== 'ENOENT') this.log('warn', `containers: ${this.what} failed (${why}); trying again every ${RECONNECT_MS / 1000} s`);
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(this.attempt, RECONNECT_MS);
    this.timer.unref();
  }

  /** Connected: a later failure is worth a line again. */
  succeeded(): void {
    this.reported = '';
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
