// HookScheduler on a fake runner: the concurrency limit, drop-oldest past queue_limit, sync
// ordering, enable/disable, and stop.
import test from 'node:test';
import assert from 'node:assert/strict';
import { HookScheduler } from '../src/hooks/scheduler.js';
import type { HookConfig } from '../src/hooks/registry.js';
import type { HookBase, HookRunner, RunResult, RunSlot, ScriptRunResult } from '../src/hooks/action.js';
import { compileCondition } from '../src/event/filter.js';
import { syntheticEvent } from '../src/event/make.js';
import type { NlEvent } from '../src/event/event.js';

class FakeRunner implements HookRunner {
  running = 0;
  maxRunning = 0;
  readonly started: string[] = [];
  private readonly finishers: Array<() => void> = [];
  run(hook: HookBase, e: NlEvent): Promise<ScriptRunResult> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    this.started.push(`${hook.name}#${e.sequence}`);
    return new Promise((resolve) => this.finishers.push(() => {
      this.running--;
      resolve({ outcome: e.sequence % 5 === 0 ? 'failure' : 'success', exit_code: e.sequence % 5 === 0 ? 3 : 0, signal: null, duration_ms: e.sequence, spawned_at: NaN, error: '', stdout: '', stderr: '' });
    }));
  }
  /** Ends the oldest running run. */
  async finishOne(): Promise<void> {
    this.finishers.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  get waiting(): number { return this.finishers.length; }
}

function hook(name: string, over: Partial<HookConfig> = {}): HookConfig {
  return {
    name, action: 'script', script: `/bin/${name}`, argv: [`/bin/${name}`], condition: '', match: compileCondition(over.condition ?? ''),
    timeout_ms: 1000, enabled: true, async: true, args: [], env: {}, capture_output: false, keep_children: false, files: [], ...over,
  } as HookConfig;
}

const events = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ ...syntheticEvent(`veth${from + i}`, 'default'), sequence: from + i }));

test('never more than max_concurrent at once; all run in the end', async () => {
  const runner = new FakeRunner();
  const s = new HookScheduler({ maxConcurrent: 2, queueLimit: 100 }, runner);
  s.setHooks([hook('slow')]);
  s.submit(events(1, 10));
  assert.equal(runner.running, 2);
  assert.equal(s.queueDepth, 8);
  assert.equal(s.status()[0]!.queued, 8);
  assert.equal(s.status()[0]!.running, 2);
  while (runner.waiting) await runner.finishOne();
  assert.equal(runner.maxRunning, 2);
  assert.deepEqual(runner.started, events(1, 10).map((e) => `slow#${e.sequence}`));
  const st = s.status()[0]!;
  assert.equal(st.executions, 10);
  assert.equal(st.successes, 8);
  assert.equal(st.failures, 2);
  assert.equal(st.min_ms, 1);
  assert.equal(st.max_ms, 10);
  assert.equal(st.avg_ms, 5.5);
  assert.equal(st.total_ms, 55);
  assert.equal(st.p50_ms, 5);
  assert.equal(st.p95_ms, 10);
  assert.equal(st.last_exit_code, 3, 'the last run (#10) failed with 3');
  assert.equal(st.running + st.queued, 0);
});

test('past queue_limit the oldest waiting run is dropped and counted', async () => {
  const runner = new FakeRunner();
  const dropped: number[] = [];
  const s = new HookScheduler({ maxConcurrent: 1, queueLimit: 3 }, runner, { dropped: (_h, e) => dropped.push(e.sequence) });
  s.setHooks([hook('h')]);
  s.submit(events(1, 8));
  assert.deepEqual(dropped, [2, 3, 4, 5]);
  assert.equal(s.status()[0]!.dropped, 4);
  while (runner.waiting) await runner.finishOne();
  assert.deepEqual(runner.started, ['h#1', 'h#6', 'h#7', 'h#8']);
});

test('a sync hook holds back later events; async hooks of the same event still run', async () => {
  const runner = new FakeRunner();
  const s = new HookScheduler({ maxConcurrent: 10, queueLimit: 100 }, runner);
  s.setHooks([hook('sync', { async: false }), hook('bg', { condition: 'sequence > 1' })]);
  s.submit(events(1, 3));
  assert.deepEqual(runner.started, ['sync#1'], 'event 2 waits for sync#1');
  assert.equal(s.backlog, 2);
  await runner.finishOne();
  assert.deepEqual(runner.started, ['sync#1', 'sync#2', 'bg#2']);
  await runner.finishOne();
  await runner.finishOne();
  assert.deepEqual(runner.started, ['sync#1', 'sync#2', 'bg#2', 'sync#3', 'bg#3']);
  while (runner.waiting) await runner.finishOne();
  assert.equal(s.backlog, 0);
});

