// The actions a hook can have, one registry entry each (action.ts says what an entry is): the
// config reader looks an action up by its key, the runner by the hook's `action`. Adding an
// action is one file in actions/ and one line in BUILT_IN.
import type { NlEvent } from '../event/event.js';
import type { ActionRunner, ActionServices, ActionType, HookBase, HookRunner, RunResult, RunSlot } from './action.js';
import { scriptAction, type ScriptHook } from './actions/script.js';
import { urlAction, type UrlHook } from './actions/url.js';
import { moduleAction, type ModuleHook } from './actions/module.js';

/** A hook of one of the built-in actions: a field of another action is a compile error. */
export type HookConfig = ScriptHook | UrlHook | ModuleHook;

const BUILT_IN: readonly ActionType<never>[] = [scriptAction, urlAction, moduleAction] as never;
const registered = new Map<string, ActionType>(BUILT_IN.map((a) => [a.key, a as ActionType]));

/** Adds an action type (a test's made-up one, or a later built-in). */
export function registerAction<H extends HookBase>(type: ActionType<H>): void {
  if (registered.has(type.key)) throw new Error(`action ${type.key} is registered already`);
  registered.set(type.key, type as unknown as ActionType);
}

/** Every action type, the built-in ones first, in the order they were registered. */
export function actionTypes(): ActionType[] {
  return [...registered.values()];
}

export function actionType(key: string): ActionType {
  const t = registered.get(key);
  if (!t) throw new Error(`no action type '${key}' is registered`);
  return t;
}

/** What a hook runs, as the hook log and `hooks list` show it. */
export function hookTarget(hook: HookBase): string {
  return registered.get(hook.action)?.target(hook) ?? '';
}

/** The runner the daemon gives the scheduler: each hook run by its action's runner, made when
 * the first hook of that action runs or is loaded. */
export class ActionRunners implements HookRunner {
  private readonly runners = new Map<string, ActionRunner<HookBase>>();

  constructor(private readonly services: ActionServices = { log: () => {} }) {}

  run(hook: HookBase, event: NlEvent, slot?: RunSlot): Promise<RunResult> {
    return this.runner(hook.action).run(hook, event, slot);
  }

  /** The hooks in force (at start, and after a reload), each action given its own. */
  load(hooks: readonly HookBase[]): void {
    for (const type of registered.values()) {
      const mine = hooks.filter((h) => h.action === type.key);
      if (mine.length || this.runners.has(type.key)) this.runner(type.key).load?.(mine);
    }
  }

  /** The daemon stops: no more retries; kept-alive connections and idle workers close. */
  close(): void {
    for (const r of this.runners.values()) r.close?.();
  }

  /** The daemon exits before its runs end: each action ends what would outlive the process
   * (a script's process group). Returns how many runs were ended. */
  abandon(): number {
    let n = 0;
    for (const r of this.runners.values()) n += r.abandon?.() ?? 0;
    return n;
  }

  private runner(key: string): ActionRunner<HookBase> {
    let r = this.runners.get(key);
    if (!r) {
      r = actionType(key).runner(this.services);
      this.runners.set(key, r);
    }
    return r;
  }
}
