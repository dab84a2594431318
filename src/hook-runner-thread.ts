// The body of a hook-runner thread: runs hooks with ProcessHookRunner, so the fork/exec of
// each spawn blocks this thread's event loop and never the one that reads netlink.
import { parentPort } from 'node:worker_threads';
import { ProcessHookRunner } from './hook-runner.js';
import type { RunRequest, RunReply } from './thread-hook-runner.js';

const runner = new ProcessHookRunner();
parentPort!.on('message', (req: RunRequest) => {
  void runner.run(req.hook, req.event).then((result) => {
    // performance.now() is per thread: send the absolute time.
    const reply: RunReply = { id: req.id, result: { ...result, spawned_at: result.spawned_at + performance.timeOrigin } };
    parentPort!.postMessage(reply);
  });
});
