// order_by (docs/hooks.md, "Order per key"): a hook's runs whose events have the same key (the
// values of the fields it names: `[namespace, interface]`, `[container_id]`) start one after
// another, in event order; runs of different keys go on in parallel under the limits. Of one key,
// one run at a time is queued or running; the others wait here. A key lives only while it has
// work: nothing grows with churn.
import type { NlEvent } from '../event/event.js';
import type { HookBase } from './action.js';
import { Fifo } from './fifo.js';

/** A run as the scheduler queues it. */
export interface Job {
  hook: HookBase;
  event: NlEvent;
  /** Set for sync runs: called once when the run ends or is dropped. */
  release: (() => void) | undefined;
  /** The hook's name and the event's key, for a hook with order_by. */
  key?: string;
}

/** The key of an event for a hook with order_by, or undefined for a hook without. */
export function orderKey(hook: HookBase, e: NlEvent): string | undefined {
  if (!hook.order_by?.length) return undefined;
  const rec = e as unknown as Record<string, unknown>;
  return `${hook.name}\0${hook.order_by.map((f) => String(rec[f])).join('\0')}`;
}

export class KeyOrder {
  /** Per key with a run queued or running: the runs waiting behind it, in order. */
  private readonly keys = new Map<string, Fifo<Job>>();
  /** Runs waiting here, per hook (they count against its queue_limit). */
  private readonly parked = new Map<string, number>();

  parkedOf(hook: string): number {
    return this.parked.get(hook) ?? 0;
  }

  /** True when the run may be queued now; false when it waits behind its key's run. */
  admit(job: Job): boolean {
    const waiting = this.keys.get(job.key!);
    if (!waiting) {
      this.keys.set(job.key!, new Fifo());
      return true;
    }
    waiting.push(job);
    this.parked.set(job.hook.name, this.parkedOf(job.hook.name) + 1);
    return false;
  }

  /** The run of a key ended or was dropped: the next of that key, which may be queued now. */
  release(key: string): Job | undefined {
    const waiting = this.keys.get(key);
    const next = waiting?.shift();
    if (!next) {
      this.keys.delete(key);
      return undefined;
    }
    this.parked.set(next.hook.name, this.parkedOf(next.hook.name) - 1);
    return next;
  }

  /** Every run waiting (a stop drops them). */
  drain(): Job[] {
    const out: Job[] = [];
    for (const w of this.keys.values()) for (let j = w.shift(); j; j = w.shift()) out.push(j);
    this.keys.clear();
    this.parked.clear();
    return out;
  }
}
