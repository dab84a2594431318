// Configuration (docs/config.md): YAML read with positions, every key checked, defaults filled in.
// Each mistake is reported as FILE:LINE:COL: message; all of them, not just the first.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import { compileCondition, FilterError, type Condition } from '../event/filter.js';
import { splitWords, WordsError } from './words.js';
import {
  DEFAULT_HOOK_LOG, DEFAULT_MAX_CONCURRENT, DEFAULT_NETNS_DIRS, DEFAULT_QUEUE_LIMIT, DEFAULT_RECEIVE_BUFFER, DEFAULT_SOCKET,
  DEFAULT_TIMEOUT_MS, DEFAULT_RETRIES, DEFAULT_DOCKER_SOCKETS, DEFAULT_CRI_SOCKETS, DEFAULT_CONTAINER_WAIT_MS,
  DEFAULT_SPOOL_DIR, DEFAULT_SPOOL_LIMIT, MIN_SPOOL_LIMIT,
} from './defaults.js';
import { checkModule, checkScript, type CheckedFile } from '../hooks/script-check.js';
import { webhookKey } from '../hooks/actions/url.js';
import type { HookConfig } from '../hooks/hook.js';
import type { OutputConfig } from '../outputs/fan-out.js';
import { subjectProblem } from '../outputs/nats/subject.js';

export interface NlmonConfig {
  /** The file it was read from; '' for the embedded default. */
  file: string;
  monitoring: { namespaces: 'all' | string[]; netns_dirs: string[]; receive_buffer: number; list_existing: boolean };
  integration: { max_concurrent: number; queue_limit: number; hook_log: string; hooks: HookConfig[] };
  control: { socket: string };
  metrics: { listen: string };
  containers: { enabled: boolean; docker_socket: string[]; cri_socket: string[]; wait_ms: number };
  outputs: OutputConfig[];
}

/** Every key the file may hold, by the mapping it belongs in (docs/config.md has each). */
export const CONFIG_KEYS = {
  top: ['nlmon'],
  nlmon: ['monitoring', 'containers', 'integration', 'outputs', 'control', 'metrics'],
  monitoring: ['namespaces', 'netns_dirs', 'receive_buffer', 'list_existing'],
  integration: ['max_concurrent', 'queue_limit', 'hook_log', 'hooks'],
  hook: [
    'name', 'script', 'url', 'module', 'condition', 'timeout_ms', 'enabled', 'async', 'args', 'env', 'capture_output', 'keep_children',
    'method', 'headers', 'format', 'secret', 'secret_file', 'retries',
  ],
  containers: ['enabled', 'docker_socket', 'cri_socket', 'wait_ms'],
  output: ['name', 'type', 'condition', 'path', 'url', 'token', 'credentials_file', 'tls', 'stream', 'subject', 'spool_dir', 'spool_limit'],
  tls: ['ca', 'cert', 'key'],
  control: ['socket'],
  metrics: ['listen'],
} as const satisfies Record<string, readonly string[]>;

/** The longest timeout_ms: 24 hours (a timer cannot hold much more, and no hook needs it). */
export const MAX_TIMEOUT_MS = 86_400_000;

export const DEFAULT_CONFIG_TEXT = `# nlmon's embedded default: watch the default namespace, no hooks.
nlmon:
  monitoring:
    namespaces: [default]
  integration:
    hooks: []
`;

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

export interface LoadOptions {
  allowUnsafeScripts?: boolean;
}

/** Reads and validates a config file; throws ConfigError listing every problem. */
export function loadConfigFile(file: string, opts: LoadOptions = {}): NlmonConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError([{ file, line: 0, col: 0, message: `cannot read the config file: ${err.code === 'ENOENT' ? 'no such file' : err.message}` }]);
  }
  return parseConfig(text, file, opts);
}

export function defaultConfig(): NlmonConfig {
  return parseConfig(DEFAULT_CONFIG_TEXT, '', {});
}

type Kind = 'string' | 'int' | 'float' | 'bool' | 'map' | 'seq' | 'alias' | 'other';

class Checker {
  readonly issues: ConfigIssue[] = [];
  constructor(readonly file: string, readonly lines: LineCounter) {}

