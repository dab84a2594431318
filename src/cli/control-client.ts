// The CLI side of the control socket: one JSON request to the running daemon, and the verbs
// that print what it answers (tables.ts, or --json).
import net from 'node:net';
import type { HookStatus } from '../hooks/scheduler.js';
import type { StatusReport } from '../daemon/control-api.js';
import type { NewHook } from '../daemon/config-edit.js';
import type { OutputStatusBase as OutputStatus } from '../outputs/output.js';
import { onStopSignal } from '../signals.js';
import { DEFAULT_SOCKET } from '../daemon/control-socket.js';
import { statsTable } from './tables.js';


export interface SocketOptions {
  socket?: string;
  config?: string;
  json?: boolean;
}

/** A failure to print as one line; exit is 1 (no daemon, refused) or 2 (bad request, or a
 * config file that cannot be read: printed as its own FILE:LINE:COL lines). */
export class ClientError extends Error {
  constructor(message: string, readonly exitCode: number, readonly ownLines = false) {
    super(message);
  }
}

/** --socket, else control.socket of --config, else the default path. The config reader is
 * loaded only for -c: a daemon verb loads what it needs and no more. */
export async function socketPath(opts: SocketOptions): Promise<string> {
  if (opts.socket) return opts.socket;
  if (!opts.config) return DEFAULT_SOCKET;
  const { ConfigError, loadConfigFile } = await import('../daemon/config-file.js');
  try {
    return loadConfigFile(opts.config, { allowUnsafeScripts: true }).control.socket;
  } catch (e) {
    if (e instanceof ConfigError) throw new ClientError(e.message, 2, true);
    throw e;
  }
}

/** The most an answer may hold: the daemon's status of thousands of namespaces is a few MB;
 * whatever listens at a socket path is not trusted to stop. */
const MAX_ANSWER = 64 * 1024 * 1024;
/** The longest a request may take, answer included (docs/cli.md): a daemon whose loop is stuck,
 * or whatever listens at the path, does not hold a verb (a probe, a script) for ever. */
export const ANSWER_TIMEOUT_MS = 30_000;

/** One request on the control socket, as HTTP/1.0 over a plain connection (the daemon's server
 * answers it whole and closes: no chunks, no keep-alive). Node's HTTP client is not loaded for
 * this: it cost `nlmon status` about 10 ms of CPU and 2 MB (README, "Measured"). The request is
 * written without ending our side: Node's HTTP server takes a client's end as the request
 * abandoned, and an answer that waits on I/O in the daemon would then never come. */
export function request<T>(socket: string, method: string, path: string, body?: unknown, timeoutMs = ANSWER_TIMEOUT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const head = `${method} ${path} HTTP/1.0\r\nHost: nlmon\r\n` +
      (payload ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n` : '') + '\r\n';
    const chunks: Buffer[] = [];
    let size = 0;
    const conn = net.connect(socket);
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new ClientError(`the daemon on ${socket} did not answer within ${timeoutMs / 1000} s`, 1));
    }, timeoutMs);
    conn.on('close', () => clearTimeout(timer));
    conn.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ANSWER) {
        conn.destroy();
        reject(new ClientError(`the daemon on ${socket} answered more than ${MAX_ANSWER / 1048576} MB`, 1));
        return;
      }
      chunks.push(c);
    });
    conn.on('end', () => {
      const answer = Buffer.concat(chunks);
      const split = answer.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(answer.subarray(0, Math.min(split, 64)).toString('latin1'));
      let parsed: { error?: string } & Record<string, unknown>;
      try {
        if (split < 0 || !status) throw new Error('not HTTP');
        parsed = JSON.parse(answer.subarray(split + 4).toString('utf8'));
      } catch {
        reject(new ClientError(`the daemon on ${socket} answered something that is not JSON`, 1));
        return;
      }
      const code = Number(status[1]);
      if (code >= 400) {
        const usage = code === 400 || code === 404 || code === 409;
        reject(new ClientError(parsed.error ?? `HTTP ${code}`, usage ? 2 : 1));
        return;
      }
      resolve(parsed as T);
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new ClientError(`no nlmon daemon is running (no control socket at ${socket})`, 1));
      else if (err.code === 'EACCES') reject(new ClientError(`permission denied on ${socket} (run as root or as the daemon's user)`, 1));
      else reject(new ClientError(`${socket}: ${err.message}`, 1));
    });
    conn.write(head + payload);
  });
}

