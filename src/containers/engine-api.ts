// The Docker Engine API (docs/events.md, "Containers"), as Docker serves it at
// /var/run/docker.sock and Podman at /run/podman/podman.sock: the containers and the network
// namespace each one is in, kept fresh by the engine's event stream. Asked over HTTP on the Unix
// socket with Node's own client; never on the event path: events read the maps, and only a
// namespace nobody knows yet starts a refresh.
import fs from 'node:fs';
import http from 'node:http';
import type { ContainerFields } from '../event/event.js';
import type { Runtime } from './cgroup.js';
import { Reconnect, type EngineLog } from './reconnect.js';

/** One request's longest wait: an engine that hangs must not hold events for long. */
const REQUEST_TIMEOUT_MS = 2000;
/** The largest answer read from an engine (a host with thousands of containers lists in MBs). */
const MAX_BODY = 64 * 1024 * 1024;


/** What the engine says of one container, with the namespace it is in. */
export interface EngineContainer {
  id: string;
  fields: ContainerFields;
  /** nsfs inode of its network namespace; -1 if it has none (created and not started yet, or
   * stopped). */
  ino: number;
  /** It joined another container's namespace (`container:<id>`): that one owns the namespace. */
  joined: boolean;
}

interface Inspect {
  Id?: string;
  Name?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null } | null;
  State?: { Pid?: number; Status?: string } | null;
  NetworkSettings?: { SandboxKey?: string } | null;
  HostConfig?: { NetworkMode?: string } | null;
}

/** An engine's inspect answer as a container of nlmon's, given how to read a namespace's inode
 * (a path's stat; tests give their own). Host-network containers are not in a namespace of
 * their own: they get ino -1 and are never matched. */
export function engineContainer(j: Inspect, runtime: Runtime, inoOf: (path: string) => number): EngineContainer | undefined {
  if (typeof j.Id !== 'string' || !/^[0-9a-f]{12,64}$/.test(j.Id)) return undefined;
  const labels = j.Config?.Labels ?? {};
  const mode = j.HostConfig?.NetworkMode ?? '';
  let ino = -1;
  if (mode !== 'host') {
    const key = j.NetworkSettings?.SandboxKey ?? '';
    if (key) ino = inoOf(key);
    const pid = j.State?.Pid ?? 0;
    if (ino < 0 && Number.isInteger(pid) && pid > 0) ino = inoOf(`/proc/${pid}/ns/net`);
  }
  const label = (k: string) => (typeof labels[k] === 'string' ? labels[k]! : '');
  return {
    id: j.Id,
    ino,
    joined: mode.startsWith('container:'),
    fields: {
      container_id: j.Id,
      container_name: (j.Name ?? '').replace(/^\//, ''),
      container_image: j.Config?.Image ?? '',
      container_runtime: runtime,
      pod_name: label('io.kubernetes.pod.name'),
      pod_namespace: label('io.kubernetes.pod.namespace'),
      pod_uid: label('io.kubernetes.pod.uid'),
    },
  };
}

function statIno(p: string): number {
  try {
    return fs.statSync(p).ino;
  } catch {
    return -1;
  }
}

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

  /** The event stream: a container that starts is inspected; one that is removed is dropped. */
  private follow(): void {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'] }));
    const req = http.get({ socketPath: this.socketPath, path: `/events?filters=${filters}`, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.lost(new Error(`event stream: HTTP ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) this.onEngineEvent(line);
        }
        if (buf.length > MAX_BODY) this.lost(new Error('event stream: a line too long'));
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
    if (was) this.log('warn', `containers: lost the engine at ${this.socketPath} (${err.message}); reconnecting`);
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
      this.drop(id);
    } else if (action === 'die' || action === 'stop') {
      this.leftNamespace(id);
    } else if (action === 'start' || action === 'init' || action === 'restart' || action === 'create') {
      void this.inspect(id).then(() => this.onChange(), () => {});
    }
  }

  /** A container that stopped is no longer in its namespace; the namespace goes, and its inode
   * may be given to another. (Links keep the container they had: see namespace-watcher.ts.) */
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
  }

  private async readList(): Promise<void> {
    const list = await this.request('/containers/json?all=true') as Array<{ Id?: string; State?: string }>;
    if (!Array.isArray(list)) throw new Error('the container list is not a list');
    const listed = new Set<string>();
    let starting = 0;
    for (const item of list) {
      if (typeof item.Id !== 'string') continue;
      listed.add(item.Id);
      const known = this.byId.get(item.Id);
      const down = item.State === 'exited' || item.State === 'stopped' || item.State === 'dead' || item.State === 'removing';
      if (down) {
        // Stopped: inspected once for its name, never again until it starts (an event says so).
        if (known) this.leftNamespace(item.Id);
        else await this.inspect(item.Id).then((c) => c && this.leftNamespace(c.id), () => {});
        continue;
      }
      if (known && known.ino >= 0) continue;
      try {
        const c = await this.inspect(item.Id);
        if (c && c.ino < 0 && item.State !== 'running' && item.State !== 'paused') starting++;
      } catch {
        // removed since it was listed
      }
    }
    for (const id of this.byId.keys()) if (!listed.has(id)) this.drop(id);
    this.starting = starting;
  }

  private async inspect(id: string): Promise<EngineContainer | undefined> {
    const j = await this.request(`/containers/${encodeURIComponent(id)}/json`) as Inspect;
    const c = engineContainer(j, this.runtime, this.inoOf);
    if (!c) return undefined;
    this.drop(c.id);
    this.byId.set(c.id, c);
    // The container that made a namespace owns it; one that joined it (a pod's) does not.
    if (c.ino >= 0 && (!c.joined || !this.byIno.has(c.ino))) this.byIno.set(c.ino, c);
    return c;
  }

  private request(path: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: this.socketPath, path, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error(`${path}: answer larger than ${MAX_BODY} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new Error(`${path}: HTTP ${res.statusCode}`));
            return;
          }
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new Error(`${path}: the answer is not JSON`));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${path}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
    });
  }
}
