// The nats output's records between the spool and the stream's acknowledgement (nats.ts), kept
// as numbers: no object per record. A record lived as an object from its read to its
// acknowledgement, long enough for the garbage collector to copy it out of the young generation
// and then mark it; a burst made one per event. Each flight's payload is copied into chunks of
// bytes the flights own and use again once their flights are forgotten: held by reference, the
// spool's buffers lived as long, were moved to V8's old generation, and their bytes counted
// towards starting a full collection (README, "What was expensive", round thirteen).
import { payloadTime, SpoolRecord } from '../spool/record.js';

const ACKED = 1;
const REFUSED = 2;
/** The bytes of a chunk (a payload larger than this has one of its own), and the chunks kept
 * for use again once their flights are forgotten. */
const CHUNK = 256 * 1024;
const SPARE = 4;

/** Publishes in flight, by number: the numbers from `first` to `next` (excluded), oldest first,
 * at most `size` of them (a power of two: a flight's number picks its slot). A publish's reply
 * subject ends in its number; a resend keeps it, and either reply acknowledges. */
export class Flights {
  /** The oldest flight kept (not yet forgotten), and the number the next one gets. */
  first = 0;
  next = 0;
  private readonly mask: number;
  /** The chunks holding the kept flights' payloads, oldest first, chunks[0] numbered `base`;
   * `fill` bytes of the newest are used. Spare ones are taken before a new one is made. */
  private chunks: Buffer[] = [];
  private base = 0;
  private fill = 0;
  private readonly spare: Buffer[] = [];
  /** Per slot: the number of the chunk holding its payload and where it lies there, its segment,
   * where in that segment the next record starts, when it was last sent (ms), ACKED/REFUSED. */
  private readonly chunkOf: Float64Array;
  private readonly at: Int32Array;
  private readonly len: Int32Array;
  private readonly segs: Float64Array;
  private readonly ends: Float64Array;
  private readonly sent: Float64Array;
  private readonly state: Uint8Array;

  constructor(readonly size: number) {
    if (size <= 0 || (size & (size - 1)) !== 0) throw new Error(`a window of ${size} is not a power of two`);
    this.mask = size - 1;
    this.chunkOf = new Float64Array(size);
    this.at = new Int32Array(size);
    this.len = new Int32Array(size);
    this.segs = new Float64Array(size);
    this.ends = new Float64Array(size);
    this.sent = new Float64Array(size);
    this.state = new Uint8Array(size);
  }

  /** Flights kept: in flight, or acknowledged behind one that is not. */
  get count(): number {
    return this.next - this.first;
  }

  /** Whether flight n is kept (a reply's number may be anything). */
  holds(n: number): boolean {
    return n >= this.first && n < this.next;
  }

  /** A new flight for the record whose payload is buf[p, p + len) (copied), of segment `seg`,
   * ending at `end` there; its number. The caller keeps count below `size`. */
  push(buf: Buffer, p: number, len: number, seg: number, end: number): number {
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || this.fill + len > chunk.length) {
      chunk = len <= CHUNK ? (this.spare.pop() ?? Buffer.allocUnsafe(CHUNK)) : Buffer.allocUnsafe(len);
      this.chunks.push(chunk);
      this.fill = 0;
    }
    const n = this.next++;
    const i = n & this.mask;
    this.chunkOf[i] = this.base + this.chunks.length - 1;
    this.at[i] = this.fill;
    buf.copy(chunk, this.fill, p, p + len);
    this.fill += len;
    this.len[i] = len;
    this.segs[i] = seg;
    this.ends[i] = end;
    this.sent[i] = 0;
    this.state[i] = 0;
    return n;
  }

  /** Forgets the oldest flight; the chunks before the next one's are used again (a few kept). */
  shift(): void {
    this.first++;
    const done = this.count > 0 ? this.chunkOf[this.first & this.mask]! - this.base : this.chunks.length;
    for (let k = 0; k < done; k++) {
      const c = this.chunks.shift()!;
      if (c.length === CHUNK && this.spare.length < SPARE) this.spare.push(c);
      this.base++;
    }
  }

  /** The buffer holding flight n's payload (at payloadAt(n)). */
  buf(n: number): Buffer {
    return this.chunks[this.chunkOf[n & this.mask]! - this.base]!;
  }

  payloadAt(n: number): number {
    return this.at[n & this.mask]!;
  }

  payloadLength(n: number): number {
    return this.len[n & this.mask]!;
  }

  seg(n: number): number {
    return this.segs[n & this.mask]!;
  }

  end(n: number): number {
    return this.ends[n & this.mask]!;
  }

  sentAt(n: number): number {
    return this.sent[n & this.mask]!;
  }

  markSent(n: number, now: number): void {
    this.sent[n & this.mask] = now;
  }

  acked(n: number): boolean {
    return this.state[n & this.mask] === ACKED;
  }

  /** Acknowledged by the stream (no longer refused, if it was). */
  ack(n: number): void {
    this.state[n & this.mask] = ACKED;
  }

  /** Refused by the stream (an error answer): sent again later. */
  refuse(n: number): void {
    this.state[n & this.mask] = REFUSED;
  }

  /** When flight n's event was received (ms since the epoch), for the lag. */
  time(n: number): number {
    return payloadTime(this.buf(n), this.payloadAt(n), this.payloadLength(n));
  }

  /** The flights not yet acknowledged, oldest first, as objects, and their numbers; those of a
   * segment `dropped` says is gone are left out. */
  unacknowledged(dropped: (seg: number) => boolean): { records: SpoolRecord[]; numbers: number[] } {
    const records: SpoolRecord[] = [];
    const numbers: number[] = [];
    for (let n = this.first; n < this.next; n++) {
      if (this.acked(n) || dropped(this.seg(n))) continue;
      records.push(this.record(n));
      numbers.push(n);
    }
    return { records, numbers };
  }

  /** Flight n as an object (for the rare look at a few: storedInFlight). */
  record(n: number): SpoolRecord {
    const r = new SpoolRecord(this.seg(n), this.end(n), this.buf(n), this.payloadAt(n), this.payloadLength(n));
    r.refused = this.state[n & this.mask] === REFUSED;
    return r;
  }
}
