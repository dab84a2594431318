// The Docker Engine API (docs/events.md, "Containers"), as Docker serves it at
// /var/run/docker.sock and Podman at /run/podman/podman.sock: the containers and the network
// namespace each one is in, kept fresh by the engine's event stream. Asked over HTTP on the Unix
// socket with Node's own client; never on the event path: events read the maps, and only a
// namespace nobody knows yet starts a refresh.
import fs from 'node:fs';
import http from 'node:http';
import type { ContainerFields } from '../event/event.js';
import type { Runtime } from './cgroup.js';
import { Reconnect, reason, type EngineLog } from './reconnect.js';
import { engineContainer, statIno, type EngineContainer, type Inspect } from './answers.js';

export { engineContainer, type EngineContainer } from './answers.js';

// The engine is a peer like any other (docs/hooks.md, "Threat model"): every answer is bounded in
// size and time, parsed in linear time, and what it asks nlmon to do is bounded in number.

/** One request's longest silence, and its longest time in all: an engine that hangs, or answers
 * a byte at a time, must not hold events for long. */
const REQUEST_IDLE_MS = 2000;
const REQUEST_DEADLINE_MS = 5000;
/** The largest list and inspect answers read (a list of thousands of running containers is a
 * few MB), and the longest line of the event stream. */
const MAX_LIST = 16 * 1024 * 1024;
const MAX_INSPECT = 1024 * 1024;
const MAX_LINE = 64 * 1024;
/** Requests in flight to one engine at once (each a descriptor), and containers waiting to be
 * inspected; past that, one list is read again instead (a flood of events is coalesced). */
const MAX_REQUESTS = 4;
const MAX_TO_INSPECT = 1024;
/** Containers inspected from one list at most; more are left unnamed (and logged). */
const MAX_CONTAINERS = 4096;

/** One engine's containers by namespace inode and by id. */
export class EngineSource {
  private readonly byIno = new Map<number, EngineContainer>();
  private readonly byId = new Map<string, EngineContainer>();
  private runtime: Runtime = 'docker';
  private up = false;
  private stopped = false;
  private stream: http.ClientRequest | undefined;
  private readonly reconnect: Reconnect;
  private refreshing: Promise<void> | undefined;
  private again = false;
  /** Ids listed but not in a namespace yet (created, starting): a lookup may wait for them. */
  private starting = 0;
  /** Every request but the event stream goes through it: at most MAX_REQUESTS sockets. */
  private readonly agent = new http.Agent({ keepAlive: false, maxSockets: MAX_REQUESTS });
  /** Inspects in flight, by id (one per container), and those waiting for a place. */
  private readonly inspecting = new Map<string, Promise<EngineContainer | undefined>>();
  private readonly toInspect = new Set<string>();
  /** Named by an event while their inspect was in flight: that answer may be of an older state
   * (a `start` that comes while the `create`'s inspect is answered), so one without a namespace
   * is asked again. At most the inspects in flight. */
  private readonly askAgain = new Set<string>();
  private inFlight = 0;
  /** The event stream asked for more inspects than fit: one list is read again instead. */
  private overflow = false;

  constructor(
    readonly socketPath: string,
    private readonly log: EngineLog = () => {},
    private readonly onChange: () => void = () => {},
    private readonly inoOf: (path: string) => number = statIno,
  ) {
    this.reconnect = new Reconnect(`the engine API at ${socketPath}`, log, () => void this.connect());
  }

  /** Connected: its list has been read and its event stream is open. */
  get connected(): boolean {
    return this.up;
  }

  /** Containers listed that have no namespace yet. */
  get pending(): boolean {
    return this.starting > 0;
  }

  get(ino: number): ContainerFields | undefined {
    return this.byIno.get(ino)?.fields;
  }

  getById(id: string): ContainerFields | undefined {
    return this.byId.get(id)?.fields;
  }

  /** Connects (now, or again later if the socket is not there) and follows the event stream. */
  start(): Promise<void> {
    this.stopped = false;
    return this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.up = false;
    this.reconnect.stop();
    this.stream?.destroy();
    this.stream = undefined;
    this.toInspect.clear();
    this.askAgain.clear();
    this.agent.destroy();
  }

