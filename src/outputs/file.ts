// The `file` output (docs/config.md, "nlmon.outputs"): NDJSON, one event per line, appended to a
// path for Vector, Fluent Bit or Filebeat to tail. A batch's lines are handed to the file's
// stream at once; a file that cannot keep up (more than MAX_QUEUED bytes waiting) or cannot be
// written has its lines counted and dropped, and is opened again by name on SIGUSR1 and SIGHUP
// (logrotate) and after a failure.
import type { NlEvent } from '../event/event.js';
import { AppendFile } from '../files/append-file.js';
import { EventLines } from '../event/json.js';
import { LastError } from './last-error.js';
import type { Output, OutputBase, OutputLog, OutputStatusBase, OutputType } from './output.js';

export interface FileOutputConfig extends OutputBase {
  type: 'file';
  /** The absolute path appended to. */
  path: string;
}

export interface FileOutputStatus extends OutputStatusBase {
  type: 'file';
  /** Bytes in memory waiting for the file. */
  queued_bytes: number;
}

/** Bytes that may wait for a slow file before lines are dropped (and counted). */
const MAX_QUEUED = 64 * 1024 * 1024;

class FileOutput implements Output<FileOutputConfig> {
  private readonly file: AppendFile;
  private events = 0;
  private written = 0;
  private failed = 0;
  private readonly lastError: LastError;
  private readonly lines = new EventLines();

  constructor(readonly cfg: FileOutputConfig, log: OutputLog) {
    this.lastError = new LastError(cfg.name, log);
    // What a stream error loses is not known line by line: it is reported, not counted.
    this.file = new AppendFile(cfg.path, (err) => this.note(`${cfg.path}: ${err.message}; lines are dropped (and counted) and the file is tried again in 5 s`));
    try {
      this.file.open();
    } catch (e) {
      this.note(`${cfg.path}: ${(e as Error).message}; lines are dropped (and counted) and the file is tried again in 5 s`);
    }
  }

  submit(events: readonly NlEvent[]): void {
    const lines = this.lines;
    let n = 0;
    for (let i = 0; i < events.length; i++) {
      if (!this.cfg.match(events[i]!)) continue;
      lines.add(events[i]!);
      n++;
    }
    if (n === 0) return;
    this.events += n;
    const r = this.file.write(lines.take(), MAX_QUEUED);
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

  status(): FileOutputStatus {
    return {
      name: this.cfg.name, type: 'file', target: this.cfg.path, condition: this.cfg.condition, state: this.file.isOpen ? 'open' : 'error',
      events: this.events, delivered: this.written, dropped: this.failed, queued_bytes: this.file.waiting,
      last_error: this.lastError.message, last_error_at: this.lastError.time,
    };
  }

  private note(message: string): void {
    this.lastError.note(message);
  }
}

export const fileOutputType: OutputType<FileOutputConfig> = {
  type: 'file',
  keys: ['path'],
  read(c, e, item, ctx) {
    if (!e.has('path')) c.at(item, `${ctx.label} needs a path`);
    const path = c.createdFile(e, 'path');
    return path === undefined ? undefined : { path };
  },
  create: (cfg, deps) => new FileOutput(cfg, deps.log),
};
