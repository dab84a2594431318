// `nlmon.containers` (docs/config.md): which container engines are asked, and how long events
// wait for an answer; its keys, their defaults and its reader.
import path from 'node:path';
import type { Checker, YAMLMap } from '../config/checker.js';

export interface ContainersConfig {
  enabled: boolean;
  docker_socket: string[];
  cri_socket: string[];
  wait_ms: number;
}

export const CONTAINERS_KEYS = ['enabled', 'docker_socket', 'cri_socket', 'wait_ms'] as const;
/** Engine API sockets asked for containers, in order: Docker's, then Podman's (same API). */
export const DEFAULT_DOCKER_SOCKETS: readonly string[] = ['/var/run/docker.sock', '/run/podman/podman.sock'];
/** CRI sockets asked for pod sandboxes, in order: containerd's, then CRI-O's. */
export const DEFAULT_CRI_SOCKETS: readonly string[] = ['/run/containerd/containerd.sock', '/var/run/crio/crio.sock'];
export const DEFAULT_CONTAINER_WAIT_MS = 1000;

export function defaultContainers(): ContainersConfig {
  return { enabled: true, docker_socket: [...DEFAULT_DOCKER_SOCKETS], cri_socket: [...DEFAULT_CRI_SOCKETS], wait_ms: DEFAULT_CONTAINER_WAIT_MS };
}

export function readContainers(c: Checker, cont: YAMLMap | undefined): ContainersConfig {
  const cfg = defaultContainers();
  if (!cont) return cfg;
  const e = c.entries(cont, 'nlmon.containers', CONTAINERS_KEYS);
  const en = c.scalar(e.get('enabled'), 'bool', 'enabled');
  if (en !== undefined) cfg.enabled = en;
  // One path, or a list asked in order; [] turns that kind of API off.
  for (const key of ['docker_socket', 'cri_socket'] as const) {
    const pair = e.get(key);
    const socks = c.stringOrList(pair, key);
    if (!socks) continue;
    const bad = socks.find((p) => !path.isAbsolute(p) || Buffer.byteLength(p) > 107);
    if (bad !== undefined) c.at(pair!.value, `${key}: '${bad}' is not an absolute Unix socket path (at most 107 bytes)`);
    else cfg[key] = socks;
  }
  const w = c.positive(e.get('wait_ms'), 'wait_ms', 0, 60_000);
  if (w !== undefined) cfg.wait_ms = w;
  return cfg;
}
