// The stream's acknowledgements of the nats output's publishes, taken out of the bytes the
// server sends before the client's parser reads them (docs/fleet.md, "Where the events go").
// The client made of each acknowledgement a message object, its subject decoded, its
// arguments split into slices: 1.2 KB of garbage per event, 43 % of what the output allocated,
// and about a tenth of the main thread's time (README, "What was expensive"). Here an
// acknowledgement is read in place:
//   MSG <inbox>.<n> <sid> <bytes>\r\n{"stream":…}\r\n
// and every other byte goes to the client's parser in the order it came, so the client sees
// the server's stream with whole acknowledgements left out, and nothing else changed: replies
// that are not acknowledgements (errors, "no responders"), messages of other subscriptions,
// INFO, PING and the rest. The filter follows the server's operations only far enough to know
// where each ends; what it does not understand turns it off for the rest of the connection,
// and the client then gets every byte as before (its subscription to the inbox still answers).
// What it holds back between reads is bounded: a control line of MAX_LINE bytes, and an
// acknowledgement of MAX_ACK.
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { pubAckAt } from './client.js';

/** The longest control line held back between reads; a longer one turns the filter off. */
export const MAX_LINE = 4096;
/** The largest acknowledgement read here; a larger reply goes to the client. */
export const MAX_ACK = 1024;

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

type Parse = (buf: Uint8Array) => void;

export class AckFilter {
  /** The start of an operation not yet whole (a MSG line, an acknowledgement), held back. */
  private held: Buffer | undefined;
  /** Bytes of a message of the client's still to come (its payload). */
  private passing = 0;
  /** Inside a control line of the client's (INFO, PING, …), or after a message's payload, until
   * the next LF (where the client's parser, too, takes the next operation to start). */
  private inLine = false;
  /** Not following the server's operations: every byte goes to the client. */
  off = false;
  /** Acknowledgements taken here. */
  taken = 0;
  /** The arguments of the last control line read (args()): where each starts and ends. */
  private readonly at = [0, 0, 0, 0, 0];
  private readonly end = [0, 0, 0, 0, 0];

  /** `sid`: the inbox subscription's id; `inbox`: the inbox and a dot; onAck(n) hears the
   * acknowledgement of publish `n` (its reply subject `<inbox>.<n>`). */
  constructor(private readonly sid: Buffer, private readonly inbox: Buffer, private readonly onAck: (n: number) => void) {}

  /** Bytes held back until the rest of their operation comes. */
  get heldBytes(): number {
    return this.held?.length ?? 0;
  }

  /** A new connection: nothing of the last one's stream is held. */
  reset(): void {
    this.held = undefined;
    this.passing = 0;
    this.inLine = false;
  }

  /** Stops taking acknowledgements (the subscription is gone): all goes to the client. */
  stop(): void {
    this.off = true;
  }

