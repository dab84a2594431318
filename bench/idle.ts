// Bench (README, "Measured"): the idle daemon watching every namespace.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { cpuSeconds, sleep, statusKb } from '../test/helpers/index.js';
import { type BenchContext, startDaemon } from './context.js';

/** Wake-ups of the daemon's main thread per second over `seconds`: its epoll_pwait calls that
 * could block (a non-zero timeout; libuv also polls with timeout 0 after each wake-up), traced
 * with strace; NaN without strace. */
export async function wakeups(pid: number, seconds: number): Promise<number> {
  try {
    const r = await execa('strace', ['-e', 'trace=epoll_pwait,epoll_wait', '-p', String(pid)], { timeout: seconds * 1000, reject: false, killSignal: 'SIGINT' });
    const calls = [...r.stderr.matchAll(/epoll_p?wait\(\d+, .*?, \d+, (-?\d+)[,)]/g)];
    return calls.length ? calls.filter((m) => m[1] !== '0').length / seconds : NaN;
  } catch {
    return NaN;
  }
}

/** `nlmon run` watching `all` with no events: RSS, CPU over 10 s, then wake-ups over 10 s. */
export async function idle(b: BenchContext): Promise<{ rssMb: number; cpuPct: number; wakeups: number }> {
  const { tmp } = b;
  const cfg = path.join(tmp, 'idle.yaml');
  fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: all\n  integration:\n    hook_log: ""\n    hooks:\n      - name: t\n        script: /bin/true\n  control:\n    socket: ${tmp}/idle.sock\n`);
  const { child } = await startDaemon(cfg);
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
