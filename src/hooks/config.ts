// `nlmon.integration` (docs/config.md, docs/hooks.md): the scheduler's limits, the hook log and
// the hooks. The keys every hook has are read here; each action's own keys by its registry
// entry (registry.ts), so that a key list is written once, where its action lives.
import fs from 'node:fs';
import path from 'node:path';
import type { Checker, ConfigIssue, Entries, YamlNode, YAMLMap } from '../config/checker.js';
import { ConfigError, isMap, isScalar, isSeq, parseYaml } from '../config/checker.js';
import { loadProblem } from './script-check.js';
import type { ActionReadOptions, HookBase } from './action.js';
import { FIELDS } from '../event/filter.js';
import { actionTypes, type HookConfig } from './registry.js';

export interface IntegrationConfig {
  max_concurrent: number;
  queue_limit: number;
  /** Events that may wait behind sync hooks before the oldest are dropped (and counted). */
  backlog_limit: number;
  hook_log: string;
  hooks: HookConfig[];
  /** Drop-in hook files (`include`): the patterns as given (absolute), the files they matched,
   * and the mistakes of the files that were not loaded (each at its file, line and column). */
  include: string[];
  included: string[];
  include_issues: ConfigIssue[];
}

export const INTEGRATION_KEYS = ['max_concurrent', 'queue_limit', 'backlog_limit', 'hook_log', 'hooks', 'include'] as const;
export const DEFAULT_MAX_CONCURRENT = 10;
export const DEFAULT_QUEUE_LIMIT = 10000;
export const DEFAULT_BACKLOG_LIMIT = 100_000;
export const DEFAULT_HOOK_LOG = '/var/log/nlmon/hook.log';
export const DEFAULT_TIMEOUT_MS = 30000;
/** The longest timeout_ms: 24 hours (a timer cannot hold much more, and no hook needs it). */
export const MAX_TIMEOUT_MS = 86_400_000;

export function defaultIntegration(): IntegrationConfig {
  return {
    max_concurrent: DEFAULT_MAX_CONCURRENT, queue_limit: DEFAULT_QUEUE_LIMIT, backlog_limit: DEFAULT_BACKLOG_LIMIT, hook_log: DEFAULT_HOOK_LOG, hooks: [],
    include: [], included: [], include_issues: [],
  };
}

/** Every key a hook may have: its name, the actions' keys, the common ones, then each action's
 * own (the order of the "known:" list in messages). */
export function hookKeys(): string[] {
  const types = actionTypes();
  return ['name', ...types.map((a) => a.key), 'condition', 'timeout_ms', 'enabled', 'async', 'max_concurrent', 'queue_limit', 'order_by', 'debounce_ms', 'max_delay_ms', 'min_interval_ms', 'burst', 'retries', ...types.flatMap((a) => a.keys)];
}

