// The engine API client against the order a real engine's events and answers can come in
// (docs/events.md, "Containers"): Podman and Docker send `create`, `init` and `start` one after
// another, and an inspect asked at `create` can be answered after `start` came, with the state
// before it (no namespace yet). No root: a fake engine on a Unix socket.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { EngineSource } from '../src/containers/engine-api.js';
import { sleep, until, withTempDir } from './helpers/index.js';

const ID = 'a1'.repeat(32);
const NETNS = '/run/netns/netns-test';
const INO = 4026532999;

function inspect(started: boolean): string {
  return JSON.stringify({
    Id: ID, Name: '/web', Config: { Image: 'busybox', Labels: {} }, State: { Pid: 0, Status: started ? 'running' : 'created' },
    NetworkSettings: { SandboxKey: started ? NETNS : '' }, HostConfig: { NetworkMode: 'bridge' },
  });
}

/** An engine whose first inspect is held until the test releases it, then answered as of when it
 * was asked (or, with `placedFirst`, as started); later ones as the container is now. */
interface Engine {
  send(action: string): void;
  /** The container starts: inspects from now on place it. */
  start(): void;
  /** Answers the held first inspect. */
  release(): void;
  asked(): number;
  source: EngineSource;
}

async function withEngine(placedFirst: boolean, fn: (e: Engine) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const socket = path.join(dir, 'engine.sock');
    let events: http.ServerResponse | undefined;
    let started = false;
    let asked = 0;
    let held: (() => void) | undefined;
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
        if (asked > 1) return void res.end(inspect(started));
        const asOf = placedFirst || started;
        held = () => res.end(inspect(asOf));
        return;
      }
      res.statusCode = 404;
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(socket, r));
    const source = new EngineSource(socket, () => {}, () => {}, (p) => (p === NETNS ? INO : -1));
    try {
      await source.start();
      await until(() => events !== undefined, 'the event stream');
      await fn({
        send: (action) => events!.write(`${JSON.stringify({ Type: 'container', Action: action, Actor: { ID } })}\n`),
        start: () => { started = true; },
        release: () => held!(),
        asked: () => asked,
        source,
      });
    } finally {
      source.stop();
      events?.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
}

/** create, its inspect asked; then the container starts and init and start are sent before
 * that inspect is answered. */
async function startWhileAnswered(e: Engine): Promise<void> {
  e.send('create');
  await until(() => e.asked() === 1, 'the inspect asked at create');
  e.start();
  e.send('init');
  e.send('start');
  await sleep(100);
  e.release();
}

test('a start that comes while the create\'s inspect is answered has the container asked again, and placed in its namespace', () => withEngine(false, async (e) => {
  // The create's inspect is answered with no namespace in it.
  await startWhileAnswered(e);
  await until(() => e.source.get(INO) !== undefined, 'the container placed in its namespace, without a refresh');
  assert.equal(e.source.get(INO)!.container_name, 'web');
  assert.equal(e.asked(), 2, 'one inspect more, for the events that came while the first was answered');
  // Once placed, a later event while nothing is in flight asks as before: once.
  e.send('restart');
  await until(() => e.asked() === 3, 'the inspect of a later restart');
  await sleep(100);
  assert.equal(e.asked(), 3);
}));

test('events that come while an inspect is answered ask nothing more when that answer placed the container', () => withEngine(true, async (e) => {
  await startWhileAnswered(e);
  await until(() => e.source.get(INO) !== undefined, 'the container placed');
  await sleep(200);
  assert.equal(e.asked(), 1);
}));
