// What a container runtime answers, read as a peer's word (docs/hooks.md, "Threat model"): the
// bounds and the reading both runtimes' clients share (engine-api.ts, cri.ts), and what an
// engine's inspect answer says of a container: its name, image, pod labels and the network
// namespace it is in, refused when the container chose something no container may have.
import fs from 'node:fs';
import type { ContainerFields } from '../event/event.js';
import type { Runtime } from './cgroup.js';

/** Longest name, image and pod field kept: a longer one (a container choosing a 1 MiB name
 * to make every hook's environment too large) is refused, and the container left unnamed. */
export const MAX_NAME = 253;
const MAX_IMAGE = 512;

/** What a container or pod chose, as nlmon keeps it: '' for none, undefined (refused) for
 * anything but a string of at most `max` characters, never printed as [object Object] or
 * handed to every hook. */
export function peerText(v: unknown, max: number): string | undefined {
  return v === undefined || v === null ? '' : typeof v === 'string' && v.length <= max ? v : undefined;
}

/** A namespace file's inode; -1 when it cannot be read. */
export function statIno(p: string): number {
  try {
    return fs.statSync(p).ino;
  } catch {
    return -1;
  }
}

/** What the engine says of one container, with the namespace it is in. */
export interface EngineContainer {
  id: string;
  fields: ContainerFields;
  /** nsfs inode of its network namespace; -1 if it has none (created and not started yet, or
   * stopped). */
  ino: number;
  /** It joined another container's namespace (`container:<id>`): that one owns the namespace. */
  joined: boolean;
}

/** The part of an inspect answer read. */
export interface Inspect {
  Id?: string;
  Name?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null } | null;
  State?: { Pid?: number; Status?: string } | null;
  NetworkSettings?: { SandboxKey?: string } | null;
  HostConfig?: { NetworkMode?: string } | null;
}

/** An engine's inspect answer as a container of nlmon's, given how to read a namespace's inode
 * (a path's stat; tests give their own). Host-network containers are not in a namespace of
 * their own: they get ino -1 and are never matched. */
export function engineContainer(j: Inspect, runtime: Runtime, inoOf: (path: string) => number): EngineContainer | undefined {
  if (typeof j !== 'object' || j === null) return undefined;
  if (typeof j.Id !== 'string' || !/^[0-9a-f]{12,64}$/.test(j.Id)) return undefined;
  // What a container chose (its name, image, labels) must be a string of a sane length.
  const name = peerText(j.Name, MAX_NAME + 1);
  const image = peerText(j.Config?.Image, MAX_IMAGE);
  const rawLabels: unknown = j.Config?.Labels ?? {};
  if (name === undefined || image === undefined || typeof rawLabels !== 'object' || rawLabels === null) return undefined;
  const labels = rawLabels as Record<string, unknown>;
  const pod = ['io.kubernetes.pod.name', 'io.kubernetes.pod.namespace', 'io.kubernetes.pod.uid'].map((k) => peerText(labels[k], MAX_NAME));
  if (pod.some((v) => v === undefined)) return undefined;
  const mode = j.HostConfig?.NetworkMode ?? '';
  let ino = -1;
  if (mode !== 'host') {
    const key = j.NetworkSettings?.SandboxKey ?? '';
    if (typeof key === 'string' && key.startsWith('/')) ino = inoOf(key);
    const pid = j.State?.Pid ?? 0;
    if (ino < 0 && Number.isInteger(pid) && pid > 0) ino = inoOf(`/proc/${pid}/ns/net`);
  }
  return {
    id: j.Id,
    ino,
    joined: typeof mode === 'string' && mode.startsWith('container:'),
    fields: {
      container_id: j.Id,
      container_name: name.replace(/^\//, ''),
      container_image: image,
      container_runtime: runtime,
      pod_name: pod[0]!,
      pod_namespace: pod[1]!,
      pod_uid: pod[2]!,
    },
  };
}
