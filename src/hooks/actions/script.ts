// The `script` action (docs/hooks.md): a program run for one event: argv never given to a shell,
// a fixed environment, the event as one JSON line on stdin, its own session and process group,
// SIGKILL to the group at timeout_ms. Its keys, their reader and its runner.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { NlEvent } from '../../event/event.js';
import { HOOK_PATH, checkScript, recheckFiles, resolveProgram, type CheckedFile } from '../script-check.js';
import { nativeBinding, type NativeBinding, type SpawnedChild, type SpawnIdentity } from '../../native/addon.js';
import { resolveIdentity } from '../identity.js';
import { formatEventJson } from '../../event/format.js';
import { FIELDS } from '../../event/filter.js';
import { isScalar, scalarText, type Checker, type Entries } from '../../config/checker.js';
import { splitWords, WordsError } from '../../config/words.js';
import type { ActionReadOptions, ActionType, HookBase, RunSlot, ScriptRunResult } from '../action.js';
import { RetryWaits, backoffMs } from '../retry.js';
import { coalescedOf } from '../gates.js';

export interface ScriptHook extends HookBase {
  action: 'script';
  /** The command line as the file gives it. */
  script: string;
  /** script split into words, then `args`. */
  argv: string[];
  args: string[];
  env: Record<string, string>;
  capture_output: boolean;
  /** Leave the processes a run started in its process group alive after it exits. */
  keep_children: boolean;
  /** The files checked at load, checked again before each run, the program first (empty with
   * --allow-unsafe-scripts). */
  files: CheckedFile[];
  /** Who it runs as, when not as the daemon (`user`, `group`, `capabilities`, `no_new_privs`). */
  identity?: SpawnIdentity;
  /** The exit codes that are tried again; absent: every non-zero one. */
  retry_on?: number[];
}

/** What a run needs of its hook. */
export type RunSpec = Pick<ScriptHook, 'name' | 'argv' | 'env' | 'timeout_ms' | 'capture_output'> & Partial<Pick<ScriptHook, 'keep_children' | 'files' | 'identity'>>;

export const CAPTURE_LIMIT = 64 * 1024;

/** The environment variable of each event field (docs/hooks.md, "Environment"): NLMON_ and the
 * field's name in capitals; booleans are 1 or 0, `changed` is a comma-separated list. A shell
 * hook needs no jq for any of them. */
const FIELD_VARS: ReadonlyArray<[string, keyof NlEvent]> = (Object.keys(FIELDS) as Array<keyof NlEvent>).map((f) => [`NLMON_${String(f).toUpperCase()}`, f]);

function fieldText(v: unknown): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (Array.isArray(v)) return v.join(',');
  return String(v);
}

