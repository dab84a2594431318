// One-line renderings of an event: JSON (SPEC §3 object) and a short human line like `ip monitor`.
import { FLAG_NAMES, type NlEvent } from './event.js';

export function flagNames(flags: number): string {
  const names: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) names.push(name);
  return names.join(',');
}

export function formatEventJson(e: NlEvent): string {
  return JSON.stringify(e);
}

/** `[ns] #seq event ifindex: name <FLAGS> mtu N state S kind K master M link L ether A (changed: …)` */
export function formatEventHuman(e: NlEvent): string {
  if (e.event === 'resync') return `[${e.namespace}] #${e.sequence} resync: link table matches the kernel again`;
  let s = `[${e.namespace}] #${e.sequence} ${e.event} ${e.ifindex}: ${e.interface}`;
  if (e.old_interface) s += ` (was ${e.old_interface})`;
  s += ` <${flagNames(e.flags)}> mtu ${e.mtu} state ${e.operstate}`;
  if (e.kind) s += ` kind ${e.kind}`;
  if (e.master) s += ` master ${e.master}`;
  if (e.link) s += ` link ${e.link}`;
  if (e.address) s += ` ether ${e.address}`;
  if (e.alias) s += ` alias ${JSON.stringify(e.alias)}`;
  if (e.changed.length) s += ` (changed: ${e.changed.join(',')})`;
  if (e.resync) s += ' [resync]';
  return s;
}
