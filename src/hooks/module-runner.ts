// Module handlers' runner (docs/hooks.md, "Module handlers"): a JavaScript module's handler called
// in worker threads, never on the loop that reads netlink. Each module hook has up to one worker
// per CPU ("lanes"), each serving many runs: the runs dispatched in one turn of the loop go to a
// worker as one message, and their outcomes come back the same way, so a call costs a share of a
// message rather than two thread wake-ups. A run goes to the first worker that would get through
// what it holds within QUICK_MS, by the time the handler has taken per run: a quick handler is
// served by one worker (the fewest messages), a slow one by as many as the CPUs allow. A run
// that passes its timeout_ms terminates its worker (a handler that spins cannot be stopped any
// other way): the runs that worker had not started go to a fresh one, with their full timeout
// again; those it had started end with it, as failures. The worker checks the module's files
// again before the runs it is given (module-worker.ts).
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { NlEvent } from '../event/event.js';
import { EventLines } from '../event/json.js';
import type { RunResult } from './action.js';
import { MODULE_GUARD, type CheckedFile } from './script-check.js';
import { packageFile } from '../package.js';
import { workerThreads } from '../builtin.js';
import { coalescedOf } from './gates.js';

/** What a module run needs of its hook: its name, module and timeout; the files checked at load
 * (so that the worker checks them again and guards every file the module loads; none with
 * --allow-unsafe-scripts) and its worker's heap limit (MB). */
export interface ModuleSpec {
  name: string;
  module: string;
  timeout_ms: number;
  files?: CheckedFile[];
  max_heap_mb?: number;
}

const WORKER = packageFile('dist/src/hooks/module-worker.js');
/** The most a handler's log lines keep per run (they go to the run's stdout). */
const LOG_KEEP = 64 * 1024;
/** Where a batch's events are written for its message (flush runs to its end in one go). */
const lines = new EventLines();
const LANES = Math.max(1, Math.min(4, os.availableParallelism()));
/** A worker whose runs in hand the handler would get through in this time takes one more... */
const QUICK_MS = 1;
/** ...unless it has runs and has not answered in this time (a run that blocks or spins). */
const STALL_MS = 10;
export const DEFAULT_MAX_HEAP_MB = 128;
/** Workers of one hook terminated (a timeout) that have not exited yet — stuck in a system
 * call, they keep their thread and memory — past which its runs are refused until they exit. */
const MAX_STUCK = 4;
/** Worker deaths (crashes, out of memory, timeouts) of one hook in DEATH_WINDOW_MS past which
 * the hook is disabled until the next reload, not restarted for ever. */
const MAX_DEATHS = 5;
const DEATH_WINDOW_MS = 60_000;


/** A run, from dispatch to its outcome: an object with a method rather than closures (many are
 * made a second). */
class Run {
  /** Its place in the order its lane received runs (1-based). */
  ordinal = 0;
  out = '';
  /** When it times out (performance.now() ms): timeout_ms from its dispatch, or from its
   * dispatch again after its worker was replaced. */
  deadline: number;

  constructor(
    readonly id: number,
    readonly hook: ModuleSpec,
    readonly event: NlEvent,
    /** How many events the run stands for (debounce_ms), and the first one's sequence. */
    readonly count: number,
    readonly first: number,
    private readonly t0: number,
    private readonly resolve: (r: RunResult) => void,
  ) {
    this.deadline = t0 + hook.timeout_ms;
  }

  settle(outcome: RunResult['outcome'], error: string): void {
    this.resolve({ outcome, duration_ms: performance.now() - this.t0, error, stdout: this.out, stderr: '' });
  }
}

