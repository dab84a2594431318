// `nlmon replay FILE|- --config FILE [--run] [--json]` (docs/cli.md): recorded events (the NDJSON
// of `monitor --json`, the file output or a NATS consumer) through a config's hooks, in order,
// printing each run that would start. Without --run nothing runs: the scheduler is the daemon's
// (conditions, enabled, sync holds, order_by, queue limits) with runs that end at once, and
// debounce_ms / min_interval_ms run on the events' own timestamps (a virtual clock). With --run
// the hooks really run, the events given to the scheduler as fast as it takes them (not at
// their recorded pace: debounce windows see them all at once).
import fs from 'node:fs';
import readline from 'node:readline';
import type { NlEvent } from '../event/event.js';
import { EventError, parseEventJson } from '../event/schema.js';
import { printable } from '../event/format.js';
import { HookScheduler } from '../hooks/scheduler.js';
import { ActionRunners } from '../hooks/registry.js';
import { coalescedOf, realClock } from '../hooks/gates.js';
import { VirtualClock } from '../hooks/virtual-clock.js';
import type { HookBase, HookRunner, RunResult } from '../hooks/action.js';
import type { NlmonConfig } from '../daemon/config-file.js';

export interface ReplayOptions {
  run?: boolean;
  json?: boolean;
}

/** A bad line is this long at most in the message. */
const SHOWN = 80;

function startLine(hook: HookBase, e: NlEvent, json: boolean): string {
  const c = coalescedOf(e);
  if (json) {
    return `${JSON.stringify({ sequence: e.sequence, hook: hook.name, namespace: e.namespace, interface: e.interface, event: e.event, coalesced: c.count, first_sequence: c.first_sequence })}\n`;
  }
  const folded = c.count > 1 ? ` (coalesced ${c.count}, first ${c.first_sequence})` : '';
  return `${e.sequence} ${hook.name} : ${printable(e.namespace)} : ${printable(e.interface)} ${e.event}${folded}\n`;
}

function doneLine(hook: HookBase, e: NlEvent, r: RunResult, json: boolean): string {
  if (json) return `${JSON.stringify({ sequence: e.sequence, hook: hook.name, done: r.outcome, error: r.error })}\n`;
  return `${e.sequence} ${hook.name} : done ${r.outcome}${r.error ? ` (${printable(r.error)})` : ''}\n`;
}

/** Runs that end at once, successfully: what a dry run schedules with. */
const instant: HookRunner = { run: () => Promise.resolve({ outcome: 'success', duration_ms: 0, error: '', stdout: '', stderr: '' }) };

export async function replayCommand(file: string, config: NlmonConfig, opts: ReplayOptions): Promise<number> {
  const json = opts.json ?? false;
  const out = (s: string) => process.stdout.write(s);
  const clock = opts.run ? undefined : new VirtualClock();
  const runners = opts.run ? new ActionRunners() : undefined;
  const integ = config.integration;
  const scheduler = new HookScheduler(
    { maxConcurrent: integ.max_concurrent, queueLimit: integ.queue_limit, backlogLimit: integ.backlog_limit },
    runners ?? instant,
    {
      started: (hook, e) => out(startLine(hook, e, json)),
      ...(opts.run ? { finished: (hook: HookBase, e: NlEvent, r: RunResult) => out(doneLine(hook, e, r, json)) } : {}),
      dropped: (hook, e, why) => out(json ? `${JSON.stringify({ sequence: e.sequence, hook: hook.name, dropped: why })}\n` : `${e.sequence} ${hook.name} : dropped (${why})\n`),
    },
    clock ?? realClock,
  );
  scheduler.setHooks(integ.hooks);
  const input = file === '-' ? process.stdin : fs.createReadStream(file);
  const name = file === '-' ? 'standard input' : file;
  let bad = 0;
  let lineNo = 0;
  try {
    for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
      lineNo++;
      if (!line.trim()) continue;
      let e: NlEvent;
      try {
        e = parseEventJson(line, 'event');
      } catch (err) {
        if (!(err instanceof EventError)) throw err;
        bad++;
        process.stderr.write(`${name}:${lineNo}: ${err.message} (${printable(line.length > SHOWN ? `${line.slice(0, SHOWN)}…` : line)}); skipped\n`);
        continue;
      }
      clock?.advance(e.timestamp);
      scheduler.submit([e]);
      // Let the runs that ended give their keys and slots on before the next event.
      await new Promise((r) => setImmediate(r));
    }
  } catch (err) {
    process.stderr.write(`nlmon: cannot read ${name}: ${(err as Error).message}\n`);
    return 2;
  }
  if (clock) {
    // What waits for a debounce or an interval runs after the last event, as it would have.
    for (;;) {
      clock.runAll();
      await new Promise((r) => setImmediate(r));
      if (scheduler.queueDepth === 0 && scheduler.runningCount === 0 && scheduler.status().every((h) => h.delayed === 0)) break;
    }
  } else {
    while (scheduler.queueDepth > 0 || scheduler.runningCount > 0 || scheduler.backlog > 0 || scheduler.status().some((h) => h.delayed > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    runners!.close();
  }
  await scheduler.stop();
  return bad ? 2 : 0;
}
