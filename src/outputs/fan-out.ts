// Outputs (docs/config.md, "nlmon.outputs"): streams of events sent off the daemon, beside hooks.
// Two types: `nats` (nats.ts: NATS JetStream, at-least-once through an on-disk spool) and
// `file`, NDJSON (one event per line) appended to a path for Vector, Fluent Bit or Filebeat to
// tail. Intake never waits on an output: a batch's lines are handed to the file's stream at
// once; a file that cannot keep up (more than MAX_QUEUED bytes waiting) or cannot be written has
// its lines counted and dropped, and is opened again by name on SIGUSR1 and SIGHUP (logrotate)
// and after a failure.
import type { NlEvent } from '../event/event.js';
import type { Condition } from '../event/filter.js';
import { formatEventJson } from '../event/format.js';
import { AppendFile } from '../files/append-file.js';
import { NatsOutput } from './nats/nats.js';
import { LastError } from './last-error.js';

export interface OutputConfig {
  name: string;
  type: 'file' | 'nats';
  /** The filter expression ('' for every event) and its compiled form. */
  condition: string;
  match: Condition;
  /** `file`: the absolute path appended to. */
  path: string;
  /** `nats`: the servers, credentials, stream, subject template and spool. */
  url: string[];
  token: string;
  credentials_file: string;
  tls: { ca: string; cert: string; key: string } | undefined;
  stream: string;
  subject: string;
  spool_dir: string;
  spool_limit: number;
}

export interface OutputStatus {
  name: string;
  type: string;
  /** Where it sends: the file's path; the servers, stream and subject. */
  target: string;
  condition: string;
  /** `connected`, `connecting`, `disconnected`, `error` (see last_error); a file is `open` or `error`. */
  state: string;
  /** Events that matched its condition. */
  events: number;
  /** Of those, written to the file or acknowledged by the server. */
  delivered: number;
  /** Dropped: a file that could not take them; a full spool (the oldest), a spool's disk error. */
  dropped: number;
  /** Events in the spool not yet acknowledged, and the spool's bytes on disk. */
  spooled: number;
  spool_bytes: number;
  /** Bytes in memory waiting for the file or the spool's disk. */
  queued_bytes: number;
  /** Torn tails cut from the spool at start (a crash in the middle of a write). */
  torn: number;
  /** Seconds since the oldest event not yet delivered was received; 0 when none waits. */
  lag_seconds: number;
  last_error: string;
  /** When last_error happened (ISO 8601); '' if never. */
  last_error_at: string;
}

/** Bytes that may wait for a slow file before lines are dropped (and counted). */
const MAX_QUEUED = 64 * 1024 * 1024;

/** The daemon's log for an output's messages; it limits how often one kind is repeated. */
export type OutputLog = (output: string, level: 'info' | 'warn' | 'error', message: string) => void;

/** The JSON of a batch's i-th event, made once however many outputs want it. */
export type EventJson = (i: number) => string;

function eventJson(events: readonly NlEvent[]): EventJson {
  const lines: string[] = [];
  return (i) => (lines[i] ??= formatEventJson(events[i]!));
}

interface Output {
  readonly cfg: OutputConfig;
  submit(events: readonly NlEvent[], json: EventJson): void;
  reopen?(): void;
  close(): Promise<void>;
  status(): OutputStatus;
}

class FileOutput implements Output {
  private readonly file: AppendFile;
  events = 0;
  written = 0;
  failed = 0;
  private readonly lastError: LastError;

  constructor(readonly cfg: OutputConfig, log: OutputLog) {
    this.lastError = new LastError(cfg.name, log);
    // What a stream error loses is not known line by line: it is reported, not counted.
    this.file = new AppendFile(cfg.path, (err) => this.note(`${cfg.path}: ${err.message}; lines are dropped (and counted) and the file is tried again in 5 s`));
    try {
      this.file.open();
    } catch (e) {
      this.note(`${cfg.path}: ${(e as Error).message}; lines are dropped (and counted) and the file is tried again in 5 s`);
    }
  }

