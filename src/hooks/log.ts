// The hook log (docs/hooks.md): one line when a run starts and one when it ends, appended to an
// AppendFile (append-file.ts): a failing log never stops the daemon; the lines it cannot write
// are counted.
import { hookTarget, type HookConfig } from './hook.js';
import type { NlEvent } from '../event/event.js';
import { printable } from '../event/format.js';
import { AppendFile } from '../files/append-file.js';

export type LogOutcome = { outcome: 'success' | 'failure' | 'timeout' | 'dropped'; exit_code: number | null; signal?: string | null; error?: string };

export class HookLog {
  private readonly out: AppendFile | undefined;
  /** Lines that could not be written. */
  lost = 0;

  /** '' logs nothing. Creates the directory; throws with the path if it cannot be opened. */
  constructor(readonly file: string, onError: (err: Error) => void = () => {}) {
    if (!file) return;
    this.out = new AppendFile(file, (err, lost) => {
      if (lost) this.lost++;
      onError(err);
    });
    this.out.open();
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
    this.out?.reopen();
  }

  close(): Promise<void> {
    return this.out?.close() ?? Promise.resolve();
  }

  private write(line: string): void {
    if (this.out && this.out.write(line) !== 'written') this.lost++;
  }
}
