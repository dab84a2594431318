// The nats output's publishes written as protocol bytes (src/outputs/nats/frames.ts): the same
// bytes the client's own publish() queues for the same message, and the checks it makes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { DataBuffer, ProtocolHandler } from '@nats-io/nats-core/internal';
import type { NatsConnection } from '@nats-io/nats-core';
import { flightNumber, frameSender, msgIdHeader, PublishFrames, TurnPublishes } from '../src/outputs/nats/frames.js';
import { SpoolRecord } from '../src/outputs/spool/record.js';

/** What the client's publish() queues for the server, taken from its queue. */
function clientBytes(messages: Array<[string, string, string, Uint8Array]>): Buffer {
  const outbound = new DataBuffer();
  // The client's protocol handler without a connection: publish() fills its queue, and its
  // flush (a microtask) finds nothing connected.
  const p = Object.assign(Object.create(ProtocolHandler.prototype) as ProtocolHandler, {
    outbound, info: { headers: true, max_payload: 1 << 20 }, pendingLimit: Infinity, outBytes: 0, outMsgs: 0,
  });
  for (const [subject, reply, id, body] of messages) p.publish(subject, body, { reply, headers: msgIdHeader(id) });
  return Buffer.from(outbound.drain());
}

/** A spool record's payload (spool/record.ts) laid out as RecordBatch writes one, in the middle of
 * a buffer: the buffer, where the payload lies there, and the record as an object. */
function record(key: string, id: string, body: Uint8Array): { buf: Buffer; p: number; len: number; rec: SpoolRecord } {
  const k = Buffer.from(key);
  const i = Buffer.from(id);
  const payload = Buffer.concat([Buffer.alloc(8), Buffer.from([k.length & 0xff, k.length >> 8]), k, Buffer.from([i.length & 0xff, i.length >> 8]), i, body]);
  const before = Buffer.alloc(13, 0x7a);
  const buf = Buffer.concat([before, payload, before]);
  return { buf, p: before.length, len: payload.length, rec: new SpoolRecord(1, 0, buf, before.length, payload.length) };
}

test('nats frames: byte for byte what the client\'s publish() sends, for any subject, id and body', () => {
  const messages: Array<[string, string, string, Uint8Array]> = [
    ['nlmon.node7.link_down', '_INBOX.ABC', 'node7/0123456789abcdef/m1x2.1f/1', Buffer.from('{"sequence":1}')],
    ['nlmon.hôte-ünï.addr_added', '_INBOX.ABC', 'h_te/0123/m1x2.1f/4294967296', Buffer.from('{"host":"hôte-ünï ✓"}')],
    ['n', '_INBOX.Z', 'x/9007199254740991', Buffer.alloc(0)],
    ['nlmon.big', '_INBOX.ABC', 'id', Buffer.alloc(70_000, 0x61)],
  ];
  const numbers = [0, 7, 123456789, 9007199254740991];
  const frames = new PublishFrames();
  const records = messages.map(([subject, , id, body]) => record(subject, id, body));
  assert.deepEqual(records.map(({ rec }) => [rec.key, rec.id, rec.body.toString('latin1')]), messages.map(([s, , id, b]) => [s, id, Buffer.from(b).toString('latin1')]));
  records.forEach((r, i) => frames.add(r.buf, r.p, r.len, Buffer.from(`${messages[i]![1]}.`), numbers[i]!));
  assert.equal(frames.count, 4);
  assert.equal(frames.largest, 70_000 + 'NATS/1.0\r\nNats-Msg-Id: id\r\n\r\n'.length);
  const mine = frames.take();
  const theirs = clientBytes(messages.map(([s, r, id, b], i) => [s, `${r}.${numbers[i]}`, id, b]));
  // Compared here rather than printed whole: the big body would fill the screen.
  const at = [...mine].findIndex((b, i) => b !== theirs[i]);
  const around = (b: Buffer) => JSON.stringify(b.subarray(Math.max(0, at - 40), at + 40).toString('latin1'));
  assert.ok(at < 0 && mine.length === theirs.length, `the bytes differ at ${at} (lengths ${mine.length}, ${theirs.length}): ${around(mine)} against ${around(theirs)}`);
  assert.equal(frames.count, 0);
  assert.equal(frames.take().length, 0);
});

test('nats replies: the flight number a reply subject ends in, and -1 for anything else', () => {
  assert.equal(flightNumber('_INBOX.AbC123.0'), 0);
  assert.equal(flightNumber('_INBOX.AbC123.4096'), 4096);
  assert.equal(flightNumber('_INBOX.AbC123.9007199254740991'), 9007199254740991);
  for (const s of ['_INBOX.AbC123.', '_INBOX.AbC123.12a', '_INBOX.AbC123.-1', '_INBOX.AbC123.1.5e3', '4096', '', '_INBOX.x.12345678901234567']) assert.equal(flightNumber(s), -1, s);
});

