// Bench (README, "Measured"): the daemon watching many namespaces (NLMON_BENCH_NAMESPACES,
// default 2000), once per intake (docs/config.md, `intake`): how long it takes to start; idle
// CPU, descriptors and RSS; and the delay from `ip netns add` + a veth inside it to that veth's
// link_added (the event's timestamp is its receipt, read from the file output).
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { DAEMON_ARGS, cpuSeconds, sleep, statusKb } from '../test/helpers/index.js';
import { log, median, type BenchContext } from './context.js';

export interface NamespacesResult {
  intake: 'per_namespace' | 'shared';
  namespaces: number;
  startS: number;
  cpuPct: number;
  fds: number;
  rssMb: number;
  /** ms from `ip netns add` to the veth's link_added: median and max of `tries`. */
  delayP50: number;
  delayMax: number;
  tries: number;
  /** New namespaces whose veth was seen. */
  seen: number;
}

/** Runs `ip -batch` with these lines (namespace adds and deletes in bulk). */
async function ipBatch(lines: string[]): Promise<void> {
  await execa('ip', ['-force', '-batch', '-'], { input: lines.join('\n') + '\n', reject: false });
}

export function namespaceNames(b: BenchContext, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `nlmon-bench-${process.pid}-n${i}`);
}

export async function makeNamespaces(names: string[]): Promise<void> {
  await ipBatch(names.map((n) => `netns add ${n}`));
}

export async function removeNamespaces(names: string[]): Promise<void> {
  await ipBatch(names.map((n) => `netns del ${n}`));
}

export async function manyNamespaces(b: BenchContext, intake: 'per_namespace' | 'shared', count: number, tries = 10): Promise<NamespacesResult> {
  const dir = path.join(b.tmp, `ns-${intake}`);
  fs.mkdirSync(dir);
  const events = path.join(dir, 'events.ndjson');
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, `nlmon:
  monitoring:
    namespaces: all
    netns_dirs: [/var/run/netns]
    intake: ${intake}
  containers:
    enabled: false
  integration:
    hook_log: ""
  outputs:
    - name: events
      type: file
      path: ${events}
  control:
    socket: ${dir}/nlmon.sock
`);
  const t0 = Date.now();
  const child = execa(process.execPath, [...DAEMON_ARGS, '--config', cfg], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
  // The start line names every namespace watched (long): look for its beginning only.
  let tail = '';
  let started = false;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    tail = (tail + d).slice(-200);
    if (/watching default/.test(tail) || /watching default/.test(d)) started = true;
  });
  try {
    for (let i = 0; i < 12000 && !started && child.exitCode === null; i++) await sleep(25);
    const startS = (Date.now() - t0) / 1000;
    await sleep(10000); // the start's garbage collected and its code compiled
    const cpu0 = cpuSeconds(child.pid!);
    await sleep(10000);
    const cpuPct = ((cpuSeconds(child.pid!) - cpu0) / 10) * 100;
    const fds = fs.readdirSync(`/proc/${child.pid}/fd`).length;
    const rssMb = statusKb(child.pid!, 'VmRSS') / 1024;
    const delays: number[] = [];
    for (let i = 0; i < tries; i++) {
      const ns = `nlmon-bench-${process.pid}-new${i}`;
      const before = Date.now();
      await execa('ip', ['netns', 'add', ns]);
      await execa('ip', ['-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
      const seen = await (async () => {
        for (let k = 0; k < 100; k++) {
          const line = fs.existsSync(events) ? fs.readFileSync(events, 'utf8').split('\n').find((l) => l.includes(`"namespace":"${ns}"`) && l.includes('"event":"link_added"') && l.includes('"interface":"v0"')) : undefined;
          if (line) return (JSON.parse(line) as { timestamp: number }).timestamp;
          await sleep(50);
        }
        return undefined;
      })();
      if (seen !== undefined) delays.push(seen - before);
      await execa('ip', ['netns', 'del', ns], { reject: false });
      await sleep(200);
    }
    log(`${intake}: ${JSON.stringify({ startS, cpuPct, fds, rssMb, delays })}`);
    return {
      intake, namespaces: count, startS, cpuPct, fds, rssMb, tries, seen: delays.length,
      delayP50: delays.length ? median(delays) : NaN, delayMax: delays.length ? Math.max(...delays) : NaN,
    };
  } finally {
    child.kill('SIGTERM');
    await child;
  }
}
