// Reading a container from the host alone (docs/events.md, "Containers"): the cgroup path of a
// process in its namespace names the container and the runtime, a Kubernetes pod's uid, and the
// pod log directory /var/log/pods/<namespace>_<name>_<uid> names the pod.

export type Runtime = '' | 'docker' | 'podman' | 'containerd' | 'cri-o';

export interface CgroupContainer {
  container_id: string;
  container_runtime: Runtime;
  pod_uid: string;
}

const ID = '([0-9a-f]{64})';

/** Cgroup path patterns of the runtimes, systemd and cgroupfs drivers, most specific first. */
const PATTERNS: ReadonlyArray<readonly [RegExp, Runtime]> = [
  [new RegExp(`docker-${ID}\\.scope`), 'docker'],
  [new RegExp(`/docker/${ID}(?:/|$)`), 'docker'],
  [new RegExp(`libpod-${ID}(?:\\.scope|/|$)`), 'podman'],
  [new RegExp(`cri-containerd-${ID}\\.scope`), 'containerd'],
  [new RegExp(`crio-${ID}(?:\\.scope|/|$)`), 'cri-o'],
  // containerd's CRI with no cgroup parent given: its namespace, then the id.
  [new RegExp(`^/k8s\\.io/${ID}(?:/|$)`), 'containerd'],
  // cgroupfs driver under Kubernetes: /kubepods/<qos>/pod<uid>/<id>; the runtime is not in the path.
  [new RegExp(`/kubepods/(?:[a-z]+/)?pod[0-9a-f-]{36}/${ID}(?:/|$)`), ''],
];

/** systemd slices write the pod uid with '_' for '-'. */
const POD = /kubepods[^\n]*?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;

/** The container a /proc/PID/cgroup text names, or undefined (a host process). The monitor
 * process a runtime runs beside the container (libpod-conmon-…, crio-conmon-…) is not one. */
export function parseCgroup(text: string): CgroupContainer | undefined {
  for (const line of text.split('\n')) {
    const p = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    if (!p || p.includes('conmon')) continue;
    for (const [re, runtime] of PATTERNS) {
      const m = re.exec(p);
      if (!m) continue;
      const pod = POD.exec(p);
      return { container_id: m[1]!, container_runtime: runtime, pod_uid: pod ? pod[1]!.replace(/_/g, '-') : '' };
    }
  }
  return undefined;
}

export interface PodName {
  pod_namespace: string;
  pod_name: string;
  pod_uid: string;
}

/** A directory name under /var/log/pods: `<namespace>_<name>_<uid>` (names hold no '_'). */
export function parsePodLogDir(name: string): PodName | undefined {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)_([a-z0-9]([-.a-z0-9]*[a-z0-9])?)_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(name);
  return m ? { pod_namespace: m[1]!, pod_name: m[3]!, pod_uid: m[5]! } : undefined;
}
