// The config file (docs/config.md): its root and the daemon's own sections (`control`,
// `metrics`), each other section read by its stage's reader. Each mistake is reported as
// FILE:LINE:COL: message; all of them, not just the first.
import fs from 'node:fs';
import net from 'node:net';
import { ConfigError, isMap, parseYaml, type Checker, type YAMLMap } from '../config/checker.js';
import { MONITORING_KEYS, readMonitoring, type MonitoringConfig } from '../netlink/config.js';
import { CONTAINERS_KEYS, readContainers, type ContainersConfig } from '../containers/config.js';
import { hookKeys, INTEGRATION_KEYS, readIntegration, type IntegrationConfig } from '../hooks/config.js';
import { outputKeys, readOutputs } from '../outputs/config.js';
import type { OutputConfig } from '../outputs/registry.js';
import type { ActionReadOptions } from '../hooks/action.js';
import { DEFAULT_SOCKET } from './control-socket.js';

export { ConfigError, formatIssue, type ConfigIssue } from '../config/checker.js';

export interface NlmonConfig {
  /** The file it was read from; '' for the embedded default. */
  file: string;
  /** The name events carry as `host`; '' for the machine's hostname. */
  host: string;
  monitoring: MonitoringConfig;
  integration: IntegrationConfig;
  control: { socket: string };
  metrics: { listen: string };
  containers: ContainersConfig;
  outputs: OutputConfig[];
  /** Where the file holds a secret itself (a webhook's `secret`, a nats `token`). */
  inline_secrets: string[];
  /** What is not an error but should be fixed (a file holding a secret that others can read):
   * logged at start and reload, printed by `config check`. */
  warnings: string[];
}

const TOP_KEYS = ['nlmon'] as const;
const NLMON_KEYS = ['host', 'monitoring', 'containers', 'integration', 'outputs', 'control', 'metrics'] as const;
const CONTROL_KEYS = ['socket'] as const;
const METRICS_KEYS = ['listen'] as const;

/** Every key the file may hold, by the mapping it belongs in (docs/config.md has each). */
export function configKeys(): Record<string, readonly string[]> {
  return {
    top: TOP_KEYS, nlmon: NLMON_KEYS, monitoring: MONITORING_KEYS, integration: INTEGRATION_KEYS, hook: hookKeys(),
    containers: CONTAINERS_KEYS, ...outputKeys(), control: CONTROL_KEYS, metrics: METRICS_KEYS,
  };
}

export const DEFAULT_CONFIG_TEXT = `# nlmon's embedded default: watch the default namespace, no hooks.
nlmon:
  monitoring:
    namespaces: [default]
  integration:
    hooks: []
`;

export type LoadOptions = Partial<ActionReadOptions>;

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

/** Validates config text; `file` names it in messages. Throws only ConfigError: a bug met while
 * reading is reported as an error of the file, never thrown past the loader (a reload must keep
 * the running config whatever the file holds). */
export function parseConfig(text: string, file: string, opts: LoadOptions = {}): NlmonConfig {
  try {
    return checkConfig(text, file, { allowUnsafeScripts: opts.allowUnsafeScripts ?? false });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([{ file: file || '<embedded default>', line: 0, col: 0, message: `cannot read the config: ${(e as Error).message}` }]);
  }
}

function checkConfig(text: string, file: string, opts: ActionReadOptions): NlmonConfig {
  const { c, root } = parseYaml(text, file);
  if (!isMap(root)) {
    c.at(root, `the config must be a mapping with the key 'nlmon'`);
    throw new ConfigError(c.issues);
  }
  const top = c.entries(root, 'the top level', TOP_KEYS);
  const nl = c.map(top.get('nlmon'), 'nlmon');
  if (!top.has('nlmon')) c.at(root, `missing key 'nlmon'`);
  const sec = nl ? c.entries(nl, 'nlmon', NLMON_KEYS) : new Map();
  const host = c.scalar(sec.get('host'), 'string', 'host') ?? '';
  if (host && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(host)) c.at(sec.get('host')!.value, `host '${host}' must be 1-253 of A-Z a-z 0-9 . _ - (a host name)`);
  const cfg: NlmonConfig = {
    file,
    host,
    monitoring: readMonitoring(c, c.map(sec.get('monitoring'), 'nlmon.monitoring')),
    integration: readIntegration(c, c.map(sec.get('integration'), 'nlmon.integration'), opts),
    containers: readContainers(c, c.map(sec.get('containers'), 'nlmon.containers')),
    outputs: readOutputs(c, sec.get('outputs')),
    control: readControl(c, c.map(sec.get('control'), 'nlmon.control')),
    metrics: readMetrics(c, c.map(sec.get('metrics'), 'nlmon.metrics')),
    inline_secrets: c.inlineSecrets,
    warnings: [],
  };
  if (c.issues.length) throw new ConfigError(c.issues);
  if (file && cfg.inline_secrets.length) {
    const mode = fileMode(file);
    if (mode & 0o044) {
      cfg.warnings.push(`${file} holds ${cfg.inline_secrets.join(', ')} and is readable by ${mode & 0o004 ? 'every user' : 'its group'}: chmod 600 ${file}, or keep the secret in a file of its own (secret_file, credentials_file)`);
    }
  }
  return cfg;
}

function readControl(c: Checker, ctl: YAMLMap | undefined): NlmonConfig['control'] {
  const out = { socket: DEFAULT_SOCKET };
  if (!ctl) return out;
  const e = c.entries(ctl, 'nlmon.control', CONTROL_KEYS);
  const s = c.scalar(e.get('socket'), 'string', 'socket');
  if (s === undefined || !c.filePath(e.get('socket')!, 'socket', s)) return out;
  // A Unix socket path holds at most 107 bytes: a longer one is silently cut elsewhere.
  if (Buffer.byteLength(s) > 107) c.at(e.get('socket')!.value, `socket path is ${Buffer.byteLength(s)} bytes; a Unix socket path holds at most 107`);
  else out.socket = s;
  return out;
}

function readMetrics(c: Checker, met: YAMLMap | undefined): NlmonConfig['metrics'] {
  const out = { listen: '' };
  if (!met) return out;
  const e = c.entries(met, 'nlmon.metrics', METRICS_KEYS);
  const l = c.scalar(e.get('listen'), 'string', 'listen');
  if (l === undefined) return out;
  const problem = l === '' ? undefined : listenProblem(l);
  if (problem) c.at(e.get('listen')!.value, `listen: ${problem}`);
  else out.listen = l;
  return out;
}

function fileMode(file: string): number {
  try {
    return fs.statSync(file).mode;
  } catch {
    return 0;
  }
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
