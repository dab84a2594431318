// Bench (README, "Measured"): podman containers started and removed under the daemon.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { NLMON, sleep } from '../test/helpers/index.js';
import { needsPodman, withPodman } from '../test/helpers/podman.js';
import { type BenchContext, median } from './context.js';

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
    const child = execa(process.execPath, [NLMON, 'run', '--config', cfg], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    for (let i = 0; i < 200 && !err.includes('hook(s)'); i++) await sleep(50);
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
