// An output's last error: logged (the daemon's log limits repeats) and kept, with its time, for
// `nlmon outputs stats` (docs/cli.md, "nlmon outputs stats").
import type { OutputLog } from './output.js';

export class LastError {
  message = '';
  private at: Date | undefined;

  constructor(private readonly output: string, private readonly log: OutputLog) {}

  note(message: string, level: 'warn' | 'error' = 'error'): void {
    this.message = message;
    this.at = new Date();
    this.log(this.output, level, message);
  }

  /** When it happened (ISO 8601); '' if never. */
  get time(): string {
    return this.at?.toISOString() ?? '';
  }
}
