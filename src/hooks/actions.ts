// The runner the daemon gives the scheduler: each hook's one action (docs/hooks.md) run by its
// own runner: a program (runner.ts), an HTTP request (webhook.ts), or a module's handler in a
// worker thread (module-runner.ts).
import type { HookConfig } from './hook.js';
import type { NlEvent } from '../event/event.js';
import { NativeHookRunner, type HookRunner, type RunResult, type RunSlot } from './actions/script.js';
import { WebhookRunner } from './actions/url.js';
import { ModuleRunner } from './actions/module.js';
import type { NativeBinding } from '../native/addon.js';
import { recheckFiles } from './script-check.js';

/** As config/defaults.ts: a hook built elsewhere than the config (a test) retries as often. */
const DEFAULT_RETRIES = 3;
const NO_SECRET = Buffer.alloc(0);

export class ActionRunner implements HookRunner {
  readonly scripts: NativeHookRunner;
  readonly webhooks = new WebhookRunner();
  readonly modules: ModuleRunner;

  /** log receives what module handlers log (`ctx.log`). */
  constructor(opts: { binding?: NativeBinding; log?: (hook: string, line: string) => void } = {}) {
    this.scripts = new NativeHookRunner(opts.binding);
    this.modules = new ModuleRunner(opts.log);
  }

  run(hook: HookConfig, event: NlEvent, slot?: RunSlot): Promise<RunResult> {
    switch (hook.action ?? 'script') {
      case 'url':
        return this.webhooks.run({
          name: hook.name, url: hook.url ?? '', method: hook.method ?? 'POST', headers: hook.headers ?? {},
          format: hook.format ?? 'json', secret: hook.secret ?? NO_SECRET, retries: hook.retries ?? DEFAULT_RETRIES, timeout_ms: hook.timeout_ms,
        }, event, slot);
      case 'module':
        return this.runModule(hook, event);
      default:
        return this.scripts.run(hook, event);
    }
  }

  /** A module file is checked again before each run, as a script is. */
  private async runModule(hook: HookConfig, event: NlEvent): Promise<RunResult> {
    if (hook.files?.length) {
      const why = await recheckFiles(hook.files);
      if (why) return { outcome: 'failure', exit_code: null, signal: null, duration_ms: 0, spawned_at: NaN, error: `refused: ${why}`, stdout: '', stderr: '' };
    }
    return this.modules.run({ name: hook.name, module: hook.module ?? '', timeout_ms: hook.timeout_ms }, event);
  }

  /** The hooks in force (at start, and after a reload): their modules are loaded by fresh
   * workers now. */
  load(hooks: readonly HookConfig[]): void {
    this.modules.reset();
    for (const h of hooks) {
      if (h.action === 'module' && h.enabled && h.module) this.modules.preload({ name: h.name, module: h.module, timeout_ms: h.timeout_ms });
    }
  }

  /** The daemon stops: no more retries; kept-alive connections and idle workers close. */
  close(): void {
    this.webhooks.close();
    this.modules.reset();
  }
}
