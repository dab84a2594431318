// HostAttribution: the container that owns a network namespace, found from the host alone: a
// process in the namespace (/proc/PID/ns/net), its cgroup (cgroup.ts), and the pod log directory.
// Looked up once per namespace and kept; a namespace with no container process yet is looked up
// again at most every RETRY_MS, so a burst of events costs no system call per event.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerFields } from '../event/event.js';
import { parseCgroup, parsePodLogDir } from './cgroup.js';

export type ContainerInfo = ContainerFields;

const RETRY_MS = 5000;

export class HostAttribution {
  private readonly known = new Map<number, ContainerInfo>();
  private readonly missed = new Map<number, number>();

  constructor(private readonly procDir = '/proc', private readonly podLogDir = '/var/log/pods', private readonly now = () => Date.now()) {}

  /** The container of the namespace whose nsfs inode is `ino`, or undefined. */
  lookup(ino: number): ContainerInfo | undefined {
    const hit = this.known.get(ino);
    if (hit) return hit;
    const missedAt = this.missed.get(ino);
    if (missedAt !== undefined && this.now() - missedAt < RETRY_MS) return undefined;
    const found = this.find(ino);
    if (found) {
      this.known.set(ino, found);
      this.missed.delete(ino);
    } else {
      this.missed.set(ino, this.now());
    }
    return found;
  }

  /** A namespace went: forget it (its inode may be reused). */
  forget(ino: number): void {
    this.known.delete(ino);
    this.missed.delete(ino);
  }

  private find(ino: number): ContainerInfo | undefined {
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
