// A module hook's worker thread (docs/hooks.md, "Module handlers"): loads the module once, then
// calls its handler for each event the daemon posts, one at a time, and posts back the outcome.
// A handler that spins is the daemon's to stop: it terminates this thread at timeout_ms.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

type Handler = (event: unknown, ctx: { hook: string; log: (...args: unknown[]) => void; signal: AbortSignal }) => unknown;

interface RunMessage { type: 'run'; id: number; event: unknown }
interface AbortMessage { type: 'abort' }

const { file, hook } = workerData as { file: string; hook: string };
const port = parentPort!;

const mod = await import(pathToFileURL(file).href) as { default?: unknown; handle?: unknown };
const handler = (typeof mod.default === 'function' ? mod.default : mod.handle) as Handler | undefined;
if (typeof handler !== 'function') throw new Error(`${file} has no default export or 'handle' export that is a function`);

let controller: AbortController | undefined;

port.on('message', (msg: RunMessage | AbortMessage) => {
  if (msg.type === 'abort') {
    controller?.abort();
    return;
  }
  controller = new AbortController();
  const log = (...args: unknown[]) => port.postMessage({ type: 'log', id: msg.id, line: args.map((a) => (typeof a === 'string' ? a : String(a))).join(' ') });
  let result: unknown;
  try {
    result = handler(msg.event, { hook, log, signal: controller.signal });
  } catch (e) {
    port.postMessage({ type: 'done', id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) });
    return;
  }
  Promise.resolve(result).then(
    () => port.postMessage({ type: 'done', id: msg.id, ok: true }),
    (e: unknown) => port.postMessage({ type: 'done', id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});

port.postMessage({ type: 'ready' });