interface Lane {
  key: string;
  worker: Worker;
  ready: boolean;
  /** When it last answered (or was started, or given a run while it had none). */
  heardAt: number;
  /** Runs the worker has started, written by the worker (Atomics): who was running at a timeout. */
  started: Int32Array;
  posted: number;
  inflight: Map<number, Run>;
  outbox: Run[];
  /** One timer for the lane, at the earliest deadline of its runs (not one per run), and when. */
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
  flushing: boolean;
  /** Set once it is being replaced (a timeout, a crash, a reload): no new runs. */
  retired: boolean;
  generation: number;
  /** Terminates its worker (counted as stuck until it has exited). */
  stop: () => void;
}

type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; ok: number[]; failed: Array<number | string>; busy: number; ran: number }
  | { type: 'log'; id: number; line: string }
  | { type: 'output'; line: string };

export class ModuleRunner {
  private readonly lanes = new Map<string, Lane[]>();
  /** Per hook: workers terminated and not exited yet, recent deaths, and why it is disabled. */
  private readonly stuck = new Map<string, number>();
  private readonly deaths = new Map<string, number[]>();
  private readonly disabled = new Map<string, string>();
  /** Per hook: the time (ms) its handler takes per run on its worker's thread, a moving
   * average over the workers' answers; absent until the first answer. */
  private readonly cost = new Map<string, number>();
  private generation = 0;
  private nextId = 1;

  constructor(private readonly log: (hook: string, line: string) => void = () => {}) {}

  run(hook: ModuleSpec, event: NlEvent): Promise<RunResult> {
    const t0 = performance.now();
    const folded = coalescedOf(event);
    return new Promise<RunResult>((resolve) => {
      this.dispatch(new Run(this.nextId++, hook, event, folded.count, folded.first_sequence, t0, resolve));
    });
  }

  /** Loads a hook's module in a worker now (at start and on reload), so that its first event
   * does not wait for the load. */
  preload(hook: ModuleSpec): void {
    const key = `${hook.name}\0${hook.module}`;
    if (this.lanes.get(key)?.length) return;
    this.lanes.set(key, [this.spawn(hook, key)]);
  }

  /** The modules are to be loaded again (a reload): new runs go to fresh workers; the old ones
   * end once their runs have. */
  reset(): void {
    this.generation++;
    this.deaths.clear();
    this.disabled.clear();
    this.cost.clear();
    for (const list of this.lanes.values()) for (const lane of list) this.retire(lane);
    this.lanes.clear();
  }

  private dispatch(run: Run): void {
    const { hook } = run;
    const off = this.disabled.get(hook.name);
    const stuck = this.stuck.get(hook.name) ?? 0;
    if (off || stuck >= MAX_STUCK) {
      run.settle('failure', off ?? `${stuck} workers of hook ${hook.name} were terminated and have not exited (stuck in a system call?): its runs are refused until they do`);
      return;
    }
    const lane = this.lane(hook);
    run.ordinal = ++lane.posted;
    lane.inflight.set(run.id, run);
    if (lane.timer === undefined || run.deadline < lane.timerAt) this.alarm(lane, run.deadline);
    lane.outbox.push(run);
    if (!lane.flushing && lane.ready) {
      lane.flushing = true;
      queueMicrotask(() => this.flush(lane));
    }
  }

  private flush(lane: Lane): void {
    lane.flushing = false;
    if (!lane.outbox.length || !lane.ready) return;
    // An array of ids and one string of JSON lines, written as one (a string is copied, not
    // cloned field by field; a Float64Array costs the structured clone an ArrayBuffer each time:
    // about 3 µs more per message, measured; an array of pairs is cloned element by element).
    const ids: number[] = [];
    // [run index, count, first sequence] for the runs that stand for more than one event.
    const folded: number[] = [];
    for (const run of lane.outbox) {
      lines.add(run.event);
      if (run.count > 1) folded.push(ids.length, run.count, run.first);
      ids.push(run.id);
    }
    lane.worker.postMessage({ type: 'runs', ids, events: lines.text(), folded });
    lane.outbox = [];
  }

