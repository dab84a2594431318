// A spool record (spool.ts): its bytes on disk, and a segment's records checked.
//   [u32 LE payload length][u32 LE CRC-32 of payload][payload]
//   payload = [f64 LE receipt time, ms][u16 key length][key][u16 id length][id][body]
// The key says where the record goes (a NATS subject), the id names it to the receiver's
// de-duplication (a Nats-Msg-Id), the body is the event's JSON: nothing in here is one output's.
import fs from 'node:fs';
import { zlib } from '../../builtin.js';
import type { NlEvent } from '../../event/event.js';
import { ByteBatch, eventJsonBound, num, writeEventJson } from '../../event/json.js';

export const HEADER = 8;

/** One record read back: where it is, and where in the read's buffer its parts lie. A sender
 * copies the parts' bytes from there (nats/frames.ts); key, id and body are made on demand. */
export class SpoolRecord {
  /** The sender's: acknowledged, refused by the receiver (an error answer), when last sent (ms). */
  acked = false;
  refused = false;
  sentAt = 0;

  constructor(
    /** Its segment, and where in it the next record starts. */
    readonly seg: number,
    readonly end: number,
    /** When the event was received (ms since the epoch), for the lag. */
    readonly time: number,
    /** The buffer it was read into, and where in it its key, its id and its body lie (the id
     * ends where the body starts). */
    readonly buf: Buffer,
    readonly keyAt: number,
    readonly keyEnd: number,
    readonly idAt: number,
    readonly bodyAt: number,
    readonly bodyEnd: number,
  ) {}

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
    buf.writeUInt32LE(zlib().crc32(buf.subarray(start + HEADER, o)), start + 4);
    this.bytes.used = o;
    this.count++;
  }

  /** The records added since the last take(), in a buffer of their own. */
  take(): Buffer {
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

/** The record whose payload is buf[p, p + len). Its parts are kept within the payload whatever
 * its lengths say: a record passed its check, but a sender must not copy past it. */
export function decodePayload(buf: Buffer, p: number, len: number, seg: number, off: number): SpoolRecord {
  const end = p + len;
  if (len < 12) return new SpoolRecord(seg, off + HEADER + len, 0, buf, end, end, end, end, end);
  const keyAt = p + 10;
  const keyEnd = Math.min(keyAt + buf.readUInt16LE(p + 8), end);
  const idAt = Math.min(keyEnd + 2, end);
  const bodyAt = idAt === keyEnd + 2 ? Math.min(idAt + buf.readUInt16LE(keyEnd), end) : end;
  return new SpoolRecord(seg, off + HEADER + len, buf.readDoubleLE(p), buf, keyAt, keyEnd, idAt, bodyAt, end);
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
      if (zlib().crc32(buf.subarray(p + HEADER, p + HEADER + len)) !== buf.readUInt32LE(p + 4)) break;
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
  return zlib().crc32(buf.subarray(p + HEADER, p + HEADER + len)) === buf.readUInt32LE(p + 4) ? HEADER + len : 0;
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
