// CRI, the Kubernetes container runtime interface (docs/events.md, "Containers"), as containerd
// and CRI-O serve it over gRPC on a Unix socket: the pod sandboxes and the network namespace each
// one holds, for the pod's name, namespace and uid. Only a namespace nobody knows yet starts a
// refresh; an event reads the map.
import fs from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { importPackage } from '../builtin.js';
import type { ContainerFields } from '../event/event.js';
import type { Runtime } from './cgroup.js';
import { Reconnect, reason, type EngineLog } from './reconnect.js';
import { clipped } from '../event/format.js';
import { MAX_NAME, peerText, statIno } from './answers.js';

/** One request's longest wait. */
const REQUEST_TIMEOUT_MS = 2000;

const str = (id: number) => ({ type: 'string', id });
const map = (id: number) => ({ keyType: 'string', type: 'string', id });
const metadata = { fields: { name: str(1), uid: str(2), namespace: str(3), attempt: { type: 'uint32', id: 4 } } };

/** The part of CRI's runtime.v1 RuntimeService nlmon uses (field numbers as in k8s.io/cri-api),
 * as a protobuf.js descriptor: no .proto file to ship or find at run time. The tests also run
 * pods with it. */
const CRI_DESCRIPTOR = {
  nested: {
    runtime: {
      nested: {
        v1: {
          nested: {
            RuntimeService: {
              methods: {
                Version: { requestType: 'VersionRequest', responseType: 'VersionResponse' },
                RunPodSandbox: { requestType: 'RunPodSandboxRequest', responseType: 'RunPodSandboxResponse' },
                StopPodSandbox: { requestType: 'StopPodSandboxRequest', responseType: 'StopPodSandboxResponse' },
                RemovePodSandbox: { requestType: 'RemovePodSandboxRequest', responseType: 'RemovePodSandboxResponse' },
                PodSandboxStatus: { requestType: 'PodSandboxStatusRequest', responseType: 'PodSandboxStatusResponse' },
                ListPodSandbox: { requestType: 'ListPodSandboxRequest', responseType: 'ListPodSandboxResponse' },
              },
            },
            VersionRequest: { fields: { version: str(1) } },
            VersionResponse: { fields: { version: str(1), runtime_name: str(2), runtime_version: str(3), runtime_api_version: str(4) } },
            PodSandboxMetadata: metadata,
            PodSandboxConfig: {
              fields: {
                metadata: { type: 'PodSandboxMetadata', id: 1 }, hostname: str(2), log_directory: str(3),
                labels: map(6), annotations: map(7),
              },
            },
            RunPodSandboxRequest: { fields: { config: { type: 'PodSandboxConfig', id: 1 }, runtime_handler: str(2) } },
            RunPodSandboxResponse: { fields: { pod_sandbox_id: str(1) } },
            StopPodSandboxRequest: { fields: { pod_sandbox_id: str(1) } },
            StopPodSandboxResponse: { fields: {} },
            RemovePodSandboxRequest: { fields: { pod_sandbox_id: str(1) } },
            RemovePodSandboxResponse: { fields: {} },
            PodSandboxStatusRequest: { fields: { pod_sandbox_id: str(1), verbose: { type: 'bool', id: 2 } } },
            PodSandboxStatus: { fields: { id: str(1), metadata: { type: 'PodSandboxMetadata', id: 2 }, state: { type: 'int32', id: 3 } } },
            PodSandboxStatusResponse: { fields: { status: { type: 'PodSandboxStatus', id: 1 }, info: map(2) } },
            ListPodSandboxRequest: { fields: {} },
            PodSandbox: { fields: { id: str(1), metadata: { type: 'PodSandboxMetadata', id: 2 }, state: { type: 'int32', id: 3 }, labels: map(5) } },
            ListPodSandboxResponse: { fields: { items: { rule: 'repeated', type: 'PodSandbox', id: 1 } } },
          },
        },
      },
    },
  },
};

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
type Unary<Req, Res> = (req: Req, options: grpc.CallOptions, cb: Callback<Res>) => void;

interface Metadata { name?: string; uid?: string; namespace?: string }

/** A CRI runtime service client (the methods nlmon and its tests use). */
export interface CriClient extends grpc.Client {
  Version: Unary<{ version: string }, { runtime_name: string; runtime_version: string }>;
  RunPodSandbox: Unary<{ config: { metadata: Metadata & { attempt?: number }; hostname?: string; log_directory?: string; labels?: Record<string, string> } }, { pod_sandbox_id: string }>;
  StopPodSandbox: Unary<{ pod_sandbox_id: string }, object>;
  RemovePodSandbox: Unary<{ pod_sandbox_id: string }, object>;
  PodSandboxStatus: Unary<{ pod_sandbox_id: string; verbose: boolean }, { status?: { id: string; metadata?: Metadata; state: number }; info?: Record<string, string> }>;
  ListPodSandbox: Unary<object, { items?: Array<{ id: string; metadata?: Metadata; state: number }> }>;
}

