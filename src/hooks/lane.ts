// A hook's lane in the scheduler (scheduler.ts) and the slot a running job holds.
import type { RunSlot } from './action.js';
import type { Fifo } from './fifo.js';
import type { Job } from './key-order.js';

/** What a slot tells the scheduler. */
export interface SlotOwner {
  slotReleased(job: Job, lane: Lane): void;
  slotWanted(job: Job, lane: Lane, granted: () => void): void;
}

/** One hook's runs: queued, holding a slot, waiting to retry. */
export interface Lane {
  jobs: Fifo<Job>;
  running: number;
  retrying: number;
  /** On the round-robin ring of lanes with queued jobs. */
  ready: boolean;
}

/** A run that gave its slot back to wait and wants one again. */
export interface SlotWaiter {
  job: Job;
  lane: Lane;
  granted: () => void;
}

/** The slot a running job holds: an object with two methods rather than two closures, as
 * thousands of runs may hold one while they wait to retry. */
export class SchedulerSlot implements RunSlot {
  constructor(private readonly owner: SlotOwner, private readonly job: Job, private readonly lane: Lane) {}

  release(): void {
    this.owner.slotReleased(this.job, this.lane);
  }

  acquire(): Promise<void> {
    return new Promise((resolve) => this.owner.slotWanted(this.job, this.lane, resolve));
  }
}
