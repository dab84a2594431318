// A module hook's worker thread (docs/hooks.md, "Module handlers"): loads the module once, then
// calls its handler for the runs the daemon posts, in the order they come, and posts their
// outcomes back together, with the time its handler took on this thread for the runs started
// since the last answer (the daemon places runs by it). It counts the runs it has started in a
// shared word, so that when the daemon terminates it (a run past its timeout), the runs it never
// started can go elsewhere. Before a run it checks the hook's files again as the daemon checks a
// script's (unless it checked them less than RECHECK_MS before): blocking calls here cost the
// daemon's loop nothing, and no message goes back and forth for them.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { register } from 'node:module';
import type { CheckedFile } from './script-check.js';

type Handler = (event: unknown, ctx: { hook: string; log: (...args: unknown[]) => void; signal: AbortSignal; coalesced: number; first_sequence: number }) => unknown;

/** A batch of runs: their ids, their events as JSON lines in the same order, and for the runs
 * that stand for more than one event (debounce_ms), [index, count, first sequence] each. */
type FromDaemon = { type: 'runs'; ids: number[]; events: string; folded: number[] } | { type: 'abort' };

const { file, hook, started, guard, files } = workerData as { file: string; hook: string; started: Int32Array; guard: string; files: CheckedFile[] };
const port = parentPort!;

// What the handler prints (console.log, process.stdout.write) goes to the daemon's log, bounded:
// a piece of each write, at most OUTPUT_PER_S writes a second, the rest counted and said with the
// next one. A handler printing in a loop fills neither the daemon's stdout nor its memory.
const OUTPUT_KEEP = 512;
const OUTPUT_PER_S = 20;
let outputWindow = 0;
let outputSent = 0;
let outputDropped = 0;
for (const [name, stream] of [['stdout', process.stdout], ['stderr', process.stderr]] as const) {
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    const now = Math.floor(Date.now() / 1000);
    if (now !== outputWindow) {
      outputWindow = now;
      outputSent = 0;
    }
    if (outputSent++ < OUTPUT_PER_S) {
      const text = (typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8')).slice(0, OUTPUT_KEEP).trimEnd();
      const dropped = outputDropped ? ` (${outputDropped} writes not logged before this one)` : '';
      outputDropped = 0;
      parentPort!.postMessage({ type: 'output', line: `${name}: ${text}${dropped}` });
    } else {
      outputDropped++;
    }
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof stream.write;
}

// Every file the module loads, at any depth, is checked as a script is before it loads
// (module-guard.ts), unless the daemon runs with --allow-unsafe-scripts.
if (guard) {
  register(guard);
  ((await import(guard)) as { guardRequire: () => void }).guardRequire();
}

/** The files checked again before a run (none with --allow-unsafe-scripts). */
const recheck = files.length ? ((await import('./script-check.js')) as { recheckFilesSync: (f: readonly CheckedFile[]) => string | undefined }).recheckFilesSync : undefined;
/** A check this recent stands for the next run's: a batch of quick runs costs one. */
const RECHECK_MS = 1;
let checkedAt = -Infinity;
let refusal: string | undefined;

const mod = await import(pathToFileURL(file).href) as { default?: unknown; handle?: unknown };
const handler = (typeof mod.default === 'function' ? mod.default : mod.handle) as Handler | undefined;
if (typeof handler !== 'function') throw new Error(`${file} has no default export or 'handle' export that is a function`);

/** Aborted when the daemon gives up on the runs in progress (a timeout). */
let controller = new AbortController();
/** Since the last answer: the runs that succeeded, and those that failed with their errors
 * ([id, error, ...]; flat arrays clone faster than an array of tuples). */
let ok: number[] = [];
let failed: Array<number | string> = [];
let flushing = false;
/** The handler's time on this thread (ms) and the runs started, since the last answer. */
let busy = 0;
let ran = 0;

function settled(id: number, success: boolean, error: string): void {
  if (success) ok.push(id);
  else failed.push(id, error);
  if (flushing) return;
  flushing = true;
  // After the microtasks of this turn: the outcomes of a batch of sync handlers go as one message.
  setImmediate(() => {
    flushing = false;
    port.postMessage({ type: 'done', ok, failed, busy, ran });
    ok = [];
    failed = [];
    busy = 0;
    ran = 0;
  });
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

port.on('message', (msg: FromDaemon) => {
  if (msg.type === 'abort') {
    controller.abort();
    controller = new AbortController();
    return;
  }
  const t0 = performance.now();
  const lines = msg.events.split('\n');
  let f = 0;
  for (let i = 0; i < msg.ids.length; i++) {
    const id = msg.ids[i]!;
    const json = lines[i]!;
    let coalesced = 1;
    let first = -1;
    if (msg.folded[f] === i) {
      coalesced = msg.folded[f + 1]!;
      first = msg.folded[f + 2]!;
      f += 3;
    }
    Atomics.add(started, 0, 1);
    if (recheck) {
      const now = performance.now();
      if (now - checkedAt >= RECHECK_MS) {
        refusal = recheck(files);
        checkedAt = performance.now();
      }
      if (refusal) {
        settled(id, false, `refused: ${refusal}`);
        continue;
      }
    }
    const log = (...args: unknown[]) => port.postMessage({ type: 'log', id, line: args.map((a) => (typeof a === 'string' ? a : String(a))).join(' ') });
    let result: unknown;
    try {
      const event = JSON.parse(json) as { sequence: number };
      result = handler(event, { hook, log, signal: controller.signal, coalesced, first_sequence: first < 0 ? event.sequence : first });
    } catch (e) {
      settled(id, false, message(e));
      continue;
    }
    if (result instanceof Promise || (typeof result === 'object' && result !== null && typeof (result as { then?: unknown }).then === 'function')) {
      Promise.resolve(result).then(() => settled(id, true, ''), (e: unknown) => settled(id, false, message(e)));
    } else {
      settled(id, true, '');
    }
  }
  busy += performance.now() - t0;
  ran += msg.ids.length;
});

port.postMessage({ type: 'ready' });