type ClientClass = new (address: string, creds: grpc.ChannelCredentials, options?: Record<string, number>) => CriClient;

/** The largest answer read from the runtime, and the most sandboxes asked about (a pod's name,
 * namespace and uid are kept up to MAX_NAME, as a container's). */
const MAX_ANSWER = 4 * 1024 * 1024;
const MAX_SANDBOXES = 4096;
/** The longest verbose sandbox info parsed (containerd's is some tens of KB: the OCI spec). */
const MAX_INFO = 1024 * 1024;
let loading: Promise<{ Client: ClientClass & { service: grpc.ServiceDefinition }; insecure: () => grpc.ChannelCredentials }> | undefined;

/** gRPC and the runtime service, loaded on first use only: a host without a CRI socket never
 * pays for them (memory, start-up, the garbage collector). */
function criLibrary(): NonNullable<typeof loading> {
  loading ??= (async () => {
    const [grpcJs, loader] = await Promise.all([
      importPackage<typeof import('@grpc/grpc-js')>('@grpc/grpc-js'),
      importPackage<typeof import('@grpc/proto-loader')>('@grpc/proto-loader'),
    ]);
    const def = loader.fromJSON(CRI_DESCRIPTOR as unknown as Parameters<typeof loader.fromJSON>[0], { keepCase: true, longs: String, enums: Number, defaults: true });
    const pkg = grpcJs.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: ClientClass & { service: grpc.ServiceDefinition } } } };
    return { Client: pkg.runtime.v1.RuntimeService, insecure: () => grpcJs.credentials.createInsecure() };
  })();
  return loading;
}

/** A client of the CRI runtime service at a Unix socket path. */
export async function criClient(socketPath: string): Promise<CriClient> {
  const { Client, insecure } = await criLibrary();
  return new Client(`unix://${socketPath}`, insecure(), { 'grpc.max_receive_message_length': MAX_ANSWER });
}

/** The runtime service's definition, for a server of it (the tests' runtimes that misbehave). */
export async function criService(): Promise<grpc.ServiceDefinition> {
  return (await criLibrary()).Client.service;
}