  at(node: YamlNode | Pair | null | undefined, message: string): void {
    const range = node && 'range' in node ? node.range : node && 'key' in node ? (node.key as YamlNode | null)?.range : undefined;
    const pos = this.lines.linePos(range?.[0] ?? 0);
    this.issues.push({ file: this.file || '<embedded default>', line: pos.line, col: pos.col, message });
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

  /** The pairs of a map, each key checked against `known`. */
  entries(map: YAMLMap, where: string, known: readonly string[]): Map<string, Pair<YamlNode, YamlNode | null>> {
    const out = new Map<string, Pair<YamlNode, YamlNode | null>>();
    for (const pair of map.items as Pair<YamlNode, YamlNode | null>[]) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!known.includes(key)) {
        this.at(pair.key, `unknown key '${key}' in ${where} (known: ${known.join(', ')})`);
        continue;
      }
      if (out.has(key)) this.at(pair.key, `duplicate key '${key}' in ${where}`);
      out.set(key, pair);
    }
    return out;
  }

  scalar<T extends 'string' | 'int' | 'bool'>(pair: Pair<YamlNode, YamlNode | null> | undefined, kind: T, name: string):
    (T extends 'string' ? string : T extends 'int' ? number : boolean) | undefined {
    if (!pair) return undefined;
    const k = this.kindOf(pair.value);
    if (k !== kind) {
      this.at(pair.value ?? pair, `${name} must be ${kind === 'int' ? 'an integer' : kind === 'bool' ? 'true or false' : 'a string'}, not ${this.describeNode(pair.value)}`);
      return undefined;
    }
    return (pair.value as unknown as { value: never }).value;
  }

  positive(pair: Pair<YamlNode, YamlNode | null> | undefined, name: string, min = 1, max = Number.MAX_SAFE_INTEGER, unit = ''): number | undefined {
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

  /** An absolute path for a file nlmon creates: not under /proc, /sys or /dev. */
  filePath(pair: Pair<YamlNode, YamlNode | null>, name: string, value: string): boolean {
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

  stringList(pair: Pair<YamlNode, YamlNode | null> | undefined, name: string): string[] | undefined {
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

  map(pair: Pair<YamlNode, YamlNode | null> | undefined, name: string): YAMLMap | undefined {
    if (!pair) return undefined;
    if (this.kindOf(pair.value) === 'null') return undefined;
    if (!isMap(pair.value)) {
      this.at(pair.value ?? pair, `${name} must be a mapping, not ${this.describeNode(pair.value)}`);
      return undefined;
    }
    return pair.value;
  }
}

function describe(k: Kind | 'null'): string {
  return {
    string: 'a string', int: 'an integer', float: 'a number with a fraction (or too large)', bool: 'a boolean', map: 'a mapping',
    seq: 'a list', alias: 'an alias (*name); write the value itself', other: 'a tagged value', null: 'nothing',
  }[k];
}

/** Validates config text; `file` names it in messages. Throws only ConfigError: a bug met while
 * reading is reported as an error of the file, never thrown past the loader (a reload must keep
 * the running config whatever the file holds). */
export function parseConfig(text: string, file: string, opts: LoadOptions = {}): NlmonConfig {
  try {
    return checkConfig(text, file, opts);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([{ file: file || '<embedded default>', line: 0, col: 0, message: `cannot read the config: ${(e as Error).message}` }]);
  }
}

function checkConfig(text: string, file: string, opts: LoadOptions): NlmonConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const c = new Checker(file, lines);
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    c.issues.push({ file: file || '<embedded default>', line: pos.line, col: pos.col, message: `YAML: ${e.message.split('\n')[0]}` });
  }
  if (c.issues.length) throw new ConfigError(c.issues);

  const cfg: NlmonConfig = {
    file,
    monitoring: { namespaces: ['default'], netns_dirs: [...DEFAULT_NETNS_DIRS], receive_buffer: DEFAULT_RECEIVE_BUFFER, list_existing: false },
    integration: { max_concurrent: DEFAULT_MAX_CONCURRENT, queue_limit: DEFAULT_QUEUE_LIMIT, hook_log: DEFAULT_HOOK_LOG, hooks: [] },
    control: { socket: DEFAULT_SOCKET },
    metrics: { listen: '' },
    containers: { enabled: true, docker_socket: [...DEFAULT_DOCKER_SOCKETS], cri_socket: [...DEFAULT_CRI_SOCKETS], wait_ms: DEFAULT_CONTAINER_WAIT_MS },
    outputs: [],
  };
  const root = doc.contents as YamlNode | null;
  if (!isMap(root)) {
    c.at(root, `the config must be a mapping with the key 'nlmon'`);
    throw new ConfigError(c.issues);
  }
  const top = c.entries(root, 'the top level', CONFIG_KEYS.top);
  const nl = c.map(top.get('nlmon'), 'nlmon');
  if (!top.has('nlmon')) c.at(root, `missing key 'nlmon'`);
  if (nl) {
    const sec = c.entries(nl, 'nlmon', CONFIG_KEYS.nlmon);
    const mon = c.map(sec.get('monitoring'), 'nlmon.monitoring');
    if (mon) readMonitoring(c, mon, cfg);
    const integ = c.map(sec.get('integration'), 'nlmon.integration');
    if (integ) readIntegration(c, integ, cfg, opts);
    const cont = c.map(sec.get('containers'), 'nlmon.containers');
    if (cont) readContainers(c, cont, cfg);
    const outs = sec.get('outputs');
    if (outs && c.kindOf(outs.value) !== 'null') readOutputs(c, outs, cfg);
    const ctl = c.map(sec.get('control'), 'nlmon.control');
    if (ctl) {
      const e = c.entries(ctl, 'nlmon.control', CONFIG_KEYS.control);
      const s = c.scalar(e.get('socket'), 'string', 'socket');
      if (s !== undefined) {
        // A Unix socket path holds at most 107 bytes: a longer one is silently cut elsewhere.
        if (!c.filePath(e.get('socket')!, 'socket', s)) { /* reported */ } else if (Buffer.byteLength(s) > 107) {
          c.at(e.get('socket')!.value, `socket path is ${Buffer.byteLength(s)} bytes; a Unix socket path holds at most 107`);
        } else cfg.control.socket = s;
      }
    }
    const met = c.map(sec.get('metrics'), 'nlmon.metrics');
    if (met) {
      const e = c.entries(met, 'nlmon.metrics', CONFIG_KEYS.metrics);
      const l = c.scalar(e.get('listen'), 'string', 'listen');
      if (l !== undefined) {
        const problem = l === '' ? undefined : listenProblem(l);
        if (problem) c.at(e.get('listen')!.value, `listen: ${problem}`);
        else cfg.metrics.listen = l;
      }
    }
  }
  if (c.issues.length) throw new ConfigError(c.issues);
  return cfg;
}

