// The containers stage (docs/events.md, "Containers"): names the container of each event (the
// link's own namespace's; for a host-side veth, its peer's) and hands the events on, in order
// per namespace. An event whose container is being looked up holds itself and the events of its
// namespace after it, up to wait_ms; other namespaces never wait.
import type { ContainerFields, NlEvent } from '../event/event.js';
import type { EventStage, NamespaceLocator } from '../event/stage.js';

/** Container attribution as the stage uses it (resolver.ts provides one). */
export interface ContainerLookup {
  /** How long events may wait for a namespace's container (ms). */
  readonly waitMs: number;
  /** The container of the namespace whose nsfs inode is `ino`: known, not known, or (with
   * `wait`) a lookup under way. `since`: when the namespace was first seen (0: at start). */
  lookup(ino: number, since: number, wait: boolean): ContainerFields | Promise<void> | undefined;
  forget(ino: number): void;
}

/** The default namespace (nlmon's own) belongs to no container. */
const DEFAULT_NS = 'default';

/** One namespace's state. */
interface Lane {
  /** Events held, in order, while the container of the first one's namespace is looked up. */
  waiting: NlEvent[] | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Until when events may wait; set by the first hold, cleared once nothing is held. */
  waitUntil: number;
  /** The container each link had when last named: a removal carries it even when the
   * namespace, the peer or the runtime is already gone. */
  links: Map<number, ContainerFields>;
}

export class ContainerStage implements EventStage {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly lookup: ContainerLookup,
    private readonly next: (events: NlEvent[]) => void,
    private readonly namespaces: NamespaceLocator,
  ) {}

  submit(namespace: string, events: NlEvent[]): void {
    let lane = this.lanes.get(namespace);
    if (!lane) {
      lane = { waiting: undefined, timer: undefined, waitUntil: 0, links: new Map() };
      this.lanes.set(namespace, lane);
    }
    this.emit(namespace, lane, events);
  }

  closeNamespace(namespace: string): void {
    const lane = this.lanes.get(namespace);
    if (!lane) return;
    this.lanes.delete(namespace);
    clearTimeout(lane.timer);
    const held = lane.waiting;
    lane.waiting = undefined;
    // Held for a container lookup: they happened, so they go out as they are.
    if (held?.length) {
      for (const e of held) attach(lane, e, undefined);
      this.next(held);
    }
  }

  forgetInode(ino: number): void {
    this.lookup.forget(ino);
  }

  describe(namespace: string): string {
    const c = this.containerOf(namespace, false);
    if (!c || c instanceof Promise) return '';
    return c.pod_name ? `${c.pod_namespace}/${c.pod_name}` : c.container_name || c.container_id.slice(0, 12);
  }

  /** The container of a namespace by name, or with `wait` a lookup under way. */
  private containerOf(name: string, wait: boolean): ContainerFields | Promise<void> | undefined {
    if (name === DEFAULT_NS) return undefined;
    const where = this.namespaces.locate(name);
    if (!where || where.ino < 0) return undefined;
    return this.lookup.lookup(where.ino, where.since, wait);
  }

  private emit(namespace: string, lane: Lane, events: NlEvent[]): void {
    if (lane.waiting) {
      lane.waiting.push(...events);
      return;
    }
    const wait = this.lookup.waitMs > 0 && (lane.waitUntil === 0 || Date.now() < lane.waitUntil);
    // The namespace's own container, once per batch; a peer's only for a veth that has one.
    const own = this.containerOf(namespace, wait);
    if (own instanceof Promise) {
      this.hold(namespace, lane, events, own);
      return;
    }
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const c = own ?? (e.peer_namespace ? this.containerOf(e.peer_namespace, wait) : undefined);
      if (c instanceof Promise) {
        if (i > 0) this.next(events.slice(0, i));
        this.hold(namespace, lane, events.slice(i), c);
        return;
      }
      attach(lane, e, c);
    }
    lane.waitUntil = 0;
    this.next(events);
  }

  private hold(namespace: string, lane: Lane, events: NlEvent[], lookup: Promise<void>): void {
    lane.waiting = events;
    if (lane.waitUntil === 0) lane.waitUntil = Date.now() + this.lookup.waitMs;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(lane.timer);
      lane.timer = undefined;
      // The lookup ended or the wait is over: what was held goes on (waiting again only while
      // the first hold's time lasts). A lane closed meanwhile has handed its events on.
      if (this.lanes.get(namespace) !== lane) return;
      const held = lane.waiting ?? [];
      lane.waiting = undefined;
      if (Date.now() >= lane.waitUntil) lane.waitUntil = -1; // no more waiting for these
      this.emit(namespace, lane, held);
    };
    lane.timer = setTimeout(release, Math.max(0, lane.waitUntil - Date.now()));
    lookup.then(release, release);
  }
}

function attach(lane: Lane, e: NlEvent, c: ContainerFields | undefined): void {
  if (c) {
    Object.assign(e, c);
    if (e.ifindex > 0) lane.links.set(e.ifindex, c);
  } else if (lane.links.size) {
    const last = lane.links.get(e.ifindex);
    if (last) Object.assign(e, last);
  } else {
    return; // no link here was ever named: nothing to carry or forget
  }
  if (e.event === 'link_removed') lane.links.delete(e.ifindex);
}

/** The stage, as the monitor's `stage` option makes it. */
export function containerStage(lookup: ContainerLookup): (next: (events: NlEvent[]) => void, namespaces: NamespaceLocator) => ContainerStage {
  return (next, namespaces) => new ContainerStage(lookup, next, namespaces);
}
