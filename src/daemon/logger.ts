// The daemon's own log on stderr (docs/cli.md, `nlmon run`): one line per record, text or JSON.
// Logging never kills the daemon: a closed or broken stderr (EPIPE, a collector that went away)
// is noted and later records are dropped. Warnings that repeat per event are rate-limited.
// Text lines escape control characters; JSON escapes them by itself.
import type { LogLevel } from '../netlink/monitor.js';
import { terminalSafe } from '../event/format.js';

export type Logger = (level: LogLevel, message: string) => void;
export type LogFormat = 'text' | 'json';

/** Where log lines go; process.stderr in the daemon. */
export interface LogSink {
  write(line: string): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export function stderrLogger(format: LogFormat = 'text', sink: LogSink = process.stderr): Logger {
  let broken = false;
  sink.on('error', () => { broken = true; });
  const line = format === 'json'
    ? (level: LogLevel, message: string) => `${JSON.stringify({ time: new Date().toISOString(), level, msg: message })}\n`
    // Names in messages come from interfaces, containers, engines and servers: a control
    // character (an escape sequence, a carriage return forging a line) is printed as \xNN.
    : (level: LogLevel, message: string) => `${new Date().toISOString()} ${level} ${message.split('\n').map(terminalSafe).join('\n  ')}\n`;
  return (level, message) => {
    if (broken) return;
    try {
      sink.write(line(level, message));
    } catch {
      broken = true;
    }
  };
}

/** Logs a kind of message at most once per interval; the next one that is let through says how
 * many were left out meanwhile. For what can repeat per event (dropped runs, failing hooks). */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly out: Logger, private readonly intervalMs = 60_000, private readonly now = () => Date.now()) {}

  /** `key` names the kind of message (for example the hook and what happened to it). */
  log(key: string, level: LogLevel, message: string): void {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen && t - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const extra = seen?.suppressed ? ` (${seen.suppressed} more like this in the last ${Math.round((t - seen.at) / 1000)} s not logged)` : '';
    this.last.set(key, { at: t, suppressed: 0 });
    this.out(level, message + extra);
  }
}
