// The spool's latest writes kept in memory (spool.ts), at most a set number of bytes: a sender
// that keeps up reads them back from here, not from the disk. Keeping only the last write left
// the writes before it in a burst to the disk: through the thread pool, into a fresh buffer each
// (more than half of a 100 000-event burst's records, measured).
import { wholeRun, type RecordRun } from './record.js';
import { endsBy, type SpoolPos } from './recovery.js';

export class RecentWrites {
  /** Oldest first; a segment's writes follow one another. */
  private writes: RecordRun[] = [];
  private bytes = 0;

  constructor(private readonly max: number) {}

  /** Keeps a write (its whole records, where in its segment), forgetting the oldest past the
   * bound (the last write is kept whatever its size) and those of segments before `first`
   * (deleted). */
  remember(write: RecordRun, first: number): void {
    this.forget({ seg: first, off: 0 });
    this.writes.push(write);
    this.bytes += write.buf.length;
    while (this.bytes > this.max && this.writes.length > 1) this.bytes -= this.writes.shift()!.buf.length;
  }

  /** Forgets the writes that end at or before `pos` (with offset 0: those of segments before
   * its segment). */
  forget(pos: SpoolPos): void {
    const w = this.writes;
    while (w.length && endsBy(w[0]!.seg, w[0]!.off + w[0]!.buf.length, pos)) {
      this.bytes -= w.shift()!.buf.length;
    }
  }

  /** The records from `from` on in the kept writes (the one holding `from` and those after it in
   * its segment, about `chunk` bytes), a run per write; undefined when `from` is not in them. */
  read(from: SpoolPos, chunk: number): { runs: RecordRun[]; next: SpoolPos } | undefined {
    const w = this.writes;
    // The writes that end before `from` are behind the sender, which reads on from where its last
    // read ended: let go now (another reader of them reads the disk). Kept until pushed out by
    // the bound, they outlived two of V8's young collections, were moved to its old generation,
    // and their bytes, counted against its limit, started a full collection every tenth of a
    // second at 30 000 events/s (README, "What was expensive").
    this.forget(from);
    let i = w.length - 1;
    while (i >= 0 && !(w[i]!.seg === from.seg && w[i]!.off <= from.off)) i--;
    if (i < 0 || from.off >= w[i]!.off + w[i]!.buf.length) return undefined;
    const runs: RecordRun[] = [];
    let next = from;
    for (let bytes = 0; i < w.length && bytes < chunk; i++) {
      const write = w[i]!;
      const { seg, off, buf } = write;
      // Reading goes on where the last write ended, within the segment.
      if (seg !== next.seg || next.off < off || next.off >= off + buf.length) break;
      const skip = next.off - off;
      // A write read from its start is its records as written: not walked through again.
      const run = skip ? wholeRun(buf.subarray(skip), buf.length - skip, next) : write;
      if (run.records) runs.push(run);
      bytes += buf.length - skip;
      next = { seg, off: next.off + run.bytes };
    }
    return { runs, next };
  }
}
