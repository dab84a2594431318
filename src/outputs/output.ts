// What an output is (docs/config.md, "nlmon.outputs"): one registry entry per type
// (registry.ts) that reads its own keys and makes the output; the fan-out (fan-out.ts) knows
// outputs only through this interface. Intake never waits on an output.
import type { NlEvent } from '../event/event.js';
import type { Condition } from '../event/filter.js';
import type { Checker, Entries, YAMLMap } from '../config/checker.js';

/** The keys every output has, whatever its type. */
export interface OutputBase {
  name: string;
  /** The type's name: `file`, `nats`, or one registered later. */
  type: string;
  /** The filter expression ('' for every event) and its compiled form. */
  condition: string;
  match: Condition;
}

/** What every output says of itself (`nlmon outputs stats`); each type adds its own fields. */
export interface OutputStatusBase {
  name: string;
  type: string;
  /** Where it sends: the file's path; the servers, stream and subject. */
  target: string;
  condition: string;
  /** Its type's states (a file is `open` or `error`; a nats output `connecting`,
   * `connected`, `disconnected` or `error`). */
  state: string;
  /** Events that matched its condition. */
  events: number;
  /** Of those, written, or acknowledged by the receiver. */
  delivered: number;
  /** Lost and counted. */
  dropped: number;
  last_error: string;
  /** When last_error happened (ISO 8601); '' if never. */
  last_error_at: string;
}

/** The daemon's log for an output's messages; it limits how often one kind is repeated. */
export type OutputLog = (output: string, level: 'info' | 'warn' | 'error', message: string) => void;

export interface Output<C extends OutputBase = OutputBase> {
  readonly cfg: C;
  /** A batch of events in order (the output applies its condition); never blocks. An output
   * writes an event's JSON into its own buffer (event/json.ts). */
  submit(events: readonly NlEvent[]): void;
  /** Closes its files and opens them again by name (SIGUSR1, SIGHUP: after logrotate). */
  reopen?(): void;
  close(): Promise<void>;
  status(): OutputStatusBase;
}

/** What reading an output's keys may need besides its own entries. */
export interface OutputReadContext {
  /** The output's name ('' if it has none: already reported). */
  name: string;
  label: string;
  /** Paths that one output holds for itself (a spool directory), across all outputs. */
  claimed: Set<string>;
}

/** What an output is made with besides its config. */
export interface OutputDeps {
  log: OutputLog;
}

/** An output type: one registry entry (registry.ts). */
export interface OutputType<C extends OutputBase = OutputBase> {
  readonly type: string;
  /** The keys only outputs of this type may have. */
  readonly keys: readonly string[];
  /** Keys of nested mappings, by the mapping's name (`tls`), for docs/config.md's check. */
  readonly nested?: Readonly<Record<string, readonly string[]>>;
  /** Reads the type's keys from an output's entries; undefined after reporting a mistake. */
  read(c: Checker, e: Entries, item: YAMLMap, ctx: OutputReadContext): Omit<C, keyof OutputBase> | undefined;
  /** Makes the output (at start, or a reload that changed it); throws with why it cannot. */
  create(cfg: C, deps: OutputDeps): Output<C>;
}
