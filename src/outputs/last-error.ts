// An output's last error: logged (the daemon's log limits repeats) and kept, with its time, for
// `nlmon outputs stats` (docs/cli.md, "nlmon outputs stats").
import type { OutputLog } from './output.js';
import { redactUrls } from '../config/redact.js';

export class LastError {
  message = '';
  private at: Date | undefined;

  constructor(private readonly output: string, private readonly log: OutputLog) {}

  /** Keeps and logs the message, with the credentials of any URL in it hidden. */
  note(text: string, level: 'warn' | 'error' = 'error'): void {
    const message = redactUrls(text);
    this.message = message;
    this.at = new Date();
    this.log(this.output, level, message);
  }

  /** When it happened (ISO 8601); '' if never. */
  get time(): string {
    return this.at?.toISOString() ?? '';
  }
}
