// Script hooks' retries (docs/hooks.md, "Retries"): a non-zero exit (or one of retry_on) is tried
// again with backoff, the slot given back while it waits; other failures are final.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ScriptRunner, type ScriptHook } from '../src/hooks/actions/script.js';
import { RetryWaits } from '../src/hooks/retry.js';
import { compileCondition } from '../src/event/filter.js';
import { syntheticEvent } from '../src/event/make.js';
import { withTempDir } from './helpers/index.js';

function hook(dir: string, body: string, extra: Partial<ScriptHook> = {}): ScriptHook {
  const file = path.join(dir, 'h.sh');
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return {
    name: 'h', action: 'script', script: file, argv: [file], args: [], env: {}, capture_output: false, keep_children: false, files: [],
    condition: '', match: compileCondition(''), timeout_ms: 5000, enabled: true, async: true, ...extra,
  };
}

test('a script that exits 75 twice then 0 succeeds on its third attempt, its slot given back twice', () => withTempDir(async (dir) => {
  const h = hook(dir, `n=$(cat ${dir}/n 2>/dev/null || echo 0); echo $((n+1)) > ${dir}/n; [ $n -ge 2 ] || exit 75`, { retries: 3, retry_on: [75] });
  const runner = new ScriptRunner();
  const slot = { released: 0, acquired: 0, release() { this.released++; }, async acquire() { this.acquired++; } };
  const r = await runner.run(h, syntheticEvent('x', 'default'), slot);
  assert.deepEqual([r.outcome, r.exit_code, r.attempts, slot.released, slot.acquired], ['success', 0, 3, 2, 2]);
  assert.equal(fs.readFileSync(`${dir}/n`, 'utf8').trim(), '3');
}));

test('an exit not in retry_on, a timeout, and a script without retries are not tried again', () => withTempDir(async (dir) => {
  const runner = new ScriptRunner();
  const count = `n=$(cat ${dir}/n 2>/dev/null || echo 0); echo $((n+1)) > ${dir}/n`;
  const one = await runner.run(hook(dir, `${count}; exit 1`, { retries: 3, retry_on: [75] }), syntheticEvent('x', 'default'));
  assert.deepEqual([one.outcome, one.exit_code, one.attempts ?? 1], ['failure', 1, 1]);
  fs.rmSync(`${dir}/n`);
  const slow = await runner.run(hook(dir, `${count}; sleep 5`, { retries: 3, timeout_ms: 200 }), syntheticEvent('x', 'default'));
  assert.deepEqual([slow.outcome, slow.attempts ?? 1], ['timeout', 1]);
  fs.rmSync(`${dir}/n`);
  const none = await runner.run(hook(dir, `${count}; exit 2`), syntheticEvent('x', 'default'));
  assert.deepEqual([none.outcome, none.attempts ?? 1, fs.readFileSync(`${dir}/n`, 'utf8').trim()], ['failure', 1, '1']);
  fs.rmSync(`${dir}/n`);
  const all = await runner.run(hook(dir, `${count}; exit 9`, { retries: 2 }), syntheticEvent('x', 'default'));
  assert.deepEqual([all.outcome, all.attempts, all.error], ['failure', 3, 'exit code 9 after 3 attempts'], 'without retry_on every non-zero exit is retried');
}));

test('close() ends a run waiting to retry with its last attempt', () => withTempDir(async (dir) => {
  const runner = new ScriptRunner();
  const t0 = Date.now();
  const run = runner.run(hook(dir, 'exit 3', { retries: 10 }), syntheticEvent('x', 'default'));
  setTimeout(() => runner.close(), 50);
  const r = await run;
  assert.equal(r.outcome, 'failure');
  assert.ok(Date.now() - t0 < 2000, 'no further attempts after close');
}));

test('waits to retry share one timer: 2 000 waits wake in the order of their times, none early, each with its slot taken again; close() ends the rest at once', async () => {
  const waits = new RetryWaits();
  const woke: number[] = [];
  let released = 0;
  let acquired = 0;
  const slot = { release() { released++; }, async acquire() { acquired++; } };
  const ms = Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 20) * 25);
  // Each wait's time lies between the clock read before its call and after it (the machine may
  // stop this process in between).
  const earliest: number[] = [];
  const latest: number[] = [];
  const early: number[] = [];
  const all = ms.map((m, i) => {
    earliest[i] = performance.now() + m;
    const p = waits.wait(m, slot).then(() => {
      if (performance.now() < earliest[i]! - 2) early.push(i);
      woke.push(i);
    });
    latest[i] = performance.now() + m;
    return p;
  });
  const late = waits.wait(60_000).then(() => woke.push(-1));
  assert.equal(waits.size, 2001);
  await Promise.all(all);
  assert.equal(woke.length, 2000);
  assert.deepEqual(early, [], 'none woken before its time');
  // In the order of their times (within the timer's millisecond of grace): none woken after one
  // whose time was surely later.
  const out = woke.filter((i, k) => k > 0 && latest[i]! < earliest[woke[k - 1]!]! - 2);
  assert.deepEqual(out, [], 'woken by their times');
  assert.deepEqual([released, acquired], [2000, 2000]);
  const t0 = performance.now();
  waits.close();
  await late;
  assert.ok(performance.now() - t0 < 1000, 'the 60 s wait ended by close()');
  assert.equal(waits.size, 0);
  assert.ok(waits.closed);
});
