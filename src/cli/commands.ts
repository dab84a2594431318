// The verbs that need no daemon besides `monitor`: run, hooks run, replay, filter check, config
// check, doctor.
import fs from 'node:fs';
import { ConfigError, defaultConfig, formatIssue, loadConfigFile, type NlmonConfig } from '../daemon/config-file.js';
import { compileCondition, FilterError } from '../event/filter.js';
import { runDaemon, type LogFormat } from '../daemon/daemon.js';
import { ActionRunners, type HookConfig } from '../hooks/registry.js';
import { doctor } from '../daemon/doctor.js';
import { table } from './tables.js';
import { syntheticEvent } from '../event/make.js';
import { EventError, parseEventJson } from '../event/schema.js';
import type { NlEvent } from '../event/event.js';
// replay and events are loaded by their verbs only: `run` does not carry what they read with.
import type { ReplayOptions } from './replay-command.js';
import type { EventsOptions } from './events-command.js';
import { compileFilterOption } from './filter-option.js';

export interface ConfigOptions {
  config?: string;
  allowUnsafeScripts?: boolean;
}

/** The config named by --config, or the embedded default; undefined after printing errors. */
function readConfig(opts: ConfigOptions): NlmonConfig | undefined {
  try {
    return opts.config ? loadConfigFile(opts.config, { allowUnsafeScripts: opts.allowUnsafeScripts ?? false }) : defaultConfig();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return undefined;
  }
}

export async function runCommand(opts: ConfigOptions & { logFormat?: LogFormat }): Promise<number> {
  const config = readConfig(opts);
  if (!config) return 2;
  return runDaemon(config, { logFormat: opts.logFormat ?? 'text', loadOptions: { allowUnsafeScripts: opts.allowUnsafeScripts ?? false } });
}

/** `nlmon doctor`: a table of checks; exit 0 even when some fail (they say what is missing). */
export function doctorCommand(opts: ConfigOptions & { json?: boolean }): number {
  const config = readConfig(opts);
  if (!config) return 2;
  const checks = doctor(config);
  if (opts.json) process.stdout.write(`${JSON.stringify(checks)}\n`);
  else process.stdout.write(table([['CHECK', 'OK', 'WHAT IT MEANS'], ...checks.map((c) => [c.what, c.ok ? 'yes' : 'no', c.detail])]));
  return 0;
}

export function configCheckCommand(opts: ConfigOptions): number {
  const config = readConfig(opts);
  if (!config) return 2;
  for (const w of config.warnings) process.stderr.write(`warning: ${w}\n`);
  const integ = config.integration;
  // A broken drop-in file does not stop the daemon (its hooks are left out), but is an error here.
  for (const i of integ.include_issues) process.stderr.write(`${formatIssue(i)}\n`);
  const dropIns = integ.included.length ? `, ${integ.included.length} drop-in file(s)` : '';
  if (integ.include_issues.length) {
    const broken = new Set(integ.include_issues.map((i) => i.file)).size;
    process.stdout.write(`${config.file}: ${broken} drop-in file(s) not loaded (${integ.hooks.length} hook(s)${dropIns})\n`);
    return 2;
  }
  process.stdout.write(`${config.file || '<embedded default>'}: ok (${integ.hooks.length} hook(s)${dropIns})\n`);
  return 0;
}

/** --event as an event, or the error to print (exit 2). */
function parseEvent(json: string): NlEvent | string {
  try {
    return parseEventJson(json);
  } catch (e) {
    if (e instanceof EventError) return e.message;
    throw e;
  }
}

export function filterCheckCommand(expr: string, opts: { event?: string; json?: boolean }): number {
  let cond;
  try {
    cond = compileCondition(expr);
  } catch (e) {
    if (!(e instanceof FilterError)) throw e;
    process.stderr.write(`${e.format('condition')}\n`);
    return 2;
  }
  if (opts.event === undefined) {
    process.stdout.write(opts.json ? `${JSON.stringify({ normalized: cond.normalized })}\n` : `${cond.normalized}\n`);
    return 0;
  }
  const ev = parseEvent(opts.event);
  if (typeof ev === 'string') {
    process.stderr.write(`${ev}\n`);
    return 2;
  }
  const m = cond(ev);
  process.stdout.write(opts.json ? `${JSON.stringify({ normalized: cond.normalized, match: m })}\n` : `${m ? 'match' : 'no match'}\n`);
  return m ? 0 : 1;
}

export async function hooksRunCommand(name: string, opts: ConfigOptions & { event?: string; interface?: string; namespace?: string; json?: boolean }): Promise<number> {
  const config = readConfig(opts);
  if (!config) return 2;
  const hook = config.integration.hooks.find((h) => h.name === name);
  if (!hook) {
    process.stderr.write(`nlmon: no hook named '${name}' in ${config.file || 'the embedded default config'}\n`);
    return 2;
  }
  let event: NlEvent;
  if (opts.event !== undefined) {
    // `--event -`: the first line of standard input (a line of `monitor --json`, the file output
    // or a NATS consumer).
    const text = opts.event === '-' ? (fs.readFileSync(0, 'utf8').split('\n').find((l) => l.trim()) ?? '') : opts.event;
    const e = parseEvent(text);
    if (typeof e === 'string') {
      process.stderr.write(`${e}\n`);
      return 2;
    }
    event = e;
  } else {
    event = syntheticEvent(opts.interface ?? '', opts.namespace ?? 'default');
  }
  if (!hook.match(event)) process.stderr.write(`hook ${name}: its condition does not match this event (${hook.condition}); running it anyway\n`);
  // A module's log lines are the run's output here (printed below), not the daemon's log.
  const runner = new ActionRunners();
  const r = await runner.run(hook.action === 'script' ? { ...hook, capture_output: true } as HookConfig : hook, event);
  runner.close();
  // What the result carries: a script's exit code and signal, a webhook's HTTP status.
  const code = 'exit_code' in r ? ` exit_code ${r.exit_code ?? '-'}` : 'http_status' in r ? ` http_status ${r.http_status ?? '-'}` : '';
  const signal = 'signal' in r && r.signal ? ` signal ${r.signal}` : '';
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ hook: name, ...r })}\n`);
  } else {
    process.stdout.write(`hook ${name}: ${r.outcome}${code}${signal} duration ${r.duration_ms.toFixed(1)} ms${r.error ? ` (${r.error})` : ''}\n`);
    if (r.stdout) process.stdout.write(`--- stdout\n${r.stdout}${r.stdout.endsWith('\n') ? '' : '\n'}`);
    if (r.stderr) process.stdout.write(`--- stderr\n${r.stderr}${r.stderr.endsWith('\n') ? '' : '\n'}`);
  }
  return r.outcome === 'success' ? 0 : 1;
}

/** `nlmon replay FILE|-`: the config's hooks over recorded events (replay-command.ts). */
export async function replayVerb(file: string, opts: ConfigOptions & ReplayOptions): Promise<number> {
  const config = readConfig(opts);
  if (!config) return 2;
  return (await import('./replay-command.js')).replayCommand(file, config, opts);
}

/** `nlmon events -c FILE`: a nats output's stream read back (events-command.ts). */
export async function eventsVerb(opts: ConfigOptions & EventsOptions & { filter?: string }): Promise<number> {
  const config = readConfig(opts);
  if (!config) return 2;
  if (!compileFilterOption(opts)) return 2;
  return (await import('./events-command.js')).eventsCommand(config, opts);
}
