// A spool record (spool.ts): its bytes on disk, and a segment's records checked.
//   [u32 LE payload length][u32 LE CRC-32 of payload][payload]
//   payload = [f64 LE receipt time, ms][u16 key length][key][u16 id length][id][body]
// The key says where the record goes (a NATS subject), the id names it to the receiver's
// de-duplication (a Nats-Msg-Id), the body is the event's JSON: nothing in here is one output's.
import fs from 'node:fs';
import { recordChecks } from '../../native/addon.js';
import type { NlEvent } from '../../event/event.js';
import { ByteBatch, eventJsonBound, num, writeEventJson } from '../../event/json.js';

export const HEADER = 8;

/** Records read back: `buf`'s first `bytes` are `records` whole records (as RecordBatch lays them
 * out), the first at `off` in segment `seg`. A sender walks them in place (nats/flights.ts): no
 * object is made per record on the way to the receiver. */
export interface RecordRun {
  readonly seg: number;
  readonly off: number;
  readonly buf: Buffer;
  readonly bytes: number;
  readonly records: number;
}

/** Where a payload's parts lie in its buffer: its key, its id (which ends where the body starts)
 * and its body. Filled in place by payloadParts (one object, reused: nothing made per record). */
export interface PayloadParts {
  keyAt: number;
  keyEnd: number;
  idAt: number;
  bodyAt: number;
  bodyEnd: number;
}

/** The parts of the payload buf[p, p + len), into `out`. They are kept within the payload whatever
 * its lengths say: a record passed its check, but a sender must not copy past it. */
export function payloadParts(buf: Buffer, p: number, len: number, out: PayloadParts): PayloadParts {
  const end = p + len;
  out.bodyEnd = end;
  if (len < 12) {
    out.keyAt = out.keyEnd = out.idAt = out.bodyAt = end;
    return out;
  }
  const keyAt = p + 10;
  const keyEnd = Math.min(keyAt + buf.readUInt16LE(p + 8), end);
  const idAt = Math.min(keyEnd + 2, end);
  out.keyAt = keyAt;
  out.keyEnd = keyEnd;
  out.idAt = idAt;
  out.bodyAt = idAt === keyEnd + 2 ? Math.min(idAt + buf.readUInt16LE(keyEnd), end) : end;
  return out;
}

/** When the event of the payload at p (of length len) was received, ms since the epoch; 0 when
 * the payload is too short to say. */
export function payloadTime(buf: Buffer, p: number, len: number): number {
  return len < 12 ? 0 : buf.readDoubleLE(p);
}

/** One record as an object: for what looks at a few records by their fields (the sender's check
 * after a lost connection, its fallback without a frame queue, tests), not for the stream. Its
 * payload is copied: the buffer it was read into may be read into again once the sender has let
 * the record go (spool.ts, "heldFrom"), and an object can outlive that (an await). */
export class SpoolRecord implements PayloadParts {
  /** Refused by the receiver (an error answer): the sender's, for storedInFlight. */
  refused = false;
  keyAt = 0;
  keyEnd = 0;
  idAt = 0;
  bodyAt = 0;
  bodyEnd = 0;
  /** When the event was received (ms since the epoch), for the lag. */
  readonly time: number;

  constructor(
    /** Its segment, and where in it the next record starts. */
    readonly seg: number,
    readonly end: number,
    /** The buffer it was read into, and where in it its payload lies. */
    from: Buffer,
    p: number,
    len: number,
  ) {
    this.buf = Buffer.from(from.subarray(p, p + len));
    payloadParts(this.buf, 0, len, this);
    this.time = payloadTime(this.buf, 0, len);
  }

  /** Its payload (a copy). */
  readonly buf: Buffer;

  /** Where it goes (a NATS subject, a topic, a partition key). */
  get key(): string {
    return this.buf.toString('utf8', this.keyAt, this.keyEnd);
  }

  /** Its id for the receiver's de-duplication (a Nats-Msg-Id). */
  get id(): string {
    return this.buf.toString('utf8', this.idAt, this.bodyAt);
  }

  get body(): Buffer {
    return this.buf.subarray(this.bodyAt, this.bodyEnd);
  }
}

