// The nats output's publishes as the bytes of the NATS protocol (docs/fleet.md): a JetStream
// publish is a core publish with headers (HPUB) whose reply subject is our inbox and the
// publish's number, its one header the record's `Nats-Msg-Id`:
//   HPUB <subject> <reply> <header bytes> <total bytes>\r\n
//   NATS/1.0\r\nNats-Msg-Id: <id>\r\n\r\n<body>\r\n
// A turn's publishes are written into one buffer and handed to the client at once: the
// client's publish() makes a template string, encodes it, and queues four pieces per message,
// then copies them together again (test/nats-frames.test.ts holds the bytes to what it sends).
import type { MsgHdrs, NatsConnection } from '@nats-io/nats-core';
import { ByteBatch, num } from '../../event/json.js';
import { payloadParts, SpoolRecord, type PayloadParts } from '../spool/record.js';

const HEADER_START = Buffer.from('NATS/1.0\r\nNats-Msg-Id: ', 'latin1');
const HPUB = Buffer.from('HPUB ', 'latin1');
/** The header block's bytes around the id: "NATS/1.0\r\nNats-Msg-Id: " and "\r\n\r\n". */
const HEADER_FIXED = HEADER_START.length + 4;

/** A message's headers, `Nats-Msg-Id` alone, as the bytes the protocol sends (NATS/1.0 header
 * block). The client asks a publish's headers only for encode(); a full MsgHdrs (a map, set and
 * validated, then made into a string and encoded) was a fifth of this output's CPU per event.
 * The id (runIdentity(), then a number) is printable ASCII. */
export function msgIdHeader(id: string): MsgHdrs {
  const bytes = Buffer.from(`NATS/1.0\r\nNats-Msg-Id: ${id}\r\n\r\n`, 'latin1');
  return { encode: () => bytes } as unknown as MsgHdrs;
}

/** Sends HPUB frames (frames.ts) written for one turn; `largest` is the largest message in them. */
export type FrameSender = (frames: Uint8Array, largest: number) => void;

/** What the client does with a command of ours: its connection's queue of bytes for the server
 * (nats-core's ProtocolHandler, not part of its typed API). */
interface ClientProtocol {
  sendCommand(cmd: Uint8Array): void;
  info?: { headers?: boolean; max_payload?: number };
  noMorePublishing?: boolean;
}

/** A sender that queues the frames on the connection as its own publish() queues a message's
 * pieces, with the checks publish() makes (closed, draining, headers, max_payload); undefined
 * when this client has no such queue (another version of it): then each record goes through
 * publish(). */
export function frameSender(nc: NatsConnection): FrameSender | undefined {
  const protocol = (nc as unknown as { protocol?: ClientProtocol }).protocol;
  if (typeof protocol?.sendCommand !== 'function') return undefined;
  return (frames, largest) => {
    if (nc.isClosed()) throw new Error('the connection is closed');
    if (protocol.noMorePublishing) throw new Error('the connection is draining');
    const info = protocol.info;
    if (info && !info.headers) throw new Error('the server does not take headers (NATS 2.2 or later is needed)');
    if (info?.max_payload && largest > info.max_payload) throw new Error(`an event is larger than the server's max_payload (${info.max_payload} bytes)`);
    protocol.sendCommand(frames);
  };
}

/** A connection's publishes of one turn (pump, resend): written as frames and queued at once,
 * or, with a client that has no queue for them (another version of it), published one by one. */
export class TurnPublishes {
  private readonly frames = new PublishFrames();
  private readonly sender: FrameSender | undefined;
  /** The inbox and a dot, as the bytes each publish's reply subject starts with. */
  private readonly inboxBytes: Buffer;
  /** With no sender: the turn's records and their numbers. */
  private readonly one: Array<[SpoolRecord, number]> = [];

  constructor(private readonly nc: NatsConnection, private readonly inbox: string) {
    this.sender = frameSender(nc);
    this.inboxBytes = Buffer.from(`${inbox}.`);
  }

  /** The publish of the record whose payload is buf[p, p + len), replied to at the inbox and `n`. */
  add(buf: Buffer, p: number, len: number, n: number): void {
    if (this.sender) this.frames.add(buf, p, len, this.inboxBytes, n);
    else this.one.push([new SpoolRecord(0, 0, buf, p, len), n]);
  }

