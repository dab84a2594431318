// The hook log (docs/hooks.md): one line when a run starts and one when it ends, appended to an
// AppendFile (append-file.ts): a failing log never stops the daemon; the lines it cannot write
// are counted.
import type { HookBase, RunResult } from './action.js';
import { resultCode } from './action.js';
import { actionType, hookTarget } from './registry.js';
import type { NlEvent } from '../event/event.js';
import { printable } from '../event/format.js';
import { AppendFile } from '../files/append-file.js';

/** A run's result, or a run dropped from a full queue. */
export type LogOutcome = RunResult | { outcome: 'dropped' };

/** How much of a failed run's output the hook log, the daemon's log and `hooks stats` keep. */
export const OUTPUT_TAIL = 1024;

/** The end of a run's output, escaped to one line ('' when there is none). */
export function outputTail(text: string): string {
  const t = text.trimEnd();
  return t ? printable(t.length > OUTPUT_TAIL ? `…${t.slice(-OUTPUT_TAIL)}` : t) : '';
}

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

  started(hook: HookBase, e: NlEvent): void {
    this.write(`${new Date().toISOString()} ${e.event} : ${e.sequence} : started ${hook.name} : ${printable(e.interface)} : ${printable(hookTarget(hook))}\n`);
  }

  done(hook: HookBase, e: NlEvent, r: LogOutcome): void {
    let what: string;
    if (r.outcome === 'dropped') what = 'DROPPED';
    else if (r.outcome === 'success') what = 'OK';
    else if (r.outcome === 'timeout') what = 'TIMEOUT';
    else {
      const code = resultCode(r);
      what = r.error.startsWith('refused:') ? 'REFUSED' : code !== null ? `ERROR:${code}` : 'signal' in r && r.signal ? 'ERROR:signal'
        : `ERROR:${actionType(hook.action).failure}`;
    }
    const now = new Date().toISOString();
    this.write(`${now} ${e.event} : ${e.sequence} : done ${hook.name} : ${printable(e.namespace)} : ${printable(hookTarget(hook))} ${what}\n`);
    // A failure's output, so that it can be diagnosed without running the hook again: its
    // stderr (and stdout, when captured), the last OUTPUT_TAIL characters, escaped, one line each.
    if (r.outcome === 'failure' || r.outcome === 'timeout') {
      for (const [name, text] of [['stderr', r.stderr], ['stdout', r.stdout]] as const) {
        const tail = outputTail(text);
        if (tail) this.write(`${now} ${e.event} : ${e.sequence} : ${name} ${hook.name} : ${tail}\n`);
      }
    }
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