/** Why `HOST:PORT` cannot be listened on, as far as its text tells; undefined if it may. */
export function listenProblem(listen: string): string | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d+)$/.exec(listen);
  if (!m) return `must be HOST:PORT (127.0.0.1:9470, [::1]:9470, localhost:9470) or "", not '${listen}'`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `port ${m[3]} is out of range (1-65535)`;
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && net.isIPv6(host)) return undefined;
  if (m[1] !== undefined) return `'${host}' is not an IPv6 address`;
  if (net.isIPv4(host)) return undefined;
  if (/^\d+(\.\d+)*$/.test(host)) return `'${host}' is not an IPv4 address`;
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$/.test(host)) return `'${host}' is not a host name or address`;
  return undefined;
}

function readMonitoring(c: Checker, mon: YAMLMap, cfg: NlmonConfig): void {
  const e = c.entries(mon, 'nlmon.monitoring', CONFIG_KEYS.monitoring);
  const ns = e.get('namespaces');
  if (ns) {
    if (isScalar(ns.value) && ns.value.value === 'all') cfg.monitoring.namespaces = 'all';
    else if (isScalar(ns.value)) c.at(ns.value, `namespaces must be 'all' or a list of names, not '${String(ns.value.value)}'`);
    else {
      const list = c.stringList(ns, 'namespaces');
      if (list && list.length === 0) c.at(ns.value, `namespaces must not be empty (use [default])`);
      else if (list) cfg.monitoring.namespaces = list;
    }
  }
  const dirs = c.stringList(e.get('netns_dirs'), 'netns_dirs');
  if (dirs) {
    const bad = dirs.find((d) => !path.isAbsolute(d));
    if (bad !== undefined) c.at(e.get('netns_dirs')!.value, `netns_dirs: '${bad}' is not an absolute path`);
    else cfg.monitoring.netns_dirs = dirs;
  }
  const rb = c.positive(e.get('receive_buffer'), 'receive_buffer', 4096);
  if (rb !== undefined) {
    if (rb > 2 ** 30) c.at(e.get('receive_buffer')!.value, `receive_buffer must be at most 1073741824`);
    else cfg.monitoring.receive_buffer = rb;
  }
  const le = c.scalar(e.get('list_existing'), 'bool', 'list_existing');
  if (le !== undefined) cfg.monitoring.list_existing = le;
}