test('disable and enable take effect at once; reset-stats keeps live counts', async () => {
  const runner = new FakeRunner();
  const s = new HookScheduler({ maxConcurrent: 10, queueLimit: 100 }, runner);
  s.setHooks([hook('a'), hook('b')]);
  assert.equal(s.setEnabled('a', false), true);
  assert.equal(s.setEnabled('nope', false), false);
  s.submit(events(1, 1));
  assert.deepEqual(runner.started, ['b#1']);
  s.setEnabled('a', true);
  s.submit(events(2, 1));
  assert.deepEqual(runner.started, ['b#1', 'a#2', 'b#2']);
  s.resetStats('b');
  assert.equal(s.status()[1]!.running, 2);
  while (runner.waiting) await runner.finishOne();
  assert.equal(s.status()[1]!.running, 0);
  assert.equal(s.status()[1]!.executions, 2);
});

test('stop drops what waits and resolves when running runs end', async () => {
  const runner = new FakeRunner();
  const s = new HookScheduler({ maxConcurrent: 1, queueLimit: 100 }, runner);
  s.setHooks([hook('h')]);
  s.submit(events(1, 4));
  let stopped = false;
  const p = s.stop().then(() => { stopped = true; });
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'waits for the running run');
  assert.equal(s.status()[0]!.dropped, 3);
  await runner.finishOne();
  await p;
  assert.equal(stopped, true);
  s.submit(events(9, 1));
  assert.equal(runner.started.length, 1, 'no runs after stop');
});

test('RateLimitedLog lets one line of a kind through per interval and counts the rest', async () => {
  const { RateLimitedLog } = await import('../src/daemon/logger.js');
  let now = 0;
  const out: string[] = [];
  const log = new RateLimitedLog((level, m) => out.push(`${level} ${m}`), 60_000, () => now);
  for (let i = 0; i < 5000; i++) log.log('h dropped', 'warn', `dropped #${i}`);
  log.log('other', 'warn', 'other kind');
  assert.deepEqual(out, ['warn dropped #0', 'warn other kind']);
  now = 61_000;
  log.log('h dropped', 'warn', 'dropped #5000');
  assert.equal(out.at(-1), 'warn dropped #5000 (4999 more like this in the last 61 s not logged)');
});

test('the stderr logger survives a broken stderr', async () => {
  const { stderrLogger } = await import('../src/daemon/logger.js');
  let onError: ((e: Error) => void) | undefined;
  let writes = 0;
  const sink = {
    write: () => { writes++; if (writes === 2) onError!(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })); if (writes > 2) throw new Error('write after EPIPE'); return true; },
    on: (_: 'error', l: (e: Error) => void) => { onError = l; },
  };
  const log = stderrLogger('text', sink);
  log('info', 'one');
  log('info', 'two');
  log('info', 'three');
  assert.equal(writes, 2, 'nothing is written once the sink is broken');
});

/** A runner whose runs of `hung` never end, and whose runs of `retry` give their slot back and
 * wait to retry until `wake()`; every other run ends at once. */
class HostileRunner implements HookRunner {
  readonly started: string[] = [];
  private readonly sleepers: Array<() => void> = [];
  run(hook: HookBase, e: NlEvent, slot?: RunSlot): Promise<RunResult> {
    this.started.push(`${hook.name}#${e.sequence}`);
    const ok: RunResult = { outcome: 'success', duration_ms: 1, error: '', stdout: '', stderr: '' };
    if (hook.name.startsWith('hung')) return new Promise(() => {});
    if (hook.name.startsWith('retry')) {
      return (async () => {
        slot!.release();
        await new Promise<void>((r) => this.sleepers.push(r));
        await slot!.acquire();
        return ok;
      })();
    }
    return new Promise((r) => setImmediate(() => r(ok)));
  }
  wake(): void {
    for (const w of this.sleepers.splice(0)) w();
  }
}

const settle = () => new Promise((r) => setTimeout(r, 20));

