// ContainerResolver: the container that owns a network namespace (docs/events.md, "Containers"),
// from the engine APIs when they are there (engine-api.ts: name, image, runtime, pod labels) and
// from the host otherwise (host-attribution.ts: a process's cgroup, the pod log directory).
// Answers are kept per namespace: an event reads a map. Only a namespace not known yet is looked
// up, and a namespace that appeared moments ago with no container in it yet is looked at again
// every few milliseconds for up to wait_ms, since a runtime makes the namespace and its veth
// before it starts the container.
import type { ContainerFields } from '../event/event.js';
import { EngineSource } from './engine-api.js';
import { CriSource } from './cri.js';
import { HostAttribution } from './host-attribution.js';

/** A namespace nothing was found for is looked up again at most this often. */
const RETRY_MS = 5000;
/** How often a young namespace is looked at again while it is waited for. */
const STEP_MS = 50;
/** The longest the daemon's start waits for the engines: netlink is watched from then on,
 * whatever the engines do, and attribution fills in when they answer. */
const START_WAIT_MS = 1000;

/** A runtime's API as the resolver asks it (engine-api.ts, cri.ts). */
export interface ContainerSource {
  readonly connected: boolean;
  /** It knows of a container that has no namespace yet (starting). */
  readonly pending: boolean;
  get(ino: number): ContainerFields | undefined;
  getById(id: string): ContainerFields | undefined;
  refresh(): Promise<void>;
  start(): Promise<void>;
  stop(): void;
}

export interface ResolverOptions {
  /** How long a young namespace's events may wait for its container (`containers.wait_ms`). */
  waitMs: number;
  host?: HostAttribution;
  engines?: ContainerSource[];
  now?: () => number;
}

interface Entry {
  info?: ContainerFields;
  /** Named by an engine; an answer from the host alone is asked again once an engine knows
   * more (it connected late, or learned of the container). */
  named?: boolean;
  missedAt: number;
  /** The engines' generation when it was missed: an engine that learns of a container makes
   * every miss worth asking again. */
  generation: number;
  pending?: Promise<void>;
}

export class ContainerResolver {
  readonly waitMs: number;
  private readonly entries = new Map<number, Entry>();
  private readonly host: HostAttribution | undefined;
  private readonly engines: ContainerSource[];
  private readonly now: () => number;
  private generation = 0;

  constructor(opts: ResolverOptions) {
    this.waitMs = opts.waitMs;
    this.host = opts.host;
    this.engines = opts.engines ?? [];
    this.now = opts.now ?? Date.now;
  }

  /** An engine learned of a container (or connected): misses are looked up again when next asked. */
  changed(): void {
    this.generation++;
  }

  /** The container of the namespace whose nsfs inode is `ino`, if known. `since` is when nlmon
   * first saw the namespace (0: it was there at start). A lookup that has to wait (an engine's
   * answer, or a young namespace with no container yet) goes on in the background; with `wait`
   * it is returned, as a promise that settles when the lookup ends. */
  lookup(ino: number, since: number, wait: boolean): ContainerFields | Promise<void> | undefined {
    let e = this.entries.get(ino);
    // A container an engine named stays named while that engine still knows it: once removed
    // (its namespace may outlive it: `--network ns:PATH`), the namespace is looked up afresh.
    if (e?.info && e.named && !this.engines.some((x) => x.get(ino) || x.getById(e!.info!.container_id))) {
      this.entries.delete(ino);
      e = undefined;
    }
    if (e?.info && (e.named || e.generation === this.generation)) return e.info;
    if (e?.pending) return wait ? e.pending : undefined;
    if (e && e.generation === this.generation && this.now() - e.missedAt < RETRY_MS) return undefined;
    const r = this.known(ino);
    const deadline = since > 0 ? since + this.waitMs : 0;
    const young = this.now() < deadline;
    const connected = this.engines.some((x) => x.connected);
    // An id from the host alone, while an API that may name it is there: ask the API first.
    if (r.info && (r.named || !connected)) {
      this.entries.set(ino, { info: r.info, named: r.named, missedAt: 0, generation: this.generation });
      return r.info;
    }
    if (!r.info && !connected && !(young && !r.occupied)) {
      this.entries.set(ino, { missedAt: this.now(), generation: this.generation });
      return undefined;
    }
    const entry: Entry = { missedAt: 0, generation: this.generation };
    entry.pending = this.keepLooking(ino, entry, deadline);
    this.entries.set(ino, entry);
    return wait ? entry.pending : undefined;
  }

