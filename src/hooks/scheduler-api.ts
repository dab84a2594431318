// What the scheduler (scheduler.ts) is given and what it tells: its limits, and the observer
// that hears of each run (the hook log, the metrics, the daemon's log).
import type { NlEvent } from '../event/event.js';
import type { HookBase, RunResult } from './action.js';

export interface SchedulerObserver {
  started?(hook: HookBase, event: NlEvent): void;
  finished?(hook: HookBase, event: NlEvent, result: RunResult): void;
  /** A run dropped: its hook's or the daemon's queue was full. */
  dropped?(hook: HookBase, event: NlEvent, why: string): void;
  /** Events waiting behind a sync hook were dropped: backlog_limit was reached. */
  backlogDropped?(count: number, limit: number): void;
}

export interface SchedulerLimits {
  maxConcurrent: number;
  /** Runs that may wait in all: queued, and waiting to retry. */
  queueLimit: number;
  /** Events that may wait behind sync hooks before the oldest are dropped. */
  backlogLimit?: number;
}
