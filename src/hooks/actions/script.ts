// Runs one hook for one event: argv never given to a shell, a fixed environment, the event as
// one JSON line on stdin, its own session and process group, SIGKILL to the group at timeout_ms.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { HookConfig } from '../hook.js';
import type { NlEvent } from '../../event/event.js';
import { HOOK_PATH, recheckFiles, resolveProgram } from '../script-check.js';
import { nativeBinding, type NativeBinding, type SpawnedChild } from '../../native/addon.js';
import { formatEventJson } from '../../event/format.js';

export type RunOutcome = 'success' | 'failure' | 'timeout';

export interface RunResult {
  outcome: RunOutcome;
  /** Exit code, or null when killed by a signal or never started. */
  exit_code: number | null;
  signal: string | null;
  duration_ms: number;
  /** performance.now() when nlmon learnt the process had been exec'd; NaN if it never was. */
  spawned_at: number;
  /** Why it failed to start or was killed; '' on a normal exit. */
  error: string;
  stdout: string;
  stderr: string;
  /** Requests made, for a webhook (1 + its retries); absent for other actions. */
  attempts?: number;
}

/** What a run needs of its hook. */
export type RunSpec = Pick<HookConfig, 'name' | 'argv' | 'env' | 'timeout_ms' | 'capture_output'> & Partial<Pick<HookConfig, 'keep_children' | 'files'>>;

/** A run's hold on a max_concurrent slot, for a run that waits between attempts (a webhook's
 * retry): it gives the slot back while it waits and takes one again before the next attempt. */
export interface RunSlot {
  release(): void;
  acquire(): Promise<void>;
}

/** What the scheduler needs of a runner (a fake in unit tests). */
export interface HookRunner {
  run(hook: HookConfig, event: NlEvent, slot?: RunSlot): Promise<RunResult>;
}

export const CAPTURE_LIMIT = 64 * 1024;

/** `json` is the event as formatEventJson writes it, when the caller has it already. */
export function hookEnvironment(hook: RunSpec, event: NlEvent, json = formatEventJson(event)): Record<string, string> {
  return {
    PATH: HOOK_PATH,
    ...hook.env,
    NLMON_TIMESTAMP: String(event.timestamp),
    NLMON_SEQUENCE: String(event.sequence),
    NLMON_EVENT_TYPE: String(event.event_type),
    NLMON_MESSAGE_TYPE: String(event.message_type),
    NLMON_INTERFACE: event.interface,
    NLMON_NAMESPACE: event.namespace,
    NLMON_IFINDEX: String(event.ifindex),
    NLMON_EVENT: event.event,
    NLMON_OPERSTATE: event.operstate,
    NLMON_KIND: event.kind,
    NLMON_PEER_NAMESPACE: event.peer_namespace,
    NLMON_FAMILY: event.family,
    NLMON_IP: event.ip,
    NLMON_PREFIXLEN: String(event.prefixlen),
    NLMON_SCOPE: event.scope,
    NLMON_HOST: event.host,
    NLMON_CONTAINER_ID: event.container_id,
    NLMON_CONTAINER_NAME: event.container_name,
    NLMON_CONTAINER_IMAGE: event.container_image,
    NLMON_CONTAINER_RUNTIME: event.container_runtime,
    NLMON_POD_NAME: event.pod_name,
    NLMON_POD_NAMESPACE: event.pod_namespace,
    NLMON_POD_UID: event.pod_uid,
    NLMON_HOOK: hook.name,
    NLMON_EVENT_JSON: json,
  };
}

/** Reads a capture pipe: keeps the first CAPTURE_LIMIT bytes, reads and drops the rest. */
class Capture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private readonly socket: net.Socket | undefined;
  readonly closed: Promise<void>;

  constructor(fd: number) {
    if (fd < 0) {
      this.closed = Promise.resolve();
      return;
    }
    const socket = new net.Socket({ fd, readable: true, writable: false });
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (d: Buffer) => {
      if (this.kept >= CAPTURE_LIMIT) return;
      const part = d.subarray(0, CAPTURE_LIMIT - this.kept);
      this.chunks.push(part);
      this.kept += part.length;
    });
    socket.on('error', () => { /* the hook closed it */ });
  }

  text(): string {
    this.socket?.destroy();
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** SIGKILL to a run's whole process group (its session leader's pid). */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const SIGNAL_NAMES = new Map(Object.entries(os.constants.signals).map(([name, n]) => [n, name]));

function startError(program: string, err: NodeJS.ErrnoException): string {
  const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied (not executable?)' : err.message;
  return `cannot start ${program}: ${why}`;
}