/** Calls one unary method with a deadline. */
export function call<Req, Res>(client: CriClient, method: Unary<Req, Res>, req: Req, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** What sandboxNetns gives a sandbox on the node's network (hostNetwork): no namespace of its own. */
export const HOST_NETWORK = -2;

/** The namespace a sandbox is in, from PodSandboxStatus's verbose info (containerd and CRI-O
 * give the OCI spec and the sandbox's pid): the inode of the spec's network namespace path; of
 * its pid's when the spec has the runtime make the namespace (an entry with no path); -1 when
 * neither can be read; HOST_NETWORK when the spec lists no network namespace, which in OCI
 * means the node's (containerd leaves it out for a hostNetwork pod). */
export function sandboxNetns(info: Record<string, string> | undefined, inoOf: (path: string) => number): number {
  const raw = info?.info;
  if (typeof raw !== 'string' || !raw || raw.length > MAX_INFO) return -1;
  let j: { pid?: number; runtimeSpec?: { linux?: { namespaces?: Array<{ type?: string; path?: string }> } } };
  try {
    j = JSON.parse(raw);
  } catch {
    return -1;
  }
  const namespaces = j?.runtimeSpec?.linux?.namespaces;
  if (Array.isArray(namespaces)) {
    const net = namespaces.find((n) => n?.type === 'network');
    if (!net) return HOST_NETWORK;
    if (typeof net.path === 'string' && net.path) {
      const ino = inoOf(net.path);
      if (ino >= 0) return ino;
    }
  }
  return Number.isInteger(j?.pid) && j.pid! > 0 ? inoOf(`/proc/${j.pid}/ns/net`) : -1;
}

interface Sandbox {
  id: string;
  ino: number;
  fields: ContainerFields;
  /** Asked about once ready: where it is (or that it is on the node's network) will not change. */
  settled: boolean;
}

/** PodSandboxState's SANDBOX_READY. */
const SANDBOX_READY = 0;

/** One CRI runtime's pod sandboxes by namespace inode. CRI (containerd 1.6) has no sandbox event
 * stream: the list is read when a namespace is not known, and at most once per lookup step. */
export class CriSource {
  private client: CriClient | undefined;
  private readonly byIno = new Map<number, Sandbox>();
  private readonly byId = new Map<string, Sandbox>();
  /** Listed sandboxes, asked about once ready, whose names nlmon does not take. */
  private readonly refused = new Set<string>();
  private runtime: Runtime = 'containerd';
  private up = false;
  private stopped = false;
  private refreshing: Promise<void> | undefined;
  private readonly reconnect: Reconnect;

  constructor(
    readonly socketPath: string,
    private readonly log: EngineLog = () => {},
    private readonly onChange: () => void = () => {},
    private readonly inoOf: (path: string) => number = statIno,
  ) {
    this.reconnect = new Reconnect(`CRI at ${socketPath}`, log, () => void this.connect());
  }

  get connected(): boolean {
    return this.up;
  }

  /** CRI says nothing of sandboxes being made: a lookup waits on the namespace's age alone. */
  get pending(): boolean {
    return false;
  }

  get(ino: number): ContainerFields | undefined {
    return this.byIno.get(ino)?.fields;
  }

  getById(id: string): ContainerFields | undefined {
    return this.byId.get(id)?.fields;
  }

  start(): Promise<void> {
    this.stopped = false;
    return this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.up = false;
    this.reconnect.stop();
    this.client?.close();
    this.client = undefined;
  }

  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.readList().catch((e: Error) => this.lost(e)).finally(() => { this.refreshing = undefined; });
    }
    return this.refreshing;
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.up) return;
    try {
      if (!fs.existsSync(this.socketPath)) throw Object.assign(new Error('no such socket'), { code: 'ENOENT' });
      this.client ??= await criClient(this.socketPath);
      const v = await call(this.client, this.client.Version, { version: 'v1' });
      this.runtime = /cri-o/i.test(v.runtime_name) ? 'cri-o' : 'containerd';
      await this.readList();
      this.up = true;
      this.reconnect.succeeded();
      this.log('info', `containers: reading CRI (${clipped(v.runtime_name, MAX_NAME)} ${clipped(v.runtime_version, MAX_NAME)}) at ${this.socketPath} (${this.byId.size} pod sandboxes)`);
      this.onChange();
    } catch (e) {
      this.client?.close();
      this.client = undefined;
      if (!this.stopped) this.reconnect.failed(e as NodeJS.ErrnoException);
    }
  }

  private lost(err: Error): void {
    if (this.stopped || !this.up) return;
    this.up = false;
    this.log('warn', `containers: lost CRI at ${this.socketPath} (${reason(err)}); reconnecting`);
    this.client?.close();
    this.client = undefined;
    this.reconnect.failed(err as NodeJS.ErrnoException);
  }

  private async readList(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const list = await call(client, client.ListPodSandbox, {});
    const listed = new Set<string>();
    // The runtime is a peer like any other (docs/hooks.md, "Threat model"): at most
    // MAX_SANDBOXES are asked about, and what a pod chose (its name, namespace, uid) must be a
    // string of a sane length, or the sandbox is left unnamed.
    const items = list.items ?? [];
    if (items.length > MAX_SANDBOXES) this.log('warn', `containers: ${this.socketPath} lists ${items.length} pod sandboxes; the first ${MAX_SANDBOXES} are named`);
    for (const item of items.slice(0, MAX_SANDBOXES)) {
      if (typeof item.id !== 'string' || !/^[0-9a-f]{12,64}$/.test(item.id)) continue;
      listed.add(item.id);
      // Asked about once when ready, not at every refresh: a node's host-network pods (and a
      // runtime's thousands) would cost a call each per new namespace.
      const known = this.byId.get(item.id);
      if ((known && (known.ino >= 0 || known.settled)) || this.refused.has(item.id)) continue;
      try {
        const st = await call(client, client.PodSandboxStatus, { pod_sandbox_id: item.id, verbose: true });
        const ready = (st.status?.state ?? item.state) === SANDBOX_READY;
        const md = st.status?.metadata ?? item.metadata ?? {};
        const pod = [md.name, md.namespace, md.uid].map((v) => peerText(v, MAX_NAME));
        if (pod.some((v) => v === undefined)) {
          if (ready) this.refused.add(item.id);
          continue;
        }
        const ino = sandboxNetns(st.info, this.inoOf);
        const s: Sandbox = {
          id: item.id,
          ino,
          settled: ready && (ino >= 0 || ino === HOST_NETWORK),
          fields: {
            container_id: item.id, container_name: '', container_image: '', container_runtime: this.runtime,
            pod_name: pod[0]!, pod_namespace: pod[1]!, pod_uid: pod[2]!,
          },
        };
        this.byId.set(s.id, s);
        if (s.ino >= 0) this.byIno.set(s.ino, s);
      } catch {
        // removed since it was listed
      }
    }
    for (const id of this.refused) if (!listed.has(id)) this.refused.delete(id);
    for (const [id, s] of this.byId) {
      if (listed.has(id)) continue;
      this.byId.delete(id);
      if (this.byIno.get(s.ino) === s) this.byIno.delete(s.ino);
    }
  }
}
