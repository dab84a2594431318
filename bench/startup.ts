// Bench (README, "Measured"): what a start costs, each next to a bare Node in the same run —
// `nlmon run` from exec until it says it is ready (watching every namespace, as the shipped
// units start it), and `nlmon status` against that daemon (what a probe that execs it pays every
// few seconds; the DaemonSet's probes are HTTP GETs instead, docs/fleet.md), beside `node -e 0`
// and beside the least a Node program asking the daemon the same does (MINIMAL_CLIENT).
import fs from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { NLMON, cpuSeconds, startDaemon, statusKb } from '../test/helpers/index.js';
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

/** A Node client of the control socket that does nothing else: connects, asks for the status
 * (HTTP/1.0 over the socket, as `nlmon status` asks) and prints the answer as it comes. */
const MINIMAL_CLIENT = "const s=require('node:net').connect(process.argv[1]);s.on('connect',()=>s.write('GET /v1/status HTTP/1.0\\r\\nHost: nlmon\\r\\n\\r\\n'));s.pipe(process.stdout)";

export async function startupRows(b: BenchContext): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(b.tmp, 'startup-'));
  const sock = path.join(dir, 'startup.sock');
  const yaml = `nlmon:\n  monitoring:\n    namespaces: all\n  integration:\n    hook_log: ""\n    hooks:\n      - name: t\n        script: /bin/true\n  control:\n    socket: ${sock}\n`;
  const run: Array<{ cpu: number; rssMb: number }> = [];
  const status: Array<{ cpu: number; rssMb: number }> = [];
  const bare: Array<{ cpu: number; rssMb: number }> = [];
  const minimal: Array<{ cpu: number; rssMb: number }> = [];
  for (let i = 0; i < STARTS; i++) {
    // Started as the shipped units start it; read once it says it is ready.
    const d = await startDaemon(dir, yaml);
    run.push({ cpu: cpuSeconds(d.child.pid!), rssMb: statusKb(d.child.pid!, 'VmRSS') / 1024 });
    try {
      status.push(childCost([process.execPath, NLMON, 'status', '--socket', sock]));
      bare.push(childCost([process.execPath, '-e', '0']));
      minimal.push(childCost([process.execPath, '-e', MINIMAL_CLIENT, sock]));
    } finally {
      await d.stop();
    }
  }
  const f = (x: number, d = 2) => x.toFixed(d);
  const med = (xs: Array<{ cpu: number; rssMb: number }>, k: 'cpu' | 'rssMb') => median(xs.map((x) => x[k]));
  log(`start-up: run ${JSON.stringify(run)}; status ${JSON.stringify(status)}; bare ${JSON.stringify(bare)}; minimal ${JSON.stringify(minimal)}`);
  return [
    `| start-up, nlmon run watching all namespaces, exec → ready: CPU s; RSS MB (median of ${STARTS}) | ${f(med(run, 'cpu'))}; ${f(med(run, 'rssMb'), 1)} | 0.15 s (the goal); ${f(med(bare, 'cpu'))} s, ${f(med(bare, 'rssMb'), 1)} MB (node -e 0) | ${f(med(run, 'cpu') / 0.15)} |`,
    `| start-up, nlmon status against that daemon: CPU s; peak RSS MB (median of ${STARTS}) | ${f(med(status, 'cpu'))}; ${f(med(status, 'rssMb'), 1)} | ${f(med(bare, 'cpu'))}; ${f(med(bare, 'rssMb'), 1)} (node -e 0; the goal 0.05 s, 40 MB) | ${f(med(status, 'cpu') / med(bare, 'cpu'))} |`,
    `| start-up, nlmon status beside the least a Node client of the control socket does (node -e: connect, one GET /v1/status, the answer printed as it comes): CPU s; peak RSS MB (median of ${STARTS}) | ${f(med(status, 'cpu'))}; ${f(med(status, 'rssMb'), 1)} | ${f(med(minimal, 'cpu'))}; ${f(med(minimal, 'rssMb'), 1)} (the minimal client) | ${f(med(status, 'cpu') / med(minimal, 'cpu'))}; +${f(med(status, 'rssMb') - med(minimal, 'rssMb'), 1)} MB |`,
  ];
}
