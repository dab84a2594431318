// The addon's lifecycle: close is idempotent, the read-ahead queue delivers in order and a watcher
// closed with a queue held does not stop the reader, a worker thread that exits with a watcher still
// open is cleaned up by the environment cleanup hook without crashing the process, and hooks a
// worker spawned without hearing of them are killed and reaped.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { nativeBinding, type NativeRecord } from '../src/native/addon.js';
import { until } from './helpers/index.js';

const noop = () => {};

test('a watcher on the default namespace opens, reports its buffer, and closes twice safely', () => {
  const w = nativeBinding().openWatcher({ netns: '', receiveBuffer: 1 << 20, onBatch: noop, onOverrun: noop, onError: noop });
  // The kernel doubles what it is given (socket(7)): with CAP_NET_ADMIN SO_RCVBUFFORCE grants
  // the whole request; without it, SO_RCVBUF is capped at net.core.rmem_max.
  const rmemMax = Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const want = process.getuid?.() === 0 ? 2 << 20 : 2 * Math.min(1 << 20, rmemMax);
  assert.equal(w.receiveBuffer, want, 'twice the buffer asked for, as the kernel keeps it');
  assert.ok(w.portId > 0);
  w.close();
  w.close();
  assert.throws(() => w.requestDump(1), /closed watcher/);
});

/** Blocks this thread (the event loop) for ms: the reader thread reads ahead meanwhile. */
const block = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

test('read-ahead: a dump read while the event loop is blocked comes in order; a watcher closed with a queue held leaves the reader serving the others', async () => {
  // Dumps of this namespace's links (read, never changed), on sockets with a small buffer.
  const open = (records: NativeRecord[]) => nativeBinding().openWatcher({ netns: '', receiveBuffer: 4096, onBatch: (r) => records.push(...r), onOverrun: noop, onError: noop });
  const held: NativeRecord[] = [];
  const w1 = open(held);
  w1.requestDump(1);
  block(100);
  const s1 = w1.stats();
  assert.ok(s1.readAhead > 0 && s1.readAheadPeak > 0, `the reader read ahead: ${JSON.stringify(s1)}`);
  w1.close(); // with its queue still held
  const records: NativeRecord[] = [];
  const w2 = open(records);
  try {
    w2.requestDump(2);
    block(100);
    await until(() => records.some((r) => r.kind === 'done' && r.seq === 2), 'the second dump, through the reader');
    const links = records.filter((r) => r.kind === 'link');
    assert.ok(links.length > 0 && links.every((r) => r.dump && r.seq === 2));
    assert.equal(records.at(-1)!.kind, 'done', 'the end of the dump comes after its links');
    assert.ok(w2.stats().readAhead > 0);
  } finally {
    w2.close();
  }
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

/** This process's children that are zombies or still run `sleep 31.5`. */
function leftovers(): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (Number(fields[1]) === process.pid && fields[0] === 'Z') out.push(`${pid} zombie`);
      else if (cmd === 'sleep 31.5') out.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('worker threads: hooks spawned by a worker that ends before hearing of them are killed and reaped, their descriptors closed', async () => {
  const url = new URL('../src/native/addon.js', import.meta.url).href;
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 0; i < 20; i++) {
    // The worker ends in the turn it asked for the spawns: their callbacks can never run, so
    // the children (spawned, or spawning when it ends) are the addon's to end and reap.
    const worker = new Worker(`
      import(${JSON.stringify(url)}).then(({ nativeBinding }) => {
        const b = nativeBinding();
        for (let j = 0; j < 4; j++) b.spawnHook({ file: '/bin/sleep', argv: ['sleep', '31.5'], env: [], stdin: '', capture: true }).catch(() => {});
        process.exit(0);
      });`, { eval: true });
    await new Promise((resolve) => worker.once('exit', resolve));
  }
  await until(() => leftovers().length === 0, `no hook left running or unreaped (${leftovers().join(', ')})`, 10000);
  await until(() => fds() <= before, `no descriptor left open (${fds()} against ${before})`, 10000);
});
