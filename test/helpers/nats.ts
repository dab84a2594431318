// A real nats-server with JetStream on 127.0.0.1 for tests and `npm run bench`: started on free
// ports with its store in a temp directory, killed and restarted at will, and always stopped
// (and its store removed) when the test ends. Stream counts come from its monitoring endpoint.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa, execaSync, type ResultPromise } from 'execa';
import type { JetStreamManager } from '@nats-io/jetstream';
import { freePort, sleep, until } from './common.js';

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const f = path.join(dir, cmd);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

export const NATS_SERVER = which('nats-server');
/** Why the NATS tests cannot run here, or false. */
export const needsNats: string | false = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : NATS_SERVER ? false : 'nats-server is not installed (Debian package nats-server)';

export interface NatsServer {
  url: string;
  /** With tls: the CA file clients check the server's certificate against. */
  ca: string;
  /** With operator: credentials files that log in, and that do not. */
  creds: string;
  badCreds: string;
  port: number;
  dir: string;
  /** Starts it (again, on the same ports and store). */
  start(): Promise<void>;
  /** Sends a signal and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Its process id while it runs. */
  pid(): number | undefined;
  /** Messages in a stream (0 when the stream does not exist or the server is down). */
  streamMessages(stream: string): Promise<number>;
  log(): string;
}

export interface NatsOptions {
  /** Clients must give this token. */
  token?: string;
  /** TLS only, with a certificate for 127.0.0.1 from a CA made for the test (server.ca). */
  tls?: boolean;
  /** Operator mode (decentralized JWT auth): users log in with the credentials files server.creds
   * (a user of the one account, which has JetStream) or server.badCreds (a user of an account
   * the server does not know). */
  operator?: boolean;
}

/** An operator, an account with JetStream signed by it, and users, as `nsc` would make them. */
async function makeOperator(dir: string): Promise<{ conf: string; creds: string; badCreds: string }> {
  const { encodeOperator, encodeAccount, encodeUser, fmtCreds } = await import('@nats-io/jwt');
  const { createOperator, createAccount, createUser } = await import('@nats-io/nkeys');
  const op = createOperator();
  const acc = createAccount();
  const stranger = createAccount();
  const sys = createAccount();
  const opJwt = await encodeOperator('nlmon-test', op, { system_account: sys.getPublicKey() });
  const sysJwt = await encodeAccount('SYS', sys, {}, { signer: op });
  const accJwt = await encodeAccount('fleet', acc, { limits: { subs: -1, data: -1, payload: -1, conn: -1, leaf: -1, imports: -1, exports: -1, wildcards: true, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } }, { signer: op });
  const creds = async (name: string, account: typeof acc) => {
    const user = createUser();
    const file = path.join(dir, `${name}.creds`);
    fs.writeFileSync(file, fmtCreds(await encodeUser(name, user, account), user), { mode: 0o600 });
    return file;
  };
  const conf = `operator: ${opJwt}\nsystem_account: ${sys.getPublicKey()}\nresolver: MEMORY\nresolver_preload: {\n  ${acc.getPublicKey()}: ${accJwt}\n  ${sys.getPublicKey()}: ${sysJwt}\n}\n`;
  return { conf, creds: await creds('nlmon', acc), badCreds: await creds('stranger', stranger) };
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with openssl in dir. */
function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execaSync('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=nlmon test CA']);
  execaSync('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  execaSync('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('san.ext')]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

/** Runs fn with a nats-server (not yet started if start is false); stops it afterwards. */
export async function withNats<T>(fn: (s: NatsServer) => Promise<T>, options: NatsOptions & { start?: boolean } = {}): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlmon-nats-'));
  const port = await freePort();
  const monitor = await freePort();
  let child: ResultPromise | undefined;
  let out = '';
  const certs = options.tls ? makeCerts(dir) : undefined;
  const op = options.operator ? await makeOperator(dir) : undefined;
  if (op) fs.writeFileSync(path.join(dir, 'server.conf'), op.conf);
  const server: NatsServer = {
    url: `${certs ? 'tls' : 'nats'}://127.0.0.1:${port}`, port, dir, ca: certs?.ca ?? '', creds: op?.creds ?? '', badCreds: op?.badCreds ?? '',
    async start() {
      const args = ['-js', '-sd', path.join(dir, 'store'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), ...(options.token ? ['--auth', options.token] : []),
        ...(certs ? ['--tls', '--tlscert', certs.cert, '--tlskey', certs.key] : []), ...(op ? ['-c', path.join(dir, 'server.conf')] : [])];
      const c = execa(NATS_SERVER!, args, { reject: false, all: true, buffer: false });
      child = c;
      c.all?.on('data', (d: Buffer) => { out += d.toString(); });
      await until(async () => {
        try {
          return (await fetch(`http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`)).ok;
        } catch {
          if (c.exitCode !== null && c.exitCode !== undefined) throw new Error(`nats-server exited: ${out}`);
          return false;
        }
      }, 'nats-server to start', 15000);
    },
    async kill(signal = 'SIGTERM') {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      c.kill(signal);
      await c;
    },
    pid: () => child?.pid,
    async streamMessages(stream: string) {
      try {
        const r = await fetch(`http://127.0.0.1:${monitor}/jsz?accounts=true&streams=true`);
        const j = await r.json() as { account_details?: Array<{ stream_detail?: Array<{ name: string; state: { messages: number } }> }> };
        for (const a of j.account_details ?? []) for (const s of a.stream_detail ?? []) if (s.name === stream) return s.state.messages;
        return 0;
      } catch {
        return 0;
      }
    },
    log: () => out,
  };
  try {
    if (options.start !== false) await server.start();
    return await fn(server);
  } finally {
    await server.kill('SIGKILL');
    await sleep(50);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface StreamMessage {
  subject: string;
  id: string;
  seq: number;
  /** When the server stored it (ms since the epoch). */
  storedMs: number;
  event: { sequence: number; timestamp: number; event: string; interface: string; host: string; namespace: string };
}

/** Every message of a stream, in order, read with an ordered consumer. */
export async function readStream(url: string, stream: string, ca = '', creds = ''): Promise<StreamMessage[]> {
  const { connect, credsAuthenticator } = await import('@nats-io/transport-node');
  const { jetstream } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url, ...(ca ? { tls: { caFile: ca } } : {}), ...(creds ? { authenticator: credsAuthenticator(fs.readFileSync(creds)) } : {}) });
  try {
    const js = jetstream(nc);
    const c = await js.consumers.get(stream);
    const total = (await c.info()).num_pending;
    const out: StreamMessage[] = [];
    if (total === 0) return out;
    const msgs = await c.consume();
    for await (const m of msgs) {
      out.push({ subject: m.subject, id: m.headers?.get('Nats-Msg-Id') ?? '', seq: m.seq, storedMs: m.info.timestampNanos / 1e6, event: m.json() });
      if (m.info.pending === 0) break;
    }
    await msgs.close();
    return out;
  } finally {
    await nc.close();
  }
}

