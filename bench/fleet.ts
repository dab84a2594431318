// Bench (README, "Measured"; docs/fleet.md, "Sizing"): many hosts into one stream. FLEET_HOSTS
// daemons on this machine (NLMON_BENCH_FLEET_HOSTS, default 20), each its own `host` and
// namespace, each a burst of its own at once, into one stream of a local nats-server: the
// aggregate rate (events stored per second, from the first event received to the last stored)
// and the stream's bytes per event (its own count, from the server's monitoring endpoint).
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { api } from '../src/cli/control-client.js';
import { LINKBURST, DAEMON_ARGS, ip, sleep, until } from '../test/helpers/index.js';
import { jetstreamAdmin, needsNats, readStream, withNats, withNatsCluster } from '../test/helpers/nats.js';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { BenchContext } from './context.js';

export interface FleetRun { hosts: number; events: number; stored: number; exact: boolean; rate: number; bytesPerEvent: number }

export async function fleetRun(b: BenchContext, hosts = Number(process.env.NLMON_BENCH_FLEET_HOSTS ?? 20), perHost = 5000): Promise<FleetRun | string> {
  if (needsNats) return needsNats;
  const names = Array.from({ length: hosts }, (_, i) => `nlmon-bench-fleet${i}-${process.pid}`);
  return withNats(async (srv) => {
    const children: ResultPromise[] = [];
    try {
      for (const ns of names) {
        ip('netns', 'add', ns);
        ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
      }
      const socks: string[] = [];
      for (const [i, ns] of names.entries()) {
        const dir = path.join(b.tmp, `fleet${i}`);
        fs.mkdirSync(dir);
        const cfg = path.join(dir, 'nlmon.yaml');
        socks.push(path.join(dir, 'nlmon.sock'));
        fs.writeFileSync(cfg, `nlmon:\n  host: host-${i}\n  monitoring:\n    namespaces: [${ns}]\n  containers:\n    enabled: false\n  outputs:\n    - name: fleet\n      type: nats\n      url: ${srv.url}\n      stream: FLEET\n      subject: nlmon.{host}.{event}\n      spool_dir: ${dir}/spool\n      condition: "interface == 'b0'"\n  integration:\n    hook_log: ""\n    hooks: []\n  control:\n    socket: ${socks[i]}\n`);
        children.push(execa(process.execPath, [...DAEMON_ARGS, '--config', cfg], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false }));
      }
      await until(() => socks.every((s) => fs.existsSync(s)), 'every daemon', 60000);
      await sleep(1000);
      await Promise.all(names.map((ns) => execa(LINKBURST, [`/var/run/netns/${ns}`, String(perHost), '0', 'b0'])));
      const total = hosts * perHost;
      await until(async () => (await Promise.all(socks.map((s) => api.outputs(s)))).every((o) => o[0]!.delivered >= perHost), 'every event stored', 300000);
      const msgs = await readStream(srv.url, 'FLEET');
      const first = Math.min(...msgs.map((m) => m.event.timestamp));
      const last = Math.max(...msgs.map((m) => m.storedMs));
      const jsz = await (await fetch(`${srv.url.replace('nats://', 'http://').replace(/:\d+$/, '')}:${await monitorPort(srv.log())}/jsz?streams=true&accounts=true`)).json() as { account_details?: Array<{ stream_detail?: Array<{ name: string; state: { messages: number; bytes: number } }> }> };
      const st = jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === 'FLEET')?.state;
      const perHostOk = names.every((_, i) => msgs.filter((m) => m.event.host === `host-${i}`).length === perHost);
      return { hosts, events: total, stored: msgs.length, exact: msgs.length === total && perHostOk, rate: msgs.length / ((last - first) / 1000), bytesPerEvent: st ? st.bytes / st.messages : NaN };
    } finally {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(children);
      for (const ns of names) {
        try { ip('netns', 'del', ns); } catch { /* not made */ }
      }
    }
  });
}

/** The monitoring port nats-server says it listens on, from its log. */
async function monitorPort(log: string): Promise<number> {
  const m = /Starting http monitor on [^:]+:(\d+)/.exec(log);
  if (!m) throw new Error('nats-server did not say where its monitor listens');
  return Number(m[1]);
}

export interface FailoverRun { events: number; stored: number; exact: boolean; lagP50: number; lagP99: number; lagMax: number }

/** A three-node cluster, stream replicas 3, one daemon sending 20 000 changes at 2 000/s; 2 s in,
 * the stream's leader is killed with SIGKILL, and started again 3 s later: every event stored
 * once, and the lag from receipt to storage (p50, p99, max ms). */
export async function failoverRun(b: BenchContext, n = 20000): Promise<FailoverRun | string> {
  if (needsNats) return needsNats;
  return withNatsCluster(3, async (nodes) => {
    const admin = <T>(fn: (jsm: JetStreamManager) => Promise<T>) => jetstreamAdmin(nodes.map((x) => x.url), fn);
    await admin((jsm) => jsm.streams.add({ name: 'FAILOVER', subjects: ['nlmon.>'], num_replicas: 3, duplicate_window: 120_000_000_000 }));
    const dir = path.join(b.tmp, 'failover');
    fs.mkdirSync(dir);
    const cfg = path.join(dir, 'nlmon.yaml');
    const sock = path.join(dir, 'nlmon.sock');
    fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: [${b.ns}]\n  containers:\n    enabled: false\n  outputs:\n    - name: fleet\n      type: nats\n      url: [${nodes.map((x) => x.url).join(', ')}]\n      stream: FAILOVER\n      subject: nlmon.{host}.{event}\n      spool_dir: ${dir}/spool\n      condition: "interface == 'b0' AND event IN [link_up, link_down]"\n  integration:\n    hook_log: ""\n    hooks: []\n  control:\n    socket: ${sock}\n`);
    const child = execa(process.execPath, [...DAEMON_ARGS, '--config', cfg], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false });
    try {
      await until(() => fs.existsSync(sock), 'the daemon', 30000);
      await sleep(500);
      const burst = execa(LINKBURST, [b.nsPath, String(n), '2000', 'b0']);
      await sleep(2000);
      const leader = await admin(async (jsm) => (await jsm.streams.info('FAILOVER')).cluster?.leader ?? '');
      const victim = nodes.find((x) => x.name === leader) ?? nodes[0]!;
      await victim.kill('SIGKILL');
      await sleep(3000);
      await victim.start();
      await burst;
      await until(async () => (await api.outputs(sock))[0]!.delivered >= n, 'every event stored', 120000);
      const msgs = await until(async () => {
        try {
          return await readStream(nodes.find((x) => x !== victim)!.url, 'FAILOVER');
        } catch {
          return undefined; // the cluster still settling
        }
      }, 'the stream readable', 60000);
      const lags = msgs.map((m) => m.storedMs - m.event.timestamp).sort((x, y) => x - y);
      const at = (p: number) => lags[Math.min(lags.length - 1, Math.ceil((p / 100) * lags.length) - 1)]!;
      return { events: n, stored: msgs.length, exact: msgs.length === n && new Set(msgs.map((m) => m.event.sequence)).size === n, lagP50: at(50), lagP99: at(99), lagMax: lags.at(-1)! };
    } finally {
      child.kill('SIGTERM');
      await child;
    }
  });
}
