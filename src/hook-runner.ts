// Runs one hook for one event: argv never given to a shell, a fixed environment, the event as
// one JSON line on stdin, its own process group, SIGKILL to the whole group at timeout_ms.
import { spawn } from 'node:child_process';
import type { HookConfig } from './config.js';
import type { NlEvent } from './event.js';
import { HOOK_PATH } from './script-check.js';
import { formatEventJson } from './format.js';

export type RunOutcome = 'success' | 'failure' | 'timeout';

export interface RunResult {
  outcome: RunOutcome;
  /** Exit code, or null when killed by a signal or never started. */
  exit_code: number | null;
  signal: string | null;
  duration_ms: number;
  /** performance.now() when the process had been started (spawn returned); NaN if it never was. */
  spawned_at: number;
  /** Why it failed to start or was killed; '' on a normal exit. */
  error: string;
  stdout: string;
  stderr: string;
}

/** What a run needs of its hook (plain data, so it can be sent to another thread). */
export type RunSpec = Pick<HookConfig, 'name' | 'argv' | 'env' | 'timeout_ms' | 'capture_output'>;

/** What the scheduler needs of a runner (a fake in unit tests). */
export interface HookRunner {
  run(hook: RunSpec, event: NlEvent): Promise<RunResult>;
}

export const CAPTURE_LIMIT = 64 * 1024;

export function hookEnvironment(hook: RunSpec, event: NlEvent): Record<string, string> {
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
    NLMON_HOOK: hook.name,
    NLMON_EVENT_JSON: formatEventJson(event),
  };
}

/** Keeps the first CAPTURE_LIMIT bytes of a stream and reads (and drops) the rest. */
function capture(stream: NodeJS.ReadableStream | null): () => string {
  const chunks: Buffer[] = [];
  let kept = 0;
  stream?.on('data', (d: Buffer) => {
    if (kept >= CAPTURE_LIMIT) return;
    const part = d.subarray(0, CAPTURE_LIMIT - kept);
    chunks.push(part);
    kept += part.length;
  });
  stream?.on('error', () => { /* the hook closed it */ });
  return () => Buffer.concat(chunks).toString('utf8');
}

/** Spawns on the calling thread (child_process.spawn blocks its event loop for the fork/exec). */
export class ProcessHookRunner implements HookRunner {
  run(hook: RunSpec, event: NlEvent): Promise<RunResult> {
    return new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
      const out = hook.capture_output ? 'pipe' : 'ignore';
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(hook.argv[0]!, hook.argv.slice(1), {
          env: hookEnvironment(hook, event),
          detached: true, // its own session and process group, so the timeout kills all of it
          stdio: ['pipe', out, out],
          cwd: '/',
        });
      } catch (e) {
        resolve({ outcome: 'failure', exit_code: null, signal: null, duration_ms: elapsed(), spawned_at: NaN, error: `cannot start ${hook.argv[0]}: ${(e as Error).message}`, stdout: '', stderr: '' });
        return;
      }
      // spawn() returns once the program has been exec'd, or with a pid of undefined if not.
      const spawnedAt = child.pid === undefined ? NaN : performance.now();
      const stdout = capture(child.stdout);
      const stderr = capture(child.stderr);
      let settled = false;
      let timedOut = false;
      /** exited: the process ran (its output may still be in the pipes), as opposed to never starting. */
      const finish = (r: Omit<RunResult, 'stdout' | 'stderr' | 'duration_ms' | 'spawned_at'>, exited: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const duration = elapsed();
        const done = () => resolve({ ...r, duration_ms: duration, spawned_at: spawnedAt, stdout: stdout(), stderr: stderr() });
        if (hook.capture_output && exited) {
          // Let the last output arrive; a grandchild holding the pipe does not hold the run.
          let waited = false;
          const end = () => { if (!waited) { waited = true; child.stdout?.destroy(); child.stderr?.destroy(); done(); } };
          child.once('close', end);
          setTimeout(end, 100).unref();
        } else {
          done();
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, hook.timeout_ms);
      child.on('error', (err: NodeJS.ErrnoException) => {
        finish({ outcome: 'failure', exit_code: null, signal: null, error: `cannot start ${hook.argv[0]}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied (not executable?)' : err.message}` }, false);
      });
      child.on('exit', (code, signal) => {
        if (timedOut) {
          finish({ outcome: 'timeout', exit_code: null, signal, error: `killed after timeout_ms ${hook.timeout_ms}` }, true);
          return;
        }
        if (code === 0) finish({ outcome: 'success', exit_code: 0, signal: null, error: '' }, true);
        else finish({ outcome: 'failure', exit_code: code, signal, error: signal ? `killed by ${signal}` : `exit code ${code}` }, true);
      });
      child.stdin?.on('error', () => { /* the hook did not read its stdin */ });
      child.stdin?.end(formatEventJson(event) + '\n');
    });
  }
}
