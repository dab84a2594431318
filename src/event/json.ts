// The event as one line of JSON (docs/events.md), written straight into bytes. `monitor --json`
// and the outputs put a batch's events into one buffer this way: no string is made per event
// (joining some 30 pieces into one, flattening it and measuring its UTF-8 cost more than
// writing the bytes). formatEventJson, for the few places that want a string, decodes the
// same bytes, so there is one writer of the format (test/event-json.test.ts holds its bytes
// to a recording).
import type { NlEvent } from './event.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

const SEQUENCE = bytes('{"sequence":');
const TIMESTAMP = bytes(',"timestamp":');
const NAMESPACE = bytes(',"namespace":');
const IFINDEX = bytes(',"ifindex":');
const FLAGS = bytes(',"flags":');
/** "up", "running", "lower_up" and the key of "operstate", for each combination (bit 0 up, 1
 * running, 2 lower_up). */
const STATES: readonly Buffer[] = Array.from({ length: 8 }, (_, i) => bytes(`,"up":${(i & 1) !== 0},"running":${(i & 2) !== 0},"lower_up":${(i & 4) !== 0},"operstate":`));
const MTU = bytes(',"mtu":');
const TXQLEN = bytes(',"txqlen":');
const ADDRESS = bytes(',"address":');
const KIND = bytes(',"kind":');
const MASTER = bytes(',"master":');
const LINK = bytes(',"link":');
const LINK_NETNSID = bytes(',"link_netnsid":');
const PEER_NAMESPACE = bytes(',"peer_namespace":');
const ALIAS = bytes(',"alias":');
/** The address fields of an event that has none (every link event), and the container fields of
 * one that names no container: written as one piece each. */
const NO_ADDRESS = bytes(',"family":"","ip":"","prefixlen":0,"scope":"","addr_flags":"","changed":');
const FAMILY = bytes(',"family":');
const IP = bytes(',"ip":');
const PREFIXLEN = bytes(',"prefixlen":');
const SCOPE = bytes(',"scope":');
const ADDR_FLAGS = bytes(',"addr_flags":');
const CHANGED = bytes(',"changed":');
const OLD_INTERFACE = bytes(',"old_interface":');
const RESYNC = [bytes(',"resync":false'), bytes(',"resync":true')] as const;
const NO_CONTAINER = bytes(',"container_id":"","container_name":"","container_image":"","container_runtime":"","pod_name":"","pod_namespace":"","pod_uid":"","host":');
const CONTAINER_ID = bytes(',"container_id":');
const CONTAINER_NAME = bytes(',"container_name":');
const CONTAINER_IMAGE = bytes(',"container_image":');
const CONTAINER_RUNTIME = bytes(',"container_runtime":');
const POD_NAME = bytes(',"pod_name":');
const POD_NAMESPACE = bytes(',"pod_namespace":');
const POD_UID = bytes(',"pod_uid":');
const HOST = bytes(',"host":');

interface Head {
  message_type: number;
  event_type: number;
  json: Buffer;
}
/** `,"message_type":…,"event_type":…,"event":…,"interface":` per event name (a handful). */
const heads = new Map<string, Head>();
const MAX_HEADS = 64;

function head(e: NlEvent): Buffer {
  let h = heads.get(e.event);
  if (h === undefined || h.message_type !== e.message_type || h.event_type !== e.event_type) {
    h = { message_type: e.message_type, event_type: e.event_type, json: bytes(`,"message_type":${e.message_type},"event_type":${e.event_type},"event":${JSON.stringify(e.event)},"interface":`) };
    if (heads.size < MAX_HEADS) heads.set(e.event, h);
  }
  return h.json;
}

/** The most bytes writeEventJson writes for e (its newline included). A UTF-16 unit takes at
 * most 6 bytes (an escape such as \u001f; UTF-8 needs at most 3); numbers at most 24 each. */
export function eventJsonBound(e: NlEvent): number {
  let units = e.namespace.length + e.event.length + e.interface.length + e.operstate.length + e.address.length + e.kind.length +
    e.peer_namespace.length + e.alias.length + e.family.length + e.ip.length + e.scope.length + e.addr_flags.length +
    e.old_interface.length + e.container_id.length + e.container_name.length + e.container_image.length +
    e.container_runtime.length + e.pod_name.length + e.pod_namespace.length + e.pod_uid.length + e.host.length;
  for (const c of e.changed) units += c.length + 3;
  return 1024 + 6 * units;
}

