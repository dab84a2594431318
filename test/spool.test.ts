// The nats output's spool on its own: records read back in order, the acknowledged position
// kept across a restart, a torn tail cut and a damaged record skipped (both counted), the oldest
// dropped past the limit, a full disk that frees itself once everything is acknowledged.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { syntheticEvent } from '../src/event/make.js';
import { formatEventJson } from '../src/event/format.js';
import { RecordBatch, runRecords, segmentSize, Spool, type SpoolPos, type SpoolRecord } from '../src/outputs/spool/spool.js';
import { ReadBuffers } from '../src/outputs/spool/read-buffers.js';
import { execaSync } from 'execa';
import { withTempDir } from './helpers/index.js';

const quiet = { written: () => {}, error: () => {} };

/** One record as the format says (record.ts), written out here apart from RecordBatch so that
 * the test holds the batch to the format, not to itself. */
function encodeRecord(time: number, key: string, id: string, body: string): Buffer {
  const s = Buffer.byteLength(key);
  const i = Buffer.byteLength(id);
  const b = Buffer.byteLength(body);
  const len = 8 + 2 + s + 2 + i + b;
  const buf = Buffer.allocUnsafe(8 + len);
  buf.writeUInt32LE(len, 0);
  buf.writeDoubleLE(time, 8);
  buf.writeUInt16LE(s, 16);
  buf.write(key, 18);
  buf.writeUInt16LE(i, 18 + s);
  buf.write(id, 20 + s);
  buf.write(body, 20 + s + i);
  buf.writeUInt32LE(zlib.crc32(buf.subarray(8)), 4);
  return buf;
}

function rec(i: number, pad = 100): Buffer {
  return encodeRecord(1_700_000_000_000 + i, `nlmon.h.e${i % 3}`, `h/b/r/${i}`, JSON.stringify({ i, pad: 'x'.repeat(pad) }));
}

/** Appends records encoded one by one, as one batch. */
function append(s: Spool, recs: Buffer[]): void {
  s.append(Buffer.concat(recs), recs.length);
}

async function readAll(s: Spool, from: SpoolPos = s.head): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  let pos = from;
  for (;;) {
    const { runs, next } = await s.read(pos);
    if (runs.length === 0) return out;
    for (const run of runs) out.push(...runRecords(run));
    pos = next;
  }
}

const ids = (rs: SpoolRecord[]) => rs.map((r) => Number(r.id.split('/').pop()));
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);

test('spool: a batch of records is byte for byte the records encoded one by one, past its first buffer and with any text', () => {
  const b = new RecordBatch();
  const one: Buffer[] = [];
  for (let i = 0; i < 400; i++) {
    // Two-, three- and four-byte UTF-8, a lone surrogate, and events of 0.7 to 5 KB.
    const e = { ...syntheticEvent(`veth${i}`, 'default'), sequence: i, alias: 'é€😀\ud800'.repeat(i % 7) + 'x'.repeat((i * 37) % 4000) };
    b.add(1_700_000_000_000 + i, `nlmon.hé.e${i}`, i % 2 ? 'h/b/r/' : 'hé/b/r/', i, e);
    one.push(encodeRecord(1_700_000_000_000 + i, `nlmon.hé.e${i}`, `${i % 2 ? 'h/b/r/' : 'hé/b/r/'}${i}`, formatEventJson(e)));
  }
  assert.equal(b.count, 400);
  const all = b.take();
  assert.equal(b.count, 0);
  assert.ok(all.equals(Buffer.concat(one)));
  // Each record reads back: its length, then a CRC-32 of the payload that matches.
  let o = 0;
  for (let i = 0; i < 400; i++) {
    const len = all.readUInt32LE(o);
    assert.equal(all.readUInt32LE(o + 4), zlib.crc32(all.subarray(o + 8, o + 8 + len)), `record ${i}`);
    o += 8 + len;
  }
  assert.equal(o, all.length);
  const after = syntheticEvent('after', 'default');
  b.add(1, 'k', 'i/', 9007199254740991, after);
  assert.ok(b.take().equals(encodeRecord(1, 'k', 'i/9007199254740991', formatEventJson(after))), 'the batch starts again empty after take()');
});

test('spool: records come back in order with their key, id, time and body', () => withTempDir(async (dir) => {
  const s = new Spool(path.join(dir, 'sp'), 1 << 30, quiet);
  for (let i = 0; i < 50; i++) append(s, [rec(2 * i), rec(2 * i + 1)]);
  await s.whenWritten();
  assert.equal(s.spooled, 100);
  const rs = await readAll(s);
  assert.deepEqual(ids(rs), range(0, 100));
  assert.equal(rs[7]!.key, 'nlmon.h.e1');
  assert.equal(rs[7]!.time, 1_700_000_000_007);
  assert.equal(JSON.parse(rs[7]!.body.toString()).i, 7);
  await s.close();
}));

