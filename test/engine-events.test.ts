// The engine API client against the order a real engine's events and answers can come in
// (docs/events.md, "Containers"): Podman and Docker send `create`, `init` and `start` one after
// another, and an inspect asked at `create` can be answered after `start` came, with the state
// before it (no namespace yet). No root: a fake engine on a Unix socket.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { EngineSource } from '../src/containers/engine-api.js';
import { until, withTempDir } from './helpers/index.js';

const ID = 'a1'.repeat(32);
const NETNS = '/run/netns/netns-test';
const INO = 4026532999;

function inspect(started: boolean): string {
  return JSON.stringify({
    Id: ID, Name: '/web', Config: { Image: 'busybox', Labels: {} }, State: { Pid: 0, Status: started ? 'running' : 'created' },
    NetworkSettings: { SandboxKey: started ? NETNS : '' }, HostConfig: { NetworkMode: 'bridge' },
  });
}

test('a start that comes while the create\'s inspect is answered has the container asked again, and placed in its namespace', () => withTempDir(async (dir) => {
  const socket = path.join(dir, 'engine.sock');
  let events: http.ServerResponse | undefined;
  let started = false;
  const inspects: Array<http.ServerResponse> = [];
  let asked = 0;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/version') return void res.end(JSON.stringify({ Components: [{ Name: 'Podman Engine' }] }));
    if (url.startsWith('/containers/json')) return void res.end('[]');
    if (url.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('\n');
      events = res;
      return;
    }
    if (url === `/containers/${ID}/json`) {
      asked++;
      // The first inspect is held until the test lets it go, then answered as of when it was asked.
      if (asked === 1) {
        const asOf = started;
        inspects.push(res);
        res.on('release', () => res.end(inspect(asOf)));
        return;
      }
      return void res.end(inspect(started));
    }
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(socket, r));
  const changes: number[] = [];
  const source = new EngineSource(socket, () => {}, () => changes.push(Date.now()), (p) => (p === NETNS ? INO : -1));
  try {
    await source.start();
    await until(() => events !== undefined, 'the event stream');
    const send = (action: string) => events!.write(`${JSON.stringify({ Type: 'container', Action: action, Actor: { ID } })}\n`);
    send('create');
    await until(() => inspects.length === 1, 'the inspect asked at create');
    started = true;
    send('init');
    send('start');
    // The engine has sent start before it answers the create's inspect.
    await new Promise((r) => setTimeout(r, 100));
    inspects[0]!.emit('release');
    await until(() => source.get(INO) !== undefined, 'the container placed in its namespace, without a refresh');
    assert.equal(source.get(INO)!.container_name, 'web');
    assert.equal(asked, 2, 'one inspect more, for the events that came while the first was answered');
    // Once placed, more events for it while nothing is in flight ask as before: once each.
    send('start');
    await until(() => asked === 3, 'the inspect of a later start');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(asked, 3);
  } finally {
    source.stop();
    events?.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}));