export function readIntegration(c: Checker, integ: YAMLMap | undefined, opts: ActionReadOptions): IntegrationConfig {
  const cfg = defaultIntegration();
  if (!integ) return cfg;
  const e = c.entries(integ, 'nlmon.integration', INTEGRATION_KEYS);
  const mc = c.positive(e.get('max_concurrent'), 'max_concurrent', 1, 10000);
  if (mc !== undefined) cfg.max_concurrent = mc;
  const ql = c.positive(e.get('queue_limit'), 'queue_limit', 1, 10_000_000);
  if (ql !== undefined) cfg.queue_limit = ql;
  const bl = c.positive(e.get('backlog_limit'), 'backlog_limit', 1, 10_000_000);
  if (bl !== undefined) cfg.backlog_limit = bl;
  const hl = c.scalar(e.get('hook_log'), 'string', 'hook_log');
  if (hl !== undefined) {
    if (hl === '' || c.filePath(e.get('hook_log')!, 'hook_log', hl)) cfg.hook_log = hl;
  }
  const items = c.list(e.get('hooks'), 'hooks', 'hooks');
  const read = readHookList(c, items ?? [], opts, () => undefined, (line) => `on line ${line}`);
  cfg.hooks.push(...read.map((r) => r.hook));
  const patterns = c.stringList(e.get('include'), 'include');
  for (const p of patterns ?? []) {
    const abs = c.relative(p);
    if (/[*?[]/.test(path.dirname(abs))) c.at(e.get('include')!.value, `include: '${p}': wildcards only in the file name`);
    else cfg.include.push(abs);
  }
  if (!c.issues.length) readIncludes(cfg, new Map(read.map((r) => [r.hook.name, `${c.name}:${r.line}`])), opts);
  return cfg;
}

/** The files a pattern names: `*` and `?` in its last part, sorted; none when its directory is
 * missing. */
export function expandInclude(pattern: string): string[] {
  const dir = path.dirname(pattern);
  const re = new RegExp(`^${path.basename(pattern).replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => re.test(n) && !n.startsWith('.')).sort().map((n) => path.join(dir, n));
}

/** Loads each drop-in file: a YAML list of hooks, checked as the main file's are. A file with any
 * mistake (or unsafe: writable by others than root and nlmon's user) is not loaded, and its
 * mistakes are kept; the other files' hooks are. */
function readIncludes(cfg: IntegrationConfig, names: Map<string, string>, opts: ActionReadOptions): void {
  for (const file of [...new Set(cfg.include.flatMap(expandInclude))]) {
    cfg.included.push(file);
    const problem = opts.allowUnsafeScripts ? undefined : loadProblem(file);
    let text = '';
    try {
      if (problem) throw new Error(problem);
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      cfg.include_issues.push({ file, line: 0, col: 0, message: (err as Error).message });
      continue;
    }
    let fc: Checker;
    let root: YamlNode | null;
    try {
      ({ c: fc, root } = parseYaml(text, file));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      cfg.include_issues.push(...err.issues);
      continue;
    }
    const items: YamlNode[] | undefined = root === null ? [] : isSeq(root) ? (root.items as YamlNode[]) : undefined;
    if (!items) fc.at(root, 'a drop-in hook file is a list of hooks');
    const read = readHookList(fc, items ?? [], opts, (name) => (names.has(name) ? `at ${names.get(name)}` : undefined), (line) => `at ${file}:${line}`);
    if (fc.issues.length) {
      cfg.include_issues.push(...fc.issues);
      continue;
    }
    for (const r of read) names.set(r.hook.name, `${file}:${r.line}`);
    cfg.hooks.push(...read.map((r) => ({ ...r.hook, from: file })));
  }
}

/** The hooks of a YAML list, each read and checked; a name defined earlier in the list, or
 * elsewhere (`earlier` says where), is a mistake that says where it was first defined. */
function readHookList(
  c: Checker, items: readonly YamlNode[], opts: ActionReadOptions,
  earlier: (name: string) => string | undefined, where: (line: number) => string,
): Array<{ hook: HookConfig; line: number }> {
  const out: Array<{ hook: HookConfig; line: number }> = [];
  const here = new Map<string, number>();
  for (const item of items) {
    if (!isMap(item)) {
      c.at(item, `each hook must be a mapping with at least name and script`);
      continue;
    }
    const h = readHook(c, item, opts);
    if (!h) continue;
    const nameNode = (item.items as Array<{ key: YamlNode; value: YamlNode }>).find((p) => isScalar(p.key) && p.key.value === 'name')?.value;
    const first = here.has(h.name) ? where(here.get(h.name)!) : earlier(h.name);
    if (first) {
      c.at(nameNode, `duplicate hook name '${h.name}' (first defined ${first})`);
      continue;
    }
    const line = c.lineOf(nameNode);
    here.set(h.name, line);
    out.push({ hook: h, line });
  }
  return out;
}

/** One hook: the keys every hook has, then its one action's. */
export function readHook(c: Checker, item: YAMLMap, opts: ActionReadOptions): HookConfig | undefined {
  const before = c.issues.length;
  const types = actionTypes();
  const e: Entries = c.entries(item, 'a hook', hookKeys());
  const name = c.scalar(e.get('name'), 'string', 'name');
  if (!e.has('name')) c.at(item, `a hook needs a name`);
  else if (name !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) c.at(e.get('name')!.value, `hook name '${name}' must be 1-64 of A-Z a-z 0-9 _ . -`);
  const label = name ? `hook '${name}'` : 'hook';
  const given = types.filter((a) => e.has(a.key));
  const keys = types.map((a) => a.key);
  const list = keys.length > 1 ? `${keys.slice(0, -1).join(', ')} or ${keys.at(-1)}` : keys.join('');
  if (given.length === 0) c.at(item, `${label} needs one action: ${list}`);
  else if (given.length > 1) c.at(e.get(given[1]!.key)!.key as YamlNode, `${label} has ${given.map((a) => a.key).join(' and ')}: a hook has exactly one action`);
  const action = given.length === 1 ? given[0]! : undefined;
  // Keys that belong to one action only are errors on the others.
  if (action) {
    for (const other of types) {
      if (other === action) continue;
      for (const k of other.keys) if (e.has(k)) c.at(e.get(k)!.key as YamlNode, `${label}: ${k} is for ${other.key} hooks, not ${action.key} hooks`);
    }
  }
  const { condition, match } = c.condition(e, label);
  const timeout = c.positive(e.get('timeout_ms'), 'timeout_ms', 1, MAX_TIMEOUT_MS, ' (24 hours)');
  const enabled = c.scalar(e.get('enabled'), 'bool', 'enabled');
  const isAsync = c.scalar(e.get('async'), 'bool', 'async');
  const share = c.positive(e.get('max_concurrent'), 'max_concurrent', 1, 10000);
  const waiting = c.positive(e.get('queue_limit'), 'queue_limit', 1, 10_000_000);
  const orderBy = c.stringList(e.get('order_by'), 'order_by');
  const badField = orderBy?.find((f) => !(f in FIELDS));
  if (badField !== undefined) c.at(e.get('order_by')!.value, `${label}: order_by: '${badField}' is not an event field (docs/events.md)`);
  else if (orderBy && orderBy.length === 0) c.at(e.get('order_by')!.value, `${label}: order_by names no field`);
  const debounce = c.positive(e.get('debounce_ms'), 'debounce_ms', 1, MAX_TIMEOUT_MS, ' (24 hours)');
  const maxDelay = c.positive(e.get('max_delay_ms'), 'max_delay_ms', 1, MAX_TIMEOUT_MS, ' (24 hours)');
  const interval = c.positive(e.get('min_interval_ms'), 'min_interval_ms', 1, MAX_TIMEOUT_MS, ' (24 hours)');
  const burst = c.positive(e.get('burst'), 'burst', 1, 10000);
  if (maxDelay !== undefined && debounce === undefined) c.at(e.get('max_delay_ms')!.key as YamlNode, `${label}: max_delay_ms needs debounce_ms`);
  else if (maxDelay !== undefined && debounce !== undefined && maxDelay < debounce) c.at(e.get('max_delay_ms')!.value, `${label}: max_delay_ms (${maxDelay}) must be at least debounce_ms (${debounce})`);
  if (burst !== undefined && interval === undefined) c.at(e.get('burst')!.key as YamlNode, `${label}: burst needs min_interval_ms`);
  // A sync hook holds every later event until it ends: it cannot also wait for quiet or its turn.
  for (const k of ['debounce_ms', 'min_interval_ms']) {
    if (e.has(k) && !(isAsync ?? false)) c.at(e.get(k)!.key as YamlNode, `${label}: ${k} needs async: true (a sync hook holds every later event until it ends)`);
  }
  const retries = c.positive(e.get('retries'), 'retries', 0, 20);
  if (retries !== undefined && action && action.retries === undefined) c.at(e.get('retries')!.key as YamlNode, `${label}: ${action.key} hooks are not retried (retries is for ${actionTypes().filter((a) => a.retries !== undefined).map((a) => a.key).join(' and ')} hooks)`);
  const own = action?.read(c, e, label, opts);
  if (c.issues.length !== before || name === undefined || !match || !action || !own) return undefined;
  const base: HookBase = {
    name, action: action.key, condition, match, timeout_ms: timeout ?? DEFAULT_TIMEOUT_MS, enabled: enabled ?? true, async: isAsync ?? false,
    ...(share !== undefined ? { max_concurrent: share } : {}), ...(waiting !== undefined ? { queue_limit: waiting } : {}),
    ...(orderBy?.length ? { order_by: orderBy } : {}),
    ...(debounce !== undefined ? { debounce_ms: debounce } : {}), ...(maxDelay !== undefined ? { max_delay_ms: maxDelay } : {}),
    ...(interval !== undefined ? { min_interval_ms: interval } : {}), ...(burst !== undefined ? { burst } : {}),
    ...(action.retries !== undefined ? { retries: retries ?? action.retries } : {}),
  };
  return { ...base, ...own } as HookConfig;
}