/** A hook's or an output's `condition`, compiled; a mistake is reported at its column. */
function readCondition(c: Checker, e: Map<string, Pair<YamlNode, YamlNode | null>>, label: string): { condition: string; match: Condition | undefined } {
  const condition = c.scalar(e.get('condition'), 'string', 'condition') ?? '';
  try {
    return { condition, match: compileCondition(condition) };
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    const node = e.get('condition')!.value!;
    const pos = c.lines.linePos(node.range![0]);
    // Point at the column inside the condition when it is a plain or quoted one-line scalar.
    const quoted = isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') ? 1 : 0;
    const plain = isScalar(node) && (node.type === 'PLAIN' || quoted) && !condition.includes('\n');
    c.issues.push({ file: c.file || '<embedded default>', line: pos.line, col: plain ? pos.col + quoted + err.column - 1 : pos.col, message: `${label}: ${err.format('condition')}` });
    return { condition, match: undefined };
  }
}

/** `nlmon.outputs`: a list of outputs (docs/config.md, "nlmon.outputs"). */
function readOutputs(c: Checker, pair: Pair<YamlNode, YamlNode | null>, cfg: NlmonConfig): void {
  if (!isSeq(pair.value)) {
    c.at(pair.value, `outputs must be a list of outputs, not ${describe(c.kindOf(pair.value))}`);
    return;
  }
  const seen = new Set<string>();
  const spools = new Set<string>();
  for (const item of pair.value.items as YamlNode[]) {
    if (!isMap(item)) {
      c.at(item, 'each output must be a mapping with at least a name and a type');
      continue;
    }
    const before = c.issues.length;
    const e = c.entries(item, 'an output', CONFIG_KEYS.output);
    const name = c.scalar(e.get('name'), 'string', 'name');
    if (!e.has('name')) c.at(item, 'an output needs a name');
    else if (name !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) c.at(e.get('name')!.value, `output name '${name}' must be 1-64 of A-Z a-z 0-9 _ . -`);
    else if (name !== undefined && seen.has(name)) c.at(e.get('name')!.value, `duplicate output name '${name}'`);
    if (name !== undefined) seen.add(name);
    const label = name ? `output '${name}'` : 'output';
    const type = c.scalar(e.get('type'), 'string', 'type');
    if (!e.has('type')) c.at(item, `${label} needs a type (nats or file)`);
    else if (type !== undefined && type !== 'file' && type !== 'nats') c.at(e.get('type')!.value, `${label}: type must be nats or file, not '${type}'`);
    const { condition, match } = readCondition(c, e, label);
    // Keys that belong to the other type are refused, not ignored.
    const own = type === 'file' ? ['path'] : ['url', 'token', 'credentials_file', 'tls', 'stream', 'subject', 'spool_dir', 'spool_limit'];
    for (const [k, p] of e) {
      if (!['name', 'type', 'condition', ...own].includes(k) && (type === 'file' || type === 'nats')) c.at(p.key, `${label}: ${k} is not a key of a ${type} output`);
    }
    const resolve = (key: string): string | undefined => {
      const v = c.scalar(e.get(key), 'string', key);
      if (v === undefined) return undefined;
      const abs = path.isAbsolute(v) || !c.file ? v : path.resolve(path.dirname(c.file), v);
      return c.filePath(e.get(key)!, key, abs) ? abs : undefined;
    };
    const base: Omit<OutputConfig, 'name' | 'type' | 'condition' | 'match'> = {
      path: '', url: [], token: '', credentials_file: '', tls: undefined, stream: '', subject: '', spool_dir: '', spool_limit: DEFAULT_SPOOL_LIMIT,
    };
    if (type === 'file') {
      if (!e.has('path')) c.at(item, `${label} needs a path`);
      base.path = resolve('path') ?? '';
    } else if (type === 'nats') {
      readNats(c, item, e, label, base, name ?? '');
      base.credentials_file &&= resolve('credentials_file') ?? '';
      if (base.credentials_file && !fs.existsSync(base.credentials_file)) c.at(e.get('credentials_file')!.value, `${label}: credentials_file ${base.credentials_file}: no such file`);
      if (e.has('spool_dir')) base.spool_dir = resolve('spool_dir') ?? '';
      if (base.spool_dir && spools.has(base.spool_dir)) c.at(e.get('spool_dir')?.value ?? item, `${label}: spool_dir ${base.spool_dir} is also another output's`);
      spools.add(base.spool_dir);
    }
    if (c.issues.length !== before || !name || (type !== 'file' && type !== 'nats') || !match) continue;
    cfg.outputs.push({ name, type, condition, match, ...base });
  }
}