  /** The first lane of the hook that is idle, or that would get through its runs within
   * QUICK_MS (before the handler's time is known from a first answer: any) and has answered
   * within STALL_MS; else a new one while there are fewer than CPUs, else the least busy. */
  private lane(hook: ModuleSpec): Lane {
    const key = `${hook.name}\0${hook.module}`;
    let list = this.lanes.get(key);
    if (!list) {
      list = [];
      this.lanes.set(key, list);
    }
    const cost = this.cost.get(key);
    const now = performance.now();
    let best: Lane | undefined;
    for (const l of list) {
      const n = l.inflight.size;
      if (n === 0) {
        l.heardAt = now;
        return l;
      }
      if (now - l.heardAt <= STALL_MS && (cost === undefined || n * cost <= QUICK_MS)) return l;
      if (!best || n < best.inflight.size) best = l;
    }
    if (best && list.length >= LANES) return best;
    const lane = this.spawn(hook, key);
    list.push(lane);
    return lane;
  }

  /** Sets the lane's timer for `deadline`. */
  private alarm(lane: Lane, deadline: number): void {
    if (lane.timer !== undefined) clearTimeout(lane.timer);
    lane.timerAt = deadline;
    lane.timer = setTimeout(() => this.due(lane), Math.max(1, Math.ceil(deadline - performance.now())));
  }

