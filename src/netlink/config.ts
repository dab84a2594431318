// `nlmon.monitoring` (docs/config.md): which namespaces are watched and how; its keys, their
// defaults and its reader.
import path from 'node:path';
import { isScalar, type Checker, type YAMLMap } from '../config/checker.js';
import type { IntakeMode } from './shared-intake.js';

export interface MonitoringConfig {
  namespaces: 'all' | string[];
  netns_dirs: string[];
  receive_buffer: number;
  list_existing: boolean;
  intake: IntakeMode;
}

export const MONITORING_KEYS = ['namespaces', 'netns_dirs', 'receive_buffer', 'list_existing', 'intake'] as const;
export const INTAKE_MODES: readonly IntakeMode[] = ['auto', 'per_namespace', 'shared'];
export const DEFAULT_NETNS_DIRS: readonly string[] = ['/var/run/netns', '/var/run/docker/netns'];
export const DEFAULT_RECEIVE_BUFFER = 16 * 1024 * 1024;

export function defaultMonitoring(): MonitoringConfig {
  return { namespaces: ['default'], netns_dirs: [...DEFAULT_NETNS_DIRS], receive_buffer: DEFAULT_RECEIVE_BUFFER, list_existing: false, intake: 'auto' };
}

export function readMonitoring(c: Checker, mon: YAMLMap | undefined): MonitoringConfig {
  const cfg = defaultMonitoring();
  if (!mon) return cfg;
  const e = c.entries(mon, 'nlmon.monitoring', MONITORING_KEYS);
  const ns = e.get('namespaces');
  if (ns) {
    if (isScalar(ns.value) && ns.value.value === 'all') cfg.namespaces = 'all';
    else if (isScalar(ns.value)) c.at(ns.value, `namespaces must be 'all' or a list of names, not '${String(ns.value.value)}'`);
    else {
      const list = c.stringList(ns, 'namespaces');
      if (list && list.length === 0) c.at(ns.value, `namespaces must not be empty (use [default])`);
      else if (list) cfg.namespaces = list;
    }
  }
  const dirs = c.stringList(e.get('netns_dirs'), 'netns_dirs');
  if (dirs) {
    const bad = dirs.find((d) => !path.isAbsolute(d));
    if (bad !== undefined) c.at(e.get('netns_dirs')!.value, `netns_dirs: '${bad}' is not an absolute path`);
    else cfg.netns_dirs = dirs;
  }
  const rb = c.positive(e.get('receive_buffer'), 'receive_buffer', 4096);
  if (rb !== undefined) {
    if (rb > 2 ** 30) c.at(e.get('receive_buffer')!.value, `receive_buffer must be at most 1073741824`);
    else cfg.receive_buffer = rb;
  }
  const le = c.scalar(e.get('list_existing'), 'bool', 'list_existing');
  if (le !== undefined) cfg.list_existing = le;
  const intake = e.get('intake');
  const mode = c.scalar(intake, 'string', 'intake');
  if (mode !== undefined) {
    if (!(INTAKE_MODES as readonly string[]).includes(mode)) c.at(intake!.value, `intake must be one of ${INTAKE_MODES.join(', ')}, not '${mode}'`);
    else cfg.intake = mode as IntakeMode;
  }
  return cfg;
}
