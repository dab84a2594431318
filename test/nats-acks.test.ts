// The nats output's acknowledgements taken out of the server's bytes (src/outputs/nats/acks.ts),
// held to the client's own parser: what the parser makes of the bytes the filter hands it, and
// the acknowledgements the filter takes, are what it makes of the server's bytes whole, with
// each acknowledgement in its place; however the bytes are split into reads.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Kind, Parser, type ParserEvent } from '@nats-io/nats-core/internal';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { AckFilter, MAX_ACK, MAX_LINE, takeAcks } from '../src/outputs/nats/acks.js';
import { TurnPublishes } from '../src/outputs/nats/frames.js';
import { needsNats, until, withNats } from './helpers/index.js';

const INBOX = '_INBOX.K1ZQ';
const SID = 7;

const ack = (n: number, extra = '') => `MSG ${INBOX}.${n} ${SID} ${`{"stream":"S","seq":${n}${extra}}`.length}\r\n{"stream":"S","seq":${n}${extra}}\r\n`;
const msg = (subject: string, sid: number, payload: string, reply = '') => `MSG ${subject} ${sid}${reply ? ` ${reply}` : ''} ${Buffer.byteLength(payload, 'latin1')}\r\n${payload}\r\n`;

/** A server's bytes with every kind of operation, and acknowledgements among them. */
const STREAM = [
  'INFO {"server_id":"N1","headers":true,"max_payload":1048576}\r\n',
  ack(0),
  ack(1, ',"duplicate":true'),
  'PING\r\n',
  msg('nlmon.other', 12, `a payload that looks like an acknowledgement:\r\n${ack(99)}`),
  ack(2),
  'HMSG _INBOX.K1ZQ.3 7 16 16\r\nNATS/1.0 503\r\n\r\n\r\n',
  msg(`${INBOX}.4`, SID, '{"error":{"code":10060,"description":"expected stream does not match"}}'),
  msg(`${INBOX}.5`, SID, '{"stream":"S","seq":5}', '_INBOX.reply.1'),
  msg(`${INBOX}.6`, SID, `{"stream":"S","seq":6,"pad":"${'x'.repeat(MAX_ACK)}"}`),
  msg(`${INBOX}.7`, 17, '{"stream":"S","seq":7}'),
  msg(`${INBOX}.8`, 70, '{"stream":"S","seq":8}'),
  msg('_INBOX.OTHER.9', SID, '{"stream":"S","seq":9}'),
  'msg _INBOX.K1ZQ.10 7 23\r\n{"stream":"S","seq":10}\r\n',
  'MSG\t_INBOX.K1ZQ.11 \t7  23\r\n{"stream":"S","seq":11}\r\n',
  '+OK\r\n',
  'MSG nlmon.x 3 2\r\nab and more before the line ends\r\n',
  ack(12),
  '-ERR \'Permissions Violation for Subscription to "x"\'\r\n',
  'HMSG nlmon.y 3 _INBOX.r 18 21\r\nNATS/1.0\r\nA: b\r\n\r\nabc\r\n',
  msg(`${INBOX}.13`, SID, ''),
  'PONG\r\n',
  ack(9007199254740991),
].join('');
/** The acknowledgements in STREAM, in order. */
const ACKS = [0, 1, 2, 10, 11, 12, 9007199254740991];

const KIND_NAMES = Object.fromEntries(Object.entries(Kind).map(([k, v]) => [v, k])) as Record<number, string>;

/** What the client's parser makes of the bytes: one line per operation, an acknowledgement
 * taken by the filter as `ack <n>`. */
class Log {
  readonly lines: string[] = [];
  push(e: ParserEvent): void {
    const text = (b?: Uint8Array) => Buffer.from(b ?? []).toString('latin1');
    if (e.kind === Kind.MSG) {
      const m = e.msg!;
      this.lines.push(`msg ${text(m.subject)} sid=${m.sid} reply=${text(m.reply)} hdr=${m.hdr} ${text(e.data)}`);
    } else {
      this.lines.push(`${KIND_NAMES[e.kind]} ${text(e.data)}`);
    }
  }
}