  /** Reads the container list again and inspects what is new or has no namespace yet; one at a
   * time, and a call made during one runs once more after it. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        await this.readList();
      } while (this.again && !this.stopped);
    })().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.up) return;
    try {
      if (!fs.existsSync(this.socketPath)) throw Object.assign(new Error('no such socket'), { code: 'ENOENT' });
      const version = await this.request('/version') as { Components?: Array<{ Name?: string }> };
      this.runtime = (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? '')) ? 'podman' : 'docker';
      this.follow();
      await this.readList();
      this.up = true;
      this.reconnect.succeeded();
      this.log('info', `containers: reading ${this.runtime === 'podman' ? 'Podman' : 'Docker'} at ${this.socketPath} (${this.byId.size} containers)`);
      this.onChange();
    } catch (e) {
      this.stream?.destroy();
      this.stream = undefined;
      if (!this.stopped) this.reconnect.failed(e as NodeJS.ErrnoException);
    }
  }

  /** The event stream: a container that starts is inspected; one that is removed is dropped.
   * Lines are found in each chunk only (linear in what arrives), and a line longer than
   * MAX_LINE ends the stream (it is opened again after a pause). */
  private follow(): void {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'] }));
    const req = http.get({ socketPath: this.socketPath, path: `/events?filters=${filters}`, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.lost(new Error(`event stream: HTTP ${res.statusCode}`));
        return;
      }
      let parts: Buffer[] = [];
      let partLen = 0;
      res.on('data', (chunk: Buffer) => {
        let from = 0;
        for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
          const piece = chunk.subarray(from, nl);
          const line = partLen ? Buffer.concat([...parts, piece]).toString('utf8') : piece.toString('utf8');
          parts = [];
          partLen = 0;
          from = nl + 1;
          if (line.length > MAX_LINE) return this.lost(new Error(`event stream: a line longer than ${MAX_LINE} bytes`));
          if (line.trim()) this.onEngineEvent(line);
        }
        if (from < chunk.length) {
          parts.push(chunk.subarray(from));
          partLen += chunk.length - from;
          if (partLen > MAX_LINE) this.lost(new Error(`event stream: a line longer than ${MAX_LINE} bytes`));
        }
      });
      res.on('end', () => this.lost(new Error('event stream ended')));
      res.on('error', (e) => this.lost(e));
    });
    req.on('error', (e) => this.lost(e));
    this.stream = req;
  }

  private lost(err: Error): void {
    if (this.stopped || !this.stream) return;
    this.stream.destroy();
    this.stream = undefined;
    const was = this.up;
    this.up = false;
    if (was) this.log('warn', `containers: lost the engine at ${this.socketPath} (${reason(err)}); reconnecting`);
    this.reconnect.failed(err as NodeJS.ErrnoException);
  }

  private onEngineEvent(line: string): void {
    let ev: { Action?: string; status?: string; id?: string; Actor?: { ID?: string } };
    try {
      ev = JSON.parse(line);
    } catch {
      return;
    }
    const id = ev.Actor?.ID ?? ev.id ?? '';
    const action = ev.Action ?? ev.status ?? '';
    if (!id) return;
    if (action === 'destroy' || action === 'remove') {
      this.askAgain.delete(id);
      this.drop(id);
    } else if (action === 'die' || action === 'stop') {
      this.leftNamespace(id);
    } else if (action === 'start' || action === 'init' || action === 'restart' || action === 'create') {
      this.inspectSoon(id);
    }
  }

  /** A stopped container left its namespace, whose inode may be reused (links keep theirs). */
  private leftNamespace(id: string): void {
    const c = this.byId.get(id);
    if (!c || c.ino < 0) return;
    if (this.byIno.get(c.ino) === c) this.byIno.delete(c.ino);
    c.ino = -1;
  }

  private drop(id: string): void {
    const c = this.byId.get(id);
    if (!c) return;
    this.byId.delete(id);
    if (c.ino >= 0 && this.byIno.get(c.ino) === c) this.byIno.delete(c.ino);
    this.onChange(); // what the host found with this id is asked again
  }

  /** Queues a container to be inspected (once, however many events name it). Past
   * MAX_TO_INSPECT waiting, the list is read again instead: a flood of events costs one list. */
  private inspectSoon(id: string): void {
    if (typeof id !== 'string' || !/^[0-9a-f]{12,64}$/.test(id)) return;
    if (this.inspecting.has(id)) {
      this.askAgain.add(id);
      return;
    }
    if (this.toInspect.size >= MAX_TO_INSPECT) {
      if (!this.overflow) {
        this.overflow = true;
        this.toInspect.clear();
        void this.refresh().catch(() => {}).finally(() => { this.overflow = false; });
      }
      return;
    }
    this.toInspect.add(id);
    this.pump();
  }

  /** Starts queued inspects while fewer than MAX_REQUESTS are in flight. */
  private pump(): void {
    while (this.inFlight < MAX_REQUESTS && this.toInspect.size && !this.stopped) {
      const id = this.toInspect.values().next().value as string;
      this.toInspect.delete(id);
      void this.inspect(id).then((c) => c && this.onChange(), () => {});
    }
  }

  /** Reads the list of running containers and inspects what is new or has no namespace yet
   * (MAX_REQUESTS at a time, at most MAX_CONTAINERS); containers no longer listed are dropped. */
  private async readList(): Promise<void> {
    const list = await this.request('/containers/json', MAX_LIST) as Array<{ Id?: unknown; State?: unknown }>;
    if (!Array.isArray(list)) throw new Error('the container list is not a list');
    if (list.length > MAX_CONTAINERS) this.log('warn', `containers: ${this.socketPath} lists ${list.length} running containers; the first ${MAX_CONTAINERS} are named`);
    const listed = new Set<string>();
    const todo: Array<{ id: string; state: unknown }> = [];
    for (const item of list.slice(0, MAX_CONTAINERS)) {
      if (typeof item !== 'object' || item === null || typeof item.Id !== 'string' || !/^[0-9a-f]{12,64}$/.test(item.Id)) continue;
      listed.add(item.Id);
      const known = this.byId.get(item.Id);
      if (!known || known.ino < 0) todo.push({ id: item.Id, state: item.State });
    }
    let starting = 0;
    let next = 0;
    const worker = async () => {
      while (next < todo.length && !this.stopped) {
        const { id, state } = todo[next++]!;
        try {
          const c = await this.inspect(id);
          if (c && c.ino < 0 && state !== 'running' && state !== 'paused') starting++;
        } catch {
          // removed since it was listed, or no answer in time
        }
      }
    };
    await Promise.all(Array.from({ length: MAX_REQUESTS }, worker));
    for (const id of this.byId.keys()) if (!listed.has(id)) this.drop(id);
    this.starting = starting;
  }

  /** Inspects one container (one request per id at a time, within MAX_REQUESTS). */
  private inspect(id: string): Promise<EngineContainer | undefined> {
    const running = this.inspecting.get(id);
    if (running) return running;
    this.inFlight++;
    let got: EngineContainer | undefined;
    const p = (async () => {
      const j = await this.request(`/containers/${encodeURIComponent(id)}/json`, MAX_INSPECT) as Inspect;
      const c = engineContainer(j, this.runtime, this.inoOf);
      if (!c) return undefined;
      this.drop(c.id);
      this.byId.set(c.id, c);
      // The container that made a namespace owns it; one that joined it (a pod's) does not.
      if (c.ino >= 0 && (!c.joined || !this.byIno.has(c.ino))) this.byIno.set(c.ino, c);
      got = c;
      return c;
    })().finally(() => {
      this.inspecting.delete(id);
      this.inFlight--;
      if (this.askAgain.delete(id) && !(got && got.ino >= 0) && !this.stopped) this.inspectSoon(id);
      this.pump();
    });
    this.inspecting.set(id, p);
    return p;
  }

  /** GET path: at most `max` bytes, no silence longer than REQUEST_IDLE_MS and no longer than
   * REQUEST_DEADLINE_MS in all. */
  private request(path: string, max = MAX_INSPECT): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: this.socketPath, path, timeout: REQUEST_IDLE_MS, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) req.destroy(new Error(`${path}: answer larger than ${max} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(deadline);
          if (res.statusCode !== 200) {
            reject(new Error(`${path}: HTTP ${res.statusCode}`));
            return;
          }
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            reject(new Error(`${path}: the answer is not JSON`));
          }
        });
        res.on('error', reject);
      });
      const deadline = setTimeout(() => req.destroy(new Error(`${path}: no whole answer in ${REQUEST_DEADLINE_MS} ms`)), REQUEST_DEADLINE_MS);
      req.on('timeout', () => req.destroy(new Error(`${path}: no answer in ${REQUEST_IDLE_MS} ms`)));
      req.on('error', (e) => {
        clearTimeout(deadline);
        reject(e);
      });
    });
  }
}
