// The control socket: a small JSON API over HTTP on a Unix socket (mode 0600) that the CLI's
// daemon verbs use. A stale socket from a dead daemon is replaced; a live one is refused.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from '../config/checker.js';
import { safeDirectory } from '../files/safe-path.js';
import { ConfigEditError, type NewHook } from './config-edit.js';
import type { ControlApi } from './control-api.js';

export class ControlSocketError extends Error {}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly issues?: string[]) {
    super(message);
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let body = '';
  // Decoded as a stream: a character split between two chunks stays whole.
  req.setEncoding('utf8');
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 1 << 20) throw new HttpError(413, 'request body too large');
  }
  if (!body) return {};
  try {
    return JSON.parse(body);
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

function parseNewHook(v: unknown): NewHook {
  if (typeof v !== 'object' || v === null) throw new HttpError(400, 'a hook object is required');
  const o = v as Record<string, unknown>;
  if (typeof o.name !== 'string') throw new HttpError(400, 'name (a string) is required');
  const actions = ['script', 'url', 'module'].filter((k) => o[k] !== undefined);
  if (actions.length !== 1 || actions.some((k) => typeof o[k] !== 'string')) throw new HttpError(400, 'exactly one of script, url and module (a string) is required');
  for (const k of ['secret', 'secret_file']) {
    if (o[k] !== undefined && (typeof o[k] !== 'string' || o.url === undefined)) throw new HttpError(400, `${k} must be a string, with url`);
  }
  if (o.secret !== undefined && o.secret_file !== undefined) throw new HttpError(400, 'secret and secret_file do not go together');
  if (o.condition !== undefined && typeof o.condition !== 'string') throw new HttpError(400, 'condition must be a string');
  if (o.timeout_ms !== undefined && !Number.isInteger(o.timeout_ms)) throw new HttpError(400, 'timeout_ms must be an integer');
  if (o.async !== undefined && typeof o.async !== 'boolean') throw new HttpError(400, 'async must be a boolean');
  return o as unknown as NewHook;
}

async function route(api: ControlApi, method: string, url: string, req: http.IncomingMessage): Promise<unknown> {
  let parts: string[];
  try {
    parts = url.split('?')[0]!.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, `bad %-escape in ${url}`);
  }
  if (parts[0] !== 'v1' || parts.length > 4) throw new HttpError(404, `no such endpoint: ${url}`);
  const [, what, name, action] = parts;
  const hook = (n: string) => {
    const h = api.hooks().find((x) => x.name === n);
    if (!h) throw new HttpError(404, `no hook named '${n}'`);
    return h;
  };
  if (what === 'status' && method === 'GET' && !name) return api.status();
  if (what === 'reload' && method === 'POST' && !name) return api.reload();
  if (what === 'outputs' && method === 'GET' && !name) return { outputs: api.outputStats() };
  if (what !== 'hooks') throw new HttpError(404, `no such endpoint: ${url}`);
  if (!name) {
    if (method === 'GET') return { hooks: api.hooks() };
    if (method === 'POST') return { hook: api.addHook(parseNewHook(await readJson(req))) };
  } else if (name === 'reset-stats' && !action && method === 'POST') {
    api.resetStats();
    return { hooks: api.hooks() };
  } else if (!action) {
    if (method === 'GET') return { hook: hook(name) };
    if (method === 'DELETE') {
      hook(name);
      api.deleteHook(name);
      return { deleted: name };
    }
  } else if (method === 'POST' && (action === 'enable' || action === 'disable')) {
    hook(name);
    api.setEnabled(name, action === 'enable');
    return { hook: hook(name) };
  } else if (method === 'POST' && action === 'reset-stats') {
    hook(name);
    api.resetStats(name);
    return { hook: hook(name) };
  }
  throw new HttpError(405, `${method} ${url} is not supported`);
}

/** Throws ControlSocketError if a live daemon answers on file; removes a stale socket. */
async function clearStaleSocket(file: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ControlSocketError(`${file} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(file);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (live) throw new ControlSocketError(`another nlmon daemon is listening on ${file}; stop it or set control.socket`);
  fs.unlinkSync(file);
}

export class ControlServer {
  private constructor(private readonly server: http.Server, readonly file: string) {}

  static async listen(file: string, api: ControlApi): Promise<ControlServer> {
    try {
      safeDirectory(path.dirname(file), { create: true, mode: 0o755 });
    } catch (e) {
      throw new ControlSocketError(`control socket: ${(e as Error).message}`);
    }
    await clearStaleSocket(file);
    const server = http.createServer((req, res) => {
      route(api, req.method ?? 'GET', req.url ?? '/', req).then(
        (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
        (err: Error) => {
          let status = 500;
          let issues: string[] | undefined;
          if (err instanceof HttpError) {
            status = err.status;
            issues = err.issues;
          } else if (err instanceof ConfigError) {
            status = 400;
            issues = err.message.split('\n');
          } else if (err instanceof ConfigEditError) {
            status = 409;
          }
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message, ...(issues ? { issues } : {}) }));
        },
      );
    });
    // The socket is created 0600 (umask), so no moment exists where others may connect.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(file, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      throw new ControlSocketError(`cannot listen on ${file}: ${(e as Error).message}`);
    } finally {
      process.umask(oldMask);
    }
    return new ControlServer(server, file);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    fs.rmSync(this.file, { force: true });
  }
}
