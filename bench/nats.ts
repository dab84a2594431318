// Bench (README, "Measured"): the nats output against a local nats-server.
import fs from 'node:fs';
import path from 'node:path';
import { api } from '../src/cli/control-client.js';
import type { NatsOutputStatus } from '../src/outputs/nats/nats.js';
import { cpuSeconds, linkburst, sleep, statusKb, until } from '../test/helpers/index.js';
import { needsNats, readStream, withNats, type StreamMessage } from '../test/helpers/nats.js';
import { type BenchContext, median, pct, startDaemon } from './context.js';
import { publishCeiling, type CeilingRun } from './nats-ceiling.js';
import { natsOutputAlone, type AloneRun } from './nats-alone.js';
import type { NlEvent } from '../src/event/event.js';

export interface NatsRun {
  burst: number;
  /** Full speed (FULL_RUNS bursts): toggles in the stream of those made, the fewest of any burst;
   * of the median burst, events/s from the first received to the last stored and lag (received
   * → stored) p50 / p99 ms; the daemon's CPU µs per event, the median, and each burst's in
   * order (their spread says how far one run's median can be read). */
  fullStored: number; fullRate: number; fullP50: number; fullP99: number; cpuUsPerEvent: number; cpuRuns: number[];
  /** At a set rate: toggles in the stream; events/s offered; lag p50 / p99 ms. */
  paced: number; pacedRate: number; pacedP50: number; pacedP99: number;
  /** Outage, the first of OUTAGES: events spooled; RSS MB after one and after two bursts
   * spooled. Then, for each outage, the arrival rate of its bursts and the catch-up rate once
   * the server is back; the stream's count equals the daemon's after all of them. */
  spooled: number; rss1: number; rss2: number; outages: Array<{ arrivalRate: number; catchUpRate: number }>; exact: boolean;
  /** The server's own ceiling for the same messages (nats-ceiling.ts), the run of median rate
   * of FULL_RUNS, each a burst's count of messages. */
  ceiling: CeilingRun;
  /** The output alone in a process of its own, the same events at ALONE_RATE (nats-alone.ts). */
  alone: AloneRun;
}

/** The output alone: events handed over per second, and per batch (about what the intake hands
 * over each 4 ms at that rate: docs/events.md, "Read-ahead"). */
const ALONE_RATE = 30_000;
const ALONE_BATCH = 120;

/** Full-speed bursts (their median is reported) and outages (the goal is a catch-up of
 * 5× the arrival rate in every one of 5). */
const FULL_RUNS = 3;
const OUTAGES = 5;

/** `nlmon run` with a nats output (every event) to a local nats-server: a burst at full speed,
 * one at a set rate, then an outage (the server stopped) with two bursts spooled and the
 * catch-up once it is back. Lag is the server's store time minus the event's receipt time, read
 * from the stream. */
