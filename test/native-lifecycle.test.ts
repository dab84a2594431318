// The addon's lifecycle: close is idempotent, and a worker thread that exits with a watcher
// still open is cleaned up by the environment cleanup hook without crashing the process.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { nativeBinding } from '../src/native/addon.js';

const noop = () => {};

test('a watcher on the default namespace opens, reports its buffer, and closes twice safely', () => {
  const w = nativeBinding().openWatcher({ netns: '', receiveBuffer: 1 << 20, onBatch: noop, onOverrun: noop, onError: noop });
  assert.ok(w.receiveBuffer >= 1 << 20 || w.receiveBuffer > 0);
  assert.ok(w.portId > 0);
  w.close();
  w.close();
  assert.throws(() => w.requestDump(1), /closed watcher/);
});

test('a missing namespace file is a Node-style error', () => {
  assert.throws(
    () => nativeBinding().openWatcher({ netns: '/nonexistent/netns', receiveBuffer: 65536, onBatch: noop, onOverrun: noop, onError: noop }),
    (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.syscall === 'open' && e.path === '/nonexistent/netns',
  );
});

test('worker threads: a watcher left open when the worker ends is cleaned up', async () => {
  const url = new URL('../src/native/addon.js', import.meta.url).href;
  for (let i = 0; i < 20; i++) {
    const worker = new Worker(`
      import(${JSON.stringify(url)}).then(({ nativeBinding }) => {
        const { parentPort } = require('node:worker_threads');
        const w = nativeBinding().openWatcher({ netns: '', receiveBuffer: 65536, onBatch() {}, onOverrun() {}, onError() {} });
        w.requestDump(1);
        parentPort.postMessage(w.portId);
      });`, { eval: true });
    const port = await new Promise<number>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    assert.ok(port > 0);
    assert.equal(await worker.terminate(), 1);
  }
});
