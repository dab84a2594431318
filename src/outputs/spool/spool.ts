// An output's on-disk spool (docs/config.md, "nlmon.outputs"; docs/fleet.md, "Where the events
// go"), for any output that must not lose what it sends: every event bound for the output is
// appended here before it is sent, and forgotten once the receiver has acknowledged it, so an
// outage of the receiver or a restart of the daemon (kill -9 included) loses nothing.
//
// Layout of spool_dir:
//   000000000001.seg …  append-only segments of records:
//                        [u32 LE payload length][u32 LE CRC-32 of payload][payload]
//                        payload = [f64 LE receipt time, ms][u16 key length][key]
//                                  [u16 id length][id][body] (record.ts)
//   acked               [u32 segment][u32 offset][u32 CRC-32 of the 8 bytes before]: every
//                        record before that point has been acknowledged (written a few times
//                        a second; after a crash the records since are sent again, and the
//                        receiver's de-duplication by record id stores them once).
//   lock                "<pid> <start time>" of the process using the spool.
// At open, each segment is read through and checked: a torn record (a crash in the middle of a
// write) ends it, the rest of that segment is cut and counted. Writing always starts a new
// segment, and goes on in the next once one is full (at a record's end: a segment holds whole
// records, one at least). Past `limit` bytes on disk the oldest segment is deleted: its records
// not yet acknowledged are counted as dropped.
//
// Writes go through libuv's thread pool one at a time, so the daemon's intake never waits on
// the disk; records the disk has not taken yet wait in memory, up to MAX_PENDING bytes. The
// latest writes stay in memory too (RECENT_MAX bytes, recent.ts) and are read back from there.
// The disk is read into buffers read into again once the reader holds none of their records
// (read-buffers.ts).
import fs from 'node:fs';
import { recordChecks } from '../../native/addon.js';
import path from 'node:path';
import { HEADER, wholeRecords, wholeRun, type RecordRun } from './record.js';
import { recoverSpool, type Segment, type SpoolPos, type SpoolRecovery } from './recovery.js';

export type { SpoolPos, SpoolRecovery } from './recovery.js';
import { releaseLock, takeLock } from './lock.js';
import { RecentWrites } from './recent.js';
import { ReadBuffers } from './read-buffers.js';
import { safeDirectory } from '../../files/safe-path.js';

const NOFOLLOW = fs.constants.O_NOFOLLOW;

export { RecordBatch, runRecords, SpoolRecord, type RecordRun } from './record.js';

const ACKED_FILE = 'acked';
/** Bytes waiting for the disk before new records are dropped (and counted). */
const MAX_PENDING = 64 * 1024 * 1024;
/** What one read of the spool asks for. */
const READ_CHUNK = 1024 * 1024;
/** The most bytes of the latest writes kept in memory, read back without the disk (recent.ts).
 * A sender further behind reads the disk: kept longer (8 MiB before), the writes waited long
 * enough to be moved to V8's old generation, as fresh read buffers did. */
const RECENT_MAX = 1024 * 1024;

/** The size of a segment for a spool limit: small enough that dropping one loses a small part. */
export function segmentSize(limit: number): number {
  return Math.max(16 * 1024, Math.min(64 * 1024 * 1024, Math.floor(limit / 8)));
}

export class Spool {
  private readonly segs: Segment[] = [];
  private readonly segSize: number;
  private writeFd = -1;
  private ackFd = -1;
  /** Encoded records waiting for the disk, and how many. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingRecords = 0;
  private writing = false;
  private closed = false;
  private readonly drained: Array<() => void> = [];
  private ackPos: SpoolPos;
  private ackSaved = '';
  private readFd = -1;
  private readSeg = -1;
  /** The latest writes, read back without the disk by a sender that keeps up (recent.ts). */
  private readonly recent = new RecentWrites(RECENT_MAX);
  /** What the disk is read into, with hooks.heldFrom (read-buffers.ts). */
  private readonly buffers: ReadBuffers | undefined;
  /** Bytes in all segments. */
  bytes = 0;
  /** Records appended and not acknowledged nor dropped. */
  spooled = 0;
  /** Records dropped: the spool was full (oldest), or the disk could not take them. */
  dropped = 0;
  readonly recovery: SpoolRecovery;