test('spool: what was acknowledged stays forgotten across a restart; the rest is sent again', () => withTempDir(async (dir) => {
  const d = path.join(dir, 'sp');
  const s1 = new Spool(d, 1 << 30, quiet);
  append(s1, range(0, 300).map((i) => rec(i)));
  await s1.whenWritten();
  const rs = await readAll(s1);
  for (const r of rs.slice(0, 120)) s1.ack(r.seg, r.end);
  assert.equal(s1.spooled, 180);
  await s1.close();
  const s2 = new Spool(d, 1 << 30, quiet);
  assert.deepEqual(s2.recovery, { records: 180, torn: 0, tornBytes: 0, corrupt: 0, corruptBytes: 0 });
  assert.equal(s2.spooled, 180);
  append(s2, [rec(300)]);
  await s2.whenWritten();
  assert.deepEqual(ids(await readAll(s2)), range(120, 301), 'the unacknowledged, then the new, in order');
  for (const r of await readAll(s2)) s2.ack(r.seg, r.end);
  assert.equal(s2.spooled, 0);
  await s2.close();
  const s3 = new Spool(d, 1 << 30, quiet);
  assert.equal(s3.recovery.records, 0);
  assert.equal(fs.readdirSync(d).filter((f) => f.endsWith('.seg')).length, 1, 'acknowledged segments are deleted');
  await s3.close();
}));

test('spool: the disk is read into a buffer again only once the reader holds none of its records; records as objects keep their bytes', () => withTempDir(async (dir) => {
  const sp = path.join(dir, 'sp');
  const s1 = new Spool(sp, 1 << 30, quiet);
  for (let w = 0; w < 40; w++) {
    append(s1, range(100 * w, 100 * w + 100).map((i) => rec(i, 900)));
    await s1.whenWritten();
  }
  await s1.close();
  // Opened again: nothing in memory, every read is the disk's. `held` is where the first record
  // the reader holds starts.
  let held: SpoolPos = { seg: 0, off: 0 };
  const s = new Spool(sp, 1 << 30, { ...quiet, heldFrom: () => held });
  held = s.head;
  const r1 = await s.read(s.head);
  const first = r1.runs[0]!;
  const objects = runRecords(first);
  assert.equal(first.buf.length, 1 << 20);
  const r2 = await s.read(r1.next);
  assert.notEqual(r2.runs[0]!.buf, first.buf, 'the first read holds records: its buffer is not read into');
  // The reader lets go of the first read's records: the next read goes into its buffer.
  held = r1.next;
  const r3 = await s.read(r2.next);
  assert.equal(r3.runs[0]!.buf, first.buf);
  const n1 = objects.length;
  const n2 = runRecords(r2.runs[0]!).length;
  assert.deepEqual(ids(runRecords(r3.runs[0]!)), range(n1 + n2, n1 + n2 + runRecords(r3.runs[0]!).length));
  // The second read's records are still held (held is where they start): a fresh buffer.
  const r4 = await s.read(r3.next);
  assert.ok(r4.runs[0]!.buf !== first.buf && r4.runs[0]!.buf !== r2.runs[0]!.buf);
  // Records taken as objects before their buffer was read into again are unchanged.
  assert.deepEqual(ids(objects), range(0, n1));
  assert.equal(JSON.parse(objects[5]!.body.toString()).i, 5);
  await s.close();
}));

test('spool: the read buffers of the disk are let go a second after the last read into one', () => {
  let held: SpoolPos = { seg: 1, off: 0 };
  const rb = new ReadBuffers(4096, () => held);
  const a = rb.take(0);
  rb.keep(a, 1, 100);
  const b = rb.take(10);
  assert.notEqual(b, a, 'held: not read into again');
  rb.keep(b, 1, 200);
  held = { seg: 1, off: 100 };
  rb.idle(900);
  assert.equal(rb.take(950), a, 'kept through a pause shorter than a second, and free');
  rb.keep(a, 1, 300);
  held = { seg: 2, off: 0 };
  rb.idle(1949);
  assert.equal(rb.take(1949), b);
  rb.keep(b, 1, 400);
  rb.idle(2949);
  const c = rb.take(2950);
  assert.ok(c !== a && c !== b, 'let go after a second without a read');
  // Only buffers of its size are kept (a record bigger than a read has one of its own): one of
  // another size, free by `held`, is not handed out again.
  rb.keep(Buffer.alloc(10), 2, 10);
  held = { seg: 3, off: 0 };
  assert.equal(rb.take(2951).length, 4096);
});

