// `npm run bench` (README, "Measured"): one table, measured in one run, nlmon next to `ip monitor link`
// and a plain child_process.spawn loop, on link changes made in a private namespace. This file
// drives the scenarios (one module each: intake.ts, hooks.ts, nats.ts, idle.ts, containers.ts)
// and prints the table. Needs root. Takes a few minutes; prints progress on stderr and the table
// on stdout.
import fs from 'node:fs';
import os from 'node:os';
import { ip } from '../test/helpers/index.js';
import { log, median, openBench } from './context.js';
import { intake, overrun } from './intake.js';
import { actionRates, endToEnd, hookLatency, MODULE_RUNS, nlmonSpawnRate, plainSpawnRate } from './hooks.js';
import { natsOutputRun } from './nats.js';
import { idle } from './idle.js';
import { startupRows } from './startup.js';
import { containerRun, orderedContainerRuns } from './containers.js';
import { failoverRun, fleetRun } from './fleet.js';
import { memoryRows } from './memory.js';
import { makeNamespaces, manyNamespaces, namespaceNames, removeNamespaces, type NamespacesResult } from './namespaces.js';

/** `intake`, `nats`, `hooks`, `namespaces`, `memory`, `ordered` or `fleet`: only those rows (a quick look while working on them). */
const ONLY = process.env.NLMON_BENCH_ONLY ?? '';
/** Events/s offered to the nats output in its paced run. */
const NATS_PACED = 30000;
/** Script hook and spawn loop runs measured for the hook throughput row (a median). */
const HOOK_RUNS = 3;
/** Namespaces watched in the many-namespaces rows. */
const NAMESPACES = Number(process.env.NLMON_BENCH_NAMESPACES ?? 2000);

/** Many hosts into one stream (bench/fleet.ts). */
async function fleetRows(b: ReturnType<typeof openBench>): Promise<{ rows: string[]; ok: boolean }> {
  log('fleet: daemons into one stream');
  const fr = await fleetRun(b);
  log(`fleet: ${JSON.stringify(fr)}`);
  log('fleet: a stream leader failover');
  const fo = await failoverRun(b);
  log(`failover: ${JSON.stringify(fo)}`);
  const foRow = typeof fo === 'string' ? `| fleet: a stream leader failover | not run: ${fo} | | |`
    : `| fleet: a three-node cluster, stream replicas 3, ${fo.events} changes at 2 000/s, the stream's leader killed (SIGKILL) 2 s in and back 3 s later: events stored once of made; lag received → stored p50 / p99 / max ms | ${fo.stored} of ${fo.events}, ${fo.exact ? 'exact' : 'NOT EXACT'}; ${fo.lagP50.toFixed(0)} / ${fo.lagP99.toFixed(0)} / ${fo.lagMax.toFixed(0)} | | |`;
  if (typeof fr === 'string') return { rows: [`| fleet: daemons into one stream | not run: ${fr} | | |`, foRow], ok: typeof fo === 'string' || fo.exact };
  return {
    rows: [foRow, `| fleet: ${fr.hosts} daemons on this machine, each its own host and namespace, a burst each at once into one stream of a local nats-server: events stored of made, each host exact; aggregate events/s, first received to last stored; the stream's bytes per event | ${fr.stored} of ${fr.events}, ${fr.exact ? 'yes' : 'NO'}; ${fr.rate.toFixed(0)}; ${fr.bytesPerEvent.toFixed(0)} | | |`],
    ok: fr.exact && (typeof fo === 'string' || fo.exact),
  };
}

/** Hook throughput: script hooks next to a spawn loop, webhooks next to a curl hook, module
 * handlers next to a script hook (the goal's rows: medians of HOOK_RUNS and MODULE_RUNS). */