/** The keys of a `nats` output (docs/config.md, "nlmon.outputs"). */
function readNats(c: Checker, item: YAMLMap, e: Map<string, Pair<YamlNode, YamlNode | null>>, label: string, out: Omit<OutputConfig, 'name' | 'type' | 'condition' | 'match'>, name: string): void {
  const urlPair = e.get('url');
  const one = urlPair && isScalar(urlPair.value) && typeof urlPair.value.value === 'string' ? [urlPair.value.value] : undefined;
  const urls = one ?? c.stringList(urlPair, 'url');
  if (!urlPair) c.at(item, `${label} needs a url (nats://host:port, or a list of them)`);
  else if (urls) {
    if (urls.length === 0) c.at(urlPair.value, `${label}: url must name at least one server`);
    for (const u of urls) {
      let ok = false;
      try {
        const p = new URL(u.includes('://') ? u : `nats://${u}`);
        ok = ['nats:', 'tls:'].includes(p.protocol) && p.hostname !== '';
      } catch {
        ok = false;
      }
      if (!ok) c.at(urlPair.value, `${label}: '${u}' is not a server URL (nats://host:port or tls://host:port)`);
    }
    out.url = urls;
  }
  out.token = c.scalar(e.get('token'), 'string', 'token') ?? '';
  out.credentials_file = c.scalar(e.get('credentials_file'), 'string', 'credentials_file') ?? '';
  if (out.token && out.credentials_file) c.at(e.get('token')!.key, `${label}: token and credentials_file are two ways to log in: give one`);
  const tls = c.map(e.get('tls'), 'tls');
  if (tls) {
    const t = c.entries(tls, `${label}'s tls`, CONFIG_KEYS.tls);
    const read = (k: 'ca' | 'cert' | 'key'): string => {
      const v = c.scalar(t.get(k), 'string', k);
      if (v === undefined) return '';
      const abs = path.isAbsolute(v) || !c.file ? v : path.resolve(path.dirname(c.file), v);
      if (!fs.existsSync(abs)) c.at(t.get(k)!.value, `${label}: tls ${k} ${abs}: no such file`);
      return abs;
    };
    out.tls = { ca: read('ca'), cert: read('cert'), key: read('key') };
    if (!out.tls.cert !== !out.tls.key) c.at(tls, `${label}: tls cert and key go together`);
  }
  const stream = c.scalar(e.get('stream'), 'string', 'stream');
  if (!e.has('stream')) c.at(item, `${label} needs a stream (the JetStream stream to publish to)`);
  else if (stream !== undefined && !/^[^\s.*>/\\]{1,255}$/.test(stream)) c.at(e.get('stream')!.value, `${label}: stream '${stream}' must be a name without white space, '.', '*', '>', '/' or '\\'`);
  out.stream = stream ?? '';
  const subject = c.scalar(e.get('subject'), 'string', 'subject');
  if (!e.has('subject')) c.at(item, `${label} needs a subject (for example nlmon.{host}.{event})`);
  else if (subject !== undefined) {
    const bad = subjectProblem(subject);
    if (bad) c.at(e.get('subject')!.value, `${label}: subject '${subject}' ${bad}`);
  }
  out.subject = subject ?? '';
  out.spool_dir = path.join(DEFAULT_SPOOL_DIR, name);
  const limit = c.positive(e.get('spool_limit'), 'spool_limit', MIN_SPOOL_LIMIT, Number.MAX_SAFE_INTEGER, ' bytes');
  if (limit !== undefined) out.spool_limit = limit;
}

