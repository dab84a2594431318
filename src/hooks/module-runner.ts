// The `module` action (docs/hooks.md, "Module handlers"): a JavaScript module's handler called in
// a worker thread, never on the loop that reads netlink. Each hook keeps a pool of workers, one
// per run in progress, reused run after run; at timeout_ms a run's worker is terminated (a
// handler that spins cannot be stopped any other way) and the next run gets a fresh one.
import { Worker } from 'node:worker_threads';
import type { NlEvent } from '../event/event.js';
import type { RunResult } from './runner.js';

/** What a module run needs of its hook. */
export interface ModuleSpec {
  name: string;
  /** Absolute path of the module. */
  module: string;
  timeout_ms: number;
}

const WORKER = new URL('./module-worker.js', import.meta.url);
/** The most a handler's log lines keep per run (they go to the run's stdout). */
const LOG_KEEP = 64 * 1024;

interface Pooled {
  worker: Worker;
  ready: Promise<void>;
  /** Set when the worker failed to load the module or died: not reused. */
  broken?: string;
}

interface Done { type: 'done'; id: number; ok: boolean; error?: string }
interface Log { type: 'log'; id: number; line: string }

export class ModuleRunner {
  /** Idle workers by hook name and module path. */
  private readonly idle = new Map<string, Pooled[]>();
  private generation = 0;
  private nextId = 1;

  constructor(private readonly log: (hook: string, line: string) => void = () => {}) {}

  async run(hook: ModuleSpec, event: NlEvent): Promise<RunResult> {
    const t0 = performance.now();
    const key = `${hook.name}\0${hook.module}`;
    const generation = this.generation;
    const w = this.idle.get(key)?.pop() ?? this.spawn(hook);
    const fail = (error: string, outcome: 'failure' | 'timeout' = 'failure', stdout = ''): RunResult => ({
      outcome, exit_code: null, signal: null, duration_ms: performance.now() - t0, spawned_at: NaN, error, stdout, stderr: '',
    });
    const id = this.nextId++;
    let out = '';
    const result = await new Promise<RunResult>((resolve) => {
      let settled = false;
      const finish = (r: RunResult, keep: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        w.worker.off('message', onMessage);
        w.worker.off('error', onError);
        w.worker.off('exit', onExit);
        if (keep && !w.broken && generation === this.generation) {
          const list = this.idle.get(key) ?? [];
          list.push(w);
          this.idle.set(key, list);
        } else {
          void w.worker.terminate();
        }
        resolve(r);
      };
      const onMessage = (m: Done | Log | { type: 'ready' }) => {
        if (m.type === 'log' && m.id === id) {
          this.log(hook.name, m.line);
          if (out.length < LOG_KEEP) out += `${m.line}\n`;
        } else if (m.type === 'done' && m.id === id) {
          const r = m.ok
            ? { outcome: 'success' as const, exit_code: 0, signal: null, duration_ms: performance.now() - t0, spawned_at: NaN, error: '', stdout: out, stderr: '' }
            : fail(m.error || 'the handler threw', 'failure', out);
          finish(r, true);
        }
      };
      const onError = (e: Error) => {
        w.broken = e.message;
        finish(fail(`module ${hook.module}: ${e.message}`, 'failure', out), false);
      };
      const onExit = (code: number) => {
        w.broken = `exited with code ${code}`;
        finish(fail(`module ${hook.module}: its worker exited (code ${code})`, 'failure', out), false);
      };
      // The deadline runs from dispatch: loading a fresh worker counts too.
      const timer = setTimeout(() => {
        w.worker.postMessage({ type: 'abort' });
        finish(fail(`stopped after timeout_ms ${hook.timeout_ms} (its worker was terminated)`, 'timeout', out), false);
      }, hook.timeout_ms);
      w.worker.on('message', onMessage);
      w.worker.on('error', onError);
      w.worker.on('exit', onExit);
      w.ready.then(() => {
        if (!settled) w.worker.postMessage({ type: 'run', id, event });
      }, () => { /* onError reports it */ });
    });
    return result;
  }

  /** The modules are to be loaded again (a reload): idle workers go; busy ones end after their run. */
  reset(): void {
    this.generation++;
    for (const list of this.idle.values()) for (const w of list) void w.worker.terminate();
    this.idle.clear();
  }

  private spawn(hook: ModuleSpec): Pooled {
    const worker = new Worker(WORKER, { workerData: { file: hook.module, hook: hook.name } });
    // An idle worker must not keep the daemon alive at stop.
    worker.unref();
    const ready = new Promise<void>((resolve, reject) => {
      const onReady = (m: { type: string }) => {
        if (m.type !== 'ready') return;
        worker.off('message', onReady);
        resolve();
      };
      worker.on('message', onReady);
      worker.once('error', reject);
    });
    return { worker, ready };
  }
}
