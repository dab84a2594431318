// Bench (README, "Measured"): hook start latency, end to end, and the throughput of each action
// next to its reference (a child_process.spawn loop, curl, a script hook).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { Monitor } from '../src/netlink/monitor.js';
import { DEFAULT_RECEIVE_BUFFER } from '../src/netlink/config.js';
import { HookScheduler } from '../src/hooks/scheduler.js';
import { ActionRunners, type HookConfig } from '../src/hooks/registry.js';
import { NativeHookRunner, type ScriptHook } from '../src/hooks/actions/script.js';
import { checkModule } from '../src/hooks/script-check.js';
import type { HookBase, ScriptRunResult } from '../src/hooks/action.js';
import type { NlEvent } from '../src/event/event.js';
import { compileCondition } from '../src/event/filter.js';
import { syntheticEvent } from '../src/event/make.js';
import { HOOKSTAMP, LINKBURST, ip, sleep } from '../test/helpers/index.js';
import { type BenchContext, median, pct, scriptHook, startDaemon } from './context.js';

/** Event received (batch handed to the core) → hook process started, at 100 events/s. */
export async function hookLatency(b: BenchContext): Promise<{ p50: number; p99: number; n: number }> {
  const { nsPath } = b;
  const received = new Map<number, number>();
  const latencies: number[] = [];
  const runner = new NativeHookRunner();
  const scripts = { run: (h: HookBase, e: NlEvent) => runner.run(h as ScriptHook, e) };
  const scheduler = new HookScheduler({ maxConcurrent: 10, queueLimit: 10000 }, scripts, {
    finished: (_h, e, r) => {
      const t = received.get(e.sequence);
      const spawnedAt = (r as ScriptRunResult).spawned_at;
      if (t !== undefined && Number.isFinite(spawnedAt)) latencies.push(spawnedAt - t);
    },
  });
  scheduler.setHooks([scriptHook('latency', { condition: "interface == 'b0'", match: compileCondition("interface == 'b0'") })]);
  const m = new Monitor({ namespaces: [nsPath], netnsDirs: [], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, {
    events: (events) => {
      const now = performance.now();
      for (const e of events) received.set(e.sequence, now);
      scheduler.submit(events);
    },
  });
  await m.start();
  const n = 500;
  await execa(LINKBURST, [nsPath, String(n), '100', 'b0']);
  for (let i = 0; i < 100 && latencies.length < n; i++) await sleep(50);
  m.stop();
  await scheduler.stop();
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), n: latencies.length };
}

/** /bin/true runs per second through the scheduler and the daemon's runner, 10 at a time;
 * with `storm`, a link burst runs meanwhile and the events it made are counted. */
export async function nlmonSpawnRate(b: BenchContext, runs: number, storm: number): Promise<{ rate: number; stormReceived: number }> {
  return actionRate(b, scriptHook('true'), runs, storm);
}

/** Runs of one hook through the scheduler and the daemon's runner, 10 at a time, with a burst of
 * `storm` link changes received meanwhile: runs per second, and the burst's events received.
 * The hook is loaded as the daemon loads its hooks (a module hook's worker started at load) and
 * one run goes first, untimed: what is timed is the runs, not the start. */