/** The parser's lines for the whole stream, with the acknowledgements the filter is to take
 * written as `ack <n>` (found here by what the filter looks for, read from the parser's view). */
function expected(bytes: string): string[] {
  const log = new Log();
  new Parser(log).parse(Buffer.from(bytes, 'latin1'));
  const pattern = new RegExp(`^msg ${INBOX.replace('.', '\\.')}\\.(\\d+) sid=${SID} reply= hdr=-1 (\\{"st.*)$`, 's');
  return log.lines.map((l) => {
    const m = pattern.exec(l);
    return m && m[2]!.length > 10 && m[2]!.length <= MAX_ACK ? `ack ${m[1]}` : l;
  });
}

/** A filter for INBOX and SID that writes the acknowledgements it takes into `lines`. */
function newFilter(lines: string[]): AckFilter {
  return new AckFilter(Buffer.from(String(SID)), Buffer.from(`${INBOX}.`), (n) => lines.push(`ack ${n}`));
}

/** The parser's lines for the stream fed through a filter in pieces cut at `cuts`, each read its
 * own buffer as the socket gives them. */
function filtered(bytes: string, cuts: number[]): { lines: string[]; filter: AckFilter } {
  const log = new Log();
  const filter = newFilter(log.lines);
  feedAll(filter, new Parser(log), Buffer.from(bytes, 'latin1'), cuts);
  return { lines: log.lines, filter };
}

function feedAll(filter: AckFilter, parser: Parser, buf: Buffer, cuts: number[]): void {
  let at = 0;
  for (const cut of [...cuts, buf.length]) {
    filter.feed(Uint8Array.from(buf.subarray(at, cut)), (b) => parser.parse(b));
    at = cut;
  }
}

/** A spool record's payload (spool/record.ts) in a buffer of its own. */
function spoolRecord(key: string, id: string, body: Buffer): { buf: Buffer; p: number; len: number } {
  const k = Buffer.from(key);
  const i = Buffer.from(id);
  const buf = Buffer.concat([Buffer.alloc(8), Buffer.from([k.length & 0xff, k.length >> 8]), k, Buffer.from([i.length & 0xff, i.length >> 8]), i, body]);
  return { buf, p: 0, len: buf.length };
}

/** Cuts at random, each piece 1 to `most` bytes. */
function randomCuts(length: number, most: number, seed: number): number[] {
  let x = seed;
  const rand = () => ((x = (x * 1103515245 + 12345) >>> 0) % most) + 1;
  const cuts: number[] = [];
  for (let at = rand(); at < length; at += rand()) cuts.push(at);
  return cuts;
}

test('nats acknowledgements: the client\'s parser sees the server\'s bytes but for the acknowledgements, taken in their place, however the reads are cut', () => {
  const want = expected(STREAM);
  assert.deepEqual(want.filter((l) => l.startsWith('ack')), ACKS.map((n) => `ack ${n}`), 'the stream holds the acknowledgements meant');
  assert.equal(want.length, 23);
  const whole = filtered(STREAM, []);
  assert.deepEqual(whole.lines, want);
  assert.equal(whole.filter.taken, ACKS.length);
  assert.equal(whole.filter.off, false);
  for (let cut = 1; cut < STREAM.length; cut++) {
    const r = filtered(STREAM, [cut]);
    assert.deepEqual(r.lines, want, `cut at ${cut}`);
    assert.equal(r.filter.heldBytes, 0);
  }
  for (let seed = 1; seed <= 300; seed++) {
    const cuts = randomCuts(STREAM.length, seed % 3 === 0 ? 3 : 60, seed);
    assert.deepEqual(filtered(STREAM, cuts).lines, want, `cuts ${cuts.join(',')}`);
  }
  // A byte at a time, and the stream twice over.
  assert.deepEqual(filtered(STREAM + STREAM, Array.from({ length: 2 * STREAM.length - 1 }, (_, i) => i + 1)).lines, [...want, ...want]);
});

