// Bench (README, "Measured"): what a start costs, each next to a bare Node in the same run —
// `nlmon run` from exec until it says it is ready (watching every namespace, as the shipped
// units start it), and `nlmon status` against that daemon (the DaemonSet's probe, run every
// few seconds), beside `node -e 0`.
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { DAEMON_ARGS, NLMON, cpuSeconds, sleep, statusKb } from '../test/helpers/index.js';
import { type BenchContext, log, median } from './context.js';

/** Starts of each measured: CPU is counted in ticks of 10 ms, so more than the usual 3. */
const STARTS = 7;

/** CPU seconds and peak RSS (MB) of a command run to its end: the kernel's rusage of the
 * child, read by python3 (which node-gyp needs, so it is here). Python's first child is charged
 * about 0.06 s more than the same command run again (measured), so /bin/true goes first and
 * only the command's own share is counted. */
function childCost(cmd: string[]): { cpu: number; rssMb: number } {
  const py = 'import resource,subprocess,sys\nsubprocess.run(["/bin/true"])\nr=resource.getrusage(resource.RUSAGE_CHILDREN)\nt=r.ru_utime+r.ru_stime\n' +
    'subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\n' +
    'r=resource.getrusage(resource.RUSAGE_CHILDREN)\nprint(r.ru_utime+r.ru_stime-t,r.ru_maxrss)';
  const [cpu, kb] = execaSync('python3', ['-c', py, ...cmd]).stdout.trim().split(' ').map(Number);
  return { cpu: cpu!, rssMb: kb! / 1024 };
}

/** `nlmon run` until its ready line: CPU seconds and RSS MB at that moment; the daemon is left
 * running for the caller, which stops it. */
async function runToReady(cfg: string): Promise<{ cpu: number; rssMb: number; stop: () => Promise<void> }> {
  const child = execa(process.execPath, [...DAEMON_ARGS, '--config', cfg], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  for (let i = 0; i < 400 && !err.includes('hook(s)'); i++) await sleep(5);
  if (!err.includes('hook(s)')) throw new Error(`nlmon run did not get ready: ${err}`);
  const cpu = cpuSeconds(child.pid!);
  const rssMb = statusKb(child.pid!, 'VmRSS') / 1024;
  return { cpu, rssMb, stop: async () => { child.kill('SIGTERM'); await child; } };
}

export async function startupRows(b: BenchContext): Promise<string[]> {
  const cfg = path.join(b.tmp, 'startup.yaml');
  const sock = path.join(b.tmp, 'startup.sock');
  fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: all\n  integration:\n    hook_log: ""\n    hooks:\n      - name: t\n        script: /bin/true\n  control:\n    socket: ${sock}\n`);
  const run: Array<{ cpu: number; rssMb: number }> = [];
  const status: Array<{ cpu: number; rssMb: number }> = [];
  const bare: Array<{ cpu: number; rssMb: number }> = [];
  for (let i = 0; i < STARTS; i++) {
    const d = await runToReady(cfg);
    run.push(d);
    try {
      status.push(childCost([process.execPath, NLMON, 'status', '--socket', sock]));
      bare.push(childCost([process.execPath, '-e', '0']));
    } finally {
      await d.stop();
    }
  }
  const f = (x: number, d = 2) => x.toFixed(d);
  const med = (xs: Array<{ cpu: number; rssMb: number }>, k: 'cpu' | 'rssMb') => median(xs.map((x) => x[k]));
  log(`start-up: run ${JSON.stringify(run)}; status ${JSON.stringify(status)}; bare ${JSON.stringify(bare)}`);
  return [
    `| start-up, nlmon run watching all namespaces, exec → ready: CPU s; RSS MB (median of ${STARTS}) | ${f(med(run, 'cpu'))}; ${f(med(run, 'rssMb'), 1)} | 0.15 s (the goal); ${f(med(bare, 'cpu'))} s, ${f(med(bare, 'rssMb'), 1)} MB (node -e 0) | ${f(med(run, 'cpu') / 0.15)} |`,
    `| start-up, nlmon status against that daemon: CPU s; peak RSS MB (median of ${STARTS}) | ${f(med(status, 'cpu'))}; ${f(med(status, 'rssMb'), 1)} | ${f(med(bare, 'cpu'))}; ${f(med(bare, 'rssMb'), 1)} (node -e 0; the goal 0.05 s, 40 MB) | ${f(med(status, 'cpu') / med(bare, 'cpu'))} |`,
  ];
}