export async function actionRate(b: BenchContext, h: HookConfig, runs: number, storm: number): Promise<{ rate: number; stormReceived: number }> {
  const { nsPath } = b;
  let stormReceived = 0;
  const m = new Monitor({ namespaces: [nsPath], netnsDirs: [], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, { events: (events) => { stormReceived += events.length; } });
  await m.start();
  let done = 0;
  let wanted = 1;
  let allDone!: () => void;
  let finished = new Promise<void>((r) => { allDone = r; });
  const runner = new ActionRunners();
  let failed = 0;
  const scheduler = new HookScheduler({ maxConcurrent: 10, queueLimit: runs + 1 }, runner, {
    finished: (_h, _e, r) => {
      if (r.outcome !== 'success') failed++;
      if (++done === wanted) allDone();
    },
  });
  scheduler.setHooks([h]);
  runner.load([h]);
  const events = Array.from({ length: runs + 1 }, (_, i) => ({ ...syntheticEvent('x', 'bench'), sequence: i + 1 }));
  scheduler.submit(events.slice(0, 1));
  await finished;
  done = 0;
  wanted = runs;
  finished = new Promise<void>((r) => { allDone = r; });
  const t0 = performance.now();
  scheduler.submit(events.slice(1));
  const gen = storm ? execa(LINKBURST, [nsPath, String(storm), '0', 'b0']) : undefined;
  await finished;
  const rate = runs / ((performance.now() - t0) / 1000);
  if (gen) await gen;
  for (let last = -1; last !== stormReceived;) {
    last = stormReceived;
    await sleep(300);
  }
  m.stop();
  await scheduler.stop();
  runner.close();
  if (failed) throw new Error(`${h.name}: ${failed} of ${runs} runs failed`);
  return { rate, stormReceived };
}

/** A receiver fast enough not to be the limit: Node's http server in a process of its own. */
export async function startReceiver(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = execa(process.execPath, ['-e', `
    const http = require('node:http');
    const s = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => { req.resume(); req.on('end', () => res.writeHead(204).end()); });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));
  `], { reject: false, buffer: false });
  const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  return { url: `http://127.0.0.1:${port}/hook`, stop: async () => { child.kill('SIGTERM'); await child; } };
}

/** Module handler runs measured (issue 23's goal row: a median). */
export const MODULE_RUNS = 3;

export interface ActionRates { web: number; curl: number; module: number; moduleQuiet: number; webStorm: number; moduleStorm: number; storm: number }

/** Webhooks next to a curl script hook doing the same, with a link burst received meanwhile;
 * and a module handler, quiet and with the burst, next to a script hook measured the same way
 * (the hook throughput rows). */
export async function actionRates(b: BenchContext, storm: number): Promise<ActionRates> {
  const { tmp } = b;
  const rx = await startReceiver();
  const modFile = path.join(tmp, 'noop.mjs');
  fs.writeFileSync(modFile, 'export default function handle() {}\n');
  try {
    const base = { condition: '', match: compileCondition(''), timeout_ms: 30000, enabled: true, async: true };
    const web = await actionRate(b, { ...base, name: 'web', action: 'url', url: rx.url, method: 'POST', headers: {}, format: 'json', secret: Buffer.alloc(0), retries: 0 }, 5000, storm);
    const curlArgv = ['/usr/bin/curl', '-s', '-o', '/dev/null', '-X', 'POST', '-H', 'content-type: application/json', '--data-binary', '@-', rx.url];
    const curl = await actionRate(b, scriptHook('curl', { script: curlArgv.join(' '), argv: curlArgv, files: [] }), 1000, 0);
    // The goal's row: medians of MODULE_RUNS (under the burst, the fewest events received).
    // The module is checked as the daemon checks it without --allow-unsafe-scripts, so its
    // worker checks the file again before runs and guards what it loads, as a script's runs are
    // checked (scriptHook).
    const checked = checkModule(modFile, false);
    if ('problem' in checked) throw new Error(checked.problem);
    // Quiet, and with the burst, as the script hook's rows are measured (like for like).
    const hook: HookConfig = { ...base, name: 'module', action: 'module', module: modFile, files: checked.files, max_heap_mb: 128 };
    const mods: Array<{ rate: number; stormReceived: number }> = [];
    const quiet: number[] = [];
    for (let i = 0; i < MODULE_RUNS; i++) {
      quiet.push((await actionRate(b, hook, 20000, 0)).rate);
      mods.push(await actionRate(b, hook, 20000, storm));
    }
    const module = median(mods.map((m) => m.rate));
    return { web: web.rate, curl: curl.rate, module, moduleQuiet: median(quiet), webStorm: web.stormReceived, moduleStorm: Math.min(...mods.map((m) => m.stormReceived)), storm };
  } finally {
    await rx.stop();
  }
}

/** The reference: spawn('/bin/true') from the main thread, 10 in flight. */
export async function plainSpawnRate(runs: number): Promise<number> {
  const t1 = performance.now();
  await new Promise<void>((resolve) => {
    let started = 0;
    let ended = 0;
    const next = () => {
      if (started >= runs) return;
      started++;
      const c = spawn('/bin/true', [], { stdio: 'ignore' });
      c.once('exit', () => {
        if (++ended === runs) resolve();
        else next();
      });
    };
    for (let i = 0; i < 10; i++) next();
  });
  return runs / ((performance.now() - t1) / 1000);
}

/** `nlmon run` with the hook log and metrics on and a hook that writes a monotonic timestamp as
 * its first act: from the return of an `ip link set` command to that timestamp, as an operator
 * would see it. */
export async function endToEnd(b: BenchContext, n: number): Promise<{ startP50: number; startP99: number; p50: number; p99: number; n: number }> {
  const { ns, tmp } = b;
  const cfg = path.join(tmp, 'e2e.yaml');
  const stamps = path.join(tmp, 'stamps');
  const port = 20000 + (process.pid % 20000);
  ip('-n', ns, 'link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1');
  fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: [${ns}]\n  integration:\n    hook_log: ${tmp}/e2e-hook.log\n    hooks:\n      - name: stamp\n        script: ${HOOKSTAMP} ${stamps}\n        condition: "interface == 'e0' AND event IN [link_up, link_down]"\n        async: true\n  control:\n    socket: ${tmp}/e2e.sock\n  metrics:\n    listen: 127.0.0.1:${port}\n`);
  const { child } = await startDaemon(cfg, ['--allow-unsafe-scripts']);
  const fromStart: number[] = [];
  const fromReturn: number[] = [];
  const stampLines = () => (fs.existsSync(stamps) ? fs.readFileSync(stamps, 'utf8').split('\n').filter(Boolean) : []);
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint();
    execaSync('ip', ['-n', ns, 'link', 'set', 'e0', i % 2 === 0 ? 'up' : 'down']);
    const returned = process.hrtime.bigint();
    let got: string[] = [];
    for (let t = 0; t < 2000 && (got = stampLines()).length <= i; t++) await sleep(1);
    const line = got[i];
    if (line) {
      const at = BigInt(line.split(' ')[1]!);
      fromStart.push(Number(at - started) / 1e6);
      fromReturn.push(Number(at - returned) / 1e6);
    }
    await sleep(10);
  }
  child.kill('SIGTERM');
  await child;
  ip('-n', ns, 'link', 'del', 'e0');
  return { startP50: pct(fromStart, 50), startP99: pct(fromStart, 99), p50: pct(fromReturn, 50), p99: pct(fromReturn, 99), n: fromStart.length };
}
