// Making events: from a link's state (makeEvent), the resync marker, and the synthetic
// link_added event of `nlmon hooks run` and `filter check --event`.
import os from 'node:os';
import {
  EventType, IFF_LOWER_UP, IFF_RUNNING, IFF_UP, RTM_NEWLINK, operstateName,
  type ChangedField, type EventName, type NlEvent,
} from './event.js';

/** The name every event carries as `host`: the config's `host` (docs/config.md), else the
 * machine's hostname. */
let HOST = os.hostname();

/** Sets the name events carry (the daemon, from its config); '' goes back to the hostname. */
export function setEventHost(name: string): void {
  HOST = name || os.hostname();
}

export function eventHost(): string {
  return HOST;
}

/** What nlmon keeps of one link: its fields as the kernel last reported them. */
export interface LinkState {
  ifindex: number;
  flags: number;
  mtu: number;
  txqlen: number;
  master: number;
  link: number;
  link_netnsid: number;
  /** IF_OPER_* number (0 unknown … 6 up). */
  operstate: number;
  interface: string;
  address: string;
  link_kind: string;
  alias: string;
}

/** Builds an event; the namespace's watcher sets timestamp when it is received, the monitor
 * numbers it. */
export function makeEvent(
  namespace: string, messageType: number, event: EventName, s: LinkState,
  changed: ChangedField[], oldInterface: string, resync: boolean,
): NlEvent {
  return {
    sequence: 0,
    timestamp: 0,
    namespace,
    message_type: messageType,
    event_type: EventType[event],
    event,
    interface: s.interface,
    ifindex: s.ifindex,
    flags: s.flags,
    up: (s.flags & IFF_UP) !== 0,
    running: (s.flags & IFF_RUNNING) !== 0,
    lower_up: (s.flags & IFF_LOWER_UP) !== 0,
    operstate: operstateName(s.operstate),
    mtu: s.mtu,
    txqlen: s.txqlen,
    address: s.address,
    kind: s.link_kind,
    master: s.master,
    link: s.link,
    link_netnsid: s.link_netnsid,
    peer_namespace: '',
    alias: s.alias,
    family: '',
    ip: '',
    prefixlen: 0,
    scope: '',
    addr_flags: '',
    changed,
    old_interface: oldInterface,
    resync,
    container_id: '',
    container_name: '',
    container_image: '',
    container_runtime: '',
    pod_name: '',
    pod_namespace: '',
    pod_uid: '',
    host: HOST,
  };
}

/** A link with every field at its 'none' value. */
export const NO_LINK: Readonly<LinkState> = {
  ifindex: 0, flags: 0, mtu: 0, txqlen: 0, master: 0, link: 0, link_netnsid: -1, operstate: 0,
  interface: '', address: '', link_kind: '', alias: '',
};

/** The event that marks the end of a namespace's resync (event_type 7). */
export function resyncEvent(namespace: string): NlEvent {
  return makeEvent(namespace, RTM_NEWLINK, 'resync', NO_LINK, [], '', true);
}

/** A link_added event for an interface, as a manual trigger or a test input. */
export function syntheticEvent(iface: string, namespace: string): NlEvent {
  const e = makeEvent(namespace, RTM_NEWLINK, 'link_added', { ...NO_LINK, mtu: 1500, txqlen: 1000, interface: iface }, [], '', false);
  e.timestamp = Date.now();
  return e;
}
