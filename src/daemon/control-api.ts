// What the control socket serves (docs/cli.md): the daemon's side implements ControlApi, the
// CLI's side reads these shapes. Neither imports the other.
import type { HookStatus } from '../hooks/scheduler.js';
import type { NewHook } from './config-edit.js';
import type { OutputStatusBase as OutputStatus } from '../outputs/output.js';

export interface StatusReport {
  pid: number;
  version: string;
  config: string;
  started_at: string;
  uptime_s: number;
  /** How the namespaces are read: `per_namespace` or `shared` (docs/config.md, `intake`). */
  intake: 'per_namespace' | 'shared';
  events: number;
  overruns: number;
  resyncs: number;
  namespaces: Array<{ name: string; links: number; addresses: number; events: number; overruns: number; resyncs: number; reopens: number; malformed: number; receive_buffer: number; read_ahead: number; read_ahead_peak: number; container: string }>;
  /** backlog: events waiting behind a sync hook; backlog_dropped: such events dropped past
   * backlog_limit; discarded: such events dropped by a stop. */
  hooks: { total: number; enabled: number; running: number; queued: number; backlog: number; backlog_dropped: number; discarded: number };
  /** Lines the hook log could not write (a full disk, an I/O error). */
  hook_log_lost: number;
  /** The hook log's path ('' for none): what `nlmon hooks log` reads. */
  hook_log: string;
  outputs: OutputStatus[];
}

/** What the daemon offers through the socket. */
export interface ControlApi {
  status(): StatusReport;
  hooks(): HookStatus[];
  outputStats(): OutputStatus[];
  setEnabled(name: string, enabled: boolean): boolean;
  resetStats(name?: string): boolean;
  addHook(hook: NewHook): HookStatus;
  deleteHook(name: string): void;
  reload(): { ok: boolean; errors: string[] };
}