async function hookRows(b: ReturnType<typeof openBench>): Promise<{ rows: string[]; ok: boolean }> {
  log('hook throughput');
  const plains: number[] = [];
  const quiets: number[] = [];
  for (let i = 0; i < HOOK_RUNS; i++) {
    plains.push(await plainSpawnRate(2000));
    quiets.push((await nlmonSpawnRate(b, 2000, 0)).rate);
  }
  // With a burst meanwhile, a median of as many: the module row's reference under the same burst.
  const stormGenerated = 20000;
  const storms: Array<{ rate: number; stormReceived: number }> = [];
  for (let i = 0; i < HOOK_RUNS; i++) storms.push(await nlmonSpawnRate(b, 2000, stormGenerated));
  const tp = { nlmon: median(quiets), plain: median(plains), stormRate: median(storms.map((s) => s.rate)), stormGenerated, stormReceived: Math.min(...storms.map((s) => s.stormReceived)) };
  log(`hook throughput: ${JSON.stringify({ ...tp, quiets, plains })}`);
  log('webhooks and module handlers');
  const ar = await actionRates(b, 20000);
  log(`actions: ${JSON.stringify(ar)}`);
  const f = (v: number, d = 1) => v.toFixed(d);
  const rows = [
    `| hook throughput: /bin/true runs/s, 10 at a time (median of ${HOOK_RUNS}) | ${f(tp.nlmon, 0)} | ${f(tp.plain, 0)} (child_process.spawn loop) | ${f(tp.nlmon / tp.plain, 2)} |`,
    `| spawn storm (2000 runs) with a ${tp.stormGenerated}-change burst meanwhile: events received (the fewest); runs/s (median of ${HOOK_RUNS}) | ${tp.stormReceived} of ${tp.stormGenerated}; ${f(tp.stormRate, 0)} | | |`,
    `| webhooks: deliveries/s to a local receiver, 10 at a time, with a ${ar.storm}-change burst meanwhile (events received) | ${f(ar.web, 0)} (${ar.webStorm} of ${ar.storm}) | ${f(ar.curl, 0)} (a curl script hook) | ${f(ar.web / ar.curl, 1)} |`,
    `| module handler (its file checked before runs, as a script's): calls/s, 10 at a time, medians of ${MODULE_RUNS}: quiet; with a ${ar.storm}-change burst meanwhile (events received) | ${f(ar.moduleQuiet, 0)}; ${f(ar.module, 0)} (${ar.moduleStorm} of ${ar.storm}) | ${f(tp.nlmon, 0)}; ${f(tp.stormRate, 0)} (a script hook, /bin/true, quiet and with a burst: the rows above) | ${f(ar.moduleQuiet / tp.nlmon, 1)}; ${f(ar.module / tp.stormRate, 1)} |`,
  ];
  return { rows, ok: tp.stormReceived === tp.stormGenerated && ar.webStorm === ar.storm && ar.moduleStorm === ar.storm };
}

/** The intake rows: nlmon next to `ip monitor` and the bare C reader, in one run. */
function intakeRows(b: ReturnType<typeof openBench>, ir: Awaited<ReturnType<typeof intake>>): string[] {
  const { BURST, RUNS } = b;
  const f = (v: number, d = 1) => v.toFixed(d);
  return [
    `| intake, nlmon monitor --json: events received of ${BURST} (median of ${RUNS}) | ${ir.nlmon.received} | ${ir.ip.received} (ip -o monitor link) | |`,
    `| intake, nlmon monitor --json: CPU µs per event received | ${f(ir.nlmon.cpuUsPerEvent, 2)} | ${f(ir.ip.cpuUsPerEvent, 2)} (ip -o monitor link) | ${f(ir.nlmon.cpuUsPerEvent / ir.ip.cpuUsPerEvent, 2)} |`,
    `| intake, the floor: a bare C reader (recvmmsg, one short line per message, no decoding): events; CPU µs per event | ${ir.bare.received}; ${f(ir.bare.cpuUsPerEvent, 2)} | ${f(ir.nlmon.cpuUsPerEvent, 2)} (nlmon monitor --json) | ${f(ir.nlmon.cpuUsPerEvent / ir.bare.cpuUsPerEvent, 2)} (nlmon / floor) |`,
    `| intake, nlmon monitor --json: peak RSS MB | ${f(ir.nlmon.peakRssMb)} | ${f(ir.ip.peakRssMb)} (ip -o monitor link) | ${f(ir.nlmon.peakRssMb / ir.ip.peakRssMb)} |`,
    `| intake, nlmon run (one hook that never matches): events received; CPU µs per event received; peak RSS MB | ${ir.daemon.received}; ${f(ir.daemon.cpuUsPerEvent, 2)}; ${f(ir.daemon.peakRssMb)} | ${f(ir.ip.cpuUsPerEvent, 2)} µs (ip -o monitor link) | ${f(ir.daemon.cpuUsPerEvent / ir.ip.cpuUsPerEvent, 2)} |`,
    `| address burst (${BURST} IPv4 adds and deletes), nlmon monitor --json: events received; CPU µs per event received | ${ir['nlmon-addr'].received}; ${f(ir['nlmon-addr'].cpuUsPerEvent, 2)} | ${ir['ip-addr'].received}; ${f(ir['ip-addr'].cpuUsPerEvent, 2)} (ip -o monitor address) | ${f(ir['nlmon-addr'].cpuUsPerEvent / ir['ip-addr'].cpuUsPerEvent, 2)} |`,
    `| intake, nlmon run as above with containers.enabled: false: CPU µs per event received | ${f(ir['daemon-nocontainers'].cpuUsPerEvent, 2)} | ${f(ir.daemon.cpuUsPerEvent, 2)} (enabled, the row above) | ${f(ir['daemon-nocontainers'].cpuUsPerEvent / ir.daemon.cpuUsPerEvent, 2)} |`,
  ];
}