test('spool: the latest writes are read back from memory, many of them and not only the last, up to a bound, and let go once read past; older ones from the disk', () => withTempDir(async (dir) => {
  const sp = path.join(dir, 'sp');
  const s = new Spool(sp, 1 << 30, quiet);
  // 20 writes of 10 records each, then the segment's file gone: all 200 still read back.
  for (let w = 0; w < 20; w++) {
    append(s, range(10 * w, 10 * w + 10).map((i) => rec(i)));
    await s.whenWritten();
  }
  const seg = fs.readdirSync(sp).find((f) => f.endsWith('.seg'))!;
  fs.renameSync(path.join(sp, seg), path.join(sp, `${seg}.away`));
  let end = s.head;
  const got: SpoolRecord[] = [];
  for (let r = await s.read(end); r.runs.length; r = await s.read(end)) {
    for (const run of r.runs) got.push(...runRecords(run));
    end = r.next;
  }
  assert.deepEqual(ids(got), range(0, 200));
  // Once a read starts past them (a write came after them), what was read is let go: read
  // again from the start, it is the disk's.
  append(s, range(200, 210).map((i) => rec(i)));
  await s.whenWritten();
  const after = await s.read(end);
  assert.deepEqual(ids(after.runs.flatMap(runRecords)), range(200, 210));
  end = after.next;
  await assert.rejects(readAll(s), /ENOENT/);
  fs.renameSync(path.join(sp, `${seg}.away`), path.join(sp, seg));
  // Past the bound (1 MiB) the oldest writes not yet read are the disk's: without the file they
  // cannot be read.
  for (let w = 0; w < 100; w++) {
    append(s, range(1000 * w, 1000 * w + 100).map((i) => rec(i, 1000)));
    await s.whenWritten();
  }
  fs.renameSync(path.join(sp, seg), path.join(sp, `${seg}.away`));
  await assert.rejects(readAll(s, end), /ENOENT/);
  fs.renameSync(path.join(sp, `${seg}.away`), path.join(sp, seg));
  assert.equal((await readAll(s)).length, 210 + 100 * 100);
  await s.close();
}));