  /** A namespace went: forget it (its inode may be reused). */
  forget(ino: number): void {
    this.entries.delete(ino);
  }

  /** Connects to the engines whose sockets are there, waiting for them START_WAIT_MS at most
   * (an engine that answers slowly or not at all must not keep netlink from being watched); the
   * others are tried again every few seconds. */
  async start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.engines.map((x) => x.start())),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, START_WAIT_MS); }),
    ]);
    clearTimeout(timer);
  }

  stop(): void {
    for (const x of this.engines) x.stop();
  }

  private async keepLooking(ino: number, entry: Entry, deadline: number): Promise<void> {
    for (;;) {
      const engines = this.engines.filter((x) => x.connected);
      await Promise.all(engines.map((x) => x.refresh().catch(() => {})));
      if (this.entries.get(ino) !== entry) return; // forgotten meanwhile
      const r = this.known(ino);
      // A container the host found but no API names yet: wait for a name while it is young.
      if (r.info && (r.named || engines.length === 0 || this.now() >= deadline)) {
        entry.info = r.info;
        entry.named = r.named;
        break;
      }
      // Not found by the deadline; or, with no API to ask, a process in the namespace that is not
      // a container's (`ip netns exec`). With an API, a young namespace is waited for until the
      // deadline even so: a runtime's helpers (netavark, CNI plugins) pass through it while
      // they set it up.
      if (!r.info && (this.now() >= deadline || (r.occupied && engines.length === 0))) {
        entry.missedAt = this.now();
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, STEP_MS));
    }
    entry.pending = undefined;
  }

  /** What is known now: the engines' maps, then the host's cgroups (named by an engine that
   * knows the container's id). */
  private known(ino: number): { info: ContainerFields | undefined; occupied: boolean; named: boolean } {
    for (const x of this.engines) {
      const c = x.get(ino);
      if (c) return { info: c, occupied: true, named: true };
    }
    if (!this.host) return { info: undefined, occupied: false, named: false };
    const p = this.host.probe(ino);
    if (p.found) {
      for (const x of this.engines) {
        const c = x.getById(p.found.container_id);
        if (c) return { info: { ...c, pod_name: c.pod_name || p.found.pod_name, pod_namespace: c.pod_namespace || p.found.pod_namespace, pod_uid: c.pod_uid || p.found.pod_uid }, occupied: true, named: true };
      }
    }
    return { info: p.found, occupied: p.occupied, named: false };
  }
}

export interface AttributionOptions {
  /** Engine API sockets (Docker's API), asked in this order. */
  dockerSockets: readonly string[];
  /** CRI sockets (containerd, CRI-O), asked after the engines. */
  criSockets: readonly string[];
  waitMs: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** The resolver of a running nlmon: the host's /proc, and every engine socket (start() connects
 * to those there, and each other one when its socket appears; stop() closes them). */
export function containerAttribution(opts: AttributionOptions): ContainerResolver {
  let resolver: ContainerResolver | undefined;
  const changed = () => resolver?.changed();
  const engines: ContainerSource[] = [
    ...opts.dockerSockets.map((p) => new EngineSource(p, opts.log, changed)),
    ...opts.criSockets.map((p) => new CriSource(p, opts.log, changed)),
  ];
  resolver = new ContainerResolver({ waitMs: opts.waitMs, host: new HostAttribution(), engines });
  return resolver;
}