  /** Reads one chunk from the server: hands parse() what is not an acknowledgement, in order,
   * and onAck() the acknowledgements between. */
  feed(chunk: Uint8Array, parse: Parse): void {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.held) {
      buf = Buffer.concat([this.held, buf]);
      this.held = undefined;
    }
    if (this.off) return parse(buf);
    const n = buf.length;
    let keep = 0; // bytes from here on are not yet handed to parse()
    let p = 0;
    while (p < n) {
      if (this.passing > 0) {
        const k = Math.min(this.passing, n - p);
        this.passing -= k;
        p += k;
        continue;
      }
      if (this.inLine) {
        const e = buf.indexOf(LF, p);
        if (e < 0) break;
        this.inLine = false;
        p = e + 1;
        continue;
      }
      // The start of an operation: only MSG and HMSG have bytes after their line.
      const op = buf[p]! | 0x20;
      if (op !== 0x6d && op !== 0x68) {
        this.inLine = true;
        continue;
      }
      const e = buf.indexOf(LF, p);
      if (e < 0 || e - p > MAX_LINE) {
        if (n - p > MAX_LINE) return this.giveUp(buf, keep, parse);
        if (keep < p) parse(buf.subarray(keep, p));
        this.held = Buffer.from(buf.subarray(p));
        return;
      }
      const frame = this.frame(buf, p, e);
      if (frame < 0) return this.giveUp(buf, keep, parse);
      if (frame === 0) {
        p = e + 1;
        continue;
      }
      if (frame > n) {
        if (keep < p) parse(buf.subarray(keep, p));
        this.held = Buffer.from(buf.subarray(p));
        return;
      }
      const ack = this.ackNumber(buf, e + 1, frame - 2);
      if (ack < 0) {
        this.pass(frame - e - 3);
        p = e + 1;
        continue;
      }
      if (keep < p) {
        parse(buf.subarray(keep, p));
        keep = p;
        if (this.off) break; // a reply in what went to the client stopped the filter
      }
      keep = p = frame;
      this.taken++;
      this.onAck(ack);
    }
    if (keep === 0) parse(buf);
    else if (keep < n) parse(buf.subarray(keep));
  }

  /** From the bytes at `keep`, including what was held, every byte goes to the client. */
  private giveUp(buf: Buffer, keep: number, parse: Parse): void {
    this.off = true;
    parse(keep === 0 ? buf : buf.subarray(keep));
  }

  /** A message of the client's: its payload of `size` bytes, then up to the next LF. */
  private pass(size: number): void {
    this.passing = size;
    this.inLine = true;
  }

  /** The MSG or HMSG line buf[p, e]: where the acknowledgement it starts ends (past its CRLF)
   * when it may be one (on our subscription, no reply, at most MAX_ACK bytes); 0 when it is the
   * client's (then pass() has been told its size); -1 when it is not understood. */
  private frame(buf: Buffer, p: number, e: number): number {
    const hmsg = (buf[p]! | 0x20) === 0x68;
    const name = hmsg ? 'hmsg' : 'msg';
    for (let i = 0; i < name.length; i++) if ((buf[p + i]! | 0x20) !== name.charCodeAt(i)) return -1;
    const count = this.args(buf, p + name.length, e);
    if (hmsg) {
      if (count !== 4 && count !== 5) return -1;
      const total = this.number(buf, count - 1);
      if (total < 0 || this.number(buf, count - 2) < 0) return -1;
      this.pass(total);
      return 0;
    }
    if (count !== 3 && count !== 4) return -1;
    const size = this.number(buf, count - 1);
    if (size < 0) return -1;
    if (count === 3 && size <= MAX_ACK && this.isOurs(buf)) return e + 1 + size + 2;
    this.pass(size);
    return 0;
  }

  /** Splits buf[from, to) at spaces and tabs (a CR before the LF ends it): how many arguments,
   * at most five (six means more). */
  private args(buf: Buffer, from: number, to: number): number {
    if (buf[from] !== SPACE && buf[from] !== TAB) return 0;
    let count = 0;
    let start = -1;
    for (let i = from; i <= to; i++) {
      const b = i === to ? SPACE : buf[i]!;
      if (b === SPACE || b === TAB || b === CR) {
        if (start >= 0) {
          if (count === 5) return 6;
          this.at[count] = start;
          this.end[count++] = i;
          start = -1;
        }
      } else if (start < 0) {
        start = i;
      }
    }
    return count;
  }

  /** Argument `k` as a decimal number, -1 when it is not one (or above 64 MB: max_payload's
   * ceiling). */
  private number(buf: Buffer, k: number): number {
    const v = this.end[k]! - this.at[k]! > 8 ? -1 : decimal(buf, this.at[k]!, this.end[k]!);
    return v > 64 * 1024 * 1024 ? -1 : v;
  }

  /** Whether the line's sid (argument 1) is our subscription's. */
  private isOurs(buf: Buffer): boolean {
    const from = this.at[1]!;
    if (this.end[1]! - from !== this.sid.length) return false;
    for (let i = 0; i < this.sid.length; i++) if (buf[from + i] !== this.sid[i]) return false;
    return true;
  }

  /** The publish number an acknowledgement is for: its payload buf[from, to) a PubAck, its
   * subject (argument 0) the inbox and a number; -1 when not. */
  private ackNumber(buf: Buffer, from: number, to: number): number {
    if (buf[to] !== CR || buf[to + 1] !== LF || !pubAckAt(buf, from, to)) return -1;
    const s = this.at[0]!;
    const se = this.end[0]!;
    const inbox = this.inbox;
    if (se - s <= inbox.length || se - s > inbox.length + 16) return -1;
    for (let i = 0; i < inbox.length; i++) if (buf[s + i] !== inbox[i]) return -1;
    const v = decimal(buf, s + inbox.length, se);
    return v <= Number.MAX_SAFE_INTEGER ? v : -1;
  }
}

/** buf[from, to) as a decimal number; -1 when a byte is not a digit. */
function decimal(buf: Buffer, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i]! - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** The client's reader of the server's bytes (nats-core's ProtocolHandler.parser, replaced at
 * each reconnect; not part of its typed API). */
interface ClientParser {
  parse(buf: Uint8Array): void;
}

/** Puts an AckFilter in front of the connection's parser, and of each parser it makes on a
 * reconnect, for the acknowledgements to `inbox` on `sub`; undefined when this client has no
 * parser to put it in front of (another version of it): the subscription then hears them. */
export function takeAcks(nc: NatsConnection, sub: Subscription, inbox: string, onAck: (n: number) => void): AckFilter | undefined {
  const protocol = (nc as unknown as { protocol?: { parser?: ClientParser } }).protocol;
  const sid = sub.getID();
  if (!protocol || typeof protocol.parser?.parse !== 'function' || !Number.isSafeInteger(sid)) return undefined;
  const desc = Object.getOwnPropertyDescriptor(protocol, 'parser');
  if (!desc || !desc.writable || !desc.configurable) return undefined;
  const filter = new AckFilter(Buffer.from(String(sid)), Buffer.from(`${inbox}.`), onAck);
  let current = protocol.parser;
  const wrap = (parser: ClientParser): void => {
    current = parser;
    filter.reset();
    if (typeof parser?.parse !== 'function') return filter.stop();
    const parse = parser.parse.bind(parser);
    parser.parse = (buf) => filter.feed(buf, parse);
  };
  wrap(current);
  Object.defineProperty(protocol, 'parser', { configurable: true, enumerable: true, get: () => current, set: wrap });
  return filter;
}

export interface ReplyHandlers {
  /** A reply the filter did not take (every reply, without a filter). */
  onReply(m: Msg): void;
  /** The acknowledgement of publish `n`, taken by the filter. */
  onAck(n: number): void;
  /** What either threw: a throw would close the client's reader, and with it the connection. */
  onError(e: unknown): void;
}

/** Subscribes to `<inbox>.*` and puts an AckFilter in front of the client's parser for it. */
export function listenForReplies(nc: NatsConnection, inbox: string, h: ReplyHandlers): { sub: Subscription; acks: AckFilter | undefined } {
  const guarded = <T>(f: (x: T) => void) => (x: T): void => {
    try {
      f(x);
    } catch (e) {
      h.onError(e);
    }
  };
  const onReply = guarded((m: Msg) => h.onReply(m));
  const sub = nc.subscribe(`${inbox}.*`, { callback: (_err, m) => onReply(m) });
  return { sub, acks: takeAcks(nc, sub, inbox, guarded((n: number) => h.onAck(n))) };
}
