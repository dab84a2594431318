// `nlmon run`: the pipeline wired together (monitor → scheduler → runner → stats, log,
// metrics), the control socket, SIGHUP reload, and a clean stop on SIGTERM/SIGINT.
import type http from 'node:http';
import { Monitor, MonitorError, type LogLevel } from '../netlink/monitor.js';
import { HookScheduler, type HookStatus } from '../hooks/scheduler.js';
import { NativeHookRunner } from '../hooks/runner.js';
import { HookLog } from '../hooks/log.js';
import { ConfigError, loadConfigFile, type LoadOptions, type NlmonConfig } from '../config/config.js';
import { addHookToFile, ConfigEditError, deleteHookFromFile, type NewHook } from '../config/edit.js';
import { ControlServer, ControlSocketError } from './control-server.js';
import type { ControlApi, StatusReport } from './control-api.js';
import { Metrics } from './metrics.js';
import { onStopSignal } from '../signals.js';
import { VERSION } from '../version.js';

export type Logger = (level: LogLevel, message: string) => void;

export class Daemon implements ControlApi {
  readonly monitor: Monitor;
  readonly scheduler: HookScheduler;
  readonly metrics: Metrics;
  private hookLog: HookLog;
  private control: ControlServer | undefined;
  private metricsServer: http.Server | undefined;
  private readonly startedAt = new Date();

  constructor(private config: NlmonConfig, private readonly log: Logger, private readonly loadOptions: LoadOptions = {}) {
    this.hookLog = new HookLog(config.integration.hook_log);
    this.scheduler = new HookScheduler(
      { maxConcurrent: config.integration.max_concurrent, queueLimit: config.integration.queue_limit },
      new NativeHookRunner(),
      {
        started: (hook, e) => this.hookLog.started(hook, e),
        finished: (hook, e, r) => {
          this.hookLog.done(hook, e, r);
          this.metrics.hookFinished(hook.name, r.outcome, r.duration_ms);
          if (r.outcome !== 'success') this.log('warn', `hook ${hook.name}: ${r.outcome} on ${e.event} ${e.interface || ''} #${e.sequence}: ${r.error}`);
        },
        dropped: (hook, e) => {
          this.hookLog.done(hook, e, { outcome: 'dropped', exit_code: null });
          this.metrics.hookDropped(hook.name);
          this.log('warn', `hook ${hook.name}: run for #${e.sequence} dropped (queue_limit ${this.config.integration.queue_limit} reached)`);
        },
      },
    );
    this.scheduler.setHooks(config.integration.hooks);
    const m = config.monitoring;
    this.monitor = new Monitor(
      { namespaces: m.namespaces, netnsDirs: m.netns_dirs, receiveBuffer: m.receive_buffer, listExisting: m.list_existing },
      {
        events: (events) => {
          this.metrics.countEvents(events);
          this.scheduler.submit(events);
        },
        log: (level, msg) => this.log(level, msg),
      },
    );
    this.metrics = new Metrics({
      monitorStats: () => this.monitor.stats(),
      queueDepth: () => this.scheduler.queueDepth,
      running: () => this.scheduler.runningCount,
      backlog: () => this.scheduler.backlog,
    });
  }

  /** Opens the control socket first (a second daemon is refused before it watches anything),
   * then the namespaces, then the metrics listener. */
  async start(): Promise<void> {
    this.control = await ControlServer.listen(this.config.control.socket, this);
    await this.monitor.start();
    if (this.config.metrics.listen) {
      this.metricsServer = await this.metrics.serve(this.config.metrics.listen);
      this.log('info', `metrics on http://${this.config.metrics.listen}/metrics`);
    }
    const hooks = this.config.integration.hooks;
    this.log('info', `watching ${this.monitor.namespaces().join(', ')}; ${hooks.length} hook(s): ${hooks.map((h) => h.name).join(', ') || 'none'}; control socket ${this.control.file}`);
  }

  /** Stops intake, drops queued runs (counted), waits for running ones (bounded by their
   * timeouts), then closes the control socket and the metrics listener. */
  async stop(): Promise<void> {
    this.monitor.stop();
    const running = this.scheduler.runningCount;
    if (running) this.log('info', `stopping: waiting for ${running} running hook(s)`);
    await this.scheduler.stop();
    await this.hookLog.close();
    await this.control?.close();
    this.control = undefined;
    await new Promise<void>((resolve) => (this.metricsServer ? this.metricsServer.close(() => resolve()) : resolve()));
    this.metricsServer = undefined;
  }

  status(): StatusReport {
    const st = this.monitor.stats();
    const hooks = this.scheduler.status();
    return {
      pid: process.pid,
      version: VERSION,
      config: this.config.file,
      started_at: this.startedAt.toISOString(),
      uptime_s: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      events: st.events,
      overruns: st.overruns,
      resyncs: st.resyncs,
      namespaces: st.namespaces.map(({ name, links, events, overruns, resyncs, malformed, receive_buffer }) => ({ name, links, events, overruns, resyncs, malformed, receive_buffer })),
      hooks: {
        total: hooks.length,
        enabled: hooks.filter((h) => h.enabled).length,
        running: this.scheduler.runningCount,
        queued: this.scheduler.queueDepth,
        backlog: this.scheduler.backlog,
      },
    };
  }

