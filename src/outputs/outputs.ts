// Outputs (docs/config.md, "nlmon.outputs"): streams of events sent off the daemon, beside hooks.
// Today one type: `file`, NDJSON (one event per line) appended to a path for Vector, Fluent Bit
// or Filebeat to tail. Intake never waits on an output: a batch's lines are handed to the file's
// stream at once; a file that cannot keep up (more than MAX_QUEUED bytes waiting) or cannot be
// written has its lines counted and dropped, and is opened again by name on SIGUSR1 and SIGHUP
// (logrotate) and after a failure.
import type { NlEvent } from '../event/event.js';
import type { Condition } from '../event/filter.js';
import { formatEventJson } from '../event/format.js';
import { AppendFile } from '../hooks/append-file.js';

export interface OutputConfig {
  name: string;
  type: 'file';
  /** The filter expression ('' for every event) and its compiled form. */
  condition: string;
  match: Condition;
  /** `file`: the absolute path appended to. */
  path: string;
}

export interface OutputStatus {
  name: string;
  type: string;
  /** Where it sends: the file's path. */
  target: string;
  condition: string;
  /** Events that matched its condition. */
  events: number;
  /** Of those, lines handed to the file. */
  written: number;
  /** Lines the file could not take (an I/O error, a file that cannot keep up). */
  failed: number;
  /** Bytes handed to the file and not yet written. */
  queued_bytes: number;
  last_error: string;
}

/** Bytes that may wait for a slow file before lines are dropped (and counted). */
const MAX_QUEUED = 64 * 1024 * 1024;

export type OutputLog = (output: string, message: string) => void;

class FileOutput {
  private readonly file: AppendFile;
  events = 0;
  written = 0;
  failed = 0;
  lastError = '';
  private lastNote = 0;

  constructor(readonly cfg: OutputConfig, private readonly log: OutputLog) {
    // What a stream error loses is not known line by line: it is reported, not counted.
    this.file = new AppendFile(cfg.path, (err) => this.note(`${cfg.path}: ${err.message}; lines are dropped (and counted) and the file is tried again in 5 s`));
    try {
      this.file.open();
    } catch (e) {
      this.note(`${cfg.path}: ${(e as Error).message}; lines are dropped (and counted) and the file is tried again in 5 s`);
    }
  }

  submit(events: readonly NlEvent[]): void {
    let text = '';
    let n = 0;
    for (const e of events) {
      if (!this.cfg.match(e)) continue;
      text += `${formatEventJson(e)}\n`;
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
      name: this.cfg.name, type: this.cfg.type, target: this.cfg.path, condition: this.cfg.condition,
      events: this.events, written: this.written, failed: this.failed, queued_bytes: this.file.waiting, last_error: this.lastError,
    };
  }

  /** At most one line a minute per output in the daemon's log. */
  private note(message: string): void {
    this.lastError = message;
    if (Date.now() - this.lastNote < 60_000) return;
    this.lastNote = Date.now();
    this.log(this.cfg.name, message);
  }
}

/** The daemon's outputs. */
export class Outputs {
  private list: FileOutput[] = [];

  constructor(private readonly log: OutputLog = () => {}) {}

  /** Replaces the outputs (start, reload): one whose name, type and path stay is kept with its
   * counts; the others are closed or opened. */
  set(configs: readonly OutputConfig[]): void {
    const next: FileOutput[] = [];
    for (const cfg of configs) {
      const same = this.list.find((o) => o.cfg.name === cfg.name && o.cfg.type === cfg.type && o.cfg.path === cfg.path);
      if (same) {
        same.cfg.condition = cfg.condition;
        same.cfg.match = cfg.match;
        next.push(same);
      } else {
        next.push(new FileOutput({ ...cfg }, this.log));
      }
    }
    for (const o of this.list) if (!next.includes(o)) void o.close();
    this.list = next;
  }

  submit(events: readonly NlEvent[]): void {
    for (const o of this.list) o.submit(events);
  }

  reopen(): void {
    for (const o of this.list) o.reopen();
  }

  async close(): Promise<void> {
    await Promise.all(this.list.map((o) => o.close()));
    this.list = [];
  }

  status(): OutputStatus[] {
    return this.list.map((o) => o.status());
  }

  /** Lines counted by result, for the metrics. */
  counts(): Array<{ output: string; written: number; failed: number }> {
    return this.list.map((o) => ({ output: o.cfg.name, written: o.written, failed: o.failed }));
  }
}