export async function natsOutputRun(b: BenchContext, pacedRate: number): Promise<NatsRun | string> {
  const { ns, nsPath, tmp, BURST } = b;
  if (needsNats) return needsNats;
  return withNats(async (srv) => {
    const cfg = path.join(tmp, 'nats.yaml');
    const sock = path.join(tmp, 'nats.sock');
    fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: [${ns}]\n  containers:\n    enabled: false\n  outputs:\n    - name: fleet\n      type: nats\n      url: ${srv.url}\n      stream: BENCH\n      subject: nlmon.{host}.{event}\n      spool_dir: ${tmp}/spool\n  integration:\n    hook_log: ""\n    hooks: []\n  control:\n    socket: ${sock}\n`);
    const { child } = await startDaemon(cfg);
    try {
      const pid = child.pid!;
      // Asked over the control socket from this process: a CLI process per poll would take a
      // core of this machine from what is measured.
      const out = async () => (await api.outputs(sock))[0] as NatsOutputStatus;
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
      // Full speed, FULL_RUNS times: the median run's rate and lags, the median CPU.
      const fulls: Array<{ stored: number; rate: number; p50: number; p99: number; cpu: number }> = [];
      let seen = 0;
      for (let r = 0; r < FULL_RUNS; r++) {
        const before = (await out()).events;
        const cpu0 = cpuSeconds(pid);
        linkburst(nsPath, BURST, 0, 'b0');
        await settle(before + BURST);
        const cpu = cpuSeconds(pid) - cpu0;
        const msgs = (await readStream(srv.url, 'BENCH')).slice(seen);
        const full = toggles(msgs);
        const span = msgs.reduce((a, m) => Math.max(a, m.storedMs), 0) - msgs.reduce((a, m) => Math.min(a, m.event.timestamp), Infinity);
        const fullLags = lags(full);
        fulls.push({ stored: full.length, rate: msgs.length / (span / 1000), p50: pct(fullLags, 50), p99: pct(fullLags, 99), cpu: (cpu * 1e6) / msgs.length });
        seen += msgs.length;
      }
      const byRate = [...fulls].sort((x, y) => x.rate - y.rate);
      const mid = byRate[Math.floor(byRate.length / 2)]!;
      const cpuMedian = [...fulls].sort((x, y) => x.cpu - y.cpu)[Math.floor(fulls.length / 2)]!.cpu;
      let msgs: StreamMessage[];
      // At a set rate.
      const before = (await out()).events;
      linkburst(nsPath, BURST, pacedRate, 'b0');
      await settle(before + BURST);
      msgs = (await readStream(srv.url, 'BENCH')).slice(seen);
      const paced = toggles(msgs);
      const pacedLags = lags(paced);
      // Outages: two bursts spooled each time, then the server back.
      const outages: Array<{ arrivalRate: number; catchUpRate: number }> = [];
      let spooled = 0;
      let rss1 = 0;
      let rss2 = 0;
      for (let o = 0; o < OUTAGES; o++) {
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
        if (o === 0) rss1 = statusKb(pid, 'VmRSS') / 1024;
        linkburst(nsPath, BURST, 0, 'b0');
        await until(async () => (await out()).events >= e0 + 2 * BURST, 'the second burst received', 120000);
        await sleep(1000);
        if (o === 0) {
          rss2 = statusKb(pid, 'VmRSS') / 1024;
          spooled = (await out()).spooled;
        }
        await srv.start();
        let tFirst = 0;
        const d0 = (await out()).delivered;
        for (let end = Date.now() + 300000; Date.now() < end; await sleep(20)) {
          const st = await out();
          if (!tFirst && st.delivered > d0) tFirst = Date.now();
          if (st.spooled === 0) break;
        }
        const catchUpRate = ((await out()).delivered - d0) / ((Date.now() - tFirst) / 1000);
        outages.push({ arrivalRate: BURST / ((tArrived - t0) / 1000), catchUpRate });
      }
      await sleep(500);
      const exact = (await srv.streamMessages('BENCH')) === (await out()).events;
      // The reference for the catch-up: the same server storing the same messages from a
      // publisher that does nothing else, while the daemon idles.
      const samples = paced.slice(-2).map((m) => ({ subject: m.subject, id: m.id, body: JSON.stringify(m.event) }));
      const ceilings: CeilingRun[] = [];
      for (let r = 0; r < FULL_RUNS; r++) ceilings.push(await publishCeiling(srv.port, srv.pid()!, samples, BURST, `ceiling${r}`));
      const middle = median(ceilings.map((c) => c.rate));
      const ceiling = ceilings.find((c) => c.rate === middle)!;
      // And the output alone, into a stream of its own on the same server.
      const alone = await natsOutputAlone(srv.url, tmp, 'ALONE', paced.slice(-2).map((m) => m.event as NlEvent), BURST, ALONE_RATE, ALONE_BATCH);
      return {
        burst: BURST, fullStored: Math.min(...fulls.map((x) => x.stored)), fullRate: mid.rate, fullP50: mid.p50, fullP99: mid.p99, cpuUsPerEvent: cpuMedian, cpuRuns: fulls.map((x) => x.cpu),
        paced: paced.length, pacedRate, pacedP50: pct(pacedLags, 50), pacedP99: pct(pacedLags, 99),
        spooled, rss1, rss2, outages, exact, ceiling, alone,
      };
    } finally {
      child.kill('SIGTERM');
      await child;
    }
  });
}