/** The whole records at the start of buf that end within its first `end` bytes, and after the
 * first within its first `room` bytes: their bytes and their count. */
export function wholeRecords(buf: Buffer, end: number, room: number): { bytes: number; records: number } {
  let o = 0;
  let records = 0;
  while (o + HEADER <= end) {
    const next = o + HEADER + buf.readUInt32LE(o);
    if (next > end || (records > 0 && next > room)) break;
    o = next;
    records++;
  }
  return { bytes: o, records };
}

/** The run of whole records in buf's first `got` bytes, the first at `from`. */
export function wholeRun(buf: Buffer, got: number, from: { seg: number; off: number }): RecordRun {
  const { bytes, records } = wholeRecords(buf, got, got);
  return { seg: from.seg, off: from.off, buf, bytes, records };
}

/** The records of a run as objects, in order. */
export function runRecords(run: RecordRun): SpoolRecord[] {
  const out: SpoolRecord[] = [];
  const walk = new RecordsAhead();
  walk.add([run]);
  while (walk.take()) out.push(new SpoolRecord(walk.seg, walk.end, walk.buf, walk.p, walk.len));
  return out;
}

/** Records of runs, walked in place in their order, run by run (a sender's records read and not
 * yet sent: nats/flights.ts). take() moves to the next record and sets its fields. */
export class RecordsAhead {
  private runs: RecordRun[] = [];
  private run = 0;
  /** Where the next record's header starts in the current run's buffer. */
  private o = 0;
  /** Records not yet taken. */
  count = 0;
  /** The record take() moved to: its buffer, where its payload lies there, its segment and where
   * in it the next record starts. */
  buf: Buffer = Buffer.alloc(0);
  p = 0;
  len = 0;
  seg = 0;
  end = 0;

  add(runs: readonly RecordRun[]): void {
    if (this.run > 0) {
      this.runs = this.runs.slice(this.run);
      this.run = 0;
    }
    for (const r of runs) {
      this.runs.push(r);
      this.count += r.records;
    }
  }

  /** Moves to the next record; false when none is left. */
  take(): boolean {
    for (;;) {
      const r = this.runs[this.run];
      if (!r) {
        this.count = 0; // whatever the runs said of themselves
        return false;
      }
      if (this.o + HEADER > r.bytes) {
        this.run++;
        this.o = 0;
        continue;
      }
      this.len = r.buf.readUInt32LE(this.o);
      this.buf = r.buf;
      this.p = this.o + HEADER;
      this.seg = r.seg;
      this.o = this.p + this.len;
      this.end = r.off + this.o;
      this.count--;
      return true;
    }
  }

  /** Where the next record starts in the spool; undefined when none is left. */
  nextPos(): { seg: number; off: number } | undefined {
    const next = this.peek();
    return next && { seg: next.r.seg, off: next.r.off + next.o };
  }

  /** When the next record's event was received (ms since the epoch); 0 when none is left. */
  nextTime(): number {
    const next = this.peek();
    return next ? payloadTime(next.r.buf, next.o + HEADER, next.r.buf.readUInt32LE(next.o)) : 0;
  }

  /** The run holding the next record and where its header starts there, without moving to it. */
  private peek(): { r: RecordRun; o: number } | undefined {
    for (let k = this.run, o = this.o; k < this.runs.length; k++, o = 0) {
      const r = this.runs[k]!;
      if (o + HEADER <= r.bytes) return { r, o };
    }
    return undefined;
  }
}

/** Records encoded one after another into one buffer: an output encodes a batch of events
 * here and appends it to the spool at once (one allocation and one copy a batch, not one a
 * record, and no pass over each string to measure it first). */
export class RecordBatch {
  private readonly bytes = new ByteBatch();
  /** Records added since the last take(). */
  count = 0;