test('nats acknowledgements: what is not understood turns the filter off, and the client gets every byte from there on', () => {
  const cases: Array<[string, string]> = [
    ['a MSG line longer than the longest held', msg(`nlmon.${'s'.repeat(MAX_LINE)}`, 12, 'x')],
    ['a size that is not a number', 'MSG nlmon.x 12 1x\r\nx\r\n'],
    ['a size above 64 MB', 'MSG nlmon.x 12 67108865\r\nx\r\n'],
    ['too few arguments', 'MSG nlmon.x 12\r\n'],
    ['too many arguments', 'MSG a 12 b c 1\r\nx\r\n'],
    ['an operation that is not MSG', 'MSGX a 12 1\r\nx\r\n'],
    ['an HMSG without its sizes', 'HMSG nlmon.x 12 3\r\nabc\r\n'],
  ];
  for (const [what, bad] of cases) {
    const log = new Log();
    const filter = newFilter(log.lines);
    const seen: Buffer[] = [];
    for (const piece of [ack(1), bad, ack(2)]) filter.feed(Buffer.from(piece, 'latin1'), (b) => seen.push(Buffer.from(b)));
    assert.equal(filter.off, true, what);
    assert.equal(Buffer.concat(seen).toString('latin1'), bad + ack(2), `${what}: every byte after the first acknowledgement goes to the client`);
    assert.deepEqual(log.lines, ['ack 1'], what);
    assert.equal(filter.taken, 1, what);
  }
});

test('nats acknowledgements: what is held back between reads is bounded, fed a byte at a time', () => {
  const most = (bytes: string) => {
    const filter = newFilter([]);
    const seen: Buffer[] = [];
    let held = 0;
    for (const b of Buffer.from(bytes, 'latin1')) {
      filter.feed(Uint8Array.of(b), (x) => seen.push(Buffer.from(x)));
      held = Math.max(held, filter.heldBytes);
    }
    return { held, filter, passed: Buffer.concat(seen).toString('latin1') };
  };
  // The largest acknowledgement read here: its line and payload held until whole, then taken.
  const big = `{"stream":"S","seq":1,"p":"${'x'.repeat(MAX_ACK - 29)}"}`;
  assert.equal(big.length, MAX_ACK);
  const a = most(`MSG ${INBOX}.1 ${SID} ${big.length}\r\n${big}\r\n`);
  assert.deepEqual([a.filter.taken, a.passed, a.held], [1, '', `MSG ${INBOX}.1 ${SID} ${big.length}\r\n`.length + MAX_ACK + 1]);
  // A line that does not end: held up to MAX_LINE bytes, then handed over and the filter off.
  const endless = `MSG ${'s'.repeat(2 * MAX_LINE)}`;
  const b = most(endless);
  assert.deepEqual([b.filter.off, b.passed === endless, b.held], [true, true, MAX_LINE]);
  // A message of the client's: its line held until its LF, its payload never, however large.
  const c = most(msg('nlmon.big', 12, 'y'.repeat(3 * MAX_LINE)));
  assert.deepEqual([c.filter.off, c.held, c.passed.length], [false, `MSG nlmon.big 12 ${3 * MAX_LINE}\r`.length, msg('nlmon.big', 12, 'y'.repeat(3 * MAX_LINE)).length]);
});

test('nats acknowledgements: stopped (the subscription gone), the filter hands the client every acknowledgement', () => {
  const lines: string[] = [];
  const filter = newFilter(lines);
  const seen: string[] = [];
  filter.feed(Buffer.from(ack(1) + ack(2).slice(0, 20), 'latin1'), (b) => seen.push(Buffer.from(b).toString('latin1')));
  filter.stop();
  filter.feed(Buffer.from(ack(2).slice(20) + ack(3), 'latin1'), (b) => seen.push(Buffer.from(b).toString('latin1')));
  assert.deepEqual(lines, ['ack 1']);
  assert.equal(seen.join(''), ack(2) + ack(3));
  // Stopped by a reply handed to the client in the middle of a read: the rest of it goes on
  // to the client.
  const log = new Log();
  const second = newFilter(log.lines);
  const parser = new Parser({ push: (e: ParserEvent) => { log.push(e); second.stop(); } });
  const error = msg(`${INBOX}.2`, SID, '{"error":{"code":503}}');
  second.feed(Buffer.from(ack(1) + error + ack(3), 'latin1'), (b) => parser.parse(b));
  assert.deepEqual(log.lines.map((l) => l.split(' ').slice(0, 3).join(' ')), ['ack 1', `msg ${INBOX}.2 sid=7`, `msg ${INBOX}.3 sid=7`]);
});