  hooks(): HookStatus[] {
    return this.scheduler.status();
  }

  setEnabled(name: string, enabled: boolean): boolean {
    const ok = this.scheduler.setEnabled(name, enabled);
    if (ok) this.log('info', `hook ${name}: ${enabled ? 'enabled' : 'disabled'}`);
    return ok;
  }

  resetStats(name?: string): boolean {
    return this.scheduler.resetStats(name);
  }

  addHook(hook: NewHook): HookStatus {
    this.applyEdit(addHookToFile(this.requireFile(), hook, this.loadOptions));
    this.log('info', `hook ${hook.name}: added`);
    return this.scheduler.status().find((h) => h.name === hook.name)!;
  }

  deleteHook(name: string): void {
    this.applyEdit(deleteHookFromFile(this.requireFile(), name, this.loadOptions));
    this.log('info', `hook ${name}: deleted`);
  }

  /** Reads the config file again; a bad one is logged and the running config kept. */
  reload(): { ok: boolean; errors: string[] } {
    if (!this.config.file) return { ok: false, errors: ['running on the embedded default config (no --config): nothing to reload'] };
    let next: NlmonConfig;
    try {
      next = loadConfigFile(this.config.file, this.loadOptions);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const errors = e.issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.message}`);
      this.log('error', `reload rejected; the running config stays:\n${errors.join('\n')}`);
      return { ok: false, errors };
    }
    this.applyConfig(next);
    this.log('info', `reloaded ${next.file}: ${next.integration.hooks.length} hook(s), watching ${this.monitor.namespaces().join(', ')}`);
    return { ok: true, errors: [] };
  }

  private requireFile(): string {
    if (!this.config.file) throw new ConfigEditError('the daemon runs on the embedded default config (no --config): there is no file to change; start it with --config FILE');
    return this.config.file;
  }

  /** After add/delete: the file's hooks, keeping the live enable/disable state of the others. */
  private applyEdit(next: NlmonConfig): void {
    for (const h of next.integration.hooks) {
      const live = this.scheduler.hook(h.name);
      if (live) h.enabled = live.enabled;
    }
    this.applyConfig(next);
  }

  private applyConfig(next: NlmonConfig): void {
    const prev = this.config;
    this.config = next;
    const i = next.integration;
    this.scheduler.setHooks(i.hooks, { maxConcurrent: i.max_concurrent, queueLimit: i.queue_limit });
    this.monitor.setNamespaces(next.monitoring.namespaces, next.monitoring.netns_dirs);
    if (i.hook_log !== prev.integration.hook_log) {
      try {
        const log = new HookLog(i.hook_log);
        void this.hookLog.close();
        this.hookLog = log;
      } catch (e) {
        this.log('error', `hook_log ${i.hook_log}: ${(e as Error).message}; still writing ${prev.integration.hook_log}`);
      }
    }
    for (const [what, a, b] of [
      ['control.socket', prev.control.socket, next.control.socket],
      ['metrics.listen', prev.metrics.listen, next.metrics.listen],
      ['monitoring.receive_buffer', prev.monitoring.receive_buffer, next.monitoring.receive_buffer],
    ] as const) {
      if (a !== b) this.log('warn', `${what} changed; it takes effect at the next restart${what === 'monitoring.receive_buffer' ? ' (or for namespaces opened from now on)' : ''}`);
    }
  }
}

export type LogFormat = 'text' | 'json';

export function stderrLogger(format: LogFormat = 'text'): Logger {
  if (format === 'json') {
    return (level, message) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message })}\n`);
  }
  return (level, message) => process.stderr.write(`${new Date().toISOString()} ${level} ${message.replace(/\n/g, '\n  ')}\n`);
}

/** Runs the daemon until SIGTERM/SIGINT; SIGHUP reloads. Resolves to the exit code. */
export async function runDaemon(config: NlmonConfig, opts: { logFormat?: LogFormat; loadOptions?: LoadOptions } = {}): Promise<number> {
  const log = stderrLogger(opts.logFormat);
  let daemon: Daemon;
  try {
    daemon = new Daemon(config, log, opts.loadOptions);
  } catch (e) {
    log('error', `cannot start: ${(e as Error).message}`);
    return 1;
  }
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const offSignals = onStopSignal((sig) => {
    log('info', `${sig}: stopping`);
    void daemon.stop().then(done);
  });
  const onHup = () => {
    log('info', 'SIGHUP: reloading');
    daemon.reload();
  };
  process.on('SIGHUP', onHup);
  try {
    await daemon.start();
  } catch (e) {
    offSignals();
    process.off('SIGHUP', onHup);
    await daemon.stop();
    if (e instanceof MonitorError || e instanceof ControlSocketError) {
      log('error', e.message);
      return 1;
    }
    throw e;
  }
  await finished;
  offSignals();
  process.off('SIGHUP', onHup);
  log('info', 'stopped');
  return 0;
}
