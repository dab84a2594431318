// Outputs (docs/config.md, "nlmon.outputs"): streams of events sent off the daemon, beside
// hooks. The fan-out hands each batch to every output, made through the registry
// (registry.ts); it knows no type. Intake never waits on an output.
import type { NlEvent } from '../event/event.js';
import type { Output, OutputBase, OutputLog, OutputStatusBase } from './output.js';
import { outputType } from './registry.js';

/** What an output is kept across a reload by: everything but its condition. */
function identity(c: OutputBase): string {
  return JSON.stringify({ ...c, condition: undefined, match: undefined });
}

/** The daemon's outputs. */
export class Outputs {
  private list: Output[] = [];
  /** Batches that arrived while set() waited for outputs to close. */
  private held: Array<readonly NlEvent[]> | undefined;

  constructor(private readonly log: OutputLog = () => {}) {}

  /** Replaces the outputs (start, reload): one whose settings but the condition stay is kept
   * with its counts; the others are closed or opened. An output whose settings changed lets go
   * of its files (a spool) before the new one opens them; what arrives meanwhile is given to
   * the new outputs once they are open. */
  async set(configs: readonly OutputBase[]): Promise<string[]> {
    const kept: Output[] = [];
    const going: Output[] = [];
    for (const o of this.list) (configs.some((c) => identity(c) === identity(o.cfg)) ? kept : going).push(o);
    this.list = kept;
    this.held = [];
    await Promise.all(going.map((o) => o.close()));
    const next: Output[] = [];
    const opened: Output[] = [];
    const errors: string[] = [];
    for (const cfg of configs) {
      const same = kept.find((o) => identity(o.cfg) === identity(cfg));
      if (same) {
        same.cfg.condition = cfg.condition;
        same.cfg.match = cfg.match;
        next.push(same);
        continue;
      }
      try {
        const type = outputType(cfg.type);
        if (!type) throw new Error(`no output type '${cfg.type}' is registered`);
        const o = type.create({ ...cfg }, { log: this.log });
        next.push(o);
        opened.push(o);
      } catch (e) {
        // It cannot be opened (a spool_dir that cannot be made): nothing could be kept for it.
        errors.push(`output ${cfg.name}: ${(e as Error).message}`);
      }
    }
    const held = this.held ?? [];
    this.held = undefined;
    this.list = next;
    for (const events of held) {
      for (const o of opened) o.submit(events);
    }
    return errors;
  }

  submit(events: readonly NlEvent[]): void {
    for (const o of this.list) o.submit(events);
    this.held?.push(events);
  }

  reopen(): void {
    for (const o of this.list) o.reopen?.();
  }

  async close(): Promise<void> {
    await Promise.all(this.list.map((o) => o.close()));
    this.list = [];
  }

  status(): OutputStatusBase[] {
    return this.list.map((o) => o.status());
  }
}
