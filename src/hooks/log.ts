// The hook log (docs/hooks.md): one line when a run starts and one when it ends.
import fs from 'node:fs';
import path from 'node:path';
import type { HookConfig } from './hook.js';
import type { NlEvent } from '../event/event.js';

export type LogOutcome = { outcome: 'success' | 'failure' | 'timeout' | 'dropped'; exit_code: number | null };

export class HookLog {
  private stream: fs.WriteStream | undefined;

  /** '' logs nothing. Creates the directory; throws with the path if it cannot be opened. */
  constructor(readonly file: string) {
    if (!file) return;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
    const fd = fs.openSync(file, 'a', 0o640);
    this.stream = fs.createWriteStream('', { fd });
  }

  started(hook: HookConfig, e: NlEvent): void {
    this.stream?.write(`${new Date().toISOString()} ${e.event} : ${e.sequence} : started ${hook.name} : ${e.interface} : ${hook.script}\n`);
  }

  done(hook: HookConfig, e: NlEvent, r: LogOutcome): void {
    if (!this.stream) return;
    const what = r.outcome === 'success' ? 'OK' : r.outcome === 'timeout' ? 'TIMEOUT' : r.outcome === 'dropped' ? 'DROPPED'
      : `ERROR:${r.exit_code ?? 'signal'}`;
    this.stream.write(`${new Date().toISOString()} ${e.event} : ${e.sequence} : done ${hook.script} ${what}\n`);
  }

  close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    return new Promise((resolve) => (s ? s.end(resolve) : resolve()));
  }
}
