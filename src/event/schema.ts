// An event given by hand (`nlmon filter check --event`, `nlmon hooks run --event`), checked
// against the event's fields (docs/events.md): every field it names must exist and have the
// field's type; the fields it leaves out take the values of a synthetic link_added event.
import { EVENT_NAMES, OPERSTATES, type NlEvent } from './event.js';
import { FIELDS } from './filter.js';
import { syntheticEvent } from './make.js';

export class EventError extends Error {}

const TYPE_NAMES = { int: 'an integer', string: 'a string', bool: 'true or false', list: 'a list of strings' } as const;

/** Parses and checks `json`; throws EventError naming the field that is wrong. */
export function parseEventJson(json: string, label = '--event'): NlEvent {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new EventError(`${label}: not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new EventError(`${label}: must be a JSON object`);
  const event = syntheticEvent('', 'default') as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(v)) {
    const type = FIELDS[key];
    if (!type) throw new EventError(`${label}: unknown field '${key}' (the fields are in docs/events.md)`);
    const ok = type === 'int' ? Number.isSafeInteger(value)
      : type === 'string' ? typeof value === 'string'
        : type === 'bool' ? typeof value === 'boolean'
          : Array.isArray(value) && value.every((x) => typeof x === 'string');
    if (!ok) throw new EventError(`${label}: field '${key}' must be ${TYPE_NAMES[type]}, not ${JSON.stringify(value)}`);
    event[key] = value;
  }
  const e = event as unknown as NlEvent;
  if (!EVENT_NAMES.includes(e.event)) throw new EventError(`${label}: field 'event' must be one of ${EVENT_NAMES.join(', ')}`);
  if (!(OPERSTATES as readonly string[]).includes(e.operstate)) throw new EventError(`${label}: field 'operstate' must be one of ${OPERSTATES.join(', ')}`);
  return e;
}
