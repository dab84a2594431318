// `npm run bench` (README, "Measured"): one table, measured in one run, nlmon next to `ip monitor link`
// and a plain child_process.spawn loop, on link changes made in a private namespace.
// Needs root. Takes a few minutes; prints progress on stderr and the table on stdout.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { Monitor } from '../src/netlink/monitor.js';
import { DEFAULT_RECEIVE_BUFFER } from '../src/config/defaults.js';
import { HookScheduler } from '../src/hooks/scheduler.js';
import { ActionRunner } from '../src/hooks/actions.js';
import { NativeHookRunner } from '../src/hooks/actions/script.js';
import { checkScript } from '../src/hooks/script-check.js';
import { compileCondition } from '../src/event/filter.js';
import { syntheticEvent } from '../src/event/make.js';
import type { HookConfig } from '../src/hooks/hook.js';
import type { NlEvent } from '../src/event/event.js';
import { HOOKSTAMP, LINKBURST, NLMON, cpuSeconds, ip, kernelLinks, linkburst, nlmonSync, sleep, statusKb, tableLinks, until } from '../test/helpers/index.js';
import type { StatusReport } from '../src/daemon/control-api.js';
import { execaSync } from 'execa';
import { needsPodman, withPodman } from '../test/helpers/podman.js';
import { needsNats, readStream, withNats, type StreamMessage } from '../test/helpers/nats.js';
import { api } from '../src/cli/control-client.js';

const BURST = Number(process.env.NLMON_BENCH_BURST ?? 100000);
const RUNS = Number(process.env.NLMON_BENCH_RUNS ?? 3);
const CONTAINERS = Number(process.env.NLMON_BENCH_CONTAINERS ?? 50);
/** `nats`: only the nats output rows (a quick look while working on it). */
const ONLY = process.env.NLMON_BENCH_ONLY ?? '';
/** Events/s offered to the nats output in its paced run. */
const NATS_PACED = 30000;

const ns = `nlmon-bench-${process.pid}`;
const nsPath = `/var/run/netns/${ns}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nlmon-bench-'));

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

function countLines(file: string): number {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let n = 0;
  for (let got; (got = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) {
    for (let i = 0; i < got; i++) if (buf[i] === 10) n++;
  }
  fs.closeSync(fd);
  return n;
}

async function waitQuiet(file: string, want: number, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const size = fs.statSync(file).size;
    if (size !== last) {
      last = size;
      stableSince = Date.now();
    }
    const n = countLines(file);
    if (n >= want || Date.now() - stableSince > 1500 || Date.now() > end) return n;
    await sleep(100);
  }
}

interface IntakeRun {
  received: number; cpuUsPerEvent: number; peakRssMb: number;
  /** nlmon monitor: events received per second, from the first event's receipt time to the last's. */
  rate?: number;
}

type IntakeTool = 'nlmon' | 'ip' | 'daemon' | 'daemon-nocontainers' | 'nlmon-addr' | 'ip-addr';

/** `nlmon run` on this namespace with one hook that never matches: the daemon's intake path
 * (monitor, metrics counting, scheduler dispatch) without any hook run. */
async function daemonIntakeRun(containers = true): Promise<IntakeRun> {
  const cfg = path.join(tmp, 'intake.yaml');
  const sock = path.join(tmp, 'intake.sock');
  fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: [${ns}]\n  containers:\n    enabled: ${containers}\n  integration:\n    hook_log: ""\n    hooks:\n      - name: never\n        script: /bin/true\n        condition: "interface == 'no-such-link'"\n  control:\n    socket: ${sock}\n`);
  const child = execa(process.execPath, [NLMON, 'run', '--config', cfg], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  for (let i = 0; i < 100 && !err.includes('hook(s)'); i++) await sleep(50);
  const pid = child.pid!;
  const events = () => (JSON.parse(nlmonSync(['status', '--json', '--socket', sock]).stdout) as StatusReport).events;
  const cpu0 = cpuSeconds(pid);
  linkburst(nsPath, BURST, 0, 'b0');
  let received = 0;
  for (let stable = 0, end = Date.now() + 120000; received < BURST && stable < 5 && Date.now() < end;) {
    await sleep(300);
    const n = events();
    stable = n === received ? stable + 1 : 0;
    received = n;
  }
  const cpu = cpuSeconds(pid) - cpu0;
  const peak = statusKb(pid, 'VmHWM') / 1024;
  child.kill('SIGTERM');
  await child;
  return { received, cpuUsPerEvent: (cpu * 1e6) / Math.max(1, received), peakRssMb: peak };
}