/** Runs one daemon verb: prints its answer and resolves to the exit code. */
export async function clientCommand<T>(opts: SocketOptions, call: (socket: string) => Promise<T>, print: (answer: T) => string): Promise<number> {
  try {
    const answer = await call(await socketPath(opts));
    process.stdout.write(opts.json ? `${JSON.stringify(answer)}\n` : print(answer));
    return 0;
  } catch (e) {
    if (!(e instanceof ClientError)) {
      process.stderr.write(`nlmon: ${(e as Error).message.split('\n')[0]}\n`);
      return 1;
    }
    process.stderr.write(e.ownLines ? `${e.message}\n` : `nlmon: ${e.message}\n`);
    return e.exitCode;
  }
}

/** `hooks stats --watch`: the table again every interval until SIGINT/SIGTERM. */
export async function watchStats(opts: SocketOptions, name: string | undefined, intervalMs: number): Promise<number> {
  let stop = false;
  const off = onStopSignal(() => { stop = true; });
  // A reader that goes away (`| head -5`) ends the watch quietly, as it ends `ip monitor`.
  const gone = () => { stop = true; };
  process.stdout.on('error', gone);
  // The screen is cleared for a terminal only; into a pipe or a file each table follows the last.
  const clear = process.stdout.isTTY ? '\x1b[H\x1b[2J' : '';
  try {
    const socket = await socketPath(opts);
    while (!stop) {
      const hooks = await fetchStats(socket, name);
      const stamp = new Date().toISOString();
      process.stdout.write(opts.json ? `${JSON.stringify({ time: stamp, hooks })}\n` : `${clear}${stamp}\n${statsTable(hooks)}${clear ? '' : '\n'}`);
      for (let waited = 0; waited < intervalMs && !stop; waited += 100) await new Promise((r) => setTimeout(r, 100));
    }
    return 0;
  } catch (e) {
    process.stderr.write(e instanceof ClientError && e.ownLines ? `${e.message}\n` : `nlmon: ${(e as Error).message}\n`);
    return e instanceof ClientError ? e.exitCode : 1;
  } finally {
    off();
    process.stdout.off('error', gone);
  }
}

export async function fetchStats(socket: string, name?: string): Promise<HookStatus[]> {
  if (name) return [(await request<{ hook: HookStatus }>(socket, 'GET', `/v1/hooks/${encodeURIComponent(name)}`)).hook];
  return (await request<{ hooks: HookStatus[] }>(socket, 'GET', '/v1/hooks')).hooks;
}

export const api = {
  status: (s: string) => request<StatusReport>(s, 'GET', '/v1/status'),
  hooks: (s: string) => fetchStats(s),
  stats: (s: string, name?: string) => fetchStats(s, name),
  enable: (s: string, name: string, on: boolean) => request<{ hook: HookStatus }>(s, 'POST', `/v1/hooks/${encodeURIComponent(name)}/${on ? 'enable' : 'disable'}`),
  resetStats: (s: string, name?: string) => request<unknown>(s, 'POST', name ? `/v1/hooks/${encodeURIComponent(name)}/reset-stats` : '/v1/hooks/reset-stats'),
  add: (s: string, hook: NewHook) => request<{ hook: HookStatus }>(s, 'POST', '/v1/hooks', hook),
  delete: (s: string, name: string) => request<{ deleted: string }>(s, 'DELETE', `/v1/hooks/${encodeURIComponent(name)}`),
  reload: (s: string) => request<{ ok: boolean; errors: string[] }>(s, 'POST', '/v1/reload'),
  outputs: (s: string) => request<{ outputs: OutputStatus[] }>(s, 'GET', '/v1/outputs').then((a) => a.outputs),
};
