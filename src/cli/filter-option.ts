// `--filter` of `monitor` and `events` (docs/filter.md): the expression compiled once into the
// options' `match`; one that does not compile is printed with a caret under its column.
import type { NlEvent } from '../event/event.js';
import { compileCondition, FilterError } from '../event/filter.js';

/** Sets opts.match from opts.filter; false, the error printed, when it does not compile. */
export function compileFilterOption(opts: { filter?: string; match?: (e: NlEvent) => boolean }): boolean {
  if (opts.filter === undefined) return true;
  try {
    opts.match = compileCondition(opts.filter);
    return true;
  } catch (e) {
    if (!(e instanceof FilterError)) throw e;
    process.stderr.write(`${e.format('--filter')}\n`);
    return false;
  }
}
