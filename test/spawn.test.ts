// Starting hooks when exec is slow or stuck: the deadline runs from dispatch, a late process is
// killed as soon as its spawn returns, and spawning has threads of its own (not libuv's pool, so
// file writes never wait behind a stuck exec, and a busy pool never delays a hook).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { NativeHookRunner, type ScriptHook } from '../src/hooks/actions/script.js';
import { ActionRunners } from '../src/hooks/registry.js';
import type { ScriptRunResult } from '../src/hooks/action.js';
import { compileCondition } from '../src/event/filter.js';
import { nativeBinding, type SpawnedChild, type SpawnRequest } from '../src/native/addon.js';
import { syntheticEvent } from '../src/event/make.js';
import type { NlEvent } from '../src/event/event.js';
import { FakeBinding } from './helpers/fake-binding.js';
import { alive, sleep, until, withTempDir } from './helpers/index.js';


/** A binding whose spawns return `delayMs` late, as an exec stuck on a slow mount would. */
class SlowSpawnBinding extends FakeBinding {
  spawned: SpawnedChild[] = [];
  constructor(private readonly delayMs: number) {
    super();
  }
  override async spawnHook(req: SpawnRequest): Promise<SpawnedChild> {
    await sleep(this.delayMs);
    const c = await nativeBinding().spawnHook(req);
    this.spawned.push(c);
    return c;
  }
}

test('a spawn that returns after timeout_ms is a timeout at the deadline, and its process is killed when it appears', async () => {
  const binding = new SlowSpawnBinding(600);
  const runner = new NativeHookRunner(binding);
  const hook = { name: 'slow', argv: ['/bin/sleep', '30'], env: {}, timeout_ms: 100, capture_output: true, keep_children: false };
  const r = await runner.run(hook, syntheticEvent('x', 'default'));
  assert.equal(r.outcome, 'timeout');
  assert.match(r.error, /killed after timeout_ms 100 \(the program had not even started\)/);
  assert.equal(binding.spawned.length, 0, 'the run ended before the spawn returned');
  await until(() => binding.spawned.length === 1, 'the late spawn');
  await until(() => !alive(binding.spawned[0]!.pid), 'the late process to be killed');
});

test('hooks start while every thread of libuv\'s pool is blocked', async () => withTempDir(async (dir) => {
  const fifos = [0, 1, 2, 3].map((i) => path.join(dir, `fifo${i}`));
  for (const f of fifos) execaSync('mkfifo', [f]);
  // Opening a FIFO for reading blocks until a writer comes: four of them hold the whole pool.
  const blocked = fifos.map((f) => fs.promises.open(f, 'r'));
  try {
    await sleep(100);
    const spawned = nativeBinding().spawnHook({ file: '/bin/true', argv: ['true'], env: [], stdin: '', capture: false });
    const result = await Promise.race([spawned, sleep(5000).then(() => 'stuck' as const)]);
    assert.notEqual(result, 'stuck', 'the spawn waited behind the blocked pool');
    const child = result as SpawnedChild;
    const code = await new Promise<number>((resolve) => nativeBinding().watchExit(child.pid, child.pidfd, (c) => resolve(c)));
    assert.equal(code, 0);
  } finally {
    for (const f of fifos) fs.closeSync(fs.openSync(f, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    for (const h of await Promise.all(blocked)) await h.close();
  }
}));

test('every event field reaches a script hook as its own variable: a rename\'s old name, what changed, the MTU, booleans as 1/0', () => withTempDir(async (dir) => {
  const out = path.join(dir, 'env');
  const script = path.join(dir, 'env.sh');
  fs.writeFileSync(script, `#!/bin/sh\necho "$NLMON_EVENT $NLMON_OLD_INTERFACE>$NLMON_INTERFACE changed=$NLMON_CHANGED mtu=$NLMON_MTU up=$NLMON_UP address=$NLMON_ADDRESS alias=$NLMON_ALIAS master=$NLMON_MASTER" > ${out}\n`, { mode: 0o755 });
  const e: NlEvent = {
    ...syntheticEvent('wan0', 'default'), event: 'link_renamed', event_type: 6, old_interface: 'eth1', changed: ['interface', 'mtu'],
    mtu: 9000, up: true, address: '52:54:00:12:34:56', alias: 'uplink', master: 7,
  };
  const r = await new NativeHookRunner().run({ name: 'env', argv: [script], env: {}, timeout_ms: 5000, capture_output: false }, e);
  assert.equal(r.outcome, 'success');
  assert.equal(fs.readFileSync(out, 'utf8'), 'link_renamed eth1>wan0 changed=interface,mtu mtu=9000 up=1 address=52:54:00:12:34:56 alias=uplink master=7\n');
}));

test('a daemon that exits before its runs end kills their process groups: the script and what it left in the background', () => withTempDir(async (dir) => {
  const file = path.join(dir, 'h.sh');
  fs.writeFileSync(file, `#!/bin/sh\nsleep 300 &\necho $! > ${dir}/bg\nwait\n`, { mode: 0o755 });
  const runners = new ActionRunners();
  const hook = {
    name: 'long', action: 'script', script: file, argv: [file], args: [], env: {}, capture_output: false, keep_children: true, files: [],
    condition: '', match: compileCondition(''), timeout_ms: 600_000, enabled: true, async: true,
  } as ScriptHook;
  assert.equal(runners.abandon(), 0, 'nothing runs yet');
  const run = runners.run(hook, syntheticEvent('x', 'default'));
  await until(() => fs.existsSync(`${dir}/bg`) && fs.readFileSync(`${dir}/bg`, 'utf8').endsWith('\n'), 'the script to start its background child');
  const bg = Number(fs.readFileSync(`${dir}/bg`, 'utf8'));
  assert.ok(alive(bg));
  assert.equal(runners.abandon(), 1);
  const r = await run;
  assert.deepEqual([r.outcome, (r as ScriptRunResult).signal], ['failure', 'SIGKILL']);
  await until(() => !alive(bg), 'the background child, in the run\'s group, to die');
  assert.equal(runners.abandon(), 0, 'an ended run is forgotten');
}));
