// The nats output's records between the spool and the stream's acknowledgement
// (src/outputs/nats/flights.ts): walked in place from the spool's reads, kept by number in a
// ring of slots, each record's fields as it was read, its payload copied into chunks the flights
// use again.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Flights } from '../src/outputs/nats/flights.js';
import { HEADER, RecordsAhead, SpoolRecord, wholeRun, type RecordRun } from '../src/outputs/spool/record.js';

/** Records laid out as the spool's format says (spool/record.ts); the CRC is not looked at here. */
function records(from: number, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const key = Buffer.from(`nlmon.h.e${i % 3}`);
    const id = Buffer.from(`h/b/r/${i}`);
    const body = Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(i % 50) }));
    const payload = Buffer.concat([Buffer.alloc(8), Buffer.alloc(2), key, Buffer.alloc(2), id, body]);
    payload.writeDoubleLE(1_700_000_000_000 + i, 0);
    payload.writeUInt16LE(key.length, 8);
    payload.writeUInt16LE(id.length, 10 + key.length);
    const head = Buffer.alloc(HEADER);
    head.writeUInt32LE(payload.length, 0);
    return Buffer.concat([head, payload]);
  }));
}

/** A run of `count` records from number `from`, as the spool hands one out: in a buffer with
 * other bytes before it, at `off` in segment `seg`. */
function run(seg: number, off: number, from: number, count: number): RecordRun {
  const bytes = records(from, count);
  const buf = Buffer.concat([Buffer.alloc(7, 0x7a), bytes, Buffer.alloc(5, 0x7a)]).subarray(7);
  const r = wholeRun(buf, bytes.length + 3, { seg, off }); // a torn tail after them is left out
  assert.equal(r.records, count);
  return r;
}

test('records ahead: walked in order across runs and reads, each with its segment, its end and its time', () => {
  const ahead = new RecordsAhead();
  assert.equal(ahead.take(), false);
  assert.equal(ahead.nextTime(), 0);
  const first = run(3, 1000, 0, 5);
  const second = run(3, 1000 + first.bytes, 5, 4);
  ahead.add([first, second]);
  assert.equal(ahead.count, 9);
  const seen: Array<[string, number, number]> = [];
  let end = 1000;
  for (let k = 0; k < 7; k++) {
    assert.equal(ahead.nextTime(), 1_700_000_000_000 + k);
    assert.ok(ahead.take());
    seen.push([new SpoolRecord(ahead.seg, ahead.end, ahead.buf, ahead.p, ahead.len).id, ahead.seg, ahead.end]);
    end += HEADER + ahead.len;
    assert.equal(ahead.end, end, 'where the next record starts in the segment');
  }
  assert.deepEqual(seen.map(([id]) => id), ['h/b/r/0', 'h/b/r/1', 'h/b/r/2', 'h/b/r/3', 'h/b/r/4', 'h/b/r/5', 'h/b/r/6']);
  assert.ok(seen.every(([, seg]) => seg === 3));
  assert.equal(ahead.count, 2);
  // A read that comes while some are left goes behind them; the next segment starts at 0.
  ahead.add([run(4, 0, 9, 2)]);
  assert.equal(ahead.count, 4);
  const rest: Array<[number, number]> = [];
  while (ahead.take()) rest.push([ahead.seg, ahead.buf.readDoubleLE(ahead.p) - 1_700_000_000_000]);
  assert.deepEqual(rest, [[3, 7], [3, 8], [4, 9], [4, 10]]);
  assert.equal(ahead.count, 0);
  assert.equal(ahead.nextTime(), 0);
});