/** Writes e's line (its JSON and a newline) into buf at off, which must have eventJsonBound(e)
 * bytes of room; returns where the line ends. The bytes are JSON.stringify's for an event
 * built by makeEvent (same keys, same order), UTF-8 encoded: every string is escaped as it
 * would escape it, whatever its source (a hand-written --event included). */
export function writeEventJson(buf: Buffer, off: number, e: NlEvent): number {
  let o = put(buf, off, SEQUENCE);
  o = num(buf, o, e.sequence);
  o = put(buf, o, TIMESTAMP);
  o = num(buf, o, e.timestamp);
  o = put(buf, o, NAMESPACE);
  o = str(buf, o, e.namespace);
  o = put(buf, o, head(e));
  o = str(buf, o, e.interface);
  o = put(buf, o, IFINDEX);
  o = num(buf, o, e.ifindex);
  o = put(buf, o, FLAGS);
  o = num(buf, o, e.flags);
  o = put(buf, o, STATES[(e.up ? 1 : 0) | (e.running ? 2 : 0) | (e.lower_up ? 4 : 0)]!);
  o = str(buf, o, e.operstate);
  o = put(buf, o, MTU);
  o = num(buf, o, e.mtu);
  o = put(buf, o, TXQLEN);
  o = num(buf, o, e.txqlen);
  o = put(buf, o, ADDRESS);
  o = str(buf, o, e.address);
  o = put(buf, o, KIND);
  o = str(buf, o, e.kind);
  o = put(buf, o, MASTER);
  o = num(buf, o, e.master);
  o = put(buf, o, LINK);
  o = num(buf, o, e.link);
  o = put(buf, o, LINK_NETNSID);
  o = num(buf, o, e.link_netnsid);
  o = put(buf, o, PEER_NAMESPACE);
  o = str(buf, o, e.peer_namespace);
  o = put(buf, o, ALIAS);
  o = str(buf, o, e.alias);
  if (e.family === '' && e.ip === '' && e.prefixlen === 0 && e.scope === '' && e.addr_flags === '') {
    o = put(buf, o, NO_ADDRESS);
  } else {
    o = put(buf, o, FAMILY);
    o = str(buf, o, e.family);
    o = put(buf, o, IP);
    o = str(buf, o, e.ip);
    o = put(buf, o, PREFIXLEN);
    o = num(buf, o, e.prefixlen);
    o = put(buf, o, SCOPE);
    o = str(buf, o, e.scope);
    o = put(buf, o, ADDR_FLAGS);
    o = str(buf, o, e.addr_flags);
    o = put(buf, o, CHANGED);
  }
  const changed = e.changed;
  buf[o++] = 0x5b; // [
  for (let i = 0; i < changed.length; i++) {
    if (i > 0) buf[o++] = 0x2c; // ,
    o = str(buf, o, changed[i]!);
  }
  buf[o++] = 0x5d; // ]
  o = put(buf, o, OLD_INTERFACE);
  o = str(buf, o, e.old_interface);
  o = put(buf, o, RESYNC[e.resync ? 1 : 0]);
  if (e.container_id === '' && e.container_name === '' && e.container_image === '' && e.container_runtime === '' &&
    e.pod_name === '' && e.pod_namespace === '' && e.pod_uid === '') {
    o = put(buf, o, NO_CONTAINER);
  } else {
    // Each field by its name: read by a key in a variable, the load was megamorphic (V8's
    // generic lookup, on every event that names a container).
    o = put(buf, o, CONTAINER_ID);
    o = str(buf, o, e.container_id);
    o = put(buf, o, CONTAINER_NAME);
    o = str(buf, o, e.container_name);
    o = put(buf, o, CONTAINER_IMAGE);
    o = str(buf, o, e.container_image);
    o = put(buf, o, CONTAINER_RUNTIME);
    o = str(buf, o, e.container_runtime);
    o = put(buf, o, POD_NAME);
    o = str(buf, o, e.pod_name);
    o = put(buf, o, POD_NAMESPACE);
    o = str(buf, o, e.pod_namespace);
    o = put(buf, o, POD_UID);
    o = str(buf, o, e.pod_uid);
    o = put(buf, o, HOST);
  }
  o = str(buf, o, e.host);
  buf[o++] = 0x7d; // }
  buf[o++] = 0x0a; // newline
  return o;
}