export interface NatsProxy {
  url: string;
  /** While true, what the server sends is dropped (acknowledgements never reach the client). */
  dropReplies: boolean;
  /** Closes every connection through the proxy (the client sees the server go). */
  cut(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 in front of a server, to lose its answers on purpose. */
export async function startProxy(target: number): Promise<NatsProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: NatsProxy = {
    url: '', dropReplies: false,
    cut: () => { for (const s of sockets) s.destroy(); sockets.clear(); },
    close: () => new Promise<void>((resolve) => { proxy.cut(); server.close(() => resolve()); }),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => { if (!proxy.dropReplies) client.write(d); });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `nats://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return proxy;
}

export interface ClusterNode {
  name: string;
  url: string;
  /** Starts it (again), with its store kept; resolves when it answers. */
  start(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP / SIGCONT: the node stops answering, its routes included. */
  pause(): void;
  resume(): void;
}

/** Runs fn with a cluster of `n` nats-servers with JetStream on 127.0.0.1 (each its own ports
 * and store), routed to each other; every node and store removed afterwards. */
export async function withNatsCluster<T>(n: number, fn: (nodes: ClusterNode[]) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlmon-nats-cluster-'));
  const ports = await Promise.all(Array.from({ length: n }, async () => ({ client: await freePort(), cluster: await freePort(), monitor: await freePort() })));
  const children: Array<ResultPromise | undefined> = [];
  const logs: string[] = ports.map(() => '');
  const nodes: ClusterNode[] = ports.map((p, i) => ({
    name: `n${i}`,
    url: `nats://127.0.0.1:${p.client}`,
    async start() {
      const routes = ports.filter((_, j) => j !== i).map((q) => `nats://127.0.0.1:${q.cluster}`).join(',');
      const c = execa(NATS_SERVER!, ['-js', '-sd', path.join(dir, `store${i}`), '-a', '127.0.0.1', '-p', String(p.client), '-m', String(p.monitor),
        '-n', `n${i}`, '--cluster_name', 'nlmon', '--cluster', `nats://127.0.0.1:${p.cluster}`, '--routes', routes], { reject: false, all: true, buffer: false });
      children[i] = c;
      c.all?.on('data', (d: Buffer) => { logs[i] += d.toString(); });
      await until(async () => {
        try {
          return (await fetch(`http://127.0.0.1:${p.monitor}/healthz`)).ok;
        } catch {
          if (c.exitCode !== null && c.exitCode !== undefined) throw new Error(`nats-server n${i} exited: ${logs[i]}`);
          return false;
        }
      }, `nats-server n${i} to start`, 20000);
    },
    async kill(signal = 'SIGTERM') {
      const c = children[i];
      children[i] = undefined;
      if (!c || c.exitCode !== null) return;
      c.kill('SIGCONT');
      c.kill(signal);
      await c;
    },
    pause() { children[i]?.kill('SIGSTOP'); },
    resume() { children[i]?.kill('SIGCONT'); },
  }));
  try {
    await Promise.all(nodes.map((node) => node.start()));
    // JetStream's meta group has a leader: streams can be made.
    await until(async () => {
      try {
        const j = await (await fetch(`http://127.0.0.1:${ports[0]!.monitor}/jsz`)).json() as { meta_cluster?: { leader?: string } };
        return !!j.meta_cluster?.leader;
      } catch {
        return false;
      }
    }, 'the JetStream meta leader', 30000);
    return await fn(nodes);
  } finally {
    await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
    await sleep(50);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs fn with a JetStream manager on a connection of its own to these servers (closed after):
 * what an operator does to a stream, from the tests and the bench. */
export async function jetstreamAdmin<T>(servers: string[], fn: (jsm: JetStreamManager) => Promise<T>): Promise<T> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers });
  try {
    return await fn(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}
