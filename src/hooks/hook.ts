// A hook as the daemon runs it: the config file's keys (docs/config.md, docs/hooks.md) with the
// script split into argv and the condition compiled.
import type { Condition } from '../event/filter.js';
import type { CheckedFile } from './script-check.js';

export interface HookConfig {
  name: string;
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
}