test('spool records: a record whose lengths point past its end is kept within it', () => {
  const payload = Buffer.alloc(20);
  payload.writeUInt16LE(60000, 8); // a key longer than the record
  let r = new SpoolRecord(1, 0, Buffer.concat([payload, Buffer.alloc(50, 0x7a)]), 0, payload.length);
  assert.deepEqual([r.keyEnd, r.idAt, r.bodyAt, r.bodyEnd], [20, 20, 20, 20]);
  payload.writeUInt16LE(2, 8);
  payload.writeUInt16LE(60000, 12); // an id longer than the record
  r = new SpoolRecord(1, 0, Buffer.concat([payload, Buffer.alloc(50, 0x7a)]), 0, payload.length);
  assert.deepEqual([r.keyAt, r.keyEnd, r.idAt, r.bodyAt, r.bodyEnd], [10, 12, 14, 20, 20]);
  r = new SpoolRecord(1, 0, payload, 0, 5); // shorter than a record's fixed part
  assert.deepEqual([r.key, r.id, r.body.length], ['', '', 0]);
  const frames = new PublishFrames();
  frames.add(payload, 0, 5, Buffer.from('_INBOX.X.'), 1);
  assert.equal(frames.take().toString('latin1'), 'HPUB  _INBOX.X.1 27 27\r\nNATS/1.0\r\nNats-Msg-Id: \r\n\r\n\r\n');
});

test('nats frames: the sender makes the checks the client\'s publish() makes, and queues the bytes as they are', () => {
  const sent: Uint8Array[] = [];
  const protocol = { sendCommand: (b: Uint8Array) => sent.push(b), info: { headers: true, max_payload: 1000 }, noMorePublishing: false };
  let closed = false;
  const nc = { protocol, isClosed: () => closed } as unknown as NatsConnection;
  const send = frameSender(nc)!;
  const bytes = Buffer.from('HPUB a b 12 14\r\nNATS/1.0\r\n\r\nhi\r\n');
  send(bytes, 14);
  assert.deepEqual(sent, [bytes]);
  assert.throws(() => send(bytes, 1001), /larger than the server's max_payload \(1000 bytes\)/);
  protocol.noMorePublishing = true;
  assert.throws(() => send(bytes, 14), /draining/);
  protocol.noMorePublishing = false;
  protocol.info.headers = false;
  assert.throws(() => send(bytes, 14), /does not take headers/);
  closed = true;
  assert.throws(() => send(bytes, 14), /closed/);
  assert.equal(sent.length, 1);
  // A client without that queue (another version of it): no sender, each record is published.
  assert.equal(frameSender({ isClosed: () => false } as unknown as NatsConnection), undefined);

  // The turn's publishes: through the queue when there is one, else one by one through publish().
  closed = false;
  protocol.info.headers = true;
  const r1 = record('nlmon.a', 'h/1', Buffer.from('{}'));
  const r2 = record('nlmon.b', 'h/2', Buffer.from('{"x":1}'));
  const queued = new TurnPublishes(nc, '_INBOX.Q');
  queued.add(r1.buf, r1.p, r1.len, 5);
  queued.add(r2.buf, r2.p, r2.len, 6);
  queued.send();
  queued.send(); // nothing more
  const expected = new PublishFrames();
  expected.add(r1.buf, r1.p, r1.len, Buffer.from('_INBOX.Q.'), 5);
  expected.add(r2.buf, r2.p, r2.len, Buffer.from('_INBOX.Q.'), 6);
  assert.deepEqual(sent.slice(1).map((b) => Buffer.from(b).toString('latin1')), [expected.take().toString('latin1')]);
  const published: string[] = [];
  const older = {
    isClosed: () => false,
    publish: (subject: string, body: Uint8Array, o: { reply: string; headers: { encode(): Uint8Array } }) => published.push(`${subject} ${o.reply} ${Buffer.from(o.headers.encode()).toString('latin1')}${Buffer.from(body).toString()}`),
  } as unknown as NatsConnection;
  const one = new TurnPublishes(older, '_INBOX.Q');
  one.add(r1.buf, r1.p, r1.len, 5);
  one.add(r2.buf, r2.p, r2.len, 6);
  one.send();
  one.send();
  assert.deepEqual(published, ['nlmon.a _INBOX.Q.5 NATS/1.0\r\nNats-Msg-Id: h/1\r\n\r\n{}', 'nlmon.b _INBOX.Q.6 NATS/1.0\r\nNats-Msg-Id: h/2\r\n\r\n{"x":1}']);
});
