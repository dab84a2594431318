// ThreadHookRunner: runs hooks on a pool of worker threads, each spawning with
// ProcessHookRunner, so that netlink intake on the main thread never waits for a fork/exec.
import { Worker } from 'node:worker_threads';
import type { NlEvent } from './event.js';
import type { HookRunner, RunResult, RunSpec } from './hook-runner.js';

export interface RunRequest { id: number; hook: RunSpec; event: NlEvent }
export interface RunReply { id: number; result: RunResult }

interface Slot {
  worker: Worker;
  pending: Map<number, (r: RunResult) => void>;
}

function failed(error: string): RunResult {
  return { outcome: 'failure', exit_code: null, signal: null, duration_ms: 0, spawned_at: NaN, error, stdout: '', stderr: '' };
}

export class ThreadHookRunner implements HookRunner {
  private readonly slots: Array<Slot | undefined>;
  private nextId = 1;
  private next = 0;

  constructor(threads = 2) {
    this.slots = new Array(threads).fill(undefined);
  }

  run(hook: RunSpec, event: NlEvent): Promise<RunResult> {
    const i = this.next;
    this.next = (this.next + 1) % this.slots.length;
    const slot = this.slots[i] ?? (this.slots[i] = this.start(i));
    const id = this.nextId++;
    const spec: RunSpec = { name: hook.name, argv: hook.argv, env: hook.env, timeout_ms: hook.timeout_ms, capture_output: hook.capture_output };
    return new Promise((resolve) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, resolve);
      slot.worker.postMessage({ id, hook: spec, event } satisfies RunRequest);
    });
  }

  /** Ends the threads; runs still in flight are reported as failures. */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s, i) => {
      this.slots[i] = undefined;
      return s?.worker.terminate();
    }));
  }

  private start(i: number): Slot {
    const worker = new Worker(new URL('./hook-runner-thread.js', import.meta.url));
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (reply: RunReply) => {
      const resolve = slot.pending.get(reply.id);
      if (!resolve) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) worker.unref(); // an idle pool does not keep the process alive
      resolve({ ...reply.result, spawned_at: reply.result.spawned_at - performance.timeOrigin });
    });
    const lost = (why: string) => {
      if (this.slots[i] === slot) this.slots[i] = undefined;
      for (const resolve of slot.pending.values()) resolve(failed(`hook runner thread ${why}`));
      slot.pending.clear();
    };
    worker.on('error', (err) => lost(`failed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited (${code})`));
    worker.unref();
    return slot;
  }
}
