// Per-hook statistics (docs/hooks.md): counts, durations (min/max/avg/total, p50/p95 over the
// last 1024 runs), and the last run's exit code, time and error.
import { resultCode, type RunResult } from './action.js';
import { outputTail } from './log.js';

export interface HookStatsSnapshot {
  executions: number;
  successes: number;
  failures: number;
  timeouts: number;
  dropped: number;
  /** Requests made again after a failed attempt (webhooks); 0 for the other actions. */
  retries: number;
  running: number;
  queued: number;
  /** Runs waiting to retry (a webhook's), their slot given back. */
  retrying: number;
  min_ms: number;
  max_ms: number;
  avg_ms: number;
  total_ms: number;
  p50_ms: number;
  p95_ms: number;
  /** A script's exit code or a webhook's HTTP status, of the last run; null if it had none
   * (killed, never started, no answer, a module). */
  last_exit_code: number | null;
  last_run_at: string;
  last_error: string;
  /** The end of the last failed run's output (stderr, then stdout when captured), escaped. */
  last_output: string;
}

const WINDOW = 1024;

export class HookStats {
  executions = 0;
  successes = 0;
  failures = 0;
  timeouts = 0;
  dropped = 0;
  retries = 0;
  running = 0;
  queued = 0;
  retrying = 0;
  private min = Infinity;
  private max = 0;
  private total = 0;

  /** Fresh counts (reset-stats) that keep the gauges of runs going on now. */
  static keepingGauges(old: HookStats | undefined): HookStats {
    const fresh = new HookStats();
    if (old) [fresh.running, fresh.queued, fresh.retrying] = [old.running, old.queued, old.retrying];
    return fresh;
  }
  private readonly recent = new Float64Array(WINDOW);
  private lastExit: number | null = null;
  /** When the last run ended (ms since the epoch; NaN before the first), formatted when asked. */
  private lastRunAt = NaN;
  private lastError = '';
  private lastOutput = '';

  record(r: RunResult, at: number): void {
    this.executions++;
    if (r.attempts && r.attempts > 1) this.retries += r.attempts - 1;
    if (r.outcome === 'success') this.successes++;
    else if (r.outcome === 'timeout') this.timeouts++;
    else this.failures++;
    this.min = Math.min(this.min, r.duration_ms);
    this.max = Math.max(this.max, r.duration_ms);
    this.total += r.duration_ms;
    this.recent[(this.executions - 1) % WINDOW] = r.duration_ms;
    this.lastExit = resultCode(r);
    this.lastRunAt = at;
    this.lastError = r.error;
    if (r.outcome !== 'success') this.lastOutput = outputTail(`${r.stderr}${r.stdout ? `${r.stderr ? '\n' : ''}${r.stdout}` : ''}`);
  }

  private percentile(p: number): number {
    const n = Math.min(this.executions, WINDOW);
    if (n === 0) return 0;
    const sorted = Array.from(this.recent.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)]!;
  }

  snapshot(): HookStatsSnapshot {
    const round = (v: number) => Math.round(v * 1000) / 1000;
    return {
      executions: this.executions, successes: this.successes, failures: this.failures, timeouts: this.timeouts,
      dropped: this.dropped, retries: this.retries, running: this.running, queued: this.queued, retrying: this.retrying,
      min_ms: this.executions ? round(this.min) : 0, max_ms: round(this.max),
      avg_ms: this.executions ? round(this.total / this.executions) : 0, total_ms: round(this.total),
      p50_ms: round(this.percentile(50)), p95_ms: round(this.percentile(95)),
      last_exit_code: this.lastExit, last_run_at: Number.isNaN(this.lastRunAt) ? '' : new Date(this.lastRunAt).toISOString(), last_error: this.lastError, last_output: this.lastOutput,
    };
  }
}

/** A hook as `hooks list` and `hooks stats` show it. */
export interface HookStatus extends HookStatsSnapshot {
  name: string;
  enabled: boolean;
  async: boolean;
  /** The action's key: script, url, module. */
  action: string;
  /** What it runs: the script's command line, the URL or the module's path. */
  target: string;
  condition: string;
  /** Runs waiting out a debounce_ms (one per key) or their min_interval_ms (docs/hooks.md). */
  delayed: number;
  /** Events folded into another run's by debounce_ms, since start. */
  coalesced: number;
}
