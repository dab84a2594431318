// What the bench's scenarios share: the namespace they make link changes in, a temporary
// directory, the sizes of a run (NLMON_BENCH_BURST, _RUNS, _CONTAINERS), and small helpers.
// Nothing here runs at import: the driver (run.ts) opens a context and removes it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkScript } from '../src/hooks/script-check.js';
import { compileCondition } from '../src/event/filter.js';
import type { ScriptHook } from '../src/hooks/actions/script.js';
import { execa } from 'execa';
import { DAEMON_ARGS, sleep } from '../test/helpers/index.js';

export interface BenchContext {
  /** The network namespace the link changes are made in, and its file. */
  ns: string;
  nsPath: string;
  /** A directory of the run's own, removed at the end. */
  tmp: string;
  /** Link changes per burst, runs per measure, podman containers. */
  BURST: number;
  RUNS: number;
  CONTAINERS: number;
}

/** A context for one run (the namespace is made by the driver). */
export function openBench(): BenchContext {
  const ns = `nlmon-bench-${process.pid}`;
  return {
    ns, nsPath: `/var/run/netns/${ns}`, tmp: fs.mkdtempSync(path.join(os.tmpdir(), 'nlmon-bench-')),
    BURST: Number(process.env.NLMON_BENCH_BURST ?? 100000),
    RUNS: Number(process.env.NLMON_BENCH_RUNS ?? 3),
    CONTAINERS: Number(process.env.NLMON_BENCH_CONTAINERS ?? 50),
  };
}

export const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

export function countLines(file: string): number {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let n = 0;
  for (let got; (got = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) {
    for (let i = 0; i < got; i++) if (buf[i] === 10) n++;
  }
  fs.closeSync(fd);
  return n;
}

export async function waitQuiet(file: string, want: number, timeoutMs: number): Promise<number> {
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

/** A hook as the daemon loads it: /bin/true, its files checked again before each run. */
export function scriptHook(name: string, extra: Partial<ScriptHook> = {}): ScriptHook {
  const checked = checkScript(['/bin/true'], false);
  if ('problem' in checked) throw new Error(checked.problem);
  return {
    name, action: 'script', script: '/bin/true', argv: ['/bin/true'], condition: '', match: compileCondition(''), timeout_ms: 30000,
    enabled: true, async: true, args: [], env: {}, capture_output: false, keep_children: false, files: checked.files, ...extra,
  };
}

/** `nlmon run` as the shipped units start it (DAEMON_ARGS) with this config and any further
 * arguments, once it has said it is ready (its "hook(s)" line) or `waitMs` has passed. In an
 * object: the child is a promise of its end. */
export async function startDaemon(cfg: string, extra: readonly string[] = [], waitMs = 5000) {
  const child = execa(process.execPath, [...DAEMON_ARGS, '--config', cfg, ...extra], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  for (const end = Date.now() + waitMs; Date.now() < end && !err.includes('hook(s)');) await sleep(50);
  return { child };
}