async function intakeRun(tool: IntakeTool): Promise<IntakeRun> {
  if (tool === 'daemon') return daemonIntakeRun();
  if (tool === 'daemon-nocontainers') return daemonIntakeRun(false);
  const out = path.join(tmp, `${tool}.out`);
  // The output file's descriptor is handed to the child itself: nothing passes through this
  // process, which would make it part of what is measured (execa's `{file}` would copy the
  // output through this process). execa passes any descriptor number on as it is; its types
  // only list 3 to 9.
  const fd = fs.openSync(out, 'w');
  const io = { stdin: 'ignore', stdout: fd as 3, buffer: false, reject: false } as const;
  const addr = tool === 'nlmon-addr' || tool === 'ip-addr';
  const child: ResultPromise = tool === 'nlmon' || tool === 'nlmon-addr'
    ? execa(process.execPath, [NLMON, 'monitor', '--netns', ns, '--json'], io)
    : execa('ip', ['-n', ns, '-o', 'monitor', addr ? 'address' : 'link'], io);
  fs.closeSync(fd);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const pid = child.pid!;
  if (tool === 'nlmon' || tool === 'nlmon-addr') {
    for (let i = 0; i < 100 && !err.includes('monitoring'); i++) await sleep(50);
  } else {
    await sleep(500);
  }
  const cpu0 = cpuSeconds(pid);
  if (addr) execaSync(LINKBURST, ['--addr', nsPath, String(BURST), '0', 'b0']);
  else linkburst(nsPath, BURST, 0, 'b0');
  const received = await waitQuiet(out, BURST, 120000);
  const cpu = cpuSeconds(pid) - cpu0;
  const peak = statusKb(pid, 'VmHWM') / 1024;
  child.kill('SIGTERM');
  await child;
  let rate: number | undefined;
  if (tool === 'nlmon') {
    const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    const t = (l: string) => (JSON.parse(l) as { timestamp: number }).timestamp;
    rate = lines.length / ((t(lines.at(-1)!) - t(lines[0]!)) / 1000);
  }
  fs.rmSync(out);
  return { received, cpuUsPerEvent: (cpu * 1e6) / Math.max(1, received), peakRssMb: peak, ...(rate ? { rate } : {}) };
}

async function intake(): Promise<Record<IntakeTool, IntakeRun>> {
  const runs: Record<IntakeTool, IntakeRun[]> = { nlmon: [], ip: [], daemon: [], 'daemon-nocontainers': [], 'nlmon-addr': [], 'ip-addr': [] };
  for (let i = 0; i < RUNS; i++) {
    for (const tool of ['ip', 'nlmon', 'daemon', 'daemon-nocontainers', 'ip-addr', 'nlmon-addr'] as const) {
      const r = await intakeRun(tool);
      log(`intake ${tool} run ${i + 1}: ${r.received}/${BURST} events, ${r.cpuUsPerEvent.toFixed(2)} µs CPU/event, peak RSS ${r.peakRssMb.toFixed(1)} MB`);
      runs[tool].push(r);
    }
  }
  const med = (rs: IntakeRun[]): IntakeRun => ({
    received: median(rs.map((r) => r.received)),
    cpuUsPerEvent: median(rs.map((r) => r.cpuUsPerEvent)),
    peakRssMb: median(rs.map((r) => r.peakRssMb)),
    ...(rs[0]?.rate ? { rate: median(rs.map((r) => r.rate ?? 0)) } : {}),
  });
  return Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, med(v)])) as Record<IntakeTool, IntakeRun>;
}

/** The same burst with the event loop stalled 200 ms mid-way, on a 1 MiB receive buffer. */
async function overrun(): Promise<{ received: number; overruns: number; resyncs: number; tableOk: boolean; rcvbuf: number }> {
  let received = 0;
  let stalled = false;
  const m = new Monitor({ namespaces: [nsPath], netnsDirs: [], receiveBuffer: 1 << 20 }, {
    events: (events: NlEvent[]) => {
      received += events.length;
      if (!stalled && received >= BURST / 2) {
        stalled = true;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      }
    },
  });
  await m.start();
  await execa(LINKBURST, [nsPath, String(BURST), '0', 'b0']);
  for (let last = -1; last !== received;) {
    last = received;
    await sleep(500);
  }
  const st = m.stats();
  const kernel = kernelLinks(ns);
  const mine = tableLinks(m.table(path.basename(nsPath))!);
  const rcvbuf = st.namespaces[0]!.receive_buffer;
  m.stop();
  return { received, overruns: st.overruns, resyncs: st.resyncs, tableOk: JSON.stringify(kernel) === JSON.stringify(mine), rcvbuf };
}

