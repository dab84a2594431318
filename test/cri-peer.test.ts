// A hostile or broken CRI runtime (docs/hooks.md, "Threat model"): a gRPC server on a Unix
// socket speaking the part of CRI's RuntimeService nlmon reads (src/containers/cri.ts), that
// lists more pod sandboxes than nlmon asks about, names them with what no pod may be called,
// answers with megabytes where a version goes, or never answers. What nlmon keeps, asks and logs
// must stay bounded, and a pod named sanely is still named.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CriSource, criService } from '../src/containers/cri.js';
import { withTempDir } from './helpers/index.js';

interface Sandbox { id: string; metadata: { name: string; namespace: string; uid: string }; state: number }

interface Runtime {
  version?: () => { runtime_name: string; runtime_version: string } | 'never';
  list: () => Sandbox[] | 'never';
  /** The verbose info's `info` for a sandbox. */
  info?: (id: string) => string;
  /** A sandbox's state in PodSandboxStatus (0 ready, 1 not ready). */
  state?: (id: string) => number;
}

/** A runtime on dir/cri.sock answering as `r` says; how many PodSandboxStatus calls it took. */
async function runtime(dir: string, r: Runtime): Promise<{ socket: string; statusCalls: () => number; close: () => Promise<void> }> {
  const socket = path.join(dir, 'cri.sock');
  const server = new grpc.Server();
  let statusCalls = 0;
  type Cb = (err: grpc.ServiceError | null, res?: object) => void;
  server.addService(await criService(), {
    Version: (_c: unknown, cb: Cb) => {
      const v = r.version?.() ?? { runtime_name: 'containerd', runtime_version: 'v1.6.20' };
      if (v !== 'never') cb(null, { version: '0.1.0', runtime_api_version: 'v1', ...v });
    },
    ListPodSandbox: (_c: unknown, cb: Cb) => {
      const items = r.list();
      if (items !== 'never') cb(null, { items });
    },
    PodSandboxStatus: (c: { request: { pod_sandbox_id: string } }, cb: Cb) => {
      statusCalls++;
      const id = c.request.pod_sandbox_id;
      cb(null, { status: { id, state: r.state?.(id) ?? 0 }, info: { info: r.info?.(id) ?? JSON.stringify({ pid: 4242, runtimeSpec: { linux: { namespaces: [{ type: 'network', path: `/var/run/netns/cni-${id.slice(-8)}` }] } } }) } });
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return { socket, statusCalls: () => statusCalls, close: () => new Promise<void>((resolve) => { server.forceShutdown(); resolve(); }) };
}

const hexId = (n: number) => n.toString(16).padStart(64, '0');
const pod = (n: number, name = `web-${n}`): Sandbox => ({ id: hexId(n), metadata: { name, namespace: 'default', uid: `uid-${n}` }, state: 0 });
/** The namespace inode a sandbox's path stands for here: its number (no real namespaces). */
const inoOf = (p: string) => (p.startsWith('/var/run/netns/cni-') ? parseInt(p.slice(-8), 16) + 1000 : /^\/proc\/\d+\/ns\/net$/.test(p) ? Number(p.split('/')[2]) * 100 : -1);

test('a CRI runtime listing 5 000 sandboxes, some named with what no pod may be called: 4 096 asked about, the sane ones named, the rest not', () => withTempDir(async (dir) => {
  const items = Array.from({ length: 5000 }, (_, i) => pod(i + 1));
  items[0] = { ...pod(1), metadata: { ...pod(1).metadata, name: 'x'.repeat(254) } };
  items[1] = { ...pod(2), id: 'not-hex-at-all' };
  items[2] = { ...pod(3), id: hexId(0xabc).toUpperCase() };
  items[3] = pod(4, 'evil\u001b[31m\nname');
  const rt = await runtime(dir, { list: () => items });
  const logs: string[] = [];
  const src = new CriSource(rt.socket, (level, m) => logs.push(`${level} ${m}`), () => {}, inoOf);
  try {
    await src.start();
    assert.equal(src.connected, true, logs.join('\n'));
    assert.ok(logs.some((l) => /lists 5000 pod sandboxes; the first 4096 are named/.test(l)), logs.join('\n'));
    assert.equal(rt.statusCalls(), 4096 - 2, 'no sandbox past the first 4 096 is asked about, nor one whose id is not hex');
    assert.equal(src.get(1001), undefined, 'a pod name of 254 characters is not kept');
    assert.equal(src.get(1005)?.pod_name, 'web-5');
    assert.equal(src.get(1004)?.pod_name, 'evil\u001b[31m\nname', 'kept as the runtime said it: printing escapes it (format.ts)');
    assert.equal(src.get(4097 + 1000), undefined, 'the 4 097th is not asked about');
    // Asked again: none of them is asked about again, the one whose name was refused included.
    await src.refresh();
    assert.equal(rt.statusCalls(), 4096 - 2);
  } finally {
    src.stop();
    await rt.close();
  }
}));

test('a CRI runtime answering megabytes where its version and a sandbox\'s info go: the log line is cut, the info not parsed, nothing named from it', () => withTempDir(async (dir) => {
  const huge = `containerd\n\u001b[2J${'v'.repeat(1024 * 1024)}`;
  const rt = await runtime(dir, {
    version: () => ({ runtime_name: huge, runtime_version: huge }),
    list: () => [pod(1), pod(2)],
    info: (id) => (id === hexId(1) ? JSON.stringify({ pid: 1, runtimeSpec: { linux: { namespaces: [{ type: 'network', path: `/var/run/netns/cni-${id.slice(-8)}` }] } }, pad: 'p'.repeat(1024 * 1024 + 1) }) : JSON.stringify({ runtimeSpec: { linux: { namespaces: [{ type: 'network', path: `/var/run/netns/cni-${id.slice(-8)}` }] } } })),
  });
  const logs: string[] = [];
  const src = new CriSource(rt.socket, (level, m) => logs.push(`${level} ${m}`), () => {}, inoOf);
  try {
    await src.start();
    assert.equal(src.connected, true, logs.join('\n').slice(0, 2000));
    const line = logs.find((l) => l.includes('reading CRI'))!;
    assert.ok(line && line.length < 1000, `the version cut for the log (${line?.length} characters)`);
    assert.ok(line.includes(`(${huge.length} characters)`), 'it says how long the answer was');
    assert.equal(src.get(1001), undefined, 'an info over 1 MB is not parsed: the sandbox is not placed');
    assert.equal(src.get(1002)?.pod_name, 'web-2');
  } finally {
    src.stop();
    await rt.close();
  }
}));

test('a CRI runtime that never answers, and one whose answer is over 4 MB: not connected, the reason logged once and short, and nlmon goes on', () => withTempDir(async (dir) => {
  const silent = await runtime(dir, { version: () => 'never', list: () => [] });
  const logs: string[] = [];
  const a = new CriSource(silent.socket, (level, m) => logs.push(`${level} ${m}`), () => {}, inoOf);
  try {
    const t0 = Date.now();
    await a.start();
    assert.equal(a.connected, false);
    assert.ok(Date.now() - t0 < 15000, 'the request gives up (at its 2 s deadline), never waits for ever');
    assert.ok(logs.some((l) => /failed \(.*(DEADLINE|Deadline).*\); trying again every 5 s/.test(l)), logs.join('\n'));
  } finally {
    a.stop();
    await silent.close();
  }
  logs.length = 0;
  const big = await runtime(dir, { list: () => Array.from({ length: 4 }, (_, i) => ({ ...pod(i + 1), metadata: { name: 'n'.repeat(1024 * 1024 + 1), namespace: 'x', uid: 'y' } })) });
  const b = new CriSource(big.socket, (level, m) => logs.push(`${level} ${m}`), () => {}, inoOf);
  try {
    await b.start();
    assert.equal(b.connected, false);
    const line = logs.find((l) => l.includes('failed ('));
    assert.ok(line && /RESOURCE_EXHAUSTED|larger than max/i.test(line) && line.length < 500, `${line}`);
  } finally {
    b.stop();
    await big.close();
  }
}));

test('CRI sandboxes placed as the OCI spec says, each asked about once it is ready: on the node\'s network (no network namespace listed), a namespace the runtime made (no path: its pid\'s), not ready yet, not found', () => withTempDir(async (dir) => {
  const spec = (namespaces: object[], pid?: number) => JSON.stringify({ pid, runtimeSpec: { linux: { namespaces } } });
  let readyLater = false;
  const rt = await runtime(dir, {
    list: () => [pod(1), pod(2), pod(3), pod(4)],
    info: (id) => {
      if (id === hexId(1)) return spec([{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }], 4242);
      if (id === hexId(2)) return spec([{ type: 'network' }], 77);
      if (id === hexId(3)) return readyLater ? spec([{ type: 'network', path: `/var/run/netns/cni-${id.slice(-8)}` }]) : spec([{ type: 'network', path: '/var/run/netns/not-yet' }]);
      return spec([{ type: 'network', path: '/nowhere' }]);
    },
    state: (id) => (id === hexId(3) && !readyLater ? 1 : 0),
  });
  const src = new CriSource(rt.socket, () => {}, () => {}, inoOf);
  try {
    await src.start();
    assert.equal(rt.statusCalls(), 4);
    assert.equal(src.get(424200), undefined, 'a host-network pod is not placed in the namespace of its pid (the node\'s)');
    assert.equal(src.getById(hexId(1))?.pod_name, 'web-1', 'but known by its id (its processes\' cgroups name it)');
    assert.equal(src.get(7700)?.pod_name, 'web-2', 'a namespace the runtime made: its pid\'s');
    assert.equal(src.get(1003), undefined);
    assert.equal(src.get(1004), undefined);
    readyLater = true;
    await src.refresh();
    assert.equal(rt.statusCalls(), 6, 'asked again: the sandbox not ready before, and the one whose namespace was not found; not the two placed');
    assert.equal(src.get(1003)?.pod_name, 'web-3');
    await src.refresh();
    assert.equal(rt.statusCalls(), 7, 'the one whose namespace is still not found, only');
  } finally {
    src.stop();
    await rt.close();
  }
}));
