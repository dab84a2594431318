// A hook as the daemon runs it: the config file's keys (docs/config.md, docs/hooks.md) with the
// script split into argv and the condition compiled.
import type { Condition } from '../event/filter.js';
import type { CheckedFile } from './script-check.js';

/** A hook's one action (docs/hooks.md): a program, an HTTP request, or a module's handler. */
export type HookAction = 'script' | 'url' | 'module';

export interface HookConfig {
  name: string;
  /** 'script' when absent. */
  action?: HookAction;
  /** The command line of a script hook; '' for the others. */
  script: string;
  /** script split into words, then `args`. */
  argv: string[];
  condition: string;
  match: Condition;
  timeout_ms: number;
  enabled: boolean;
  async: boolean;
  args: string[];
  env: Record<string, string>;
  capture_output: boolean;
  /** Leave the processes a run started in its process group alive after it exits. */
  keep_children: boolean;
  /** The files checked at load, checked again before each run, the program first (empty with
   * --allow-unsafe-scripts). */
  files: CheckedFile[];
  /** `url` hooks: where, how, and how often to try. */
  url?: string;
  method?: string;
  headers?: Record<string, string>;
  format?: 'json' | 'cloudevents';
  /** The HMAC key of `secret` / `secret_file`; empty: unsigned. */
  secret?: Buffer;
  retries?: number;
  /** `module` hooks: the module's absolute path. */
  module?: string;
}

/** What a hook runs, as the hook log and `hooks list` show it. */
export function hookTarget(h: Pick<HookConfig, 'action' | 'script' | 'url' | 'module'>): string {
  return h.action === 'url' ? h.url ?? '' : h.action === 'module' ? h.module ?? '' : h.script;
}