/** A hook as the daemon loads it: /bin/true, its files checked again before each run. */
function hook(name: string, extra: Partial<HookConfig> = {}): HookConfig {
  const checked = checkScript(['/bin/true'], false);
  if ('problem' in checked) throw new Error(checked.problem);
  return {
    name, script: '/bin/true', argv: ['/bin/true'], condition: '', match: compileCondition(''), timeout_ms: 30000,
    enabled: true, async: true, args: [], env: {}, capture_output: false, keep_children: false, files: checked.files, ...extra,
  };
}

/** Event received (batch handed to the core) → hook process started, at 100 events/s. */
async function hookLatency(): Promise<{ p50: number; p99: number; n: number }> {
  const received = new Map<number, number>();
  const latencies: number[] = [];
  const scheduler = new HookScheduler({ maxConcurrent: 10, queueLimit: 10000 }, new NativeHookRunner(), {
    finished: (_h, e, r) => {
      const t = received.get(e.sequence);
      if (t !== undefined && Number.isFinite(r.spawned_at)) latencies.push(r.spawned_at - t);
    },
  });
  scheduler.setHooks([hook('latency', { condition: "interface == 'b0'", match: compileCondition("interface == 'b0'") })]);
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
async function nlmonSpawnRate(runs: number, storm: number): Promise<{ rate: number; stormReceived: number }> {
  return actionRate(hook('true'), runs, storm);
}

/** Runs of one hook through the scheduler and the daemon's runner, 10 at a time, with a burst of
 * `storm` link changes received meanwhile: runs per second, and the burst's events received. */
async function actionRate(h: HookConfig, runs: number, storm: number): Promise<{ rate: number; stormReceived: number }> {
  let stormReceived = 0;
  const m = new Monitor({ namespaces: [nsPath], netnsDirs: [], receiveBuffer: DEFAULT_RECEIVE_BUFFER }, { events: (events) => { stormReceived += events.length; } });
  await m.start();
  let done = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((r) => { allDone = r; });
  const runner = new ActionRunner();
  let failed = 0;
  const scheduler = new HookScheduler({ maxConcurrent: 10, queueLimit: runs + 1 }, runner, {
    finished: (_h, _e, r) => {
      if (r.outcome !== 'success') failed++;
      if (++done === runs) allDone();
    },
  });
  scheduler.setHooks([h]);
  const events = Array.from({ length: runs }, (_, i) => ({ ...syntheticEvent('x', 'bench'), sequence: i + 1 }));
  const t0 = performance.now();
  scheduler.submit(events);
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
async function startReceiver(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = execa(process.execPath, ['-e', `
    const http = require('node:http');
    const s = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => { req.resume(); req.on('end', () => res.writeHead(204).end()); });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));
  `], { reject: false, buffer: false });
  const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  return { url: `http://127.0.0.1:${port}/hook`, stop: async () => { child.kill('SIGTERM'); await child; } };
}

interface ActionRates { web: number; curl: number; module: number; webStorm: number; moduleStorm: number; storm: number }

/** Webhooks next to a curl script hook doing the same, and a module handler next to a script
 * hook (the hook throughput row), each with a link burst received meanwhile. */
async function actionRates(storm: number): Promise<ActionRates> {
  const rx = await startReceiver();
  const modFile = path.join(tmp, 'noop.mjs');
  fs.writeFileSync(modFile, 'export default function handle() {}\n');
  try {
    const web = await actionRate(hook('web', { action: 'url', script: '', argv: [], files: [], url: rx.url, retries: 0 }), 5000, storm);
    const curlArgv = ['/usr/bin/curl', '-s', '-o', '/dev/null', '-X', 'POST', '-H', 'content-type: application/json', '--data-binary', '@-', rx.url];
    const curl = await actionRate(hook('curl', { script: curlArgv.join(' '), argv: curlArgv, files: [] }), 1000, 0);
    const mod = await actionRate(hook('module', { action: 'module', script: '', argv: [], files: [], module: modFile }), 20000, storm);
    return { web: web.rate, curl: curl.rate, module: mod.rate, webStorm: web.stormReceived, moduleStorm: mod.stormReceived, storm };
  } finally {
    await rx.stop();
  }
}

interface NatsRun {
  burst: number;
  /** Full speed: toggles in the stream of those made; events/s from the first received to the
   * last stored; lag (received → stored) p50 / p99 ms; the daemon's CPU µs per event. */
  fullStored: number; fullRate: number; fullP50: number; fullP99: number; cpuUsPerEvent: number;
  /** At a set rate: toggles in the stream; events/s offered; lag p50 / p99 ms. */
  paced: number; pacedRate: number; pacedP50: number; pacedP99: number;
  /** Outage: events spooled; their arrival rate; the catch-up rate once the server is back;
   * RSS MB after one and after two bursts spooled; stream count equals the daemon's. */
  spooled: number; arrivalRate: number; catchUpRate: number; rss1: number; rss2: number; exact: boolean;
}

/** `nlmon run` with a nats output (every event) to a local nats-server: a burst at full speed,
 * one at a set rate, then an outage (the server stopped) with two bursts spooled and the
 * catch-up once it is back. Lag is the server's store time minus the event's receipt time, read
 * from the stream. */
async function natsOutputRun(pacedRate: number): Promise<NatsRun | string> {
  if (needsNats) return needsNats;
  return withNats(async (srv) => {
    const cfg = path.join(tmp, 'nats.yaml');
    const sock = path.join(tmp, 'nats.sock');
    fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: [${ns}]\n  containers:\n    enabled: false\n  outputs:\n    - name: fleet\n      type: nats\n      url: ${srv.url}\n      stream: BENCH\n      subject: nlmon.{host}.{event}\n      spool_dir: ${tmp}/spool\n  integration:\n    hook_log: ""\n    hooks: []\n  control:\n    socket: ${sock}\n`);
    const child = execa(process.execPath, [NLMON, 'run', '--config', cfg], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    try {
      for (let i = 0; i < 100 && !err.includes('hook(s)'); i++) await sleep(50);
      const pid = child.pid!;
      // Asked over the control socket from this process: a CLI process per poll would take a
      // core of this machine from what is measured.
      const out = async () => (await api.outputs(sock))[0]!;
      const settle = async (events: number) => {
        for (let end = Date.now() + 180000; Date.now() < end;) {
          const o = await out();
          if (o.events >= events && o.spooled === 0) return;
          await sleep(100);
        }
      };
      const toggles = (ms: StreamMessage[]) => ms.filter((m) => m.event.interface === 'b0' && (m.event.event === 'link_up' || m.event.event === 'link_down'));
      const lags = (ms: StreamMessage[]) => ms.map((m) => m.storedMs - m.event.timestamp);
      await until(async () => (await out()).state === 'connected', 'the output to connect', 20000);
      // Full speed.
      const cpu0 = cpuSeconds(pid);
      linkburst(nsPath, BURST, 0, 'b0');
      await settle(BURST);
      const cpu = cpuSeconds(pid) - cpu0;
      let msgs = await readStream(srv.url, 'BENCH');
      const full = toggles(msgs);
      const fullSpan = msgs.reduce((a, m) => Math.max(a, m.storedMs), 0) - msgs.reduce((a, m) => Math.min(a, m.event.timestamp), Infinity);
      const fullLags = lags(full);
      const seen = msgs.length;
      // At a set rate.
      const before = (await out()).events;
      linkburst(nsPath, BURST, pacedRate, 'b0');
      await settle(before + BURST);
      msgs = (await readStream(srv.url, 'BENCH')).slice(seen);
      const paced = toggles(msgs);
      const pacedLags = lags(paced);
      // Outage: two bursts spooled, then the server back.
      await srv.kill('SIGTERM');
      await until(async () => (await out()).state !== 'connected', 'the output to see the server go', 20000);
      const e0 = (await out()).events;
      const t0 = Date.now();
      linkburst(nsPath, BURST, 0, 'b0');
      let tArrived = 0;
      for (let end = Date.now() + 120000; Date.now() < end; await sleep(50)) {
        if ((await out()).events >= e0 + BURST) { tArrived = Date.now(); break; }
      }
      await sleep(1000);
      const rss1 = statusKb(pid, 'VmRSS') / 1024;
      linkburst(nsPath, BURST, 0, 'b0');
      await until(async () => (await out()).events >= e0 + 2 * BURST, 'the second burst received', 120000);
      await sleep(1000);
      const rss2 = statusKb(pid, 'VmRSS') / 1024;
      const spooled = (await out()).spooled;
      await srv.start();
      let tFirst = 0;
      const d0 = (await out()).delivered;
      for (let end = Date.now() + 300000; Date.now() < end; await sleep(20)) {
        const o = await out();
        if (!tFirst && o.delivered > d0) tFirst = Date.now();
        if (o.spooled === 0) break;
      }
      const catchUp = ((await out()).delivered - d0) / ((Date.now() - tFirst) / 1000);
      await sleep(500);
      const exact = (await srv.streamMessages('BENCH')) === (await out()).events;
      return {
        burst: BURST, fullStored: full.length, fullRate: seen / (fullSpan / 1000), fullP50: pct(fullLags, 50), fullP99: pct(fullLags, 99), cpuUsPerEvent: (cpu * 1e6) / seen,
        paced: paced.length, pacedRate, pacedP50: pct(pacedLags, 50), pacedP99: pct(pacedLags, 99),
        spooled, arrivalRate: BURST / ((tArrived - t0) / 1000), catchUpRate: catchUp, rss1, rss2, exact,
      };
    } finally {
      child.kill('SIGTERM');
      await child;
    }
  });
}

/** The reference: spawn('/bin/true') from the main thread, 10 in flight. */
async function plainSpawnRate(runs: number): Promise<number> {
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
async function endToEnd(n: number): Promise<{ startP50: number; startP99: number; p50: number; p99: number; n: number }> {
  const cfg = path.join(tmp, 'e2e.yaml');
  const stamps = path.join(tmp, 'stamps');
  const port = 20000 + (process.pid % 20000);
  ip('-n', ns, 'link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1');
  fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: [${ns}]\n  integration:\n    hook_log: ${tmp}/e2e-hook.log\n    hooks:\n      - name: stamp\n        script: ${HOOKSTAMP} ${stamps}\n        condition: "interface == 'e0' AND event IN [link_up, link_down]"\n        async: true\n  control:\n    socket: ${tmp}/e2e.sock\n  metrics:\n    listen: 127.0.0.1:${port}\n`);
  const child = execa(process.execPath, [NLMON, 'run', '--config', cfg, '--allow-unsafe-scripts'], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  for (let i = 0; i < 100 && !err.includes('hook(s)'); i++) await sleep(50);
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

/** Wake-ups of the daemon's main thread per second over `seconds`: its epoll_pwait calls that
 * could block (a non-zero timeout; libuv also polls with timeout 0 after each wake-up), traced
 * with strace; NaN without strace. */
async function wakeups(pid: number, seconds: number): Promise<number> {
  try {
    const r = await execa('strace', ['-e', 'trace=epoll_pwait,epoll_wait', '-p', String(pid)], { timeout: seconds * 1000, reject: false, killSignal: 'SIGINT' });
    const calls = [...r.stderr.matchAll(/epoll_p?wait\(\d+, .*?, \d+, (-?\d+)[,)]/g)];
    return calls.length ? calls.filter((m) => m[1] !== '0').length / seconds : NaN;
  } catch {
    return NaN;
  }
}

/** `nlmon run` watching `all` with no events: RSS, CPU over 10 s, then wake-ups over 10 s. */
async function idle(): Promise<{ rssMb: number; cpuPct: number; wakeups: number }> {
  const cfg = path.join(tmp, 'idle.yaml');
  fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: all\n  integration:\n    hook_log: ""\n    hooks:\n      - name: t\n        script: /bin/true\n  control:\n    socket: ${tmp}/idle.sock\n`);
  const child = execa(process.execPath, [NLMON, 'run', '--config', cfg], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  for (let i = 0; i < 100 && !err.includes('hook(s)'); i++) await sleep(50);
  await sleep(1000);
  const cpu0 = cpuSeconds(child.pid!);
  await sleep(10000);
  const cpu = cpuSeconds(child.pid!) - cpu0;
  const rss = statusKb(child.pid!, 'VmRSS') / 1024;
  const perSecond = await wakeups(child.pid!, 10);
  child.kill('SIGTERM');
  await child;
  return { rssMb: rss, cpuPct: (cpu / 10) * 100, wakeups: perSecond };
}

interface ContainerRun { containers: number; events: number; attributed: number; firstAttributed: number; firstMsP50: number; firstMsMax: number }


/** CONTAINERS podman containers started and removed one after another, with the daemon watching
 * every namespace and Podman's API: how many of their events name the container, whether the
 * first event of each (the host veth's link_added) does, and how long after it was received its
 * hook ran (it may wait for the container, up to wait_ms). */
async function containerRun(): Promise<ContainerRun | string> {
  if (needsPodman) return needsPodman;
  const dir = path.join(tmp, 'containers');
  fs.mkdirSync(dir);
  return withPodman(dir, async (pm) => {
    const events = path.join(dir, 'events');
    fs.writeFileSync(path.join(dir, 'record.sh'), `#!/bin/sh\nprintf '%s %s\\n' "$(date +%s%3N)" "$NLMON_EVENT_JSON" >> ${events}\n`, { mode: 0o755 });
    const cfg = path.join(dir, 'nlmon.yaml');
    fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: all\n  containers:\n    docker_socket: [${pm.socket}]\n  integration:\n    hook_log: ""\n    hooks:\n      - name: record\n        script: ${dir}/record.sh\n        condition: "interface != 'podman0'"\n  control:\n    socket: ${dir}/nlmon.sock\n`);
    const child = execa(process.execPath, [NLMON, 'run', '--config', cfg], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    for (let i = 0; i < 200 && !err.includes('hook(s)'); i++) await sleep(50);
    const ids = new Map<string, string>();
    try {
      for (let i = 0; i < CONTAINERS; i++) {
        const name = `nlmon-bench-${i}`;
        ids.set(await pm.run(name), name);
        await pm.rm(name);
      }
      await sleep(2000);
    } finally {
      child.kill('SIGTERM');
      await child;
    }
    const all = fs.readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => ({ ranAt: Number(l.slice(0, l.indexOf(' '))), ...JSON.parse(l.slice(l.indexOf(' ') + 1)) }) as { ranAt: number; namespace: string; event: string; kind: string; container_id: string; container_name: string; peer_namespace: string; timestamp: number; sequence: number });
    // A container's events: those in its namespace and those of the host veth whose peer it is.
    const mine = all.filter((e) => e.namespace !== 'default' || e.kind === 'veth');
    const attributed = mine.filter((e) => ids.get(e.container_id) === e.container_name && e.container_name);
    const firstMs: number[] = [];
    let firstAttributed = 0;
    // The host veths come one per container, in the order the containers were started.
    const hostAdds = mine.filter((x) => x.namespace === 'default' && x.event === 'link_added').sort((a, b) => a.sequence - b.sequence);
    hostAdds.forEach((e, i) => {
      const name = `nlmon-bench-${i}`;
      if (e.container_name === name) firstAttributed++;
      firstMs.push(e.ranAt - e.timestamp);
    });
    return {
      containers: CONTAINERS, events: mine.length, attributed: attributed.length, firstAttributed,
      firstMsP50: firstMs.length ? median(firstMs) : NaN, firstMsMax: firstMs.length ? Math.max(...firstMs) : NaN,
    };
  });
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces, raw netlink)\n');
    return 1;
  }
  ip('netns', 'add', ns);
  try {
    ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
    log(`${BURST} link changes per burst, ${RUNS} runs per tool`);
    log('nats output');
    const nr = await natsOutputRun(NATS_PACED);
    log(`nats output: ${JSON.stringify(nr)}`);
    const f = (v: number, d = 1) => v.toFixed(d);
    const natsRows = typeof nr === 'string' ? [`| nats output | not run: ${nr} | | |`] : [
      `| nats output (every event, one local nats-server on the same 2 cores): a ${nr.burst}-change burst at full speed: toggles in the stream; events/s from first received to last stored; lag received → stored p50 / p99 ms | ${nr.fullStored} of ${nr.burst}; ${f(nr.fullRate, 0)}; ${f(nr.fullP50, 0)} / ${f(nr.fullP99, 0)} | RATE_NO_OUTPUT | RATE_RATIO |`,
      `| nats output, the same burst offered at ${nr.pacedRate} changes/s: toggles in the stream; lag p50 / p99 ms | ${nr.paced} of ${nr.burst}; ${f(nr.pacedP50, 0)} / ${f(nr.pacedP99, 0)} | | |`,
      `| nats output: daemon CPU µs per event (full-speed burst) | ${f(nr.cpuUsPerEvent, 2)} | CPU_NO_OUTPUT (nlmon run, no output, containers off) | RATIO_NO_OUTPUT |`,
      `| nats output, server stopped: events spooled (two bursts); RSS MB after one burst / after two; once the server is back, catch-up events/s vs the burst's arrival rate; stream count equals the daemon's | ${nr.spooled}; ${f(nr.rss1)} / ${f(nr.rss2)}; ${f(nr.catchUpRate, 0)} | ${f(nr.arrivalRate, 0)} events/s arrived | ${f(nr.catchUpRate / nr.arrivalRate, 1)}; ${nr.exact ? 'yes' : 'NO'} |`,
    ];
    const natsOk = typeof nr === 'string' || (nr.fullStored === BURST && nr.paced === BURST && nr.exact);
    if (ONLY === 'nats') {
      process.stdout.write(natsRows.join('\n').replace(/CPU_NO_OUTPUT[^|]*\| RATIO_NO_OUTPUT/, '(not measured in this run) |').replace('RATE_NO_OUTPUT', '').replace('RATE_RATIO', '') + '\n');
      return natsOk ? 0 : 1;
    }
    const ir = await intake();
    log('overrun');
    const ov = await overrun();
    log(`overrun: ${JSON.stringify(ov)}`);
    log('hook latency');
    const lat = await hookLatency();
    log(`hook latency: ${JSON.stringify(lat)}`);
    log('end-to-end hook latency');
    const e2e = await endToEnd(200);
    log(`end-to-end: ${JSON.stringify(e2e)}`);
    log('hook throughput');
    const plain = await plainSpawnRate(2000);
    const quiet = await nlmonSpawnRate(2000, 0);
    const stormGenerated = 20000;
    const storm = await nlmonSpawnRate(2000, stormGenerated);
    const tp = { nlmon: quiet.rate, plain, stormRate: storm.rate, stormGenerated, stormReceived: storm.stormReceived };
    log(`hook throughput: ${JSON.stringify(tp)}`);
    log('webhooks and module handlers');
    const ar = await actionRates(20000);
    log(`actions: ${JSON.stringify(ar)}`);
    log('idle daemon (10 s)');
    const id = await idle();
    log(`${CONTAINERS} podman containers`);
    const ct = await containerRun();
    log(`containers: ${JSON.stringify(ct)}`);

    const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
    const rows = [
      `nlmon bench, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${cpuModel}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.versions.node}`,
      '',
      '| measure | nlmon | reference | nlmon / reference |',
      '|---|---|---|---|',
      `| intake, nlmon monitor --json: events received of ${BURST} (median of ${RUNS}) | ${ir.nlmon.received} | ${ir.ip.received} (ip -o monitor link) | |`,
      `| intake, nlmon monitor --json: CPU µs per event received | ${f(ir.nlmon.cpuUsPerEvent, 2)} | ${f(ir.ip.cpuUsPerEvent, 2)} (ip -o monitor link) | ${f(ir.nlmon.cpuUsPerEvent / ir.ip.cpuUsPerEvent, 2)} |`,
      `| intake, nlmon monitor --json: peak RSS MB | ${f(ir.nlmon.peakRssMb)} | ${f(ir.ip.peakRssMb)} (ip -o monitor link) | ${f(ir.nlmon.peakRssMb / ir.ip.peakRssMb)} |`,
      `| intake, nlmon run (one hook that never matches): events received; CPU µs per event received; peak RSS MB | ${ir.daemon.received}; ${f(ir.daemon.cpuUsPerEvent, 2)}; ${f(ir.daemon.peakRssMb)} | ${f(ir.ip.cpuUsPerEvent, 2)} µs (ip -o monitor link) | ${f(ir.daemon.cpuUsPerEvent / ir.ip.cpuUsPerEvent, 2)} |`,
      `| address burst (${BURST} IPv4 adds and deletes), nlmon monitor --json: events received; CPU µs per event received | ${ir['nlmon-addr'].received}; ${f(ir['nlmon-addr'].cpuUsPerEvent, 2)} | ${ir['ip-addr'].received}; ${f(ir['ip-addr'].cpuUsPerEvent, 2)} (ip -o monitor address) | ${f(ir['nlmon-addr'].cpuUsPerEvent / ir['ip-addr'].cpuUsPerEvent, 2)} |`,
      `| intake, nlmon run as above with containers.enabled: false: CPU µs per event received | ${f(ir['daemon-nocontainers'].cpuUsPerEvent, 2)} | ${f(ir.daemon.cpuUsPerEvent, 2)} (enabled, the row above) | ${f(ir['daemon-nocontainers'].cpuUsPerEvent / ir.daemon.cpuUsPerEvent, 2)} |`,
      typeof ct === 'string'
        ? `| ${CONTAINERS} podman containers started and removed | not run: ${ct} | | |`
        : `| ${ct.containers} podman containers started and removed (engine API, wait_ms 1000): their events naming the container; host veths' link_added naming it; that event received → its hook running, p50 / max ms (the wait for the container) | ${ct.attributed} of ${ct.events}; ${ct.firstAttributed} of ${ct.containers}; ${f(ct.firstMsP50, 0)} / ${f(ct.firstMsMax, 0)} | | |`,
      `| overrun (200 ms stall, ${Math.round(ov.rcvbuf / 1024)} KiB buffer): overruns / resyncs / table equals kernel | ${ov.overruns} / ${ov.resyncs} / ${ov.tableOk ? 'yes' : 'NO'} | | |`,
      `| hook start, inside the daemon: batch reaching the core → posix_spawn returned, at 100 events/s: p50 / p99 ms (${lat.n} runs) | ${f(lat.p50, 2)} / ${f(lat.p99, 2)} | | |`,
      `| hook end to end, from outside (nlmon run, hook log and metrics on), to the hook's first instruction: from \`ip link set\` started, p50 / p99 ms; from it returned to its caller, p50 / p99 ms (${e2e.n} runs) | ${f(e2e.startP50, 2)} / ${f(e2e.startP99, 2)}; ${f(e2e.p50, 2)} / ${f(e2e.p99, 2)} | | |`,
      `| hook throughput: /bin/true runs/s, 10 at a time | ${f(tp.nlmon, 0)} | ${f(tp.plain, 0)} (child_process.spawn loop) | ${f(tp.nlmon / tp.plain, 2)} |`,
      `| spawn storm (2000 runs) with a ${tp.stormGenerated}-change burst meanwhile: events received; runs/s | ${tp.stormReceived} of ${tp.stormGenerated}; ${f(tp.stormRate, 0)} | | |`,
      `| webhooks: deliveries/s to a local receiver, 10 at a time, with a ${ar.storm}-change burst meanwhile (events received) | ${f(ar.web, 0)} (${ar.webStorm} of ${ar.storm}) | ${f(ar.curl, 0)} (a curl script hook) | ${f(ar.web / ar.curl, 1)} |`,
      `| module handler: calls/s, 10 at a time, with a ${ar.storm}-change burst meanwhile (events received) | ${f(ar.module, 0)} (${ar.moduleStorm} of ${ar.storm}) | ${f(tp.nlmon, 0)} (a script hook, /bin/true) | ${f(ar.module / tp.nlmon, 1)} |`,
      `| idle daemon watching all namespaces: RSS MB / CPU % over 10 s / main-thread wake-ups per s | ${f(id.rssMb)} / ${f(id.cpuPct, 2)} / ${f(id.wakeups, 1)} | | |`,
      ...natsRows.map((r) => r.replace('RATE_NO_OUTPUT', `${f(ir.nlmon.rate ?? 0, 0)} events/s received, first to last (nlmon monitor, no output)`).replace('RATE_RATIO', typeof nr === 'string' || !ir.nlmon.rate ? '' : f(nr.fullRate / ir.nlmon.rate, 2)).replace('CPU_NO_OUTPUT', f(ir['daemon-nocontainers'].cpuUsPerEvent, 2)).replace('RATIO_NO_OUTPUT', typeof nr === 'string' ? '' : f(nr.cpuUsPerEvent / ir['daemon-nocontainers'].cpuUsPerEvent, 2))),
    ];
    process.stdout.write(rows.join('\n') + '\n');
    const ok = ir.nlmon.received === BURST && ir.daemon.received === BURST && ir['nlmon-addr'].received === BURST && ov.tableOk && tp.stormReceived === tp.stormGenerated
      && ar.webStorm === ar.storm && ar.moduleStorm === ar.storm
      && (typeof ct === 'string' || (ct.attributed === ct.events && ct.firstAttributed === ct.containers)) && natsOk;
    if (!ok) log('a correctness row failed (events lost or table wrong)');
    return ok ? 0 : 1;
  } finally {
    try { ip('netns', 'del', ns); } catch { /* gone */ }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then((code) => { process.exitCode = code; }, (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  try { ip('netns', 'del', ns); } catch { /* gone */ }
  process.exitCode = 1;
});