  submit(events: readonly NlEvent[], json: EventJson): void {
    let text = '';
    let n = 0;
    for (let i = 0; i < events.length; i++) {
      if (!this.cfg.match(events[i]!)) continue;
      text += `${json(i)}\n`;
      n++;
    }
    if (n === 0) return;
    this.events += n;
    const r = this.file.write(text, MAX_QUEUED);
    if (r === 'written') {
      this.written += n;
      return;
    }
    this.failed += n;
    if (r === 'full') this.note(`${this.cfg.path}: more than ${MAX_QUEUED} bytes wait to be written; lines are dropped (and counted) until it catches up`);
  }

  /** Closes the file and opens it again by name (after logrotate moved it). */
  reopen(): void {
    this.file.reopen();
  }

  close(): Promise<void> {
    return this.file.close();
  }

  status(): OutputStatus {
    return {
      name: this.cfg.name, type: this.cfg.type, target: this.cfg.path, condition: this.cfg.condition, state: this.file.isOpen ? 'open' : 'error',
      events: this.events, delivered: this.written, dropped: this.failed, spooled: 0, spool_bytes: 0, queued_bytes: this.file.waiting, torn: 0,
      lag_seconds: 0, last_error: this.lastError.message, last_error_at: this.lastError.time,
    };
  }

  private note(message: string): void {
    this.lastError.note(message);
  }
}

/** What an output is kept across a reload by: everything but its condition. */
function identity(c: OutputConfig): string {
  return JSON.stringify({ ...c, condition: undefined, match: undefined });
}

/** The daemon's outputs. */
export class Outputs {
  private list: Output[] = [];
  /** Batches that arrived while set() waited for outputs to close. */
  private held: Array<readonly NlEvent[]> | undefined;

  constructor(private readonly log: OutputLog = () => {}) {}

  /** Replaces the outputs (start, reload): one whose settings but the condition stay is kept
   * with its counts; the others are closed or opened. A nats output whose settings changed lets
   * go of its spool before the new one opens it; what arrives meanwhile is given to the new
   * outputs once they are open. */
  async set(configs: readonly OutputConfig[]): Promise<string[]> {
    const kept: Output[] = [];
    const going: Output[] = [];
    for (const o of this.list) (configs.some((c) => identity(c) === identity(o.cfg)) ? kept : going).push(o);
    this.list = kept;
    this.held = [];
    await Promise.all(going.map((o) => o.close()));
    const next: Output[] = [];
    const opened: Output[] = [];
    const errors: string[] = [];
    for (const cfg of configs) {
      const same = kept.find((o) => identity(o.cfg) === identity(cfg));
      if (same) {
        same.cfg.condition = cfg.condition;
        same.cfg.match = cfg.match;
        next.push(same);
      } else {
        try {
          const o = cfg.type === 'nats' ? new NatsOutput({ ...cfg }, this.log) : new FileOutput({ ...cfg }, this.log);
          next.push(o);
          opened.push(o);
        } catch (e) {
          // The spool cannot be opened: nothing could be kept for this output.
          errors.push(`output ${cfg.name}: ${(e as Error).message}`);
        }
      }
    }
    const held = this.held ?? [];
    this.held = undefined;
    this.list = next;
    for (const events of held) {
      const json = eventJson(events);
      for (const o of opened) o.submit(events, json);
    }
    return errors;
  }

  submit(events: readonly NlEvent[]): void {
    const json = eventJson(events);
    for (const o of this.list) o.submit(events, json);
    this.held?.push(events);
  }

  reopen(): void {
    for (const o of this.list) o.reopen?.();
  }

  async close(): Promise<void> {
    await Promise.all(this.list.map((o) => o.close()));
    this.list = [];
  }

  status(): OutputStatus[] {
    return this.list.map((o) => o.status());
  }
}
