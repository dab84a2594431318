// Bench (README, "Measured"): the daemon's memory, each next to its reference in the same run —
// idle watching every namespace beside a bare Node process, and the peak under a burst of link
// changes matched by a script hook, a webhook and a module hook at once (the DaemonSet's limit
// is set from it: deploy/kubernetes/daemonset.yaml).
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { cliJson, config, linkburst, sleep, startDaemon, statusKb } from '../test/helpers/index.js';
import type { HookStatus } from '../src/hooks/stats.js';
import { type BenchContext, log, median } from './context.js';
import { idle } from './idle.js';
import { startReceiver } from './hooks.js';

/** Changes in the mixed burst (the figure: 200 000). */
const MIXED = Number(process.env.NLMON_BENCH_MIXED ?? 200000);

/** A Node program that serves HTTP on a unix socket and does nothing else: what any Node
 * daemon with a local HTTP API loads (nlmon's control socket is one; node:http, and node:net's
 * listen, which loads node:cluster). */
const HTTP_SERVER = "require('node:http').createServer((q, r) => r.end()).listen(process.argv[1])";

/** The RSS (MB) of a Node process running `script` once it has settled: `setInterval(() => {},
 * 1000)` for what any Node program costs. */
async function nodeRss(script: string, ...args: string[]): Promise<number> {
  const child = execa(process.execPath, ['-e', script, ...args], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false });
  await sleep(3000);
  const rss = statusKb(child.pid!, 'VmRSS') / 1024;
  child.kill('SIGTERM');
  await child;
  return rss;
}

interface MixedRun { peakMb: number; received: number; done: number; dropped: number }

/** The daemon (as the shipped units start it) with three async hooks on every change of b0, a
 * full-speed burst, and its peak RSS (VmHWM) once every run has ended or been dropped. */
async function mixedBurst(b: BenchContext): Promise<MixedRun> {
  const dir = fs.mkdtempSync(path.join(b.tmp, 'mem-'));
  const rx = await startReceiver();
  const mod = path.join(dir, 'noop.mjs');
  fs.writeFileSync(mod, 'export default function handle() {}\n');
  const on = `async: true\n        condition: "interface == 'b0'"`;
  const d = await startDaemon(dir, config(b.ns, dir, `    hooks:
      - name: script
        script: /bin/true
        ${on}
      - name: web
        url: ${rx.url}
        ${on}
      - name: module
        module: ${mod}
        ${on}
`), ['--allow-unsafe-scripts']);
  try {
    linkburst(b.nsPath, MIXED, 0, 'b0');
    let hooks: HookStatus[] = [];
    let received = 0;
    for (let quiet = 0, last = -1; quiet < 3;) {
      await sleep(500);
      received = cliJson<{ events: number }>(dir, 'status').events;
      hooks = cliJson<HookStatus[]>(dir, 'hooks', 'stats');
      const busy = hooks.some((h) => h.queued || h.running || h.retrying);
      quiet = !busy && received === last ? quiet + 1 : 0;
      last = received;
    }
    const peakMb = statusKb(d.child.pid!, 'VmHWM') / 1024;
    const sum = (k: 'executions' | 'dropped') => hooks.reduce((n, h) => n + h[k], 0);
    return { peakMb, received, done: sum('executions'), dropped: sum('dropped') };
  } finally {
    await d.stop();
    await rx.stop();
  }
}

export async function memoryRows(b: BenchContext): Promise<{ rows: string[]; ok: boolean }> {
  const idleMb: number[] = [];
  const bareMb: number[] = [];
  const httpMb: number[] = [];
  const mixed: MixedRun[] = [];
  for (let i = 0; i < b.RUNS; i++) {
    idleMb.push((await idle(b)).rssMb);
    bareMb.push(await nodeRss('setInterval(() => {}, 1000)'));
    httpMb.push(await nodeRss(HTTP_SERVER, path.join(b.tmp, `http-${i}.sock`)));
    const m = await mixedBurst(b);
    log(`memory run ${i + 1}: idle ${idleMb.at(-1)!.toFixed(1)} MB, bare Node ${bareMb.at(-1)!.toFixed(1)} MB, serving HTTP ${httpMb.at(-1)!.toFixed(1)} MB; mixed burst peak ${m.peakMb.toFixed(1)} MB, ${m.received} events, ${m.done} runs done, ${m.dropped} dropped`);
    mixed.push(m);
  }
  const f = (x: number) => x.toFixed(1);
  const idleMed = median(idleMb);
  const bareMed = median(bareMb);
  const httpMed = median(httpMb);
  const peak = median(mixed.map((m) => m.peakMb));
  const mid = mixed.find((m) => m.peakMb === peak)!;
  return {
    rows: [
      `| memory, idle: nlmon run watching all namespaces, RSS MB (median of ${b.RUNS}) | ${f(idleMed)} | ${f(bareMed)} (a bare Node process); ${f(httpMed)} (a Node process serving HTTP on a unix socket, nothing else) | +${f(idleMed - bareMed)} MB; +${f(idleMed - httpMed)} MB |`,
      `| memory, peak RSS MB under a ${MIXED}-change burst matched by a script, a webhook and a module hook (async, default queue limits; median of ${b.RUNS}): MB; events received; runs done / dropped (that run) | ${f(peak)}; ${mid.received} of ${MIXED}; ${mid.done} / ${mid.dropped} | 160 (the goal) | ${(peak / 160).toFixed(2)} |`,
    ],
    ok: mixed.every((m) => m.received === MIXED && m.done + m.dropped === 3 * MIXED),
  };
}
