// The spool's record check in the addon (native/crc32.cc): zlib's CRC-32 for every length and
// alignment, folded or by tables; a batch of records sealed in one call; its arguments checked.
// Held to Node's own zlib.crc32, not to itself.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { recordChecks } from '../src/native/addon.js';

const { crc32, sealRecords } = recordChecks();

test('record check: the CRC-32 of zlib for every length to 2 KiB at every alignment, and of 1 MiB', () => {
  const bytes = crypto.randomBytes(2048 + 16);
  for (let at = 0; at < 16; at++) {
    for (let len = 0; len <= 2048; len++) {
      const want = zlib.crc32(bytes.subarray(at, at + len));
      if (crc32(bytes, at, at + len) !== want) assert.fail(`length ${len} at ${at}: ${crc32(bytes, at, at + len)}, zlib ${want}`);
    }
  }
  const big = crypto.randomBytes(1 << 20);
  assert.equal(crc32(big, 0, big.length), zlib.crc32(big));
  // Runs of one value, where a folding slip shows in the constants, not in the data.
  for (const v of [0x00, 0xff]) {
    const same = Buffer.alloc(4096 + 7, v);
    for (const len of [63, 64, 65, 79, 80, 127, 128, 129, 4096 + 7]) assert.equal(crc32(same, 0, len), zlib.crc32(same.subarray(0, len)), `${len} of ${v}`);
  }
});

test('record check: a batch of records sealed in one call, each as zlib would, and nothing past them touched', () => {
  const lengths = [12, 0, 1, 63, 64, 65, 700, 4095, 12, 100_000, 33];
  const start = 5;
  const size = lengths.reduce((n, l) => n + 8 + l, 0);
  const buf = Buffer.alloc(start + size + 20, 0xee);
  let o = start;
  for (const len of lengths) {
    buf.writeUInt32LE(len, o);
    buf.writeUInt32LE(0, o + 4);
    crypto.randomFillSync(buf, o + 8, len);
    o += 8 + len;
  }
  // A record whose length says more than the range holds: not sealed, and the count says so.
  buf.writeUInt32LE(100, o);
  buf.writeUInt32LE(0, o + 4);
  const before = Buffer.from(buf);
  assert.equal(sealRecords(buf, start, start + size + 20), lengths.length);
  o = start;
  for (const [i, len] of lengths.entries()) {
    assert.equal(buf.readUInt32LE(o + 4), zlib.crc32(buf.subarray(o + 8, o + 8 + len)), `record ${i}`);
    buf.writeUInt32LE(0, o + 4);
    o += 8 + len;
  }
  assert.ok(buf.equals(before), 'only the CRC fields changed');
  // A range that ends inside a record's header or payload seals the whole ones before it.
  assert.equal(sealRecords(buf, start, start + 8 + 12 + 8 + 0 + 4), 2);
  assert.equal(sealRecords(buf, start, start + 8 + 11), 0);
  assert.equal(sealRecords(buf, start, start), 0);
});

test('record check: arguments that are not a byte array and a range within it are refused', () => {
  const b = Buffer.alloc(16);
  for (const f of [crc32, sealRecords]) {
    assert.throws(() => f(b, 0, 17), RangeError);
    assert.throws(() => f(b, 5, 4), RangeError);
    assert.throws(() => f(b, -1, 4), RangeError);
    assert.throws(() => f(b, 0.5, 4), RangeError);
    assert.throws(() => f(b, 0, NaN), RangeError);
    assert.throws(() => f(new Uint16Array(8) as unknown as Uint8Array, 0, 4), TypeError);
    assert.throws(() => f('0123' as unknown as Uint8Array, 0, 4), TypeError);
    assert.throws(() => (f as (...a: unknown[]) => number)(b, 0), TypeError);
  }
  // A view into a larger buffer: the range is the view's.
  const big = crypto.randomBytes(200);
  const view = big.subarray(50, 150);
  assert.equal(crc32(view, 10, 90), zlib.crc32(big.subarray(60, 140)));
  assert.throws(() => crc32(view, 0, 101), RangeError);
});