test('spool: a damaged record in the middle of a segment is skipped to the next one that checks and counted as corrupt; a torn tail is cut', () => withTempDir(async (dir) => {
  const d = path.join(dir, 'sp');
  // Three segments of whole records.
  const limit = 1 << 20;
  const per = Math.ceil(segmentSize(limit) / rec(0).length) + 1;
  const s1 = new Spool(d, limit, quiet);
  for (let i = 0; i < 3 * per; i += 10) {
    append(s1, range(i, i + 10).map((k) => rec(k)));
    await s1.whenWritten();
  }
  await s1.close();
  const segs = fs.readdirSync(d).filter((f) => f.endsWith('.seg')).sort();
  assert.ok(segs.length >= 3, `${segs.length} segments`);
  // One bit flipped in the 5th record of the first segment; half a record at the end of the last.
  const first = path.join(d, segs[0]!);
  const buf = fs.readFileSync(first);
  const starts: number[] = [];
  for (let o = 0; o < buf.length; o += 8 + buf.readUInt32LE(o)) starts.push(o);
  buf[starts[4]! + 20]! ^= 0x01;
  fs.writeFileSync(first, buf);
  fs.appendFileSync(path.join(d, segs.at(-1)!), rec(99999).subarray(0, 30));
  const errors: string[] = [];
  const s2 = new Spool(d, limit, { written: () => {}, error: (m) => errors.push(m) });
  assert.deepEqual([s2.recovery.corrupt, s2.recovery.corruptBytes], [1, starts[5]! - starts[4]!], 'one damaged record, skipped');
  assert.deepEqual([s2.recovery.torn, s2.recovery.tornBytes], [1, 30], 'the half record at the end, cut');
  assert.match(errors.join('\n'), /was damaged \(1 stretch\(es\), \d+ bytes, not from a crash/);
  const got = ids(await readAll(s2));
  const total = Math.ceil((3 * per) / 10) * 10;
  assert.deepEqual(got, range(0, total).filter((k) => k !== 4), 'every record but the damaged one, in order');
  await s2.close();
  const s3 = new Spool(d, limit, quiet);
  assert.deepEqual([s3.recovery.corrupt, s3.recovery.torn], [0, 0], 'the segment was written again without the damage');
  await s3.close();
}));

test('spool: past its limit the oldest segment goes, its unacknowledged records counted as dropped', () => withTempDir(async (dir) => {
  const limit = 64 * 1024;
  const errors: string[] = [];
  const s = new Spool(path.join(dir, 'sp'), limit, { written: () => {}, error: (m) => errors.push(m) });
  const n = 2000; // about 300 KB
  for (let i = 0; i < n; i += 20) {
    append(s, range(i, i + 20).map((k) => rec(k)));
    await s.whenWritten();
  }
  assert.ok(s.bytes <= limit, `${s.bytes} bytes on disk`);
  assert.ok(s.dropped > 0);
  assert.equal(s.dropped + s.spooled, n);
  const got = ids(await readAll(s));
  assert.equal(got.length, s.spooled);
  assert.deepEqual(got, range(n - got.length, n), 'the newest are kept, without a gap');
  assert.match(errors[0]!, /spool_limit \(65536 bytes\): the oldest \d+ event\(s\) were dropped/);
  await s.close();
}));

test('spool: one batch larger than the limit keeps its newest records, within the limit, and drops (and counts) the oldest', () => withTempDir(async (dir) => {
  const limit = 64 * 1024;
  const s = new Spool(path.join(dir, 'sp'), limit, quiet);
  // A burst that came while the disk was busy: 2 000 records (about 300 KB) in one write's worth,
  // then more on top. Before, such a write was one segment, deleted whole for the limit.
  const n = 2000;
  append(s, range(0, n / 2).map((k) => rec(k)));
  append(s, range(n / 2, n).map((k) => rec(k)));
  await s.whenWritten();
  assert.ok(s.bytes <= limit, `${s.bytes} bytes on disk`);
  assert.ok(s.spooled > 0 && s.dropped > 0, `spooled ${s.spooled}, dropped ${s.dropped}`);
  assert.equal(s.dropped + s.spooled, n);
  const got = ids(await readAll(s));
  assert.equal(got.length, s.spooled);
  assert.deepEqual(got, range(n - got.length, n), 'the newest are kept, without a gap');
  // What is kept fills most of the limit: segments are an eighth of it.
  assert.ok(s.bytes > limit / 2, `${s.bytes} bytes kept`);
  // A record larger than a segment still goes in whole.
  const big = rec(n, segmentSize(limit) * 2);
  s.append(big, 1);
  await s.whenWritten();
  assert.equal(ids(await readAll(s)).at(-1), n);
  await s.close();
}));

test('spool: a second process is refused the spool of a running one; the lock of one that is gone is taken over', () => withTempDir(async (dir) => {
  const d = path.join(dir, 'sp');
  fs.mkdirSync(d);
  // pid 1 is running and did not start at tick 0: a stale lock.
  fs.writeFileSync(path.join(d, 'lock'), '1 0\n');
  const s = new Spool(d, 1 << 30, quiet);
  const stat = fs.readFileSync('/proc/1/stat', 'utf8');
  fs.writeFileSync(path.join(d, 'lock'), `1 ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`);
  assert.throws(() => new Spool(d, 1 << 30, quiet), /the spool .* is in use by process 1 \(another nlmon\?\)/);
  await s.close();
  assert.equal(fs.existsSync(path.join(d, 'lock')), false, 'close lets go');
  await new Spool(d, 1 << 30, quiet).close();
}));

test('spool: on a full disk, once everything is acknowledged, new events are written again without a restart', { skip: process.getuid?.() === 0 ? false : 'needs root (mounts a small tmpfs)' }, () => withTempDir(async (dir) => {
  const mnt = path.join(dir, 'small');
  fs.mkdirSync(mnt);
  execaSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  try {
    const errors: string[] = [];
    const s = new Spool(path.join(mnt, 'sp'), 1 << 30, { written: () => {}, error: (m) => errors.push(m) });
    let i = 0;
    while (!errors.some((e) => /ENOSPC/.test(e)) && i < 100000) {
      append(s, range(i, i + 50).map((k) => rec(k, 1000)));
      i += 50;
      await s.whenWritten();
    }
    assert.ok(errors.some((e) => /ENOSPC/.test(e)), 'the disk filled');
    for (const r of await readAll(s)) s.ack(r.seg, r.end);
    assert.equal(s.spooled, 0, 'everything written is acknowledged');
    errors.length = 0;
    const before = s.dropped;
    append(s, range(i, i + 120).map((k) => rec(k, 1000)));
    await s.whenWritten();
    assert.deepEqual(errors, [], 'no ENOSPC once the acknowledged data is freed');
    assert.equal(s.dropped, before);
    assert.deepEqual(ids(await readAll(s)), range(i, i + 120));
    await s.close();
  } finally {
    execaSync('umount', ['-l', mnt]);
  }
}));