/** A piece of constant bytes: short ones by hand (a call to set() costs more than the copy). */
function put(buf: Buffer, o: number, p: Buffer): number {
  const n = p.length;
  if (n > 24) {
    buf.set(p, o);
    return o + n;
  }
  for (let i = 0; i < n; i++) buf[o + i] = p[i]!;
  return o + n;
}

/** A string as JSON: printable ASCII byte by byte; a string with anything else (a quote, a
 * backslash, a control character, a lone surrogate, any non-ASCII character) as
 * JSON.stringify writes it, in UTF-8. */
function str(buf: Buffer, o: number, s: string): number {
  const start = o;
  buf[o++] = 0x22;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return start + buf.write(JSON.stringify(s), start);
    buf[o++] = c;
  }
  buf[o++] = 0x22;
  return o;
}

const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** (i + 1));

/** A number as a template literal writes it: a safe integer digit by digit, anything else (never
 * in an event nlmon makes) by String(). Also the spool's record ids and the nats output's
 * protocol lines (outputs/). */
export function num(buf: Buffer, o: number, n: number): number {
  if ((n | 0) === n && n >= 0) {
    // Most of an event's numbers: small, and done in integer arithmetic.
    if (n < 10) {
      buf[o] = 0x30 + n;
      return o + 1;
    }
    let digits = 2;
    while (digits < 10 && n >= POW10[digits - 1]!) digits++;
    for (let p = o + digits - 1; p >= o; p--) {
      const q = (n / 10) | 0;
      buf[p] = 0x30 + (n - q * 10);
      n = q;
    }
    return o + digits;
  }
  if (!Number.isSafeInteger(n)) return o + buf.write(String(n), o, 'latin1');
  if (n < 0) {
    buf[o++] = 0x2d; // -
    n = -n;
  }
  let digits = 1;
  while (digits < 16 && n >= POW10[digits - 1]!) digits++;
  for (let p = o + digits - 1; p >= o; p--) {
    const q = Math.floor(n / 10);
    buf[p] = 0x30 + (n - q * 10);
    n = q;
  }
  return o + digits;
}

/** The line's bytes for one event, kept for formatEventJson (grown when an event needs more). */
let scratch = Buffer.allocUnsafe(4096);

/** The event as one line of JSON, without its newline: the bytes writeEventJson writes, as a
 * string (for a hook's environment and stdin, a webhook's body, a module's message). */
export function formatEventJson(e: NlEvent): string {
  const need = eventJsonBound(e);
  if (need > scratch.length) scratch = Buffer.allocUnsafe(need);
  const end = writeEventJson(scratch, 0, e);
  return scratch.toString('utf8', 0, end - 1);
}

/** Bytes gathered for one write (a batch's lines, a batch's spool records): room is made before
 * each piece is written at `used`, and take() hands over what was gathered. */
export class ByteBatch {
  /** Kept between batches up to this size; a larger one (a huge batch) is let go after it. */
  private static readonly KEEP = 1024 * 1024;
  buf = Buffer.allocUnsafe(64 * 1024);
  used = 0;

  /** Makes room for n more bytes at `used`; returns the buffer to write them into. */
  room(n: number): Buffer {
    if (this.used + n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.used + n));
      this.buf.copy(bigger, 0, 0, this.used);
      this.buf = bigger;
    }
    return this.buf;
  }

  /** What was gathered since the last take(), in a buffer of its own (a stream may hold it). */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.used);
    this.buf.copy(out, 0, 0, this.used);
    this.clear();
    return out;
  }

  /** Drops what was gathered (and lets a huge batch's buffer go). */
  clear(): void {
    this.used = 0;
    if (this.buf.length > ByteBatch.KEEP) this.buf = Buffer.allocUnsafe(64 * 1024);
  }
}

/** Lines of events gathered into one buffer, as `monitor --json` writes a batch. */
export class EventLines {
  private readonly bytes = new ByteBatch();

  add(e: NlEvent): void {
    const b = this.bytes;
    b.used = writeEventJson(b.room(eventJsonBound(e)), b.used, e);
  }

  /** The lines added since the last take(), in a buffer of their own. */
  take(): Buffer {
    return this.bytes.take();
  }

  /** The lines added since the last take(), as one string without the last newline (a module
   * hook's message: one string for a batch, not one per event). */
  text(): string {
    const b = this.bytes;
    const out = b.used ? b.buf.toString('utf8', 0, b.used - 1) : '';
    b.clear();
    return out;
  }
}
