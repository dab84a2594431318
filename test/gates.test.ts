// debounce_ms, max_delay_ms, min_interval_ms and burst (docs/hooks.md, "Debounce and pacing") on
// a virtual clock: what runs, when, and what it stands for.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Gates, coalescedOf } from '../src/hooks/gates.js';
import { VirtualClock } from '../src/hooks/virtual-clock.js';
import type { Job } from '../src/hooks/key-order.js';
import type { HookBase } from '../src/hooks/action.js';
import type { NlEvent } from '../src/event/event.js';
import { compileCondition } from '../src/event/filter.js';

const hook = (extra: Partial<HookBase>): HookBase => ({ name: 'h', action: 'script', condition: '', match: compileCondition(''), timeout_ms: 1000, enabled: true, async: true, ...extra });
const event = (sequence: number, iface = 'a') => ({ sequence, interface: iface }) as unknown as NlEvent;

function harness(limit = 100) {
  const clock = new VirtualClock(1000);
  const passed: Array<{ at: number; seq: number; count: number; first: number; key?: string }> = [];
  const dropped: number[] = [];
  const gates = new Gates((job) => {
    const c = coalescedOf(job.event);
    passed.push({ at: clock.now(), seq: job.event.sequence, count: c.count, first: c.first_sequence, ...(job.key ? { key: job.key } : {}) });
  }, (job) => dropped.push(job.event.sequence), () => limit, clock);
  const job = (h: HookBase, seq: number, key?: string): Job => ({ hook: h, event: event(seq), release: undefined, ...(key ? { key } : {}) });
  return { clock, passed, dropped, gates, job };
}

test('debounce: events of a key within debounce_ms are one run with the latest event, when the key is quiet', () => {
  const { clock, passed, gates, job } = harness();
  const h = hook({ debounce_ms: 300 });
  for (let i = 1; i <= 10; i++) {
    gates.submit(job(h, i, 'x'));
    clock.advance(clock.now() + 20);
  }
  gates.submit(job(h, 11, 'y'));
  assert.equal(gates.waitingOf('h'), 2);
  // x's last event came at 1180, y's at 1200.
  clock.advance(1479);
  assert.deepEqual(passed, [], 'nothing before a key has been quiet for 300 ms');
  clock.advance(2500);
  assert.deepEqual(passed, [
    { at: 1480, seq: 10, count: 10, first: 1, key: 'x' },
    { at: 1500, seq: 11, count: 1, first: 11, key: 'y' },
  ]);
  assert.equal(gates.foldedOf('h'), 9);
  assert.equal(gates.waitingOf('h'), 0);
});

test('max_delay_ms: a key that never settles still runs, max_delay_ms after its first event', () => {
  const { clock, passed, gates, job } = harness();
  const h = hook({ debounce_ms: 100, max_delay_ms: 250 });
  for (let i = 1; i <= 20; i++) {
    gates.submit(job(h, i, 'x'));
    clock.advance(clock.now() + 50);
  }
  clock.runAll();
  assert.deepEqual(passed.map((p) => [p.at - 1000, p.first, p.seq, p.count]), [[250, 1, 5, 5], [500, 6, 10, 5], [750, 11, 15, 5], [1000, 16, 20, 5]].map(([at, first, seq, count]) => [at, first, seq, count]));
});

test('debounce keys are bounded by queue_limit: past it the oldest key runs at once', () => {
  const { clock, passed, gates, job } = harness(2);
  const h = hook({ debounce_ms: 1000 });
  gates.submit(job(h, 1, 'a'));
  gates.submit(job(h, 2, 'b'));
  gates.submit(job(h, 3, 'c'));
  assert.deepEqual(passed.map((p) => p.key), ['a'], 'a ran early to make room');
  assert.equal(gates.waitingOf('h'), 2);
  clock.runAll();
  assert.deepEqual(passed.map((p) => p.key), ['a', 'b', 'c']);
});

test('min_interval_ms with burst: burst runs at once, then one per interval, in order; past queue_limit the oldest waiting is dropped', () => {
  const { clock, passed, dropped, gates, job } = harness(3);
  const h = hook({ min_interval_ms: 100, burst: 2 });
  for (let i = 1; i <= 7; i++) gates.submit(job(h, i));
  assert.deepEqual(passed.map((p) => p.seq), [1, 2], 'the burst');
  assert.deepEqual(dropped, [3, 4], 'three may wait: the oldest two of five were dropped');
  clock.advance(1099);
  assert.equal(passed.length, 2);
  clock.advance(1100);
  assert.deepEqual(passed.map((p) => [p.seq, p.at - 1000]), [[1, 0], [2, 0], [5, 100]]);
  clock.runAll();
  assert.deepEqual(passed.map((p) => [p.seq, p.at - 1000]), [[1, 0], [2, 0], [5, 100], [6, 200], [7, 300]]);
  // Quiet long enough, the bucket is full again.
  clock.advance(clock.now() + 1000);
  gates.submit(job(h, 8));
  gates.submit(job(h, 9));
  assert.deepEqual(passed.slice(-2).map((p) => p.seq), [8, 9]);
});

test('debounce then pacing: a debounced run waits for its interval too; drain() hands back every waiting run', () => {
  const { clock, passed, gates, job } = harness();
  const h = hook({ debounce_ms: 50, min_interval_ms: 1000 });
  gates.submit(job(h, 1, 'a'));
  clock.advance(1100);
  gates.submit(job(h, 2, 'b'));
  clock.advance(1200);
  assert.deepEqual(passed.map((p) => p.seq), [1]);
  assert.equal(gates.waitingOf('h'), 1, 'b waits for its interval');
  gates.submit(job(h, 3, 'c'));
  assert.deepEqual(gates.drain().map((j) => j.event.sequence).sort(), [2, 3]);
  clock.runAll();
  assert.deepEqual(passed.map((p) => p.seq), [1]);
});