function readContainers(c: Checker, cont: YAMLMap, cfg: NlmonConfig): void {
  const e = c.entries(cont, 'nlmon.containers', CONFIG_KEYS.containers);
  const en = c.scalar(e.get('enabled'), 'bool', 'enabled');
  if (en !== undefined) cfg.containers.enabled = en;
  // One path, or a list asked in order; [] turns that kind of API off.
  for (const key of ['docker_socket', 'cri_socket'] as const) {
    const pair = e.get(key);
    const one = pair && isScalar(pair.value) && typeof pair.value.value === 'string' ? [pair.value.value] : undefined;
    const socks = one ?? c.stringList(pair, key);
    if (!socks) continue;
    const bad = socks.find((p) => !path.isAbsolute(p) || Buffer.byteLength(p) > 107);
    if (bad !== undefined) c.at(pair!.value, `${key}: '${bad}' is not an absolute Unix socket path (at most 107 bytes)`);
    else cfg.containers[key] = socks;
  }
  const w = c.positive(e.get('wait_ms'), 'wait_ms', 0, 60_000);
  if (w !== undefined) cfg.containers.wait_ms = w;
}

function readIntegration(c: Checker, integ: YAMLMap, cfg: NlmonConfig, opts: LoadOptions): void {
  const e = c.entries(integ, 'nlmon.integration', CONFIG_KEYS.integration);
  const mc = c.positive(e.get('max_concurrent'), 'max_concurrent', 1, 10000);
  if (mc !== undefined) cfg.integration.max_concurrent = mc;
  const ql = c.positive(e.get('queue_limit'), 'queue_limit', 1, 10_000_000);
  if (ql !== undefined) cfg.integration.queue_limit = ql;
  const hl = c.scalar(e.get('hook_log'), 'string', 'hook_log');
  if (hl !== undefined) {
    if (hl === '' || c.filePath(e.get('hook_log')!, 'hook_log', hl)) cfg.integration.hook_log = hl;
  }
  const hooksPair = e.get('hooks');
  if (!hooksPair || c.kindOf(hooksPair.value) === 'null') return;
  if (!isSeq(hooksPair.value)) {
    c.at(hooksPair.value, `hooks must be a list of hooks, not ${describe(c.kindOf(hooksPair.value))}`);
    return;
  }
  const seen = new Map<string, number>();
  for (const item of hooksPair.value.items as YamlNode[]) {
    if (!isMap(item)) {
      c.at(item, `each hook must be a mapping with at least name and script`);
      continue;
    }
    const h = readHook(c, item, opts);
    if (!h) continue;
    const nameNode = (item.items as Pair<YamlNode, YamlNode>[]).find((p) => isScalar(p.key) && p.key.value === 'name')?.value;
    if (seen.has(h.name)) {
      c.at(nameNode, `duplicate hook name '${h.name}' (first defined on line ${seen.get(h.name)})`);
      continue;
    }
    seen.set(h.name, nameNode?.range ? c.lines.linePos(nameNode.range[0]).line : 0);
    cfg.integration.hooks.push(h);
  }
}

