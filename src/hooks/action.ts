// What a hook is to the scheduler, and what an action is to the registry (registry.ts): a hook
// has the keys every hook has (docs/hooks.md) and exactly one action, whose own keys, reader,
// defaults and runner live in one file of actions/ (script, url, module).
import type { Condition } from '../event/filter.js';
import type { NlEvent } from '../event/event.js';
import type { Checker, Entries } from '../config/checker.js';
import type { NativeBinding } from '../native/addon.js';

/** The keys every hook has, whatever its action. */
export interface HookBase {
  name: string;
  /** The action's key: `script`, `url`, `module`, or one registered later. */
  action: string;
  condition: string;
  match: Condition;
  timeout_ms: number;
  enabled: boolean;
  async: boolean;
  /** Its share of max_concurrent, and the runs it may have waiting (queued or waiting to
   * retry); absent: half of max_concurrent beside other hooks, and the daemon's queue_limit. */
  max_concurrent?: number;
  queue_limit?: number;
  /** Event fields whose values make a key: runs of one key start one after another, in event
   * order (key-order.ts); absent: no order between the runs of an async hook. */
  order_by?: string[];
  /** Events of one key within this many ms collapse into one run (gates.ts); max_delay_ms
   * bounds how long a key that never settles waits. */
  debounce_ms?: number;
  max_delay_ms?: number;
  /** At most `burst` runs at once, then one per min_interval_ms (gates.ts). */
  min_interval_ms?: number;
  burst?: number;
  /** Attempts after a failed one (script: a non-zero exit, or one of retry_on; url: no answer,
   * 408, 429, 5xx), with backoff; absent: the action's default. */
  retries?: number;
  /** The drop-in file (`include`) that defines it; absent for the config file's own hooks. */
  from?: string;
}

export type RunOutcome = 'success' | 'failure' | 'timeout';

/** How a run ended: what every action says. */
export interface RunResult {
  outcome: RunOutcome;
  duration_ms: number;
  /** Why it failed or was stopped; '' on success. */
  error: string;
  stdout: string;
  stderr: string;
  /** Requests made, for a webhook (1 + its retries); absent for other actions. */
  attempts?: number;
}

/** A script's run: its exit. */
export interface ScriptRunResult extends RunResult {
  /** Exit code, or null when killed by a signal or never started. */
  exit_code: number | null;
  signal: string | null;
  /** performance.now() when nlmon learnt the process had been exec'd; NaN if it never was. */
  spawned_at: number;
}

/** A webhook's run: the receiver's last answer. */
export interface WebhookRunResult extends RunResult {
  /** The HTTP status of the last answer; null when none came (timeout, connection failed). */
  http_status: number | null;
  attempts: number;
}

/** The code a result carries, as the hook log and `LAST_EXIT` show it: a script's exit code or
 * a webhook's HTTP status; null for a result with neither. */
export function resultCode(r: RunResult): number | null {
  if ('exit_code' in r) return (r as ScriptRunResult).exit_code;
  if ('http_status' in r) return (r as WebhookRunResult).http_status;
  return null;
}

/** A run's hold on a max_concurrent slot, for a run that waits between attempts (a webhook's
 * retry): it gives the slot back while it waits and takes one again before the next attempt. */
export interface RunSlot {
  release(): void;
  acquire(): Promise<void>;
}

/** What the scheduler needs of a runner (a fake in unit tests). */
export interface HookRunner {
  run(hook: HookBase, event: NlEvent, slot?: RunSlot): Promise<RunResult>;
}

/** What reading an action's keys may need besides the file. */
export interface ActionReadOptions {
  allowUnsafeScripts: boolean;
}

/** What the daemon gives the actions' runners. */
export interface ActionServices {
  binding?: NativeBinding;
  /** Lines a hook logs of its own (a module's `ctx.log`). */
  log: (hook: string, line: string) => void;
}

/** One action's runner: made once per daemon (or `hooks run`). */
export interface ActionRunner<H extends HookBase> {
  run(hook: H, event: NlEvent, slot?: RunSlot): Promise<RunResult>;
  /** The hooks of this action in force (at start and after a reload). */
  load?(hooks: readonly H[]): void;
  /** The daemon stops. */
  close?(): void;
  /** The daemon exits before its runs end (a stop past its grace, docs/cli.md): ends at once
   * what would outlive the process; returns how many runs it ended. */
  abandon?(): number;
}

/** An action type: one registry entry (registry.ts). */
export interface ActionType<H extends HookBase = HookBase> {
  /** The hook key that names the action (`script: …`), and the hook's `action`. */
  readonly key: string;
  /** The keys only hooks of this action may have. */
  readonly keys: readonly string[];
  /** `retries` when a hook does not give it; absent: the action never retries, and `retries`
   * is a mistake on its hooks. */
  readonly retries?: number;
  /** Reads the action's keys (its own key included) from a hook's entries; undefined after
   * reporting a mistake. The keys every hook has are read by hooks/config.ts. */
  read(c: Checker, e: Entries, label: string, opts: ActionReadOptions): Omit<H, keyof HookBase> | undefined;
  /** What a hook runs, as `hooks list` and the hook log show it. */
  target(hook: H): string;
  /** The hook log's word for a failure that carries no code: `ERROR:<word>`. */
  readonly failure: string;
  runner(services: ActionServices): ActionRunner<H>;
}