test('nats acknowledgements: takeAcks puts the filter in front of the connection\'s parser, and of the one each reconnect makes', () => {
  const log = new Log();
  const protocol: { parser: Parser } = { parser: new Parser(log) };
  const nc = { protocol } as unknown as NatsConnection;
  const sub = { getID: () => SID } as unknown as Subscription;
  const filter = takeAcks(nc, sub, INBOX, (n) => log.lines.push(`ack ${n}`));
  assert.ok(filter);
  protocol.parser.parse(Buffer.from(ack(1) + 'PING\r\n' + ack(2).slice(0, 30), 'latin1'));
  assert.equal(filter.heldBytes, 30);
  // A reconnect: the client makes a new parser; what the last connection left half-sent is gone.
  protocol.parser = new Parser(log);
  assert.equal(filter.heldBytes, 0);
  protocol.parser.parse(Buffer.from(ack(3) + 'PONG\r\n', 'latin1'));
  assert.deepEqual(log.lines, ['ack 1', 'PING ', 'ack 3', 'PONG ']);
  assert.equal(filter.taken, 2);
  // Another version of the client, without a parser there: nothing is put in front.
  assert.equal(takeAcks({} as NatsConnection, sub, INBOX, () => {}), undefined);
  assert.equal(takeAcks({ protocol: { parser: {} } } as unknown as NatsConnection, sub, INBOX, () => {}), undefined);
});

test('nats acknowledgements from a real nats-server: taken by the filter, not the subscription, before and after a reconnect; a reply that is not one still reaches the subscription', { skip: needsNats, timeout: 60000 }, () => withNats(async (s) => {
  const { connect } = await import('@nats-io/transport-node');
  const { createInbox } = await import('@nats-io/nats-core');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: s.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  try {
    await (await jetstreamManager(nc)).streams.add({ name: 'ACKS', subjects: ['acks.>'] });
    const inbox = createInbox();
    const replies: string[] = [];
    const sub = nc.subscribe(`${inbox}.*`, { callback: (_e, m) => void replies.push(`${m.subject} ${m.headers?.code ?? ''}`) });
    const acked = new Set<number>();
    const filter = takeAcks(nc, sub, inbox, (n) => acked.add(n));
    assert.ok(filter, 'this client has the parser the filter goes in front of');
    const publishes = new TurnPublishes(nc, inbox);
    const send = (subject: string, from: number, count: number) => {
      for (let n = from; n < from + count; n++) {
        const r = spoolRecord(subject, `id-${n}`, Buffer.from(`{"n":${n}}`));
        publishes.add(r.buf, r.p, r.len, n);
      }
      publishes.send();
    };
    send('acks.a', 0, 3000);
    await until(() => acked.size === 3000, `3 000 acknowledgements (${acked.size})`, 20000);
    assert.deepEqual(replies, [], 'none went through the subscription');
    // No stream takes this subject: the server answers "no responders" (a 503 with headers).
    send('nothing.here', 3000, 1);
    await until(() => replies.length === 1, 'the 503', 10000);
    assert.deepEqual(replies, [`${inbox}.3000 503`]);
    // The server restarted: the client reconnects with a new parser, and the filter is in front.
    await s.kill();
    await s.start();
    await until(() => !nc.isClosed() && (nc as unknown as { protocol: { connected: boolean } }).protocol.connected, 'the reconnect', 20000);
    await nc.flush();
    send('acks.a', 4000, 500);
    await until(() => acked.size === 3500, `500 more acknowledgements (${acked.size})`, 20000);
    assert.equal(replies.length, 1);
    assert.equal(filter.taken, 3500);
    assert.equal(filter.off, false);
    assert.equal(await s.streamMessages('ACKS'), 3500);
  } finally {
    await nc.close();
  }
}));