/** CONTAINERS podman containers under a 50 ms hook per container event: order_by against sync. */
async function orderedRows(b: ReturnType<typeof openBench>): Promise<{ rows: string[]; ok: boolean }> {
  log(`${b.CONTAINERS} podman containers, order_by [container_id] against sync`);
  const oc = await orderedContainerRuns(b);
  log(`ordered: ${JSON.stringify(oc)}`);
  if (typeof oc === 'string') return { rows: [`| ${b.CONTAINERS} podman containers, a 50 ms hook per container event, order_by [container_id] | not run: ${oc} | | |`], ok: true };
  const [ob, sync] = oc;
  const row = `| ${b.CONTAINERS} podman containers started and removed, a 50 ms script hook for each event naming a container: runs; order violations (a run of a container starting before its previous one ended); runs of different containers at once; seconds from the first event to the last run's end | ${ob!.runs}; ${ob!.violations}; ${ob!.overlapping ? 'yes' : 'no'}; ${ob!.totalS.toFixed(1)} (async, order_by [container_id]) | ${sync!.runs}; ${sync!.violations}; ${sync!.overlapping ? 'yes' : 'no'}; ${sync!.totalS.toFixed(1)} (a sync hook) | ${(ob!.totalS / sync!.totalS).toFixed(2)} |`;
  return { rows: [row], ok: ob!.violations === 0 && sync!.violations === 0 };
}