test('a hung hook holds at most its share of max_concurrent: half beside other hooks, or its own max_concurrent', async () => {
  const runner = new HostileRunner();
  const s = new HookScheduler({ maxConcurrent: 4, queueLimit: 100 }, runner);
  s.setHooks([hook('hung'), hook('script')]);
  s.submit(events(1, 10));
  await settle();
  const st = Object.fromEntries(s.status().map((h) => [h.name, h]));
  assert.equal(st.hung!.running, 2, 'half of 4');
  assert.equal(st.hung!.queued, 8);
  assert.equal(st.script!.executions, 10, 'every script run ran beside the hung hook');
  const own = new HookScheduler({ maxConcurrent: 4, queueLimit: 100 }, new HostileRunner());
  own.setHooks([hook('hung', { max_concurrent: 1 }), hook('script')]);
  own.submit(events(1, 3));
  await settle();
  assert.equal(own.status()[0]!.running, 1);
  const alone = new HookScheduler({ maxConcurrent: 4, queueLimit: 100 }, new HostileRunner());
  alone.setHooks([hook('hung')]);
  alone.submit(events(1, 6));
  assert.equal(alone.status()[0]!.running, 4, 'a hook alone may use every slot');
});

test('runs waiting to retry count against queue_limit (the hook\'s, then the daemon\'s); what does not fit is dropped and counted', async () => {
  const runner = new HostileRunner();
  const why: string[] = [];
  const s = new HookScheduler({ maxConcurrent: 2, queueLimit: 100 }, runner, { dropped: (_h, _e, w) => why.push(w) });
  s.setHooks([hook('retry', { queue_limit: 5 })]);
  s.submit(events(1, 20));
  await settle();
  const st = s.status()[0]!;
  assert.equal(st.retrying + st.queued, 5, 'at most 5 waiting in all');
  assert.equal(st.dropped, 15);
  assert.match(why[0]!, /queue_limit 5 of hook retry reached/);
  const daemonWide = new HookScheduler({ maxConcurrent: 2, queueLimit: 6 }, new HostileRunner());
  daemonWide.setHooks([hook('retry')]);
  daemonWide.submit(events(1, 20));
  await settle();
  const d = daemonWide.status()[0]!;
  assert.ok(d.retrying + d.queued <= 6, `${d.retrying} retrying + ${d.queued} queued within the daemon's 6`);
  assert.equal(d.dropped, 20 - d.retrying - d.queued);
});

test('retries and new runs take turns for a slot: neither starves the other', async () => {
  const runner = new HostileRunner();
  const s = new HookScheduler({ maxConcurrent: 1, queueLimit: 100 }, runner);
  s.setHooks([hook('retry', { async: true }), hook('script', { async: true, max_concurrent: 1 })]);
  s.submit(events(1, 4));
  await settle();
  runner.wake();
  s.submit(events(5, 4));
  await settle();
  runner.wake();
  await settle();
  runner.wake();
  await settle();
  const st = Object.fromEntries(s.status().map((h) => [h.name, h]));
  assert.equal(st.script!.executions, 8, 'every new script run ran');
  assert.equal(st.retry!.executions, 8, 'every retry got its slot back');
});

test('events held behind a sync hook are bounded by backlog_limit: the oldest are dropped and counted', async () => {
  const runner = new HostileRunner();
  const counts: number[] = [];
  const s = new HookScheduler({ maxConcurrent: 4, queueLimit: 100, backlogLimit: 3 }, runner, { backlogDropped: (n) => counts.push(n) });
  s.setHooks([hook('hung', { async: false })]);
  s.submit(events(1, 10));
  assert.equal(s.backlog, 3);
  assert.equal(s.backlogDropped, 6);
  assert.equal(counts.at(-1), 6);
});

test('order_by: runs of one key start one after another in event order; other keys run meanwhile; waiting runs count as queued', async () => {
  const runner = new FakeRunner();
  const s = new HookScheduler({ maxConcurrent: 10, queueLimit: 100 }, runner);
  s.setHooks([hook('o', { order_by: ['interface'] })]);
  const on = (seq: number, iface: string) => ({ ...syntheticEvent(iface, 'default'), sequence: seq });
  s.submit([on(1, 'x'), on(2, 'y'), on(3, 'x'), on(4, 'x'), on(5, 'y')]);
  assert.deepEqual(runner.started, ['o#1', 'o#2'], 'one run per key at a time');
  assert.equal(s.status()[0]!.queued, 3);
  await runner.finishOne(); // o#1
  assert.deepEqual(runner.started, ['o#1', 'o#2', 'o#3']);
  await runner.finishOne(); // o#2
  assert.deepEqual(runner.started, ['o#1', 'o#2', 'o#3', 'o#5']);
  while (runner.waiting) await runner.finishOne();
  assert.deepEqual(runner.started, ['o#1', 'o#2', 'o#3', 'o#5', 'o#4']);
  assert.equal(s.status()[0]!.queued, 0);
  assert.equal(s.status()[0]!.executions, 5);
});
