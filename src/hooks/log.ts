// The hook log (docs/hooks.md): one line when a run starts and one when it ends. A failing log
// (a full disk, an I/O error) never stops the daemon: the lines it cannot write are counted, it is
// opened again after a pause or on reopen(), which SIGUSR1 and SIGHUP call for logrotate.
import fs from 'node:fs';
import path from 'node:path';
import { hookTarget, type HookConfig } from './hook.js';
import type { NlEvent } from '../event/event.js';
import { printable } from '../event/format.js';

export type LogOutcome = { outcome: 'success' | 'failure' | 'timeout' | 'dropped'; exit_code: number | null; signal?: string | null; error?: string };

/** After a write error, how long lines are dropped (and counted) before the file is tried again. */
const RETRY_MS = 5000;

export class HookLog {
  private stream: fs.WriteStream | undefined;
  private failedAt = 0;
  /** Lines that could not be written. */
  lost = 0;

  /** '' logs nothing. Creates the directory; throws with the path if it cannot be opened. */
  constructor(readonly file: string, private readonly onError: (err: Error) => void = () => {}) {
    if (file) this.open();
  }

  started(hook: HookConfig, e: NlEvent): void {
    this.write(`${new Date().toISOString()} ${e.event} : ${e.sequence} : started ${hook.name} : ${printable(e.interface)} : ${printable(hookTarget(hook))}\n`);
  }

  done(hook: HookConfig, e: NlEvent, r: LogOutcome): void {
    const what = r.outcome === 'success' ? 'OK' : r.outcome === 'timeout' ? 'TIMEOUT' : r.outcome === 'dropped' ? 'DROPPED'
      : r.error?.startsWith('refused:') ? 'REFUSED' : r.exit_code !== null ? `ERROR:${r.exit_code}` : r.signal ? 'ERROR:signal'
        : hook.action === 'module' ? 'ERROR:threw' : hook.action === 'url' ? 'ERROR:connect' : 'ERROR:start';
    this.write(`${new Date().toISOString()} ${e.event} : ${e.sequence} : done ${printable(hookTarget(hook))} ${what}\n`);
  }

  /** Closes the file and opens it again by name (after logrotate moved it). */
  reopen(): void {
    if (!this.file) return;
    this.stream?.end();
    this.stream = undefined;
    try {
      this.open();
    } catch (e) {
      this.fail(e as Error);
    }
  }

  close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    return new Promise((resolve) => (s ? s.end(resolve) : resolve()));
  }

  private open(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o750 });
    const fd = fs.openSync(this.file, 'a', 0o640);
    const stream = fs.createWriteStream('', { fd });
    stream.on('error', (err) => {
      if (this.stream === stream) this.fail(err);
    });
    this.stream = stream;
  }

  private fail(err: Error): void {
    this.lost++;
    this.stream?.destroy();
    this.stream = undefined;
    this.failedAt = Date.now();
    this.onError(err);
  }

  private write(line: string): void {
    if (!this.file) return;
    if (!this.stream) {
      if (Date.now() - this.failedAt < RETRY_MS) {
        this.lost++;
        return;
      }
      try {
        this.open();
      } catch (e) {
        this.fail(e as Error);
        return;
      }
    }
    this.stream!.write(line);
  }
}
