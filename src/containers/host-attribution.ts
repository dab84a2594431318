// HostAttribution: the container that owns a network namespace, found from the host alone: a
// process in the namespace (/proc/PID/ns/net), its cgroup (cgroup.ts), and the pod log directory.
// Asked by the resolver (resolver.ts), which keeps the answers.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerFields } from '../event/event.js';
import { parseCgroup, parsePodLogDir } from './cgroup.js';

export type ContainerInfo = ContainerFields;

/** What /proc says of one namespace: its container, and whether a process other than a container
 * runtime's helpers is in it (a namespace with no process yet, or with only netavark, runc or a
 * CNI plugin in it, may be a container's being set up). */
export interface HostProbeResult {
  found: ContainerInfo | undefined;
  occupied: boolean;
}

/** The names (/proc/PID/comm, at most 15 characters) of the programs that enter a container's
 * namespace while a runtime sets it up, before the container's own process is there. A process
 * may name itself so: that only makes nlmon wait up to wait_ms for its namespace. */
const RUNTIME_HELPERS = new Set([
  'netavark', 'aardvark-dns', 'conmon', 'runc', 'runc:[0:PARENT]', 'runc:[1:CHILD]', 'runc:[2:INIT]', 'crun', 'youki',
  'slirp4netns', 'pasta', 'rootlessport', 'podman', 'containerd-shim',
  'bridge', 'host-local', 'loopback', 'portmap', 'firewall', 'tuning', 'bandwidth', 'ptp', 'macvlan', 'ipvlan', 'dhcp',
]);

export class HostAttribution {
  constructor(private readonly procDir = '/proc', private readonly podLogDir = '/var/log/pods') {}

  /** Reads /proc once for the namespace whose nsfs inode is `ino`: a system call per process. */
  probe(ino: number): HostProbeResult {
    let occupied = false;
    const found = this.find(ino, (pid) => { occupied ||= !this.isRuntimeHelper(pid); });
    return { found, occupied };
  }

  private isRuntimeHelper(pid: string): boolean {
    try {
      return RUNTIME_HELPERS.has(fs.readFileSync(path.join(this.procDir, pid, 'comm'), 'utf8').trimEnd());
    } catch {
      return false;
    }
  }

  private find(ino: number, seen: (pid: string) => void): ContainerInfo | undefined {
    let pids: string[];
    try {
      pids = fs.readdirSync(this.procDir).filter((p) => /^\d+$/.test(p));
    } catch {
      return undefined;
    }
    const want = `net:[${ino}]`;
    for (const pid of pids) {
      let link: string;
      try {
        link = fs.readlinkSync(path.join(this.procDir, pid, 'ns', 'net'));
      } catch {
        continue; // gone, or a kernel thread
      }
      if (link !== want) continue;
      seen(pid);
      let cgroup: string;
      try {
        cgroup = fs.readFileSync(path.join(this.procDir, pid, 'cgroup'), 'utf8');
      } catch {
        continue;
      }
      const c = parseCgroup(cgroup);
      if (!c) continue; // a host process in the namespace (ip netns exec, a runtime helper)
      const pod = c.pod_uid ? this.pod(c.pod_uid) : undefined;
      return {
        container_id: c.container_id, container_name: '', container_image: '', container_runtime: c.container_runtime,
        pod_name: pod?.pod_name ?? '', pod_namespace: pod?.pod_namespace ?? '', pod_uid: c.pod_uid,
      };
    }
    return undefined;
  }

  private pod(uid: string): { pod_name: string; pod_namespace: string } | undefined {
    let names: string[];
    try {
      names = fs.readdirSync(this.podLogDir);
    } catch {
      return undefined;
    }
    for (const n of names) {
      const p = parsePodLogDir(n);
      if (p && p.pod_uid === uid) return p;
    }
    return undefined;
  }
}
