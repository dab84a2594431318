// One-line renderings of an event: JSON (docs/events.md) and a short human line like `ip monitor`.
import { FLAG_NAMES, type NlEvent } from './event.js';

export function flagNames(flags: number): string {
  const names: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) names.push(name);
  return names.join(',');
}

export { formatEventJson } from './json.js';

const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\\]/g;

/** A name as it may go into a line of text: control characters (a newline in a namespace file's
 * name would forge a second line; an escape sequence would drive the terminal) and the
 * backslash written as \xNN, so nothing a container names can change what a line says. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Text a peer sent (an engine's version, a server's error), cut to `max` characters for a log
 * line: an answer may be megabytes. */
export function clipped(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
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