  /** Opens (creating) the spool and checks what a previous run left there; throws if another
   * running process holds it. hooks.written hears each write that reached the disk,
   * hooks.error each failure (a full disk, an I/O error, events dropped). hooks.heldFrom, when
   * given, says where the first record the reader still holds starts (every buffer that read()
   * handed out before it may be read into again); without it each read of the disk has a
   * buffer of its own. */
  constructor(
    readonly dir: string,
    readonly limit: number,
    private readonly hooks: { written: () => void; error: (message: string) => void; heldFrom?: () => SpoolPos },
  ) {
    this.segSize = segmentSize(limit);
    this.buffers = hooks.heldFrom && new ReadBuffers(READ_CHUNK, hooks.heldFrom);
    // Checked from / and made 0700: no other user can plant a file or a link in it; every file
    // in it is still opened without following a symlink.
    safeDirectory(dir, { create: true, mode: 0o700 });
    takeLock(dir);
    this.ackFd = fs.openSync(path.join(dir, ACKED_FILE), fs.constants.O_RDWR | fs.constants.O_CREAT | NOFOLLOW, 0o600);
    this.ackPos = this.readAcked();
    const state = { dir, segs: this.segs, bytes: 0, ackPos: this.ackPos, error: (m: string) => this.hooks.error(m) };
    this.recovery = recoverSpool(state);
    this.bytes = state.bytes;
    this.ackPos = state.ackPos;
    this.spooled = this.recovery.records;
    this.startSegment((this.segs.at(-1)?.n ?? this.ackPos.seg) + 1);
    if (this.ackPos.seg < this.segs[0]!.n) this.ackPos = { seg: this.segs[0]!.n, off: 0 };
    this.saveAck();
  }

  /** The first record not yet acknowledged. */
  get head(): SpoolPos {
    return { ...this.ackPos };
  }

  /** Bytes waiting for the disk. */
  get queuedBytes(): number {
    return this.pendingBytes;
  }