function readHook(c: Checker, item: YAMLMap, opts: LoadOptions): HookConfig | undefined {
  const before = c.issues.length;
  const e = c.entries(item, 'a hook', CONFIG_KEYS.hook);
  const name = c.scalar(e.get('name'), 'string', 'name');
  if (!e.has('name')) c.at(item, `a hook needs a name`);
  else if (name !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) c.at(e.get('name')!.value, `hook name '${name}' must be 1-64 of A-Z a-z 0-9 _ . -`);
  const label = name ? `hook '${name}'` : 'hook';
  const actions = (['script', 'url', 'module'] as const).filter((k) => e.has(k));
  if (actions.length === 0) c.at(item, `${label} needs one action: script, url or module`);
  else if (actions.length > 1) c.at(e.get(actions[1]!)!.key as YamlNode, `${label} has ${actions.join(' and ')}: a hook has exactly one action`);
  const action = actions.length === 1 ? actions[0]! : undefined;
  // Keys that belong to one action only are errors on the others.
  const only: Record<string, 'script' | 'url'> = {
    args: 'script', env: 'script', capture_output: 'script', keep_children: 'script',
    method: 'url', headers: 'url', format: 'url', secret: 'url', secret_file: 'url', retries: 'url',
  };
  for (const [k, a] of Object.entries(only)) {
    if (e.has(k) && action && action !== a) c.at(e.get(k)!.key as YamlNode, `${label}: ${k} is for ${a} hooks, not ${action} hooks`);
  }
  const script = action === 'script' ? c.scalar(e.get('script'), 'string', 'script') : undefined;
  let argv: string[] = [];
  if (script !== undefined) {
    try {
      argv = splitWords(script);
      if (argv.length === 0) c.at(e.get('script')!.value, `${label}: script is empty`);
      // A relative path is relative to the config file's directory, not to nlmon's cwd.
      else if (argv[0]!.includes('/') && !path.isAbsolute(argv[0]!) && c.file) argv[0] = path.resolve(path.dirname(c.file), argv[0]!);
    } catch (err) {
      if (!(err instanceof WordsError)) throw err;
      c.at(e.get('script')!.value, `${label}: script: ${err.message}`);
    }
  }
  const { condition, match } = readCondition(c, e, label);
  const timeout = c.positive(e.get('timeout_ms'), 'timeout_ms', 1, MAX_TIMEOUT_MS, ' (24 hours)');
  const enabled = c.scalar(e.get('enabled'), 'bool', 'enabled');
  const isAsync = c.scalar(e.get('async'), 'bool', 'async');
  const capture = c.scalar(e.get('capture_output'), 'bool', 'capture_output');
  const keepChildren = c.scalar(e.get('keep_children'), 'bool', 'keep_children');
  const args = c.stringList(e.get('args'), 'args') ?? [];
  const env: Record<string, string> = {};
  const envMap = c.map(e.get('env'), 'env');
  if (envMap) {
    for (const p of envMap.items as Pair<YamlNode, YamlNode | null>[]) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      const kind = c.kindOf(p.value);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) c.at(p.key, `env: '${k}' is not a valid variable name`);
      else if (kind !== 'string' && kind !== 'int' && kind !== 'float' && kind !== 'bool') c.at(p.value ?? p, `env: ${k} must be a string, not ${c.describeNode(p.value)}`);
      else if (k.startsWith('NLMON_')) c.at(p.key, `env: ${k}: NLMON_ variables are set by nlmon`);
      else env[k] = String((p.value as unknown as { value: unknown }).value);
    }
  }
  let files: CheckedFile[] = [];
  if (argv.length && script !== undefined) {
    const checked = checkScript([...argv, ...args], opts.allowUnsafeScripts ?? false);
    if ('problem' in checked) c.at(e.get('script')!.value, `${label}: ${checked.problem}`);
    else if (!opts.allowUnsafeScripts) files = checked.files;
  }
  const common = {
    condition, timeout_ms: timeout ?? DEFAULT_TIMEOUT_MS, enabled: enabled ?? true, async: isAsync ?? false,
  };
  if (action === 'url') {
    const web = readWebhook(c, e, label);
    if (c.issues.length !== before || name === undefined || !match || !web) return undefined;
    return { name, action, script: '', argv: [], match, ...common, args: [], env: {}, capture_output: false, keep_children: false, files: [], ...web };
  }
  if (action === 'module') {
    const mod = readModule(c, e, label, opts);
    if (c.issues.length !== before || name === undefined || !match || !mod) return undefined;
    return { name, action, script: '', argv: [], match, ...common, args: [], env: {}, capture_output: false, keep_children: false, files: mod.files, module: mod.module };
  }
  if (c.issues.length !== before || name === undefined || script === undefined || !match) return undefined;
  return {
    name, action: 'script', script, argv: [...argv, ...args], match, ...common,
    args, env, capture_output: capture ?? false, keep_children: keepChildren ?? false, files,
  };
}

type Entries = Map<string, Pair<YamlNode, YamlNode | null>>;

