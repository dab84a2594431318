// The event (docs/events.md): one flat object per link or address change, whatever its source.

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;

export const EventType = {
  link_added: 1,
  link_removed: 2,
  link_up: 3,
  link_down: 4,
  link_changed: 5,
  link_renamed: 6,
  resync: 7,
  addr_added: 8,
  addr_removed: 9,
  addr_changed: 10,
} as const;

export type EventName = keyof typeof EventType;

export const EVENT_NAMES: readonly EventName[] = [
  'link_added', 'link_removed', 'link_up', 'link_down', 'link_changed', 'link_renamed', 'resync', 'addr_added', 'addr_removed', 'addr_changed',
];

/** Names of IFLA_OPERSTATE values (IF_OPER_*), indexed by number. */
export const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;

export function operstateName(n: number): string {
  return OPERSTATES[n] ?? 'unknown';
}

/** Fields whose change is reported in `changed`. */
export type ChangedField = 'operstate' | 'up' | 'mtu' | 'address' | 'interface' | 'master' | 'kind' | 'alias' | 'addr_flags' | 'scope';

export interface NlEvent {
  sequence: number;
  timestamp: number;
  namespace: string;
  message_type: number;
  event_type: number;
  event: EventName;
  interface: string;
  ifindex: number;
  flags: number;
  up: boolean;
  running: boolean;
  lower_up: boolean;
  operstate: string;
  mtu: number;
  txqlen: number;
  address: string;
  kind: string;
  master: number;
  link: number;
  link_netnsid: number;
  /** nlmon's name for the namespace link_netnsid refers to; '' if none or not known. */
  peer_namespace: string;
  alias: string;
  /** Address events: `inet` or `inet6`; '' on link events. */
  family: string;
  /** Address events: the address, canonical text; ''. */
  ip: string;
  /** Address events: the prefix length; 0. */
  prefixlen: number;
  /** Address events: `global`, `site`, `link`, `host`, `nowhere` or the number; ''. */
  scope: string;
  /** Address events: the address's flags by name, space-separated (`permanent`, `tentative`…). */
  addr_flags: string;
  changed: ChangedField[];
  old_interface: string;
  resync: boolean;
  container_id: string;
  container_name: string;
  container_image: string;
  container_runtime: string;
  pod_name: string;
  pod_namespace: string;
  pod_uid: string;
  /** The machine's hostname, for events that leave it. */
  host: string;
}

/** The container fields of an event: the container that owns the link's namespace or, for a
 * host-side veth, its peer's namespace; '' when there is none or it is not known. */
export type ContainerFields = Pick<NlEvent, 'container_id' | 'container_name' | 'container_image' | 'container_runtime' | 'pod_name' | 'pod_namespace' | 'pod_uid'>;

export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;

/** ip-style flag names, for human output. */
export const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [0x2, 'BROADCAST'], [0x8, 'LOOPBACK'], [0x10, 'POINTOPOINT'], [0x1000, 'MULTICAST'], [0x100, 'PROMISC'],
  [0x200, 'ALLMULTI'], [0x400, 'MASTER'], [0x800, 'SLAVE'], [0x80, 'NOARP'], [IFF_UP, 'UP'], [IFF_LOWER_UP, 'LOWER_UP'],
  [0x20000, 'DORMANT'],
];
