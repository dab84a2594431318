// Bench (README, "Measured"): podman containers started and removed under the daemon.
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../test/helpers/index.js';
import { needsPodman, withPodman } from '../test/helpers/podman.js';
import { type BenchContext, median, startDaemon } from './context.js';

export interface ContainerRun { containers: number; events: number; attributed: number; firstAttributed: number; firstMsP50: number; firstMsMax: number }

/** CONTAINERS podman containers started and removed one after another, with the daemon watching
 * every namespace and Podman's API: how many of their events name the container, whether the
 * first event of each (the host veth's link_added) does, and how long after it was received its
 * hook ran (it may wait for the container, up to wait_ms). */
export async function containerRun(b: BenchContext): Promise<ContainerRun | string> {
  const { tmp, CONTAINERS } = b;
  if (needsPodman) return needsPodman;
  const dir = path.join(tmp, 'containers');
  fs.mkdirSync(dir);
  return withPodman(dir, async (pm) => {
    const events = path.join(dir, 'events');
    fs.writeFileSync(path.join(dir, 'record.sh'), `#!/bin/sh\nprintf '%s %s\\n' "$(date +%s%3N)" "$NLMON_EVENT_JSON" >> ${events}\n`, { mode: 0o755 });
    const cfg = path.join(dir, 'nlmon.yaml');
    fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: all\n  containers:\n    docker_socket: [${pm.socket}]\n  integration:\n    hook_log: ""\n    hooks:\n      - name: record\n        script: ${dir}/record.sh\n        condition: "interface != 'podman0'"\n  control:\n    socket: ${dir}/nlmon.sock\n`);
    const { child } = await startDaemon(cfg, [], 10000);
    const ids = new Map<string, string>();
    try {
      for (let i = 0; i < CONTAINERS; i++) {
        const name = `nlmon-bench-${i}`;
        ids.set(await pm.run(name), name);
        await pm.rm(name);
      }
      await sleep(2000);
    } finally {
      child.kill('SIGTERM');
      await child;
    }
    const all = fs.readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => ({ ranAt: Number(l.slice(0, l.indexOf(' '))), ...JSON.parse(l.slice(l.indexOf(' ') + 1)) }) as { ranAt: number; namespace: string; event: string; kind: string; container_id: string; container_name: string; peer_namespace: string; timestamp: number; sequence: number });
    // A container's events: those in its namespace and those of the host veth whose peer it is.
    const mine = all.filter((e) => e.namespace !== 'default' || e.kind === 'veth');
    const attributed = mine.filter((e) => ids.get(e.container_id) === e.container_name && e.container_name);
    const firstMs: number[] = [];
    let firstAttributed = 0;
    // The host veths come one per container, in the order the containers were started.
    const hostAdds = mine.filter((x) => x.namespace === 'default' && x.event === 'link_added').sort((a, b) => a.sequence - b.sequence);
    hostAdds.forEach((e, i) => {
      const name = `nlmon-bench-${i}`;
      if (e.container_name === name) firstAttributed++;
      firstMs.push(e.ranAt - e.timestamp);
    });
    return {
      containers: CONTAINERS, events: mine.length, attributed: attributed.length, firstAttributed,
      firstMsP50: firstMs.length ? median(firstMs) : NaN, firstMsMax: firstMs.length ? Math.max(...firstMs) : NaN,
    };
  });
}

export interface OrderedRun { mode: 'order_by' | 'sync'; runs: number; violations: number; totalS: number; overlapping: boolean }

/** CONTAINERS podman containers started and removed one after another under a hook that takes
 * 50 ms for every event of a container (container_id set), once with `order_by: [container_id]`
 * (async) and once sync: the runs, the runs of a container that started before its previous
 * run ended or out of event order (violations), and the time from the first event to the last
 * run's end. */
export async function orderedContainerRuns(b: BenchContext): Promise<OrderedRun[] | string> {
  const { tmp, CONTAINERS } = b;
  if (needsPodman) return needsPodman;
  const dir = path.join(tmp, 'ordered');
  fs.mkdirSync(dir);
  return withPodman(dir, async (pm) => {
    const out: OrderedRun[] = [];
    for (const mode of ['order_by', 'sync'] as const) {
      const runs = path.join(dir, `runs-${mode}`);
      fs.writeFileSync(path.join(dir, 'work.sh'), `#!/bin/sh\nstart=$(date +%s%3N)\nsleep 0.05\necho "$NLMON_CONTAINER_ID $NLMON_SEQUENCE $NLMON_TIMESTAMP $start $(date +%s%3N)" >> "$RUNS"\n`, { mode: 0o755 });
      const hook = mode === 'order_by' ? '        async: true\n        order_by: [container_id]\n' : '';
      const cfg = path.join(dir, `${mode}.yaml`);
      fs.writeFileSync(cfg, `nlmon:\n  monitoring:\n    namespaces: all\n  containers:\n    docker_socket: [${pm.socket}]\n  integration:\n    hook_log: ""\n    max_concurrent: 10\n    hooks:\n      - name: work\n        script: ${dir}/work.sh\n        env: {RUNS: ${runs}}\n${hook}        condition: "container_id != ''"\n  control:\n    socket: ${dir}/${mode}.sock\n`);
      const { child } = await startDaemon(cfg, [], 10000);
      try {
        for (let i = 0; i < CONTAINERS; i++) {
          const name = `nlmon-bench-o${i}`;
          await pm.run(name);
          await pm.rm(name);
        }
        // Until the runs stop coming (a sync hook may be far behind).
        let last = -1;
        for (let i = 0; i < 1200; i++) {
          await sleep(500);
          const n = fs.existsSync(runs) ? fs.readFileSync(runs, 'utf8').length : 0;
          if (n === last) break;
          last = n;
        }
      } finally {
        child.kill('SIGTERM');
        await child;
      }
      const rows = fs.readFileSync(runs, 'utf8').split('\n').filter(Boolean).map((l) => {
        const [id, seq, ts, start, end] = l.split(' ');
        return { id: id!, seq: Number(seq), ts: Number(ts), start: Number(start), end: Number(end) };
      });
      let violations = 0;
      for (const id of new Set(rows.map((r) => r.id))) {
        const mine = rows.filter((r) => r.id === id).sort((a, b) => a.start - b.start || a.seq - b.seq);
        for (let k = 1; k < mine.length; k++) if (mine[k]!.seq < mine[k - 1]!.seq || mine[k]!.start < mine[k - 1]!.end) violations++;
      }
      const overlapping = rows.some((a) => rows.some((c) => a !== c && a.id !== c.id && a.start < c.end && c.start < a.end));
      const totalS = (Math.max(...rows.map((r) => r.end)) - Math.min(...rows.map((r) => r.ts))) / 1000;
      out.push({ mode, runs: rows.length, violations, totalS, overlapping });
    }
    return out;
  });
}
