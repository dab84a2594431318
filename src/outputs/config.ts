// `nlmon.outputs` (docs/config.md): a list of outputs. The keys every output has are read here;
// each type's own keys by its registry entry (registry.ts).
import { isMap, type Checker, type KeyPair, type YamlNode } from '../config/checker.js';
import type { OutputBase } from './output.js';
import { outputType, outputTypes, type OutputConfig } from './registry.js';

const COMMON_KEYS = ['name', 'type', 'condition'] as const;

/** The keys of an output (common, then each type's), and of the mappings nested in one. */
export function outputKeys(): Record<string, readonly string[]> {
  const types = outputTypes();
  const nested = Object.assign({}, ...types.map((t) => t.nested ?? {})) as Record<string, readonly string[]>;
  return { output: [...COMMON_KEYS, ...types.flatMap((t) => t.keys)], ...nested };
}

export function readOutputs(c: Checker, pair: KeyPair | undefined): OutputConfig[] {
  const items = c.list(pair, 'outputs', 'outputs');
  const out: OutputConfig[] = [];
  const seen = new Set<string>();
  const claimed = new Set<string>();
  const types = outputTypes();
  const names = types.map((t) => t.type);
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
  const known = outputKeys().output!;
  for (const item of items ?? []) {
    if (!isMap(item)) {
      c.at(item, 'each output must be a mapping with at least a name and a type');
      continue;
    }
    const before = c.issues.length;
    const e = c.entries(item, 'an output', known);
    const name = c.scalar(e.get('name'), 'string', 'name');
    if (!e.has('name')) c.at(item, 'an output needs a name');
    else if (name !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) c.at(e.get('name')!.value, `output name '${name}' must be 1-64 of A-Z a-z 0-9 _ . -`);
    else if (name !== undefined && seen.has(name)) c.at(e.get('name')!.value, `duplicate output name '${name}'`);
    if (name !== undefined) seen.add(name);
    const label = name ? `output '${name}'` : 'output';
    const typeName = c.scalar(e.get('type'), 'string', 'type');
    const type = typeName === undefined ? undefined : outputType(typeName);
    if (!e.has('type')) c.at(item, `${label} needs a type (${list})`);
    else if (typeName !== undefined && !type) c.at(e.get('type')!.value, `${label}: type must be ${list}, not '${typeName}'`);
    const { condition, match } = c.condition(e, label);
    // Keys that belong to another type are refused, not ignored.
    if (type) {
      for (const [k, p] of e) {
        if (!(COMMON_KEYS as readonly string[]).includes(k) && !type.keys.includes(k)) c.at(p.key as YamlNode, `${label}: ${k} is not a key of a ${type.type} output`);
      }
    }
    const own = type?.read(c, e, item, { name: name ?? '', label, claimed });
    if (c.issues.length !== before || !name || !type || !match || !own) continue;
    const base: OutputBase = { name, type: type.type, condition, match };
    out.push({ ...base, ...own } as OutputConfig);
  }
  return out;
}
