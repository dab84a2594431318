// The keys of an output that keeps a spool (docs/config.md, "nlmon.outputs"): where, and how
// large. Read by the output types that spool (nats); no two outputs may share a spool_dir.
import path from 'node:path';
import type { Checker, Entries, YAMLMap } from '../../config/checker.js';
import type { OutputReadContext } from '../output.js';

export interface SpoolSettings {
  spool_dir: string;
  spool_limit: number;
}

export const SPOOL_KEYS = ['spool_dir', 'spool_limit'] as const;
/** Where an output keeps its spool when spool_dir is not given: DIR/<output name>. */
export const DEFAULT_SPOOL_DIR = '/var/lib/nlmon/spool';
/** At most this many bytes on disk (1 GiB), at least MIN_SPOOL_LIMIT. */
export const DEFAULT_SPOOL_LIMIT = 1024 * 1024 * 1024;
export const MIN_SPOOL_LIMIT = 64 * 1024;

export function readSpoolKeys(c: Checker, e: Entries, item: YAMLMap, ctx: OutputReadContext): SpoolSettings | undefined {
  const before = c.issues.length;
  const limit = c.positive(e.get('spool_limit'), 'spool_limit', MIN_SPOOL_LIMIT, Number.MAX_SAFE_INTEGER, ' bytes');
  const dir = e.has('spool_dir') ? c.createdFile(e, 'spool_dir') ?? '' : path.join(DEFAULT_SPOOL_DIR, ctx.name);
  if (dir && ctx.claimed.has(dir)) c.at(e.get('spool_dir')?.value ?? item, `${ctx.label}: spool_dir ${dir} is also another output's`);
  ctx.claimed.add(dir);
  if (c.issues.length !== before) return undefined;
  return { spool_dir: dir, spool_limit: limit ?? DEFAULT_SPOOL_LIMIT };
}