  /** The lane's timer went off: a run whose deadline has passed times out (the loop's clock can
   * lag performance.now() by a millisecond: never early), else the timer is set again for the
   * earliest deadline. Runs are given in order with one timeout_ms, so that is mostly the
   * first; the look at all of them costs nothing at the pace timers go off. */
  private due(lane: Lane): void {
    lane.timer = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const run of lane.inflight.values()) {
      if (run.deadline <= now) {
        this.timedOut(lane, run); // its worker goes: the lane's other runs go elsewhere or fail
        return;
      }
      next = Math.min(next, run.deadline);
    }
    if (next < Infinity) this.alarm(lane, next);
  }

  /** A lane with no run in it needs no timer (nor keeps the daemon alive for one). */
  private quiet(lane: Lane): void {
    if (lane.inflight.size > 0 || lane.timer === undefined) return;
    clearTimeout(lane.timer);
    lane.timer = undefined;
  }

  /** A run of the lane (in it: its timer looks only there) passed its deadline. */
  private timedOut(lane: Lane, run: Run): void {
    const { hook } = run;
    lane.inflight.delete(run.id);
    run.settle('timeout', `stopped after timeout_ms ${hook.timeout_ms} (its worker was terminated)`);
    lane.worker.postMessage({ type: 'abort' });
    this.fail(hook, lane, `run ${run.id} timed out`);
  }

  /** A run's outcome from its worker (none if it was settled already: a timeout). */
  private settled(lane: Lane, id: number, outcome: RunResult['outcome'], error: string): void {
    const run = lane.inflight.get(id);
    if (!run) return;
    lane.inflight.delete(id);
    run.settle(outcome, error);
  }

  /** The lane's worker goes: runs it had not started go to a fresh one, the others fail. */
  private fail(hook: ModuleSpec, lane: Lane, why: string): void {
    this.died(hook, why);
    this.retire(lane);
    const started = Atomics.load(lane.started, 0);
    const left = [...lane.inflight.values()];
    lane.inflight.clear();
    this.quiet(lane);
    lane.stop();
    for (const r of left) {
      if (r.ordinal > started && lane.generation === this.generation) {
        // It never ran: the time it spent queued behind the spinning run is not held against it.
        r.deadline = performance.now() + r.hook.timeout_ms;
        this.dispatch(r);
      } else r.settle('failure', `module ${hook.module}: its worker was terminated while this run was in it (${why})`);
    }
  }

  /** A worker of the hook died or was terminated: past MAX_DEATHS in DEATH_WINDOW_MS, the hook
   * is disabled until the next reload, with the last reason. */
  private died(hook: ModuleSpec, why: string): void {
    const now = Date.now();
    const recent = (this.deaths.get(hook.name) ?? []).filter((t) => now - t < DEATH_WINDOW_MS);
    recent.push(now);
    this.deaths.set(hook.name, recent);
    if (recent.length >= MAX_DEATHS && !this.disabled.has(hook.name)) {
      const message = `disabled: its workers died ${recent.length} times in ${DEATH_WINDOW_MS / 1000} s (last: ${why}); runs fail until the config is reloaded`;
      this.disabled.set(hook.name, message);
      this.log(hook.name, message);
    }
  }

  private retire(lane: Lane): void {
    if (lane.retired) return;
    lane.retired = true;
    const list = this.lanes.get(lane.key);
    const i = list?.indexOf(lane) ?? -1;
    if (i >= 0) list!.splice(i, 1);
    if (lane.inflight.size === 0) lane.stop();
  }

  private spawn(hook: ModuleSpec, key: string): Lane {
    const started = new Int32Array(new SharedArrayBuffer(4));
    const worker = new (workerThreads().Worker)(WORKER, {
      workerData: { file: hook.module, hook: hook.name, started, guard: hook.files?.length ? MODULE_GUARD.href : '', files: hook.files ?? [] },
      resourceLimits: { maxOldGenerationSizeMb: hook.max_heap_mb ?? DEFAULT_MAX_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    });
    let exited = false;
    let terminated = false;
    const terminate = () => {
      if (terminated || exited) return;
      terminated = true;
      this.stuck.set(hook.name, (this.stuck.get(hook.name) ?? 0) + 1);
      void worker.terminate();
    };
    worker.once('exit', () => {
      exited = true;
      if (terminated) this.stuck.set(hook.name, (this.stuck.get(hook.name) ?? 1) - 1);
    });
    const lane: Lane = {
      key, worker, ready: false, heardAt: performance.now(), started, posted: 0, inflight: new Map(), outbox: [], timer: undefined, timerAt: 0, flushing: false, retired: false, generation: this.generation, stop: terminate,
    };
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        lane.ready = true;
        lane.heardAt = performance.now();
        this.flush(lane);
      } else if (m.type === 'done') {
        lane.heardAt = performance.now();
        if (m.ran > 0) {
          const per = m.busy / m.ran;
          const was = this.cost.get(key);
          this.cost.set(key, was === undefined ? per : 0.75 * was + 0.25 * per);
        }
        for (const id of m.ok) this.settled(lane, id, 'success', '');
        for (let i = 0; i < m.failed.length; i += 2) this.settled(lane, m.failed[i] as number, 'failure', (m.failed[i + 1] as string) || 'the handler threw');
        this.quiet(lane);
        if (lane.retired && lane.inflight.size === 0) lane.stop();
      } else if (m.type === 'output') {
        this.log(hook.name, m.line);
      } else if (m.type === 'log') {
        const run = lane.inflight.get(m.id);
        this.log(hook.name, m.line);
        if (run && run.out.length < LOG_KEEP) run.out += `${m.line}\n`;
      }
    });
    const gone = (why: string) => {
      if (lane.inflight.size === 0) {
        this.retire(lane);
        return;
      }
      // A worker that failed to load the module, or died (out of memory, a crash): its runs fail
      // with the reason; the next run gets a fresh worker, until the hook dies too often.
      this.died(hook, why);
      this.retire(lane);
      const left = [...lane.inflight.values()];
      lane.inflight.clear();
      this.quiet(lane);
      for (const r of left) r.settle('failure', `module ${hook.module}: ${why}`);
    };
    worker.on('error', (e: Error) => gone(e.message));
    worker.on('exit', (code: number) => gone(`its worker exited (code ${code})`));
    // An idle worker must not keep the daemon alive at stop (after the listeners: adding one
    // would take a reference again).
    worker.unref();
    return lane;
  }
}
