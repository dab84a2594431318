// A file lines are appended to that never stops the daemon (the hook log, the file output): a
// write error or a file that cannot be opened is reported, what could not be written is the
// caller's to count, and the file is opened again by name after a pause, or at once on reopen()
// (SIGUSR1 and SIGHUP, for logrotate).
import fs from 'node:fs';
import { openSafe } from './safe-path.js';

/** After a failure, how long writes are refused before the file is tried again. */
const RETRY_MS = 5000;

/** What became of a write: handed to the file, refused because the file failed (or cannot be
 * opened), or refused because more than the limit waits to be written. */
export type WriteResult = 'written' | 'failed' | 'full';

export class AppendFile {
  private stream: fs.WriteStream | undefined;
  private failedAt = 0;

  /** onError hears every failure; `lost` is true when it came from the stream, after the text of
   * earlier writes had been handed to it (that text is lost). */
  constructor(readonly file: string, private readonly onError: (err: Error, lost: boolean) => void) {}

  /** Opens the file now (creating its directory), never through a path another user could
   * change (safe-path.ts); throws with the path and why if it cannot. */
  open(): void {
    const fd = openSafe(this.file, { flags: fs.constants.O_APPEND, mode: 0o640, dirMode: 0o750 });
    const stream = fs.createWriteStream('', { fd, highWaterMark: 1 << 20 });
    stream.on('error', (err) => {
      if (this.stream === stream) this.fail(err, true);
    });
    this.stream = stream;
  }

  write(text: string | Buffer, limit = Infinity): WriteResult {
    if (!this.stream) {
      if (Date.now() - this.failedAt < RETRY_MS) return 'failed';
      try {
        this.open();
      } catch (e) {
        this.fail(e as Error, false);
        return 'failed';
      }
    }
    if (this.stream!.writableLength > limit) return 'full';
    this.stream!.write(text);
    return 'written';
  }

  /** Whether the file is open (not waiting to be tried again after a failure). */
  get isOpen(): boolean {
    return this.stream !== undefined;
  }

  /** Bytes handed to the file and not yet written. */
  get waiting(): number {
    return this.stream?.writableLength ?? 0;
  }

  /** Closes the file and opens it again by name (after logrotate moved it). */
  reopen(): void {
    const old = this.stream;
    this.stream = undefined;
    old?.end();
    try {
      this.open();
    } catch (e) {
      this.fail(e as Error, false);
    }
  }

  close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    return new Promise((resolve) => (s ? s.end(resolve) : resolve()));
  }

  private fail(err: Error, lost: boolean): void {
    this.stream?.destroy();
    this.stream = undefined;
    this.failedAt = Date.now();
    this.onError(err, lost);
  }
}
