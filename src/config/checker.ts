// The config file's YAML checker (docs/config.md): positions, types, unknown keys with the one
// meant, the relative-path rule and conditions. It knows no section: each stage reads its own
// (netlink/config.ts, containers/config.ts, hooks/config.ts, outputs/config.ts) and
// daemon/config-file.ts reads the file's root. Every mistake is kept as FILE:LINE:COL: message.
import path from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import { compileCondition, FilterError, type Condition } from '../event/filter.js';

export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.message}`;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

export type { YamlNode, Pair, YAMLMap };
export type KeyPair = Pair<YamlNode, YamlNode | null>;
/** A mapping's pairs by key, as Checker.entries returns them. */
export type Entries = Map<string, KeyPair>;

type Kind = 'string' | 'int' | 'float' | 'bool' | 'map' | 'seq' | 'alias' | 'other';

/** The name among `known` that `key` is most likely a misspelling of, if one is close. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]!.push(d);
    }
  }
  return rows[a.length]![b.length]!;
}

/** Parses YAML text with positions; throws ConfigError for a YAML syntax error. */
export function parseYaml(text: string, file: string): { c: Checker; root: YamlNode | null } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const c = new Checker(file, lines);
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    c.issues.push({ file: c.name, line: pos.line, col: pos.col, message: `YAML: ${e.message.split('\n')[0]}` });
  }
  if (c.issues.length) throw new ConfigError(c.issues);
  return { c, root: doc.contents as YamlNode | null };
}

export class Checker {
  readonly issues: ConfigIssue[] = [];
  /** Where the file holds a secret itself (a webhook's `secret`, a nats `token`): such a file
   * must not be readable by others (daemon/config-file.ts warns; edits write it 0600). */
  readonly inlineSecrets: string[] = [];
  constructor(readonly file: string, readonly lines: LineCounter) {}

  /** The file as messages name it. */
  get name(): string {
    return this.file || '<embedded default>';
  }

  at(node: YamlNode | Pair | null | undefined, message: string): void {
    const range = node && 'range' in node ? node.range : node && 'key' in node ? (node.key as YamlNode | null)?.range : undefined;
    const pos = this.lines.linePos(range?.[0] ?? 0);
    this.issues.push({ file: this.name, line: pos.line, col: pos.col, message });
  }

  /** What a node holds. A tagged scalar that is not a string (`!!binary`, a YAML 1.1 date) is
   * 'other', and an alias (`*name`) is refused where a value belongs: both were misread before. */
  kindOf(n: YamlNode | null | undefined): Kind | 'null' {
    if (!n || (isScalar(n) && n.value === null)) return 'null';
    if (isAlias(n)) return 'alias';
    if (isMap(n)) return 'map';
    if (isSeq(n)) return 'seq';
    if (isScalar(n)) {
      if (typeof n.value === 'boolean') return 'bool';
      if (typeof n.value === 'number') return Number.isSafeInteger(n.value) ? 'int' : 'float';
      if (typeof n.value === 'string') return 'string';
    }
    return 'other';
  }

  /** describe() of a node, naming its tag when it has one. */
  describeNode(n: YamlNode | null | undefined): string {
    const k = this.kindOf(n);
    if (k === 'other' && n && isScalar(n)) {
      const tag = n.tag?.replace(/^tag:yaml\.org,2002:/, '!!');
      if (n.value instanceof Date) return `a date${tag ? ` (${tag})` : ' (YAML 1.1 reads this as a date: quote it)'}`;
      if (tag) return `a ${tag} value`;
    }
    return describe(k);
  }

  /** The pairs of a map, each key checked against `known`; an unknown one that is close to a
   * known one names it. */
  entries(map: YAMLMap, where: string, known: readonly string[]): Entries {
    const out: Entries = new Map();
    for (const pair of map.items as KeyPair[]) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!known.includes(key)) {
        const meant = closestKey(key, known);
        this.at(pair.key, `unknown key '${key}' in ${where} (known: ${known.join(', ')})${meant ? `; did you mean '${meant}'?` : ''}`);
        continue;
      }
      if (out.has(key)) this.at(pair.key, `duplicate key '${key}' in ${where}`);
      out.set(key, pair);
    }
    return out;
  }

  scalar<T extends 'string' | 'int' | 'bool'>(pair: KeyPair | undefined, kind: T, name: string):
    (T extends 'string' ? string : T extends 'int' ? number : boolean) | undefined {
    if (!pair) return undefined;
    const k = this.kindOf(pair.value);
    if (k !== kind) {
      this.at(pair.value ?? pair, `${name} must be ${kind === 'int' ? 'an integer' : kind === 'bool' ? 'true or false' : 'a string'}, not ${this.describeNode(pair.value)}`);
      return undefined;
    }
    return (pair.value as unknown as { value: never }).value;
  }

  positive(pair: KeyPair | undefined, name: string, min = 1, max = Number.MAX_SAFE_INTEGER, unit = ''): number | undefined {
    const v = this.scalar(pair, 'int', name);
    if (v !== undefined && v < min) {
      this.at(pair!.value, `${name} must be at least ${min}, not ${v}`);
      return undefined;
    }
    if (v !== undefined && v > max) {
      this.at(pair!.value, `${name} must be at most ${max}${unit}, not ${v}`);
      return undefined;
    }
    return v;
  }

  /** A secret's text as written (a webhook's `secret` or a header's value, a nats `token`), with
   * each `${NAME}` in it replaced by the environment variable NAME and `$$` by `$`
   * (docs/config.md, "Secrets from the environment"). One written out in the file is noted for
   * the file-mode warning (unless `noted` is false: a header's value is a secret only maybe);
   * one made of references alone is not. A variable that is not set, or a `$` that starts
   * neither, is an issue at the value. */
  secret(node: YamlNode | null | undefined, text: string | undefined, what: string, noted = true): string | undefined {
    if (text === undefined) return undefined;
    let referenced = 0; // characters of the text that are references
    let bad = '';
    const out = text.replace(/\$(?:\{([^}]*)\}|\$|)/g, (ref, name: string | undefined) => {
      if (ref === '$$') return '$';
      if (name === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        bad ||= `${what}: '${ref === '$' ? '$' : ref}' is not a reference: write \${NAME} for an environment variable, $$ for a $`;
        return '';
      }
      const v = process.env[name];
      if (v === undefined || v === '') bad ||= `${what}: the environment variable ${name} is not set (the daemon's comes from its unit: Environment=, EnvironmentFile=)`;
      referenced += ref.length;
      return v ?? '';
    });
    if (bad) {
      this.at(node, bad);
      return undefined;
    }
    if (noted && referenced < text.length) this.inlineSecrets.push(what);
    return out;
  }

  /** A path as the file gives it: a relative one is relative to the config file's directory,
   * never to nlmon's working directory (the embedded default has no directory). */
  relative(value: string): string {
    return path.isAbsolute(value) || !this.file ? value : path.resolve(path.dirname(this.file), value);
  }

  /** An absolute path for a file nlmon creates: not under /proc, /sys or /dev. */
  filePath(pair: KeyPair, name: string, value: string): boolean {
    if (!path.isAbsolute(value)) {
      this.at(pair.value, `${name} must be an absolute path`);
      return false;
    }
    if (/^\/(proc|sys|dev)(\/|$)/.test(path.resolve(value))) {
      this.at(pair.value, `${name} must not be under /proc, /sys or /dev`);
      return false;
    }
    return true;
  }

  /** A string key naming a file nlmon creates, relative to the config file: its absolute path. */
  createdFile(e: Entries, key: string): string | undefined {
    const v = this.scalar(e.get(key), 'string', key);
    if (v === undefined) return undefined;
    const abs = this.relative(v);
    return this.filePath(e.get(key)!, key, abs) ? abs : undefined;
  }

  stringList(pair: KeyPair | undefined, name: string): string[] | undefined {
    if (!pair) return undefined;
    if (!isSeq(pair.value)) {
      this.at(pair.value ?? pair, `${name} must be a list of strings, not ${this.describeNode(pair.value)}`);
      return undefined;
    }
    const out: string[] = [];
    for (const item of pair.value.items as YamlNode[]) {
      const k = this.kindOf(item);
      if (k !== 'string' && k !== 'int') this.at(item, `${name}: each item must be a string, not ${this.describeNode(item)}`);
      else out.push(String((item as unknown as { value: unknown }).value));
    }
    return out;
  }

  /** A non-empty list of integers from min to max. */
  intList(pair: KeyPair | undefined, name: string, min: number, max: number): number[] | undefined {
    if (!pair) return undefined;
    if (!isSeq(pair.value) || pair.value.items.length === 0) {
      this.at(pair.value ?? pair, `${name} must be a list of integers, not ${this.describeNode(pair.value)}`);
      return undefined;
    }
    const out: number[] = [];
    for (const item of pair.value.items as YamlNode[]) {
      const v = (item as unknown as { value: unknown }).value;
      if (this.kindOf(item) !== 'int' || (v as number) < min || (v as number) > max) this.at(item, `${name}: each item must be an integer from ${min} to ${max}, not ${this.kindOf(item) === 'int' ? String(v) : this.describeNode(item)}`);
      else out.push(v as number);
    }
    return out.length === pair.value.items.length ? out : undefined;
  }

  /** One string, or a list of them. */
  stringOrList(pair: KeyPair | undefined, name: string): string[] | undefined {
    const one = pair && isScalar(pair.value) && typeof pair.value.value === 'string' ? [pair.value.value] : undefined;
    return one ?? this.stringList(pair, name);
  }

  map(pair: KeyPair | undefined, name: string): YAMLMap | undefined {
    if (!pair) return undefined;
    if (this.kindOf(pair.value) === 'null') return undefined;
    if (!isMap(pair.value)) {
      this.at(pair.value ?? pair, `${name} must be a mapping, not ${this.describeNode(pair.value)}`);
      return undefined;
    }
    return pair.value;
  }

  /** A list's items, or undefined (reported) when the value is not a list; [] when empty. */
  list(pair: KeyPair | undefined, name: string, what: string): YamlNode[] | undefined {
    if (!pair || this.kindOf(pair.value) === 'null') return undefined;
    if (!isSeq(pair.value)) {
      this.at(pair.value, `${name} must be a list of ${what}, not ${describe(this.kindOf(pair.value))}`);
      return undefined;
    }
    return pair.value.items as YamlNode[];
  }

  /** The pairs of a mapping such as `env` or `headers`, for the caller to check ([] when it is
   * absent; reported when it is not a mapping). */
  pairs(pair: KeyPair | undefined, name: string): KeyPair[] {
    const m = this.map(pair, name);
    return m ? (m.items as KeyPair[]) : [];
  }

  /** A hook's or an output's `condition`, compiled; a mistake is reported at its column. */
  condition(e: Entries, label: string): { condition: string; match: Condition | undefined } {
    const condition = this.scalar(e.get('condition'), 'string', 'condition') ?? '';
    try {
      return { condition, match: compileCondition(condition) };
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      const node = e.get('condition')!.value!;
      const pos = this.lines.linePos(node.range![0]);
      // Point at the column inside the condition when it is a plain or quoted one-line scalar.
      const quoted = isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') ? 1 : 0;
      const plain = isScalar(node) && (node.type === 'PLAIN' || quoted) && !condition.includes('\n');
      this.issues.push({ file: this.name, line: pos.line, col: plain ? pos.col + quoted + err.column - 1 : pos.col, message: `${label}: ${err.format('condition')}` });
      return { condition, match: undefined };
    }
  }

  /** The name of a mapping's `name` key node's line (for "first defined on line N"). */
  lineOf(node: YamlNode | null | undefined): number {
    return node?.range ? this.lines.linePos(node.range[0]).line : 0;
  }
}

export function describe(k: Kind | 'null'): string {
  return {
    string: 'a string', int: 'an integer', float: 'a number with a fraction (or too large)', bool: 'a boolean', map: 'a mapping',
    seq: 'a list', alias: 'an alias (*name); write the value itself', other: 'a tagged value', null: 'nothing',
  }[k];
}

/** A scalar's value as text (a string, a number or a boolean), or undefined for anything else. */
export function scalarText(c: Checker, n: YamlNode | null | undefined, kinds: readonly string[] = ['string', 'int', 'float', 'bool']): string | undefined {
  return kinds.includes(c.kindOf(n)) ? String((n as unknown as { value: unknown }).value) : undefined;
}

export { isMap, isScalar, isSeq };
