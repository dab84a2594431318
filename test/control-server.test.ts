// The control socket's HTTP handling (docs/cli.md), with an API of the test's own: a request's
// body is read as UTF-8 across its chunks.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { ControlServer } from '../src/daemon/control-server.js';
import type { ControlApi } from '../src/daemon/control-api.js';
import type { NewHook } from '../src/daemon/config-edit.js';
import type { HookStatus } from '../src/hooks/scheduler.js';
import { sleep, withTempDir } from './helpers/index.js';

test('a body whose character is split between two chunks reaches the API whole', () => withTempDir(async (dir) => {
  const added: NewHook[] = [];
  const api = {
    addHook: (h: NewHook) => {
      added.push(h);
      return { name: h.name } as HookStatus;
    },
  } as unknown as ControlApi;
  const file = path.join(dir, 'nlmon.sock');
  const server = await ControlServer.listen(file, api);
  try {
    const body = Buffer.from(JSON.stringify({ name: 'h', script: '/bin/true', condition: "alias == 'café'" }));
    const split = body.indexOf(Buffer.from('é')) + 1; // between the two bytes of é
    const answer = await new Promise<string>((resolve, reject) => {
      const c = net.connect(file);
      let got = '';
      c.on('data', (d) => { got += d; });
      c.on('end', () => resolve(got));
      c.on('error', reject);
      c.on('connect', async () => {
        c.write(`POST /v1/hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        c.write(body.subarray(0, split));
        await sleep(100);
        c.write(body.subarray(split));
      });
    });
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.equal(added.length, 1);
    assert.equal(added[0]!.condition, "alias == 'café'");
  } finally {
    await server.close();
  }
}));
