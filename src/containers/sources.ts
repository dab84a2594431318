// What each attribution source can do under the privileges nlmon has (docs/events.md,
// "Containers"): one line per source, logged at start and shown by `nlmon doctor`.
// - An engine or CRI socket needs write permission on the socket (root, or its group).
// - The host source (a namespace's processes and their cgroups) needs /proc/PID/ns/net of other
//   users' processes: CAP_SYS_PTRACE, or root with every capability those processes have.
//   /proc/PID/cgroup is readable by all.
import fs from 'node:fs';

export interface SourceState {
  /** `docker_socket PATH`, `cri_socket PATH` or `processes`. */
  what: string;
  ok: boolean;
  /** Not there at all (a socket nothing serves on this host): nothing to fix. */
  absent: boolean;
  detail: string;
}

/** Whether this process may connect to a Unix socket: 'ok', 'not there', or why not. */
function socketState(p: string): string {
  try {
    fs.accessSync(p, fs.constants.W_OK);
    return fs.statSync(p).isSocket() ? 'ok' : 'not a socket';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return code === 'ENOENT' ? 'not there' : code;
  }
}

/** Whether the network namespaces of other users' processes can be read: with CAP_SYS_PTRACE,
 * or when PID 1's (the node's init, with every capability) can be. */
function processState(procDir: string, ptrace: boolean): string {
  if (ptrace) return 'ok';
  try {
    fs.statSync(`${procDir}/1/ns/net`);
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'error';
  }
}

/** `ptrace`: whether nlmon has CAP_SYS_PTRACE. */
export function attributionSources(dockerSockets: readonly string[], criSockets: readonly string[], ptrace: boolean, procDir = '/proc'): SourceState[] {
  const out: SourceState[] = [];
  const engines: string[] = [];
  for (const [key, list] of [['docker_socket', dockerSockets], ['cri_socket', criSockets]] as const) {
    for (const p of list) {
      const state = socketState(p);
      if (state === 'ok') engines.push(p);
      const detail = state === 'ok'
        ? 'containers named by the engine'
        : state === 'not there'
          ? 'not there: used when it appears'
          : `${state}: no names from it (connecting needs write permission on the socket: root, or its group)`;
      out.push({ what: `${key} ${p}`, ok: state === 'ok', absent: state === 'not there', detail });
    }
  }
  const proc = processState(procDir, ptrace);
  out.push({
    what: 'processes',
    ok: proc === 'ok',
    absent: false,
    detail: proc === 'ok'
      ? 'namespaces named from their processes\' cgroups too'
      : `${proc} on other users' /proc/PID/ns/net (needs CAP_SYS_PTRACE): ${engines.length ? 'attribution from the engines only' : 'no container is named'}`,
  });
  return out;
}