  /** Hands the turn's publishes to the client; throws as its publish() throws (closed, draining,
   * too large), and then the turn's are not sent. */
  send(): void {
    if (this.sender) {
      if (this.frames.count === 0) return;
      const largest = this.frames.largest;
      this.sender(this.frames.take(), largest);
      return;
    }
    const turn = this.one.splice(0);
    for (const [rec, n] of turn) this.nc.publish(rec.key, rec.body, { reply: `${this.inbox}.${n}`, headers: msgIdHeader(rec.id) });
  }
}

/** The number a reply subject ends in (`<inbox>.<n>`), read in place; -1 when it ends in
 * anything else. */
export function flightNumber(subject: string): number {
  let n = 0;
  let scale = 1;
  for (let i = subject.length - 1; i >= 0; i--) {
    const c = subject.charCodeAt(i);
    if (c === 0x2e) return scale > 1 ? n : -1;
    if (c < 0x30 || c > 0x39 || scale > 1e15) return -1;
    n += (c - 0x30) * scale;
    scale *= 10;
  }
  return -1;
}

/** HPUB frames gathered for one write to the server. */
export class PublishFrames {
  private readonly bytes = new ByteBatch();
  count = 0;
  /** The largest message (headers and body) since the last take(), for the server's max_payload. */
  largest = 0;

  private readonly parts: PayloadParts = { keyAt: 0, keyEnd: 0, idAt: 0, bodyAt: 0, bodyEnd: 0 };

  /** A publish of the record whose payload is src[p, p + len), replied to at `inbox` (its bytes,
   * ending in a dot) and `n`. Its subject, id and body are copied from there. */
  add(src: Buffer, p: number, len: number, inbox: Buffer, n: number): void {
    const rec = payloadParts(src, p, len, this.parts);
    const idBytes = rec.bodyAt - rec.idAt;
    const hlen = HEADER_FIXED + idBytes;
    const total = hlen + rec.bodyEnd - rec.bodyAt;
    if (total > this.largest) this.largest = total;
    const buf = this.bytes.room(64 + inbox.length + (rec.keyEnd - rec.keyAt) + idBytes + total);
    let o = copy(buf, this.bytes.used, HPUB, 0, HPUB.length);
    o = copy(buf, o, src, rec.keyAt, rec.keyEnd);
    buf[o++] = 0x20;
    o = copy(buf, o, inbox, 0, inbox.length);
    o = num(buf, o, n);
    buf[o++] = 0x20;
    o = num(buf, o, hlen);
    buf[o++] = 0x20;
    o = num(buf, o, total);
    buf[o++] = 0x0d;
    buf[o++] = 0x0a;
    o = copy(buf, o, HEADER_START, 0, HEADER_START.length);
    o = copy(buf, o, src, rec.idAt, rec.bodyAt);
    buf[o++] = 0x0d;
    buf[o++] = 0x0a;
    buf[o++] = 0x0d;
    buf[o++] = 0x0a;
    o += src.copy(buf, o, rec.bodyAt, rec.bodyEnd);
    buf[o++] = 0x0d;
    buf[o++] = 0x0a;
    this.bytes.used = o;
    this.count++;
  }

  /** The frames added since the last take(), in a buffer of their own (the client holds them
   * until the socket has taken them); the one they were gathered in is kept for the next turn.
   * Handed over instead, each turn took a new buffer the size of the last one, which the next
   * turn outgrew, a second one twice that and a copy: three times the turn's bytes allocated
   * outside V8's heap, whose growth counts towards starting a full collection. */
  take(): Buffer {
    this.count = 0;
    this.largest = 0;
    return this.bytes.take();
  }
}

/** src[from, to) into buf at o: short pieces byte by byte (a call to copy() costs more). */
function copy(buf: Buffer, o: number, src: Buffer, from: number, to: number): number {
  const n = to - from;
  if (n > 48) return o + src.copy(buf, o, from, to);
  for (let i = 0; i < n; i++) buf[o + i] = src[from + i]!;
  return o + n;
}