/** The daemon watching NAMESPACES namespaces, with each intake (made and removed here). */
async function namespaceRows(b: ReturnType<typeof openBench>): Promise<{ rows: string[]; ok: boolean }> {
  const names = namespaceNames(b, NAMESPACES);
  log(`${NAMESPACES} namespaces`);
  await makeNamespaces(names);
  const results: NamespacesResult[] = [];
  try {
    for (const intake of ['per_namespace', 'shared'] as const) results.push(await manyNamespaces(b, intake, NAMESPACES));
  } finally {
    await removeNamespaces(names);
  }
  const f = (v: number, d = 1) => v.toFixed(d);
  const rows = results.map((r) => `| ${r.namespaces} namespaces watched, intake ${r.intake}: start s; idle CPU % over 10 s; descriptors; RSS MB; \`ip netns add\` + a veth inside → its link_added, p50 / max ms (${r.tries} tries, seen) | ${f(r.startS)}; ${f(r.cpuPct, 2)}; ${r.fds}; ${f(r.rssMb)}; ${f(r.delayP50, 0)} / ${f(r.delayMax, 0)} (${r.seen} of ${r.tries}) | before 2026-12-06 (a socket each, 1 s rescan): 1.8 % idle, 2 021 descriptors, 103 MB, about 1 s | |`);
  return { rows, ok: results.every((r) => r.seen === r.tries) };
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces, raw netlink)\n');
    return 1;
  }
  const b = openBench();
  const { ns, BURST, RUNS, CONTAINERS, tmp } = b;
  ip('netns', 'add', ns);
  try {
    ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
    log(`${BURST} link changes per burst, ${RUNS} runs per tool`);
    if (ONLY === 'intake') {
      const ir = await intake(b);
      process.stdout.write(intakeRows(b, ir).join('\n') + '\n');
      return ir.nlmon.received === BURST && ir.daemon.received === BURST ? 0 : 1;
    }
    if (ONLY === 'fleet') {
      const fr = await fleetRows(b);
      process.stdout.write(fr.rows.join('\n') + '\n');
      return fr.ok ? 0 : 1;
    }
    if (ONLY === 'ordered') {
      const oc = await orderedRows(b);
      process.stdout.write(oc.rows.join('\n') + '\n');
      return oc.ok ? 0 : 1;
    }
    if (ONLY === 'memory') {
      const mr = await memoryRows(b);
      process.stdout.write(mr.rows.join('\n') + '\n');
      return mr.ok ? 0 : 1;
    }
    if (ONLY === 'startup') {
      process.stdout.write((await startupRows(b)).join('\n') + '\n');
      return 0;
    }
    if (ONLY === 'hooks') {
      const hr = await hookRows(b);
      process.stdout.write(hr.rows.join('\n') + '\n');
      return hr.ok ? 0 : 1;
    }
    if (ONLY === 'namespaces') {
      const nsr = await namespaceRows(b);
      process.stdout.write(nsr.rows.join('\n') + '\n');
      return nsr.ok ? 0 : 1;
    }
    log('nats output');
    const nr = await natsOutputRun(b, NATS_PACED);
    log(`nats output: ${JSON.stringify(nr)}`);
    const f = (v: number, d = 1) => v.toFixed(d);
    const natsRows = typeof nr === 'string' ? [`| nats output | not run: ${nr} | | |`] : [
      `| nats output (every event, one local nats-server on the same 2 cores): ${nr.burst}-change bursts at full speed: toggles in the stream (the fewest of 3 bursts); events/s from first received to last stored, lag received → stored p50 / p99 ms (the median burst) | ${nr.fullStored} of ${nr.burst}; ${f(nr.fullRate, 0)}; ${f(nr.fullP50, 0)} / ${f(nr.fullP99, 0)} | RATE_NO_OUTPUT | RATE_RATIO |`,
      `| nats output, the same burst offered at ${nr.pacedRate} changes/s: toggles in the stream; lag p50 / p99 ms | ${nr.paced} of ${nr.burst}; ${f(nr.pacedP50, 0)} / ${f(nr.pacedP99, 0)} | | |`,
      `| nats output: daemon CPU µs per event (full-speed bursts, median of 3; each burst's in order) | ${f(nr.cpuUsPerEvent, 2)} (${nr.cpuRuns.map((x) => f(x, 1)).join(', ')}) | CPU_NO_OUTPUT (nlmon run, no output, containers off) | RATIO_NO_OUTPUT |`,
      `| nats output, server stopped: events spooled (two bursts); RSS MB after one burst / after two (the first outage) | ${nr.spooled}; ${f(nr.rss1)} / ${f(nr.rss2)} | | |`,
      `| nats output, ${nr.outages.length} outages of two bursts each: once the server is back, catch-up events/s (each outage); stream count equals the daemon's | ${nr.outages.map((o) => f(o.catchUpRate, 0)).join(', ')}; ${nr.exact ? 'yes' : 'NO'} | ${nr.outages.map((o) => f(o.arrivalRate, 0)).join(', ')} events/s arrived | ${nr.outages.map((o) => f(o.catchUpRate / o.arrivalRate, 1)).join(', ')} (the lowest ${f(Math.min(...nr.outages.map((o) => o.catchUpRate / o.arrivalRate)), 1)}) |`,
      `| nats-server's own ceiling, the reference for the catch-up: a publisher that does nothing else (the NATS protocol over a socket, the output's messages and ids, a reply each, 2 048 in flight, its frames made beforehand), ${nr.burst} messages into the same stream while the daemon idles (median of 3): messages/s; the server's CPU µs per message; the publisher's | ${f(nr.ceiling.rate, 0)}; ${f(nr.ceiling.serverUs, 2)}; ${f(nr.ceiling.publisherUs, 2)} | nlmon's catch-up ${f(median(nr.outages.map((o) => o.catchUpRate)), 0)} events/s (the median outage); the ceiling is ${f(nr.ceiling.rate / median(nr.outages.map((o) => o.arrivalRate)), 1)}× the median arrival rate | ${f(median(nr.outages.map((o) => o.catchUpRate)) / nr.ceiling.rate, 2)} (nlmon's catch-up / the ceiling) |`,
      `| nats output alone, in a process of its own with the daemon's Node flags (no intake, no generator): the daemon's events made beforehand, handed over at ${nr.alone.rate}/s in batches of ${nr.alone.batch}, ${nr.burst} into a stream of their own on the same server (medians of 3): CPU µs per event, all threads; the main thread's | ${f(nr.alone.usPerEvent, 2)}; ${f(nr.alone.mainUs, 2)} | ${f(nr.ceiling.publisherUs, 2)} µs per message (the publisher that does nothing else, the row above) | ${f(nr.alone.usPerEvent / nr.ceiling.publisherUs, 1)} |`,
    ];
    const natsOk = typeof nr === 'string' || (nr.fullStored === BURST && nr.paced === BURST && nr.exact);
    if (ONLY === 'nats') {
      process.stdout.write(natsRows.join('\n').replace(/CPU_NO_OUTPUT[^|]*\| RATIO_NO_OUTPUT/, '(not measured in this run) |').replace('RATE_NO_OUTPUT', '').replace('RATE_RATIO', '') + '\n');
      return natsOk ? 0 : 1;
    }
    const ir = await intake(b);
    log('overrun');
    const ov = await overrun(b);
    log(`overrun: ${JSON.stringify(ov)}`);
    log('hook latency');
    const lat = await hookLatency(b);
    log(`hook latency: ${JSON.stringify(lat)}`);
    log('end-to-end hook latency');
    const e2e = await endToEnd(b, 200);
    log(`end-to-end: ${JSON.stringify(e2e)}`);
    const hr = await hookRows(b);
    log('idle daemon (10 s)');
    const id = await idle(b);
    log('memory: idle next to a bare Node, and a mixed burst');
    const mem = await memoryRows(b);
    log('start-up: nlmon run and nlmon status beside a bare Node');
    const su = await startupRows(b);
    const nsr = await namespaceRows(b);
    log(`${CONTAINERS} podman containers`);
    const ct = await containerRun(b);
    log(`containers: ${JSON.stringify(ct)}`);
    const oc = await orderedRows(b);
    const fr = await fleetRows(b);

    const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
    const rows = [
      `nlmon bench, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${cpuModel}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.versions.node}`,
      '',
      '| measure | nlmon | reference | nlmon / reference |',
      '|---|---|---|---|',
      ...intakeRows(b, ir),
      typeof ct === 'string'
        ? `| ${CONTAINERS} podman containers started and removed | not run: ${ct} | | |`
        : `| ${ct.containers} podman containers started and removed (engine API, wait_ms 1000): their events naming the container; host veths' link_added naming it; that event received → its hook running, p50 / max ms (the wait for the container) | ${ct.attributed} of ${ct.events}; ${ct.firstAttributed} of ${ct.containers}; ${f(ct.firstMsP50, 0)} / ${f(ct.firstMsMax, 0)} | | |`,
      ...oc.rows,
      ...fr.rows,
      `| overrun (200 ms stall, ${Math.round(ov.rcvbuf / 1024)} KiB buffer): overruns / resyncs / table equals kernel | ${ov.overruns} / ${ov.resyncs} / ${ov.tableOk ? 'yes' : 'NO'} | | |`,
      `| hook start, inside the daemon: batch reaching the core → posix_spawn returned, at 100 events/s: p50 / p99 ms (${lat.n} runs) | ${f(lat.p50, 2)} / ${f(lat.p99, 2)} | | |`,
      `| hook end to end, from outside (nlmon run, hook log and metrics on), to the hook's first instruction: from \`ip link set\` started, p50 / p99 ms; from it returned to its caller, p50 / p99 ms (${e2e.n} runs) | ${f(e2e.startP50, 2)} / ${f(e2e.startP99, 2)}; ${f(e2e.p50, 2)} / ${f(e2e.p99, 2)} | | |`,
      ...hr.rows,
      `| idle daemon watching all namespaces: RSS MB / CPU % over 10 s / main-thread wake-ups per s | ${f(id.rssMb)} / ${f(id.cpuPct, 2)} / ${f(id.wakeups, 1)} | | |`,
      ...mem.rows,
      ...su,
      ...nsr.rows,
      ...natsRows.map((r) => r.replace('RATE_NO_OUTPUT', `${f(ir.nlmon.rate ?? 0, 0)} events/s received, first to last (nlmon monitor, no output)`).replace('RATE_RATIO', typeof nr === 'string' || !ir.nlmon.rate ? '' : f(nr.fullRate / ir.nlmon.rate, 2)).replace('CPU_NO_OUTPUT', f(ir['daemon-nocontainers'].cpuUsPerEvent, 2)).replace('RATIO_NO_OUTPUT', typeof nr === 'string' ? '' : f(nr.cpuUsPerEvent / ir['daemon-nocontainers'].cpuUsPerEvent, 2))),
    ];
    process.stdout.write(rows.join('\n') + '\n');
    const ok = ir.nlmon.received === BURST && ir.daemon.received === BURST && ir['nlmon-addr'].received === BURST && ov.tableOk && hr.ok
      && (typeof ct === 'string' || (ct.attributed === ct.events && ct.firstAttributed === ct.containers)) && natsOk && nsr.ok && oc.ok && fr.ok && mem.ok;
    if (!ok) log('a correctness row failed (events lost or table wrong)');
    return ok ? 0 : 1;
  } finally {
    try { ip('netns', 'del', ns); } catch { /* gone */ }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then((code) => { process.exitCode = code; }, (err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
