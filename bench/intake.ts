// Bench (README, "Measured"): intake, nlmon next to `ip monitor` on the same burst, and the
// overrun row.
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync, type ResultPromise } from 'execa';
import { Monitor } from '../src/netlink/monitor.js';
import type { NlEvent } from '../src/event/event.js';
import type { StatusReport } from '../src/daemon/control-api.js';
import { BAREREAD, LINKBURST, NLMON, cpuSeconds, kernelLinks, linkburst, nlmonSync, sleep, statusKb, tableLinks } from '../test/helpers/index.js';
import { type BenchContext, log, median, waitQuiet, startDaemon } from './context.js';

export interface IntakeRun {
  received: number; cpuUsPerEvent: number; peakRssMb: number;
  /** nlmon monitor: events received per second, from the first event's receipt time to the last's. */
  rate?: number;
}

export type IntakeTool = 'nlmon' | 'ip' | 'daemon' | 'daemon-nocontainers' | 'nlmon-addr' | 'ip-addr' | 'bare';

/** `nlmon run` on this namespace with one hook that never matches: the daemon's intake path
 * (monitor, metrics counting, scheduler dispatch) without any hook run. */
export async function daemonIntakeRun(b: BenchContext, containers = true): Promise<IntakeRun> {
  const { ns, nsPath, tmp, BURST } = b;
  const cfg = path.join(tmp, 'intake.yaml');
  const sock = path.join(tmp, 'intake.sock');
  fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: [${ns}]\n  containers:\n    enabled: ${containers}\n  integration:\n    hook_log: ""\n    hooks:\n      - name: never\n        script: /bin/true\n        condition: "interface == 'no-such-link'"\n  control:\n    socket: ${sock}\n`);
  const { child } = await startDaemon(cfg);
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

export async function intakeRun(b: BenchContext, tool: IntakeTool): Promise<IntakeRun> {
  const { ns, nsPath, tmp, BURST } = b;
  if (tool === 'daemon') return daemonIntakeRun(b);
  if (tool === 'daemon-nocontainers') return daemonIntakeRun(b, false);
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
    : tool === 'bare' ? execa(BAREREAD, [nsPath], io)
      : execa('ip', ['-n', ns, '-o', 'monitor', addr ? 'address' : 'link'], io);
  fs.closeSync(fd);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const pid = child.pid!;
  if (tool === 'nlmon' || tool === 'nlmon-addr' || tool === 'bare') {
    for (let i = 0; i < 100 && !err.includes(tool === 'bare' ? 'reading' : 'monitoring'); i++) await sleep(50);
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

export async function intake(b: BenchContext): Promise<Record<IntakeTool, IntakeRun>> {
  const { BURST, RUNS } = b;
  const runs: Record<IntakeTool, IntakeRun[]> = { nlmon: [], ip: [], daemon: [], 'daemon-nocontainers': [], 'nlmon-addr': [], 'ip-addr': [], bare: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const tool of ['bare', 'ip', 'nlmon', 'daemon', 'daemon-nocontainers', 'ip-addr', 'nlmon-addr'] as const) {
      const r = await intakeRun(b, tool);
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
export async function overrun(b: BenchContext): Promise<{ received: number; overruns: number; resyncs: number; tableOk: boolean; rcvbuf: number }> {
  const { ns, nsPath, BURST } = b;
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