/** The keys of a `url` hook (docs/hooks.md, "Webhooks"). */
function readWebhook(c: Checker, e: Entries, label: string): Pick<HookConfig, 'url' | 'method' | 'headers' | 'format' | 'secret' | 'retries'> | undefined {
  const before = c.issues.length;
  const url = c.scalar(e.get('url'), 'string', 'url');
  if (url !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(url);
    } catch {
      c.at(e.get('url')!.value, `${label}: url '${url}' is not a URL`);
    }
    if (u && u.protocol !== 'http:' && u.protocol !== 'https:') c.at(e.get('url')!.value, `${label}: url must be http:// or https://, not ${u.protocol}//`);
    if (u && (u.username || u.password)) c.at(e.get('url')!.value, `${label}: put credentials in headers, not in the url (it is written to the hook log)`);
  }
  const method = c.scalar(e.get('method'), 'string', 'method')?.toUpperCase() ?? 'POST';
  if (!/^(POST|PUT|PATCH)$/.test(method)) c.at(e.get('method')!.value, `${label}: method must be POST, PUT or PATCH (the event is the body)`);
  const headers: Record<string, string> = {};
  const hmap = c.map(e.get('headers'), 'headers');
  if (hmap) {
    for (const p of hmap.items as Pair<YamlNode, YamlNode | null>[]) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      const kind = c.kindOf(p.value);
      const v = kind === 'string' || kind === 'int' ? String((p.value as unknown as { value: unknown }).value) : undefined;
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) c.at(p.key, `headers: '${k}' is not a header name`);
      else if (/^(content-type|content-length|host|webhook-id|webhook-timestamp|webhook-signature)$/i.test(k)) c.at(p.key, `headers: ${k} is set by nlmon`);
      else if (v === undefined || /[\r\n\0]/.test(v)) c.at(p.value ?? p, `headers: ${k} must be a one-line string`);
      else headers[k.toLowerCase()] = v;
    }
  }
  const format = c.scalar(e.get('format'), 'string', 'format') ?? 'json';
  if (format !== 'json' && format !== 'cloudevents') c.at(e.get('format')!.value, `${label}: format must be json or cloudevents, not '${format}'`);
  if (e.has('secret') && e.has('secret_file')) c.at(e.get('secret_file')!.key as YamlNode, `${label}: secret and secret_file do not go together`);
  let secretText = c.scalar(e.get('secret'), 'string', 'secret');
  const secretFile = c.scalar(e.get('secret_file'), 'string', 'secret_file');
  if (secretFile !== undefined) {
    const f = path.isAbsolute(secretFile) || !c.file ? secretFile : path.resolve(path.dirname(c.file), secretFile);
    try {
      secretText = fs.readFileSync(f, 'utf8').trim();
    } catch (err) {
      c.at(e.get('secret_file')!.value, `${label}: secret_file ${f}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  }
  let secret: Buffer = Buffer.alloc(0);
  if (secretText !== undefined) {
    const key = webhookKey(secretText);
    if (!key) c.at(e.get('secret_file')?.value ?? e.get('secret')!.value, `${label}: the secret must be whsec_ followed by base64 (as the Standard Webhooks libraries make them)`);
    else secret = key;
  }
  const retries = c.positive(e.get('retries'), 'retries', 0, 20) ?? DEFAULT_RETRIES;
  if (c.issues.length !== before || url === undefined) return undefined;
  return { url, method, headers, format: format as 'json' | 'cloudevents', secret, retries };
}

/** The key of a `module` hook: a safe file the loader accepts (docs/hooks.md, "Module handlers"). */
function readModule(c: Checker, e: Entries, label: string, opts: LoadOptions): { module: string; files: CheckedFile[] } | undefined {
  const given = c.scalar(e.get('module'), 'string', 'module');
  if (given === undefined) return undefined;
  const file = path.isAbsolute(given) || !c.file ? path.resolve(given) : path.resolve(path.dirname(c.file), given);
  const checked = checkModule(file, opts.allowUnsafeScripts ?? false);
  if ('problem' in checked) {
    c.at(e.get('module')!.value, `${label}: ${checked.problem}`);
    return undefined;
  }
  return { module: file, files: opts.allowUnsafeScripts ? [] : checked.files };
}