/** `json` is the event as formatEventJson writes it, when the caller has it already. */
export function hookEnvironment(hook: RunSpec, event: NlEvent, json = formatEventJson(event)): Record<string, string> {
  const env: Record<string, string> = { PATH: HOOK_PATH, ...hook.env };
  for (const [name, field] of FIELD_VARS) env[name] = fieldText(event[field]);
  env.NLMON_HOOK = hook.name;
  env.NLMON_EVENT_JSON = json;
  // How many events this run stands for (debounce_ms folds several into one), and the first's.
  const folded = coalescedOf(event);
  env.NLMON_COALESCED = String(folded.count);
  env.NLMON_FIRST_SEQUENCE = String(folded.first_sequence);
  return env;
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
  /** The process groups of the runs under way, by their leaders' pids, from the spawn until the
   * exit is seen. */
  private readonly groups = new Set<number>();

  constructor(private readonly binding: NativeBinding = nativeBinding()) {}

  /** SIGKILL to the process group of every run under way; returns how many. */
  killRunning(): number {
    const n = this.groups.size;
    for (const pid of this.groups) killGroup(pid);
    this.groups.clear();
    return n;
  }

  async run(hook: RunSpec, event: NlEvent): Promise<ScriptRunResult> {
    const t0 = performance.now();
    const fail = (error: string): ScriptRunResult => ({
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
    const spawning = this.binding.spawnHook({ file, argv: hook.argv, env, stdin: json + '\n', capture: hook.capture_output, captureStderr: true, ...(hook.identity ? { identity: hook.identity } : {}) });
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
    this.groups.add(pid);
    // Forgotten as the exit is seen, before anything else runs: once the leader is reaped and its
    // group empty, the number may be another process's.
    const [code, sig] = await new Promise<[number, number]>((resolve) => this.binding.watchExit(pid, pidfd, (c, s) => {
      this.groups.delete(pid);
      resolve([c, s]);
    }));
    clearTimeout(timer);
    // Like systemd's KillMode=control-group for a oneshot: what the run left behind in its
    // process group goes with it. The group's id cannot be reused while members remain.
    if (!hook.keep_children) killGroup(pid);
    const duration = performance.now() - t0;
    if (hook.capture_output || code !== 0) {
      // Let the last output arrive; a grandchild holding the pipe does not hold the run.
      await Promise.race([Promise.all([out.closed, err.closed]), new Promise((r) => setTimeout(r, 100).unref())]);
    }
    const signal = sig ? (SIGNAL_NAMES.get(sig) ?? `signal ${sig}`) : null;
    const base = { duration_ms: duration, spawned_at: spawnedAt, stdout: out.text(), stderr: err.text() };
    if (timedOut) return { ...base, outcome: 'timeout', exit_code: null, signal, error: `killed after timeout_ms ${hook.timeout_ms}` };
    if (code === 0) return { ...base, outcome: 'success', exit_code: 0, signal: null, error: '' };
    // The addon lost the child's pidfd (a poll error): it was killed and is reaped apart.
    if (code < 0 && !sig) return { ...base, outcome: 'failure', exit_code: null, signal: null, error: 'lost track of the process (its pidfd failed); it was killed' };
    return { ...base, outcome: 'failure', exit_code: sig ? null : code, signal, error: sig ? `killed by ${signal}` : `exit code ${code}` };
  }
}

/** A script run, tried again after an exit the hook retries on (docs/hooks.md, "Retries"). A
 * timeout, a signal, or a program refused or not started is not tried again. */
export class ScriptRunner {
  private readonly native: NativeHookRunner;
  private readonly waits = new RetryWaits();

  constructor(binding?: NativeBinding) {
    this.native = new NativeHookRunner(binding);
  }

  async run(hook: ScriptHook, event: NlEvent, slot?: RunSlot): Promise<ScriptRunResult> {
    const t0 = performance.now();
    for (let attempts = 1; ; attempts++) {
      const r = await this.native.run(hook, event);
      const again = r.outcome === 'failure' && r.exit_code !== null && r.exit_code !== 0 && (hook.retry_on?.includes(r.exit_code) ?? true);
      if (!again || attempts > (hook.retries ?? 0) || this.waits.closed) {
        return attempts > 1 ? { ...r, attempts, duration_ms: performance.now() - t0, error: r.error && `${r.error} after ${attempts} attempts` } : r;
      }
      await this.waits.wait(backoffMs(attempts), slot);
      if (this.waits.closed) return { ...r, attempts, duration_ms: performance.now() - t0 };
    }
  }

  close(): void {
    this.waits.close();
  }

  /** A run's own session would outlive the daemon: its whole process group is killed. */
  abandon(): number {
    return this.native.killRunning();
  }
}

/** The keys of a script hook (docs/hooks.md), read from its entries. */
function readScript(c: Checker, e: Entries, label: string, opts: ActionReadOptions): Omit<ScriptHook, keyof HookBase> | undefined {
  const before = c.issues.length;
  const script = c.scalar(e.get('script'), 'string', 'script');
  let argv: string[] = [];
  if (script !== undefined) {
    try {
      argv = splitWords(script);
      if (argv.length === 0) c.at(e.get('script')!.value, `${label}: script is empty`);
      // A relative path is relative to the config file's directory, not to nlmon's cwd.
      else if (argv[0]!.includes('/')) argv[0] = c.relative(argv[0]!);
    } catch (err) {
      if (!(err instanceof WordsError)) throw err;
      c.at(e.get('script')!.value, `${label}: script: ${err.message}`);
    }
  }
  const capture = c.scalar(e.get('capture_output'), 'bool', 'capture_output');
  const keepChildren = c.scalar(e.get('keep_children'), 'bool', 'keep_children');
  const args = c.stringList(e.get('args'), 'args') ?? [];
  const env: Record<string, string> = {};
  for (const p of c.pairs(e.get('env'), 'env')) {
    const k = isScalar(p.key) ? String(p.key.value) : '';
    const v = scalarText(c, p.value);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) c.at(p.key, `env: '${k}' is not a valid variable name`);
    else if (v === undefined) c.at(p.value ?? p, `env: ${k} must be a string, not ${c.describeNode(p.value)}`);
    else if (k.startsWith('NLMON_')) c.at(p.key, `env: ${k}: NLMON_ variables are set by nlmon`);
    else env[k] = v;
  }
  let files: CheckedFile[] = [];
  if (argv.length && script !== undefined) {
    const checked = checkScript([...argv, ...args], opts.allowUnsafeScripts);
    if ('problem' in checked) c.at(e.get('script')!.value, `${label}: ${checked.problem}`);
    else if (!opts.allowUnsafeScripts) files = checked.files;
  }
  // Who it runs as: what the daemon cannot grant is an error here, not at the first run.
  const nameOrId = (k: string) => (c.kindOf(e.get(k)?.value) === 'int' ? String(c.scalar(e.get(k), 'int', k)) : c.scalar(e.get(k), 'string', k));
  const user = nameOrId('user');
  const group = nameOrId('group');
  const capabilities = c.stringList(e.get('capabilities'), 'capabilities');
  const noNewPrivs = c.scalar(e.get('no_new_privs'), 'bool', 'no_new_privs');
  const who = resolveIdentity({
    ...(user !== undefined ? { user } : {}), ...(group !== undefined ? { group } : {}),
    ...(capabilities ? { capabilities } : {}), ...(noNewPrivs !== undefined ? { no_new_privs: noNewPrivs } : {}),
  });
  if (who.problem) c.at((e.get('capabilities') ?? e.get('user') ?? e.get('group') ?? e.get('no_new_privs'))!.value, `${label}: ${who.problem}`);
  const retryOn = c.intList(e.get('retry_on'), 'retry_on', 1, 255);
  if (c.issues.length !== before || script === undefined) return undefined;
  return {
    script, argv: [...argv, ...args], args, env, capture_output: capture ?? false, keep_children: keepChildren ?? false, files,
    ...(who.identity ? { identity: who.identity } : {}), ...(retryOn ? { retry_on: retryOn } : {}),
  } as Omit<ScriptHook, keyof HookBase>;
}

export const scriptAction: ActionType<ScriptHook> = {
  key: 'script',
  keys: ['args', 'env', 'capture_output', 'keep_children', 'user', 'group', 'capabilities', 'no_new_privs', 'retry_on'],
  retries: 0,
  read: readScript,
  target: (h) => h.script,
  failure: 'start',
  runner: (services) => new ScriptRunner(services.binding),
};