test('flights: numbered in order, kept in a ring of slots, each with its record as read', () => {
  assert.throws(() => new Flights(1000), /not a power of two/);
  const fl = new Flights(8);
  const ahead = new RecordsAhead();
  ahead.add([run(1, 0, 0, 30)]);
  const push = () => {
    assert.ok(ahead.take());
    return fl.push(ahead.buf, ahead.p, ahead.len, ahead.seg, ahead.end);
  };
  const ends: number[] = [];
  // Round and round the ring: at most 8 kept, the oldest acknowledged and forgotten first.
  for (let k = 0; k < 30; k++) {
    if (fl.count === 8) {
      fl.ack(fl.first);
      fl.shift();
    }
    const n = push();
    assert.equal(n, k);
    ends.push(fl.end(n));
    fl.markSent(n, 5000 + k);
  }
  assert.deepEqual([fl.first, fl.next, fl.count], [22, 30, 8]);
  for (let n = 22; n < 30; n++) {
    const r = fl.record(n);
    assert.deepEqual([r.id, r.key, r.seg, r.end, r.time, fl.sentAt(n)], [`h/b/r/${n}`, `nlmon.h.e${n % 3}`, 1, ends[n], 1_700_000_000_000 + n, 5000 + n]);
    assert.deepEqual(JSON.parse(r.body.toString()), { i: n, pad: 'x'.repeat(n % 50) });
    assert.equal(fl.time(n), 1_700_000_000_000 + n);
  }
  assert.equal(fl.holds(21), false, 'forgotten');
  assert.equal(fl.holds(30), false, 'not yet sent');
  assert.equal(fl.holds(-1), false);
  assert.ok(fl.holds(22) && fl.holds(29));
  fl.refuse(23);
  assert.deepEqual([fl.acked(23), fl.record(23).refused], [false, true]);
  fl.ack(23);
  assert.deepEqual([fl.acked(23), fl.record(23).refused], [true, false], 'acknowledged after a refusal');
  assert.equal(fl.acked(22), false);
  // What a lost connection leaves to check: the unacknowledged, in order, less the dropped.
  const { records: waiting, numbers } = fl.unacknowledged((seg) => seg !== 1);
  assert.deepEqual(numbers, [22, 24, 25, 26, 27, 28, 29]);
  assert.deepEqual(waiting.map((r) => r.id), numbers.map((n) => `h/b/r/${n}`));
  assert.deepEqual(fl.unacknowledged((seg) => seg === 1), { records: [], numbers: [] });
});

test('flights: a payload is the flight\'s own (the buffer it was read from may be read into again); chunks are used again once forgotten', () => {
  const fl = new Flights(8192);
  const src = run(1, 0, 0, 4000);
  const ahead = new RecordsAhead();
  ahead.add([src]);
  const pushed = (): number => {
    assert.ok(ahead.take());
    return fl.push(ahead.buf, ahead.p, ahead.len, ahead.seg, ahead.end);
  };
  for (let k = 0; k < 4000; k++) pushed();
  // The spool reads into its buffer again: the flights' records are unchanged.
  src.buf.fill(0x7a, 0, src.bytes);
  assert.deepEqual([fl.record(0).id, fl.record(3999).id], ['h/b/r/0', 'h/b/r/3999']);
  const firstChunk = fl.buf(0);
  assert.notEqual(fl.buf(3999), firstChunk, 'more than one chunk');
  // Forgotten up to a flight in a later chunk: the first chunk is taken for the next payloads.
  while (fl.buf(fl.first) === firstChunk) {
    fl.ack(fl.first);
    fl.shift();
  }
  assert.equal(ahead.take(), false);
  const more = records(4000, 4000);
  ahead.add([wholeRun(more, more.length, { seg: 2, off: 0 })]);
  let n = pushed();
  while (fl.buf(n) !== firstChunk && fl.count < 8000) n = pushed();
  assert.equal(fl.buf(n), firstChunk);
  for (let k = fl.first; k < fl.next; k++) assert.equal(fl.record(k).id, `h/b/r/${k}`);
  // A payload larger than a chunk has one of its own; all forgotten, the next starts afresh.
  const big = Buffer.alloc(300 * 1024 + 20, 0x61);
  big.writeUInt16LE(1, 8);
  big.write('k', 10);
  big.writeUInt16LE(2, 11);
  big.write('id', 13);
  const b = fl.push(big, 0, big.length, 3, 0);
  assert.equal(fl.buf(b).length, big.length);
  assert.equal(fl.record(b).id, 'id');
  while (fl.count > 0) fl.shift();
  const after = fl.push(records(9, 1), HEADER, records(9, 1).length - HEADER, 4, 0);
  assert.equal(fl.record(after).id, 'h/b/r/9');
});
