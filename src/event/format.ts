// One-line renderings of an event: JSON (docs/events.md) and a short human line like `ip monitor`.
import { FLAG_NAMES, type NlEvent } from './event.js';

export function flagNames(flags: number): string {
  const names: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) names.push(name);
  return names.join(',');
}

const stringify = JSON.stringify as (s: string) => string;
/** What JSON.stringify escapes in a string: quote, backslash, control characters, lone surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON: JSON.stringify's bytes, without calling it for the common plain string. */
function str(s: string): string {
  // Most of an event's strings are empty (no container, no alias, no address on a link event).
  if (s.length === 0) return '""';
  return NEEDS_ESCAPE.test(s) ? stringify(s) : `"${s}"`;
}

function changedJson(c: readonly string[]): string {
  if (c.length === 0) return '[]';
  let out = `[${str(c[0]!)}`;
  for (let i = 1; i < c.length; i++) out += `,${str(c[i]!)}`;
  return `${out}]`;
}

/** "up", "running" and "lower_up" for each combination (bit 0 up, 1 running, 2 lower_up). */
const STATES: readonly string[] = Array.from({ length: 8 }, (_, i) => `"up":${(i & 1) !== 0},"running":${(i & 2) !== 0},"lower_up":${(i & 4) !== 0},"operstate":`);
/** The address fields of an event that has none (every link event), and the container fields of
 * one that names no container: written as one piece each. */
const NO_ADDRESS = '"family":"","ip":"","prefixlen":0,"scope":"","addr_flags":"","changed":';
const NO_CONTAINER = '"container_id":"","container_name":"","container_image":"","container_runtime":"","pod_name":"","pod_namespace":"","pod_uid":"","host":';

interface Head {
  message_type: number;
  event_type: number;
  json: string;
}
/** `"message_type":…,"event_type":…,"event":…,"interface":` per event name (a handful). */
const heads = new Map<string, Head>();
const MAX_HEADS = 64;

function head(e: NlEvent): string {
  let h = heads.get(e.event);
  if (h === undefined || h.message_type !== e.message_type || h.event_type !== e.event_type) {
    h = { message_type: e.message_type, event_type: e.event_type, json: `,"message_type":${e.message_type},"event_type":${e.event_type},"event":${str(e.event)},"interface":` };
    if (heads.size < MAX_HEADS) heads.set(e.event, h);
  }
  return h.json;
}

/** The event as one line of JSON, byte for byte what JSON.stringify gives for an event built
 * by makeEvent (same keys, same order), at a fraction of its cost. Every string is escaped as
 * JSON.stringify would, whatever its source (a hand-written --event included). Fewer pieces are
 * joined than there are fields: the fields that go together and are mostly the same (the
 * address fields of a link event, the container fields of a host link, the event's names) are
 * written as one piece each (test/event-json.test.ts holds the bytes to a recording). */
export function formatEventJson(e: NlEvent): string {
  const address = e.family === '' && e.ip === '' && e.prefixlen === 0 && e.scope === '' && e.addr_flags === '' ? NO_ADDRESS
    : `"family":${str(e.family)},"ip":${str(e.ip)},"prefixlen":${e.prefixlen},"scope":${str(e.scope)},"addr_flags":${str(e.addr_flags)},"changed":`;
  const container = e.container_id === '' && e.container_name === '' && e.container_image === '' && e.container_runtime === '' &&
    e.pod_name === '' && e.pod_namespace === '' && e.pod_uid === '' ? NO_CONTAINER
    : `"container_id":${str(e.container_id)},"container_name":${str(e.container_name)},"container_image":${str(e.container_image)},` +
      `"container_runtime":${str(e.container_runtime)},"pod_name":${str(e.pod_name)},"pod_namespace":${str(e.pod_namespace)},"pod_uid":${str(e.pod_uid)},"host":`;
  return `{"sequence":${e.sequence},"timestamp":${e.timestamp},"namespace":${str(e.namespace)}${head(e)}${str(e.interface)},` +
    `"ifindex":${e.ifindex},"flags":${e.flags},${STATES[(e.up ? 1 : 0) | (e.running ? 2 : 0) | (e.lower_up ? 4 : 0)]}${str(e.operstate)},` +
    `"mtu":${e.mtu},"txqlen":${e.txqlen},"address":${str(e.address)},"kind":${str(e.kind)},"master":${e.master},"link":${e.link},` +
    `"link_netnsid":${e.link_netnsid},"peer_namespace":${str(e.peer_namespace)},"alias":${str(e.alias)},${address}${changedJson(e.changed)},` +
    `"old_interface":${str(e.old_interface)},"resync":${e.resync},${container}${str(e.host)}}`;
}

const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\\]/g;

/** A name as it may go into a line of text: control characters (a newline in a namespace file's
 * name would forge a second line; an escape sequence would drive the terminal) and the
 * backslash written as \xNN, so nothing a container names can change what a line says. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Text safe for a terminal: control characters as \xNN, everything else (a backslash in a
 * condition) as it is. For tables and log lines a person reads. */
export function terminalSafe(s: string): string {
  return s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `[ns] #seq addr_added 3: d0 inet 10.9.8.7/24 scope global`, as `ip monitor address` says it. */
function formatAddrHuman(e: NlEvent): string {
  let s = `[${printable(e.namespace)}] #${e.sequence} ${e.event} ${e.ifindex}: ${printable(e.interface)} ${e.family} ${e.ip}/${e.prefixlen} scope ${e.scope}`;
  const flags = e.addr_flags.split(' ').filter((f) => f && f !== 'permanent');
  if (flags.length) s += ` ${flags.join(' ')}`;
  if (e.container_id) s += ` container ${printable(e.container_name || e.container_id.slice(0, 12))}`;
  if (e.pod_name) s += ` pod ${printable(e.pod_namespace)}/${printable(e.pod_name)}`;
  if (e.changed.length) s += ` (changed: ${e.changed.join(',')})`;
  if (e.resync) s += ' [resync]';
  return s;
}

/** `[ns] #seq event ifindex: name <FLAGS> mtu N state S kind K master M link L ether A (changed: …)` */
export function formatEventHuman(e: NlEvent): string {
  if (e.event === 'resync') return `[${printable(e.namespace)}] #${e.sequence} resync: link table matches the kernel again`;
  if (e.family) return formatAddrHuman(e);
  let s = `[${printable(e.namespace)}] #${e.sequence} ${e.event} ${e.ifindex}: ${printable(e.interface)}`;
  if (e.old_interface) s += ` (was ${printable(e.old_interface)})`;
  s += ` <${flagNames(e.flags)}> mtu ${e.mtu} state ${e.operstate}`;
  if (e.kind) s += ` kind ${printable(e.kind)}`;
  if (e.master) s += ` master ${e.master}`;
  if (e.link) s += ` link ${e.link}`;
  if (e.address) s += ` ether ${e.address}`;
  if (e.alias) s += ` alias ${JSON.stringify(e.alias)}`;
  if (e.container_id) s += ` container ${printable(e.container_name || e.container_id.slice(0, 12))}`;
  if (e.pod_name) s += ` pod ${printable(e.pod_namespace)}/${printable(e.pod_name)}`;
  if (e.changed.length) s += ` (changed: ${e.changed.join(',')})`;
  if (e.resync) s += ' [resync]';
  return s;
}