  /** A record whose body is the event's JSON (event/json.ts), written in place, and whose id
   * is `idPrefix` and the decimal `idNumber` (a Nats-Msg-Id: the run, the event's sequence). */
  add(time: number, key: string, idPrefix: string, idNumber: number, event: NlEvent): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: room for the worst case, so no write is cut.
    const buf = this.bytes.room(HEADER + 12 + 24 + 3 * (key.length + idPrefix.length) + eventJsonBound(event));
    const start = this.bytes.used;
    let o = start + HEADER;
    buf.writeDoubleLE(time, o);
    o += 8;
    const s = text(buf, o + 2, key) - (o + 2);
    buf.writeUInt16LE(s, o);
    o += 2 + s;
    const i = num(buf, text(buf, o + 2, idPrefix), idNumber) - (o + 2);
    buf.writeUInt16LE(i, o);
    o += 2 + i;
    o = writeEventJson(buf, o, event) - 1; // without its newline
    buf.writeUInt32LE(o - start - HEADER, start);
    this.bytes.used = o;
    this.count++;
  }

  /** The records added since the last take(), their CRCs written (one call for the batch), in a
   * buffer of their own. */
  take(): Buffer {
    const sealed = recordChecks().sealRecords(this.bytes.buf, 0, this.bytes.used);
    if (sealed !== this.count) throw new Error(`internal error: ${sealed} of ${this.count} spool records sealed`);
    this.count = 0;
    return this.bytes.take();
  }
}

/** A string's UTF-8 at o: ASCII byte by byte (a key and an id are), else by Buffer's encoder. */
function text(buf: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return o + buf.write(s, o, 'utf8');
    buf[o + i] = c;
  }
  return o + s.length;
}

/** Reads a segment through: the length of its whole, checked records, their count, and how many
 * of them lie before `ackedOff`. Read in large chunks: a full spool is a million records. */
export function scanSegment(file: string, ackedOff: number): { size: number; records: number; before: number } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const total = fs.fstatSync(fd).size;
    let buf = Buffer.allocUnsafe(Math.min(total, 4 * 1024 * 1024));
    let bufAt = 0; // file offset of buf[0]
    let bufLen = 0;
    let off = 0;
    let records = 0;
    let before = 0;
    while (off + HEADER <= total) {
      // Make sure buf holds [off, off + need).
      const have = (need: number): boolean => {
        if (off >= bufAt && off + need <= bufAt + bufLen) return true;
        if (buf.length < need) buf = Buffer.allocUnsafe(need);
        bufAt = off;
        bufLen = fs.readSync(fd, buf, 0, Math.min(buf.length, total - off), off);
        return need <= bufLen;
      };
      if (!have(HEADER)) break;
      const len = buf.readUInt32LE(off - bufAt);
      if (len < 12 || off + HEADER + len > total || !have(HEADER + len)) break;
      const p = off - bufAt;
      if (recordChecks().crc32(buf, p + HEADER, p + HEADER + len) !== buf.readUInt32LE(p + 4)) break;
      off += HEADER + len;
      records++;
      if (off <= ackedOff) before++;
    }
    return { size: off, records, before };
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether a whole, checked record starts at `p` of buf. */
function recordAt(buf: Buffer, p: number): number {
  if (p + HEADER > buf.length) return 0;
  const len = buf.readUInt32LE(p);
  if (len < 12 || p + HEADER + len > buf.length) return 0;
  return recordChecks().crc32(buf, p + HEADER, p + HEADER + len) === buf.readUInt32LE(p + 4) ? HEADER + len : 0;
}

/** A segment read whole after a record in it failed its check: every whole, checked record
 * (found again after damage by looking for the next place a record checks), the damaged
 * stretches between them, and where the last record ends (what follows it is a torn tail).
 * Records carry no marker of their own: a length and a CRC-32 that agree are one (a chance of
 * one in 2^32 per place that garbage passes). */
export function salvageSegment(file: string): { records: Array<[number, number]>; damaged: Array<[number, number]>; end: number } {
  const buf = fs.readFileSync(file);
  const records: Array<[number, number]> = [];
  const damaged: Array<[number, number]> = [];
  let p = 0;
  while (p + HEADER <= buf.length) {
    const n = recordAt(buf, p);
    if (n) {
      records.push([p, p + n]);
      p += n;
      continue;
    }
    let q = p + 1;
    while (q + HEADER <= buf.length && !recordAt(buf, q)) q++;
    if (q + HEADER > buf.length) break; // nothing checks after it: a torn tail
    damaged.push([p, q]);
    p = q;
  }
  return { records, damaged, end: records.at(-1)?.[1] ?? 0 };
}