/** Runs hooks with the addon's posix_spawn on its own spawn threads: nothing about starting a
 * process blocks the loop that reads netlink, and there is no fork of the daemon's memory. */
export class NativeHookRunner {
  constructor(private readonly binding: NativeBinding = nativeBinding()) {}

  async run(hook: RunSpec, event: NlEvent): Promise<RunResult> {
    const t0 = performance.now();
    const fail = (error: string): RunResult => ({
      outcome: 'failure', exit_code: null, signal: null, duration_ms: performance.now() - t0, spawned_at: NaN, error, stdout: '', stderr: '',
    });
    const program = hook.argv[0]!;
    // The program as checked at load (found on PATH then, not again on the loop at each run).
    const file = hook.files?.[0]?.path ?? resolveProgram(program);
    if (!file) return fail(startError(program, Object.assign(new Error('no such file'), { code: 'ENOENT' })));
    if (hook.files?.length) {
      const why = await recheckFiles(hook.files);
      if (why) return fail(`refused: ${why}`);
    }
    const json = formatEventJson(event);
    const env = Object.entries(hookEnvironment(hook, event, json)).map(([k, v]) => `${k}=${v}`);
    // The deadline runs from dispatch, not from the exec: a spawn stuck in exec (a script on a
    // hung mount) still ends as a timeout at timeout_ms, and gives its slot back.
    let child: SpawnedChild | undefined;
    let timedOut = false;
    let onDeadline!: () => void;
    const deadline = new Promise<'deadline'>((resolve) => { onDeadline = () => resolve('deadline'); });
    const expire = () => {
      // The loop's clock can lag performance.now() by a millisecond: never kill early.
      const left = hook.timeout_ms - (performance.now() - t0);
      if (left > 0) {
        timer = setTimeout(expire, Math.ceil(left));
        return;
      }
      timedOut = true;
      if (child) killGroup(child.pid); // the whole session's group: children and grandchildren
      onDeadline();
    };
    let timer = setTimeout(expire, hook.timeout_ms);
    const spawning = this.binding.spawnHook({ file, argv: hook.argv, env, stdin: json + '\n', capture: hook.capture_output });
    const started = await Promise.race([spawning.then((c) => ({ c }), (e: NodeJS.ErrnoException) => ({ e })), deadline]);
    if (started === 'deadline') {
      // Kill the program the moment the spawn returns, and reap it; nobody waits for it now.
      spawning.then((late) => {
        killGroup(late.pid);
        for (const fd of [late.stdout, late.stderr]) if (fd >= 0) fs.close(fd, () => {});
        this.binding.watchExit(late.pid, late.pidfd, () => {});
      }, () => {});
      return {
        outcome: 'timeout', exit_code: null, signal: null, duration_ms: performance.now() - t0, spawned_at: NaN,
        error: `killed after timeout_ms ${hook.timeout_ms} (the program had not even started)`, stdout: '', stderr: '',
      };
    }
    if ('e' in started) {
      clearTimeout(timer);
      return fail(startError(program, started.e));
    }
    child = started.c;
    const spawnedAt = performance.now();
    const out = new Capture(child.stdout);
    const err = new Capture(child.stderr);
    const pid = child.pid;
    const pidfd = child.pidfd;
    const [code, sig] = await new Promise<[number, number]>((resolve) => this.binding.watchExit(pid, pidfd, (c, s) => resolve([c, s])));
    clearTimeout(timer);
    // Like systemd's KillMode=control-group for a oneshot: what the run left behind in its
    // process group goes with it. The group's id cannot be reused while members remain.
    if (!hook.keep_children) killGroup(pid);
    const duration = performance.now() - t0;
    if (hook.capture_output) {
      // Let the last output arrive; a grandchild holding the pipe does not hold the run.
      await Promise.race([Promise.all([out.closed, err.closed]), new Promise((r) => setTimeout(r, 100).unref())]);
    }
    const signal = sig ? (SIGNAL_NAMES.get(sig) ?? `signal ${sig}`) : null;
    const base = { duration_ms: duration, spawned_at: spawnedAt, stdout: out.text(), stderr: err.text() };
    if (timedOut) return { ...base, outcome: 'timeout', exit_code: null, signal, error: `killed after timeout_ms ${hook.timeout_ms}` };
    if (code === 0) return { ...base, outcome: 'success', exit_code: 0, signal: null, error: '' };
    return { ...base, outcome: 'failure', exit_code: sig ? null : code, signal, error: sig ? `killed by ${signal}` : `exit code ${code}` };
  }
}
