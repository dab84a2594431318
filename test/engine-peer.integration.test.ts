// A hostile or broken container engine (docs/hooks.md, "Threat model"): a fake engine on a Unix
// socket, speaking the Docker API, that floods its event stream with starts whose inspects never
// answer, or answers one byte at a time, or sends what a container chose: an endless line, a
// name of a megabyte, fields that are not strings. The daemon must keep watching netlink and
// running hooks, with its descriptors and memory bounded.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ip, lines, needsRoot, script, startDaemon, statusKb, until, withNetns, withTempDir } from './helpers/index.js';
import { engineContainer } from '../src/containers/engine-api.js';

const opts = { skip: needsRoot, timeout: 180000 };

interface FakeEngine {
  socket: string;
  /** Requests seen, by path prefix. */
  seen: Map<string, number>;
  /** Answers written to the end. */
  finished: number;
  close(): Promise<void>;
}

/** An engine on dir/engine.sock; `handle` answers each request (or never does). */
async function fakeEngine(dir: string, handle: (req: http.IncomingMessage, res: http.ServerResponse, e: FakeEngine) => void): Promise<FakeEngine> {
  const socket = path.join(dir, 'engine.sock');
  const held = new Set<http.ServerResponse>();
  const e: FakeEngine = { socket, seen: new Map(), finished: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    const key = (req.url ?? '').split('?')[0]!.replace(/\/containers\/[^/]+\/json$/, '/containers/ID/json');
    e.seen.set(key, (e.seen.get(key) ?? 0) + 1);
    held.add(res);
    res.on('finish', () => { e.finished++; held.delete(res); });
    handle(req, res, e);
  });
  await new Promise<void>((r) => server.listen(socket, r));
  e.close = async () => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return e;
}

function daemonYaml(ns: string, dir: string, engineSocket: string, hookScript: string): string {
  return `nlmon:
  monitoring:
    namespaces: [${ns}]
  containers:
    docker_socket: [${engineSocket}]
    cri_socket: []
  integration:
    hook_log: ${dir}/hook.log
    hooks:
      - name: rec
        script: ${hookScript}
        async: true
        condition: "event == link_added"
  control:
    socket: ${dir}/nlmon.sock
`;
}

const VERSION = JSON.stringify({ Components: [{ Name: 'Podman Engine' }] });

test('an /events flood of 20 000 starts whose inspects never answer: descriptors under 300, RSS under 300 MB, hooks still run', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  let sent = 0;
  const engine = await fakeEngine(dir, (req, res) => {
    const url = req.url ?? '';
    if (url === '/version') return void res.end(VERSION);
    if (url.startsWith('/containers/json')) return void res.end('[]');
    if (url.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      const burst = () => {
        let chunk = '';
        for (let i = 0; i < 1000 && sent < 20000; i++, sent++) chunk += `${JSON.stringify({ Action: 'start', Actor: { ID: randomBytes(32).toString('hex') } })}\n`;
        res.write(chunk);
        if (sent < 20000) setImmediate(burst);
      };
      burst();
      return;
    }
    // An inspect: never answered.
  });
  const rec = script(dir, 'rec.sh', `echo "$NLMON_INTERFACE" >> ${dir}/ran`);
  const d = await startDaemon(dir, daemonYaml(ns, dir, engine.socket, rec));
  try {
    await until(() => sent === 20000, 'the flood sent');
    await new Promise((r) => setTimeout(r, 3000));
    const pid = d.child.pid!;
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    const rss = statusKb(pid, 'VmRSS') / 1024;
    assert.ok(fds < 300, `${fds} descriptors`);
    assert.ok(rss < 300, `${rss.toFixed(0)} MB RSS`);
    assert.ok((engine.seen.get('/containers/ID/json') ?? 0) <= 100, `inspects asked: ${engine.seen.get('/containers/ID/json')}, bounded and coalesced`);
    ip('-n', ns, 'link', 'add', 'f0', 'type', 'veth', 'peer', 'name', 'f1');
    await until(() => lines(`${dir}/ran`).length === 2, 'the script hook running through the flood', 20000);
  } finally {
    await d.stop();
    await engine.close();
  }
})));

test('an engine answering one byte every 1.5 s does not hold the daemon\'s start nor a new veth\'s hook', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const engine = await fakeEngine(dir, (req, res) => {
    const body = (req.url ?? '') === '/version' ? VERSION : (req.url ?? '').startsWith('/events') ? '' : '[]';
    res.writeHead(200, { 'content-type': 'application/json' });
    let i = 0;
    const drip = () => {
      if (res.destroyed) return;
      if (i >= body.length) return void (req.url?.startsWith('/events') ? undefined : res.end());
      res.write(body[i++]!);
      setTimeout(drip, 1500);
    };
    drip();
  });
  const rec = script(dir, 'rec.sh', `echo "$NLMON_INTERFACE" >> ${dir}/ran`);
  const d = await startDaemon(dir, daemonYaml(ns, dir, engine.socket, rec));
  try {
    ip('-n', ns, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 's1');
    await until(() => lines(`${dir}/ran`).length === 2, 'the hooks of the new veths');
    assert.equal(engine.finished, 0, 'the hooks ran while the engine had not finished a single answer');
  } finally {
    await d.stop();
    await engine.close();
  }
})));

test('what a container chooses is bounded: a 1 MiB name, fields that are not strings, an endless event line', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const inspect = { Id: 'a'.repeat(64), Name: '/web', Config: { Image: 'nginx', Labels: {} }, State: { Pid: 0 }, NetworkSettings: {}, HostConfig: {} };
  assert.equal(engineContainer({ ...inspect, Name: `/${'x'.repeat(1 << 20)}` }, 'podman', () => -1), undefined, 'a 1 MiB name is refused');
  assert.equal(engineContainer({ ...inspect, Name: { toString: 1 } } as never, 'podman', () => -1), undefined, 'a name that is an object is refused');
  assert.equal(engineContainer({ ...inspect, Config: { Image: ['x'], Labels: {} } } as never, 'podman', () => -1), undefined);
  assert.equal(engineContainer({ ...inspect, Config: { Image: 'x', Labels: { 'io.kubernetes.pod.name': 7 } } } as never, 'podman', () => -1), undefined);
  assert.equal(engineContainer(inspect, 'podman', () => -1)!.fields.container_name, 'web');
  let streamed = 0;
  const engine = await fakeEngine(dir, (req, res) => {
    const url = req.url ?? '';
    if (url === '/version') return void res.end(VERSION);
    if (url.startsWith('/containers/json')) return void res.end('[]');
    if (url.startsWith('/events')) {
      // A line that never ends: the daemon must drop the stream, not grow a buffer or rescan it.
      res.writeHead(200);
      const blob = 'x'.repeat(64 * 1024);
      const more = () => {
        if (res.destroyed || streamed > 64 * 1024 * 1024) return;
        streamed += blob.length;
        res.write(blob, () => setImmediate(more));
      };
      more();
    }
  });
  const rec = script(dir, 'rec.sh', `echo "$NLMON_INTERFACE" >> ${dir}/ran`);
  const d = await startDaemon(dir, daemonYaml(ns, dir, engine.socket, rec));
  try {
    await until(() => d.stderr().includes('a line longer than 65536 bytes'), 'the endless line refused');
    assert.ok(streamed < 8 * 1024 * 1024, `${streamed} bytes streamed before the daemon hung up`);
    ip('-n', ns, 'link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1');
    await until(() => lines(`${dir}/ran`).length === 2, 'hooks run');
  } finally {
    await d.stop();
    await engine.close();
  }
})));
