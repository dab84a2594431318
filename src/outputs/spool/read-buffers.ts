// The buffers the spool reads its disk into (spool.ts), read into again once the reader holds
// none of their records. A sender behind the writes reads a burst back through a few of them.
// A fresh buffer each read lived until its records were acknowledged: long enough for V8 to
// move it to its old generation, where its bytes count towards starting a full collection, one
// every few hundred milliseconds at full speed (README, "What was expensive", round thirteen).
import { endsBy, type SpoolPos } from './recovery.js';

/** Buffers kept at most, and how long they are kept once none has been read into. */
const MAX_KEPT = 8;
const IDLE_MS = 1000;

export class ReadBuffers {
  /** Buffers read into, oldest first, each with where its last whole record ends. */
  private readonly kept: Array<{ buf: Buffer; seg: number; end: number }> = [];
  private lastRead = 0;

  /** `size`: the bytes of each buffer; `heldFrom`: where the first record the reader still
   * holds starts (a buffer whose records all end before it is read into again). */
  constructor(private readonly size: number, private readonly heldFrom: () => SpoolPos) {}

  /** A buffer of `size` bytes: the oldest kept one when the reader holds none of its records,
   * else a fresh one. */
  take(now: number): Buffer {
    this.lastRead = now;
    const oldest = this.kept[0];
    if (oldest) {
      if (endsBy(oldest.seg, oldest.end, this.heldFrom())) {
        this.kept.shift();
        return oldest.buf;
      }
    }
    return Buffer.allocUnsafe(this.size);
  }

  /** `buf` (from take()) was read into; its whole records end at `end` in segment `seg`. Kept
   * to be read into again, up to MAX_KEPT of them. */
  keep(buf: Buffer, seg: number, end: number): void {
    if (buf.length === this.size && this.kept.length < MAX_KEPT) this.kept.push({ buf, seg, end });
  }

  /** Lets the buffers go once none has been read into for IDLE_MS (a burst read back is over):
   * an idle daemon does not keep them. */
  idle(now: number): void {
    if (this.kept.length && now - this.lastRead >= IDLE_MS) this.kept.length = 0;
  }
}
