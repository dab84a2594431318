// The `module` action (docs/hooks.md, "Module handlers"): the `module` key of a hook, checked at
// load, and its runs given to the module runner (module-runner.ts), whose workers call the
// module's handler.
import path from 'node:path';
import type { NlEvent } from '../../event/event.js';
import type { Checker, Entries } from '../../config/checker.js';
import type { ActionReadOptions, ActionRunner, ActionType, HookBase, RunResult } from '../action.js';
import { checkModule, type CheckedFile } from '../script-check.js';
import { DEFAULT_MAX_HEAP_MB, ModuleRunner } from '../module-runner.js';

export interface ModuleHook extends HookBase {
  action: 'module';
  /** Absolute path of the module. */
  module: string;
  /** The files checked at load, checked again before each run (empty with
   * --allow-unsafe-scripts). */
  files: CheckedFile[];
  /** The heap a worker of this hook may use (its old generation, MB): past it the worker dies
   * and its runs fail, not the daemon. */
  max_heap_mb: number;
}

/** The key of a `module` hook: a safe file the loader accepts (docs/hooks.md, "Module handlers"). */
function readModule(c: Checker, e: Entries, label: string, opts: ActionReadOptions): Omit<ModuleHook, keyof HookBase> | undefined {
  const given = c.scalar(e.get('module'), 'string', 'module');
  if (given === undefined) return undefined;
  const file = path.resolve(c.relative(given));
  const checked = checkModule(file, opts.allowUnsafeScripts);
  if ('problem' in checked) {
    c.at(e.get('module')!.value, `${label}: ${checked.problem}`);
    return undefined;
  }
  const heap = c.positive(e.get('max_heap_mb'), 'max_heap_mb', 16, 65536) ?? DEFAULT_MAX_HEAP_MB;
  return { module: file, files: opts.allowUnsafeScripts ? [] : checked.files, max_heap_mb: heap };
}

/** The module runner as an action: the enabled hooks' modules are loaded by fresh workers at
 * start and after a reload; the workers check the module's files again before runs, as a
 * script's are checked (module-worker.ts). */
class ModuleAction implements ActionRunner<ModuleHook> {
  private readonly modules: ModuleRunner;

  constructor(log: (hook: string, line: string) => void) {
    this.modules = new ModuleRunner(log);
  }

  run(hook: ModuleHook, event: NlEvent): Promise<RunResult> {
    return this.modules.run(hook, event);
  }

  load(hooks: readonly ModuleHook[]): void {
    this.modules.reset();
    for (const h of hooks) if (h.enabled) this.modules.preload(h);
  }

  close(): void {
    this.modules.reset();
  }
}

export const moduleAction: ActionType<ModuleHook> = {
  key: 'module',
  keys: ['max_heap_mb'],
  read: readModule,
  target: (h) => h.module,
  failure: 'threw',
  runner: (services) => new ModuleAction(services.log),
};
