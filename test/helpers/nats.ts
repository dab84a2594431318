// A real nats-server with JetStream on 127.0.0.1 for tests and `npm run bench`: started on free
// ports with its store in a temp directory, killed and restarted at will, and always stopped
// (and its store removed) when the test ends. Stream counts come from its monitoring endpoint.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa, execaSync, type ResultPromise } from 'execa';
import { sleep, until } from './common.js';

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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface NatsServer {
  url: string;
  /** With tls: the CA file clients check the server's certificate against. */
  ca: string;
  port: number;
  dir: string;
  /** Starts it (again, on the same ports and store). */
  start(): Promise<void>;
  /** Sends a signal and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Messages in a stream (0 when the stream does not exist or the server is down). */
  streamMessages(stream: string): Promise<number>;
  log(): string;
}

export interface NatsOptions {
  /** Clients must give this token. */
  token?: string;
  /** TLS only, with a certificate for 127.0.0.1 from a CA made for the test (server.ca). */
  tls?: boolean;
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
  const server: NatsServer = {
    url: `${certs ? 'tls' : 'nats'}://127.0.0.1:${port}`, port, dir, ca: certs?.ca ?? '',
    async start() {
      const args = ['-js', '-sd', path.join(dir, 'store'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), ...(options.token ? ['--auth', options.token] : []),
        ...(certs ? ['--tls', '--tlscert', certs.cert, '--tlskey', certs.key] : [])];
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
export async function readStream(url: string, stream: string, ca = ''): Promise<StreamMessage[]> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url, ...(ca ? { tls: { caFile: ca } } : {}) });
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