  /** Appends `count` encoded records (RecordBatch), one after another in `buf`;
   * they are readable once written. */
  append(buf: Buffer, count: number): void {
    if (this.closed || count === 0) return;
    const bytes = buf.length;
    if (this.pendingBytes + bytes > MAX_PENDING) {
      this.dropped += count;
      this.hooks.error(`the spool's disk cannot keep up: more than ${MAX_PENDING} bytes wait to be written; events are dropped (and counted)`);
      return;
    }
    this.pending.push(buf);
    this.pendingBytes += bytes;
    this.pendingRecords += count;
    this.spooled += count;
    // Appends of one turn of the event loop go to the disk in one write.
    if (!this.writing) {
      this.writing = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    if (this.pending.length === 0) {
      this.writing = false;
      for (const f of this.drained.splice(0)) f();
      return;
    }
    this.writing = true;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const count = this.pendingRecords;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingRecords = 0;
    this.write(buf, count, true);
  }

  /** Writes buf (count records) to the current segment, no more at a time than fills it (whole
   * records, at least one): one write larger than the spool's limit would be one segment, and
   * the limit would delete it whole, the newest events with it. On a full disk, once, after
   * freeing the segment being written if every record in it is acknowledged (a full disk must
   * not drop events for ever once the receiver has taken everything). */
  private write(buf: Buffer, count: number, mayRetry: boolean): void {
    const left = this.segSize - this.segs.at(-1)!.size;
    // A write that fits is written whole, its records not walked through (most writes).
    const fit = buf.length <= left ? { bytes: buf.length, records: count } : wholeRecords(buf, buf.length, left > 0 ? left : this.segSize);
    const bytes = fit.records ? fit.bytes : buf.length; // unreadable: all of it
    // The last piece holds what is left of the count, whatever its bytes say.
    const records = bytes === buf.length ? count : fit.records;
    const piece = bytes === buf.length ? buf : buf.subarray(0, bytes);
    this.writeAll(this.writeFd, piece, 0, (err) => {
      const seg = this.segs.at(-1)!;
      if (err && mayRetry && (err as NodeJS.ErrnoException).code === 'ENOSPC' && this.reclaim(seg)) {
        this.write(buf, count, false);
        return;
      }
      if (err) {
        // What part reached the file is cut off again, so the segment ends on a whole record.
        try {
          fs.ftruncateSync(this.writeFd, seg.size);
        } catch {
          // the next start cuts it as a torn tail
        }
        this.dropped += count;
        this.spooled -= count;
        this.hooks.error(`cannot write the spool: ${err.message}; ${count} event(s) dropped (and counted)`);
        this.flush();
        return;
      }
      this.recent.remember({ seg: seg.n, off: seg.size, buf: piece, bytes, records }, this.segs[0]!.n);
      seg.size += bytes;
      seg.records += records;
      this.bytes += bytes;
      if (seg.size >= this.segSize) this.roll();
      this.trimAcked();
      this.enforceLimit();
      this.hooks.written();
      if (bytes < buf.length) this.write(buf.subarray(bytes), count - records, true);
      else this.flush();
    });
  }

  /** Frees the segment being written when every record in it is acknowledged: it is deleted
   * and a new one started. False when it holds records not yet acknowledged (or cannot). */
  private reclaim(seg: Segment): boolean {
    if (seg.acked !== seg.records || this.segs.length !== 1) return false;
    try {
      fs.ftruncateSync(this.writeFd, 0);
      fs.closeSync(this.writeFd);
      fs.rmSync(this.segPath(seg.n), { force: true });
      this.bytes -= seg.size;
      this.segs.pop();
      this.recent.forget({ seg: seg.n + 1, off: 0 });
      this.startSegment(seg.n + 1);
      this.ackPos = { seg: seg.n + 1, off: 0 };
      return true;
    } catch (e) {
      this.hooks.error(`cannot free the acknowledged spool segment ${this.segPath(seg.n)}: ${(e as Error).message}`);
      return false;
    }
  }

  private writeAll(fd: number, buf: Buffer, done: number, cb: (err: Error | null) => void): void {
    fs.write(fd, buf, done, buf.length - done, null, (err, n) => {
      if (err) cb(err);
      else if (done + n < buf.length) this.writeAll(fd, buf, done + n, cb);
      else cb(null);
    });
  }

  private startSegment(n: number): void {
    this.writeFd = fs.openSync(this.segPath(n), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND | NOFOLLOW, 0o600);
    this.segs.push({ n, size: 0, records: 0, acked: 0 });
  }

  private roll(): void {
    const old = this.writeFd;
    try {
      this.startSegment(this.segs.at(-1)!.n + 1);
      fs.close(old, () => {});
    } catch (e) {
      // Keep appending to the full one: a limit a little over is better than losing events.
      this.hooks.error(`cannot start a new spool segment: ${(e as Error).message}`);
    }
  }

  /** Deletes the oldest segments while the spool holds more than its limit. */
  private enforceLimit(): void {
    while (this.bytes > this.limit && this.segs.length > 1) {
      const old = this.segs.shift()!;
      const lost = old.records - old.acked;
      this.dropped += lost;
      this.spooled -= lost;
      this.bytes -= old.size;
      fs.rm(this.segPath(old.n), { force: true }, () => {});
      if (this.ackPos.seg <= old.n) this.ackPos = { seg: this.segs[0]!.n, off: 0 };
      if (lost) this.hooks.error(`the spool reached spool_limit (${this.limit} bytes): the oldest ${lost} event(s) were dropped (and counted)`);
    }
  }

  /** True when the records of segment `seg` were dropped (the segment deleted) since they
   * were read. */
  isDropped(seg: number): boolean {
    return seg < this.segs[0]!.n;
  }

  /** Marks the record (the first not yet acknowledged) of segment `seg` that ends at `end`
   * acknowledged. */
  ack(seg: number, end: number): void {
    this.trimAcked();
    const first = this.segs[0]!;
    if (seg !== first.n) return; // dropped meanwhile
    first.acked++;
    this.spooled--;
    // In place: one a record (head() hands out copies).
    this.ackPos.seg = seg;
    this.ackPos.off = end;
    this.trimAcked();
  }

  /** Deletes leading segments whose every record is acknowledged and that are no longer written. */
  private trimAcked(): void {
    while (this.segs.length > 1 && this.segs[0]!.acked === this.segs[0]!.records) {
      const seg = this.segs.shift()!;
      this.bytes -= seg.size;
      fs.rm(this.segPath(seg.n), { force: true }, () => {});
      this.ackPos = { seg: this.segs[0]!.n, off: 0 };
    }
  }

  /** A few times a second (the reader's timer): the acknowledged position to disk, and the
   * disk's buffers let go once a burst read back is over. */
  tick(): void {
    this.saveAck();
    this.buffers?.idle(Date.now());
  }

  /** Writes the acknowledged position to disk (a few times a second, and at close). */
  saveAck(): void {
    const key = `${this.ackPos.seg}:${this.ackPos.off}`;
    if (key === this.ackSaved || this.ackFd < 0) return;
    const b = Buffer.alloc(12);
    b.writeUInt32LE(this.ackPos.seg, 0);
    b.writeUInt32LE(this.ackPos.off, 4);
    b.writeUInt32LE(recordChecks().crc32(b, 0, 8), 8);
    try {
      fs.writeSync(this.ackFd, b, 0, 12, 0);
      this.ackSaved = key;
    } catch (e) {
      this.hooks.error(`cannot write ${path.join(this.dir, ACKED_FILE)}: ${(e as Error).message}`);
    }
  }

  /** The position after pos where the next record starts, past the end of a finished segment;
   * undefined when nothing more is on disk yet. */
  private nextReadable(pos: SpoolPos): SpoolPos | undefined {
    let p = pos;
    if (p.seg < this.segs[0]!.n) p = { seg: this.segs[0]!.n, off: 0 };
    for (let i = 0; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (s.n < p.seg) continue;
      const off = s.n === p.seg ? p.off : 0;
      if (off < s.size) return { seg: s.n, off };
      if (i === this.segs.length - 1) return undefined;
    }
    return undefined;
  }

  /** Reads the records from pos on (up to about READ_CHUNK bytes) that are on disk: runs of
   * them as they lie in the buffers read (none when nothing more is), and where reading goes on. */
  async read(pos: SpoolPos): Promise<{ runs: RecordRun[]; next: SpoolPos }> {
    const from = this.nextReadable(pos);
    if (!from) return { runs: [], next: pos };
    const kept = this.recent.read(from, READ_CHUNK);
    if (kept) return kept;
    const seg = this.segs.find((s) => s.n === from.seg)!;
    if (this.readSeg !== seg.n) {
      if (this.readFd >= 0) fs.close(this.readFd, () => {});
      this.readFd = fs.openSync(this.segPath(seg.n), fs.constants.O_RDONLY | NOFOLLOW);
      this.readSeg = seg.n;
    }
    const want = Math.min(seg.size - from.off, READ_CHUNK);
    let buf = this.buffers?.take(Date.now()) ?? Buffer.allocUnsafe(want);
    const fd = this.readFd;
    let got = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, want, from.off, (err, n) => (err ? reject(err) : resolve(n))));
    // A record bigger than a chunk: read it whole.
    if (got >= HEADER && buf.readUInt32LE(0) + HEADER > got) {
      const len = buf.readUInt32LE(0) + HEADER;
      buf = Buffer.allocUnsafe(len);
      got = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, len, from.off, (err, n) => (err ? reject(err) : resolve(n))));
    }
    const run = wholeRun(buf, got, from);
    if (run.records) this.buffers?.keep(buf, from.seg, from.off + run.bytes);
    return { runs: run.records ? [run] : [], next: { seg: from.seg, off: from.off + run.bytes } };
  }

  /** Resolves when every record handed to append() has been written (or dropped). */
  whenWritten(): Promise<void> {
    return this.writing ? new Promise((resolve) => this.drained.push(resolve)) : Promise.resolve();
  }

  async close(): Promise<void> {
    await this.whenWritten();
    this.closed = true;
    this.saveAck();
    for (const fd of [this.writeFd, this.ackFd, this.readFd]) if (fd >= 0) fs.closeSync(fd);
    this.writeFd = this.ackFd = this.readFd = -1;
    releaseLock(this.dir);
  }

  private segPath(n: number): string {
    return path.join(this.dir, `${String(n).padStart(12, '0')}.seg`);
  }

  private readAcked(): SpoolPos {
    const b = Buffer.alloc(12);
    const n = fs.readSync(this.ackFd, b, 0, 12, 0);
    if (n === 12 && b.readUInt32LE(8) === recordChecks().crc32(b, 0, 8)) return { seg: b.readUInt32LE(0), off: b.readUInt32LE(4) };
    return { seg: 0, off: 0 };
  }
}

