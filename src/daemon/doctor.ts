// `nlmon doctor` (docs/cli.md): what works under the privileges nlmon has now, and what each
// missing capability would give. Read from this process's capabilities and the paths a config
// names (engine sockets, netns directories, the hook log's and the spools' directories); nothing
// is changed.
import fs from 'node:fs';
import path from 'node:path';
import { daemonCapabilities, hasCapability } from '../native/capabilities.js';
import { safeDirectory } from '../files/safe-path.js';
import { attributionSources } from '../containers/sources.js';
import type { NlmonConfig } from './config-file.js';

export interface DoctorCheck {
  /** A capability (`CAP_SYS_ADMIN`) or a path's role (`docker_socket /var/run/docker.sock`). */
  what: string;
  ok: boolean;
  /** What works with it, or what does not without it. */
  detail: string;
}

/** The capabilities nlmon uses, and what each gives. */
const USES: ReadonlyArray<[string, string]> = [
  ['CAP_NET_ADMIN', 'receive buffers past net.core.rmem_max (SO_RCVBUFFORCE), for fewer overruns in bursts; with the shared intake, ids for namespaces and dumps of them'],
  ['CAP_NET_BROADCAST', 'the shared intake: every namespace heard on one socket without CAP_SYS_ADMIN (with CAP_NET_ADMIN)'],
  ['CAP_SYS_ADMIN', 'watching namespaces other than the one nlmon runs in with a socket in each (intake: per_namespace, setns)'],
  ['CAP_SETUID', 'hooks with `user` (with CAP_SETGID)'],
  ['CAP_SETGID', 'hooks with `user` or `group`'],
  ['CAP_SYS_PTRACE', 'naming the container of a namespace from another user\'s process (/proc/PID/ns/net, cgroups)'],
  ['CAP_DAC_OVERRIDE', 'reading root-only engine sockets and writing root-owned log and spool directories as another user'],
  ['CAP_KILL', 'ending a hook that runs as another user at its timeout'],
];

export function doctor(config: NlmonConfig, caps = daemonCapabilities()): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const has = (name: string) => hasCapability(caps, name);
  for (const [cap, gives] of USES) out.push({ what: cap, ok: has(cap), detail: has(cap) ? gives : `missing: no ${gives}` });
  if (config.containers.enabled) {
    for (const s of attributionSources(config.containers.docker_socket, config.containers.cri_socket, has('CAP_SYS_PTRACE'))) if (!s.absent) out.push({ what: s.what, ok: s.ok, detail: s.detail });
  }
  for (const d of config.monitoring.netns_dirs) {
    if (!fs.existsSync(d)) continue;
    let ok = true;
    try {
      fs.readdirSync(d);
    } catch {
      ok = false;
    }
    out.push({ what: `netns_dir ${d}`, ok, detail: ok ? 'namespaces in it are found' : 'cannot be read: its namespaces are not found' });
  }
  const writable: Array<[string, string]> = [];
  if (config.integration.hook_log) writable.push(['hook_log', path.dirname(config.integration.hook_log)]);
  for (const o of config.outputs) {
    if ('spool_dir' in o) writable.push([`output ${o.name} spool_dir`, o.spool_dir]);
    if ('path' in o) writable.push([`output ${o.name} path`, path.dirname(o.path)]);
  }
  for (const [role, dir] of writable) {
    try {
      // Checked, never made: the nearest directory that exists must be safe to write as root.
      let d = dir;
      while (!fs.existsSync(d) && d !== '/') d = path.dirname(d);
      safeDirectory(d);
      fs.accessSync(d, fs.constants.W_OK);
      out.push({ what: `${role} ${dir}`, ok: true, detail: 'can be written' });
    } catch (e) {
      out.push({ what: `${role} ${dir}`, ok: false, detail: (e as Error).message });
    }
  }
  return out;
}
