// `nlmon run`: the pipeline wired together (monitor → scheduler → runner → stats and log),
// in the foreground, logging to stderr; SIGTERM/SIGINT stop intake and let running hooks end.
import { Monitor, MonitorError, type LogLevel } from './monitor.js';
import { HookScheduler } from './hook-scheduler.js';
import { ProcessHookRunner } from './hook-runner.js';
import { HookLog } from './hook-log.js';
import type { NlmonConfig } from './config.js';
import { onStopSignal } from './signals.js';

export interface DaemonOptions {
  config: NlmonConfig;
  log: (level: LogLevel, message: string) => void;
}

export class Daemon {
  readonly monitor: Monitor;
  readonly scheduler: HookScheduler;
  private hookLog: HookLog;
  readonly startedAt = new Date();

  constructor(private config: NlmonConfig, private readonly log: DaemonOptions['log']) {
    this.hookLog = new HookLog(config.integration.hook_log);
    this.scheduler = new HookScheduler(
      { maxConcurrent: config.integration.max_concurrent, queueLimit: config.integration.queue_limit },
      new ProcessHookRunner(),
      {
        started: (hook, e) => this.hookLog.started(hook, e),
        finished: (hook, e, r) => {
          this.hookLog.done(hook, e, r);
          if (r.outcome !== 'success') this.log('warn', `hook ${hook.name}: ${r.outcome} on ${e.event} ${e.interface || ''} #${e.sequence}: ${r.error}`);
        },
        dropped: (hook, e) => {
          this.hookLog.done(hook, e, { outcome: 'dropped', exit_code: null });
          this.log('warn', `hook ${hook.name}: run for #${e.sequence} dropped (queue_limit ${this.config.integration.queue_limit} reached)`);
        },
      },
    );
    this.scheduler.setHooks(config.integration.hooks);
    const m = config.monitoring;
    this.monitor = new Monitor(
      { namespaces: m.namespaces, netnsDirs: m.netns_dirs, receiveBuffer: m.receive_buffer, listExisting: m.list_existing },
      { events: (events) => this.scheduler.submit(events), log: (level, msg) => this.log(level, msg) },
    );
  }

  async start(): Promise<void> {
    await this.monitor.start();
    const hooks = this.config.integration.hooks;
    this.log('info', `watching ${this.monitor.namespaces().join(', ')}; ${hooks.length} hook(s): ${hooks.map((h) => h.name).join(', ') || 'none'}`);
  }

  /** Stops intake, drops queued runs (counted), waits for running ones (bounded by their timeouts). */
  async stop(): Promise<void> {
    this.monitor.stop();
    const running = this.scheduler.runningCount;
    if (running) this.log('info', `stopping: waiting for ${running} running hook(s)`);
    await this.scheduler.stop();
    await this.hookLog.close();
  }
}

export function stderrLogger(level: LogLevel, message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
}

/** Runs the daemon until SIGTERM/SIGINT; resolves to the exit code. */
export async function runDaemon(config: NlmonConfig): Promise<number> {
  let daemon: Daemon;
  try {
    daemon = new Daemon(config, stderrLogger);
  } catch (e) {
    stderrLogger('error', `cannot start: ${(e as Error).message}`);
    return 1;
  }
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const offSignals = onStopSignal((sig) => {
    stderrLogger('info', `${sig}: stopping`);
    void daemon.stop().then(done);
  });
  try {
    await daemon.start();
  } catch (e) {
    offSignals();
    await daemon.stop();
    if (e instanceof MonitorError) {
      stderrLogger('error', e.message);
      return 1;
    }
    throw e;
  }
  await finished;
  offSignals();
  stderrLogger('info', 'stopped');
  return 0;
}
