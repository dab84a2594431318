// `nlmon run`: the pipeline wired together (monitor → scheduler → runner → stats, log,
// metrics), the control socket, SIGHUP reload, and a clean stop on SIGTERM/SIGINT.
import type http from 'node:http';
import { Monitor, MonitorError } from '../netlink/monitor.js';
import { nativeBinding } from '../native/addon.js';
import { containerAttribution, type ContainerResolver } from '../containers/resolver.js';
import { attributionSources } from '../containers/sources.js';
import { setEventHost } from '../event/make.js';
import { daemonCapabilities, hasCapability } from '../native/capabilities.js';
import { containerStage } from '../containers/attribution-stage.js';
import { HookScheduler, type HookStatus } from '../hooks/scheduler.js';
import { ActionRunners } from '../hooks/registry.js';
import { Outputs } from '../outputs/fan-out.js';
import type { OutputStatusBase } from '../outputs/output.js';
import { HookLog, outputTail } from '../hooks/log.js';
import { ConfigError, formatIssue, loadConfigFile, type LoadOptions, type NlmonConfig } from './config-file.js';
import { addHookToFile, ConfigEditError, deleteHookFromFile, type NewHook } from './config-edit.js';
import { ControlServer, ControlSocketError } from './control-server.js';
import type { ControlApi, StatusReport } from './control-api.js';
import { Metrics } from './metrics.js';
import { onStopSignal } from '../signals.js';
import { VERSION } from '../package.js';
import { RateLimitedLog, stderrLogger, type LogFormat, type Logger } from './logger.js';

export type { LogFormat, Logger };

/** The longest a stop (SIGTERM, SIGINT) may take before the process exits anyway. */
const STOP_GRACE_MS = 50_000;

/** A problem at start that the operator must fix (one line, exit 1). */
export class StartError extends Error {}

export class Daemon implements ControlApi {
  readonly monitor: Monitor;
  readonly scheduler: HookScheduler;
  readonly metrics: Metrics;
  private hookLog: HookLog;
  /** The last change of the outputs (start, reload), which the next one waits for. */
  private outputsSet: Promise<void> = Promise.resolve();
  /** Streams of events off the daemon (docs/config.md, "nlmon.outputs"). */
  private readonly outputs = new Outputs((name, level, msg) => this.limited.log(`output ${name} ${msg.replace(/\d+/g, '#').slice(0, 60)}`, level, `output ${name}: ${msg}`));
  private control: ControlServer | undefined;
  private metricsServer: http.Server | undefined;
  private readonly startedAt = new Date();
  private readonly limited: RateLimitedLog;
  /** Lines the hook logs of this run (before reloads too) could not write. */
  private hookLogLostBefore = 0;
  private stopping = false;
  /** Runs each hook's action: scripts, webhooks, module handlers. */
  readonly runner = new ActionRunners({ log: (hook, line) => this.limited.log(`module ${hook}`, 'info', `hook ${hook}: ${line}`) });
  private readonly containers: ContainerResolver | undefined;

  constructor(private config: NlmonConfig, private readonly log: Logger, private readonly loadOptions: LoadOptions = {}) {
    setEventHost(config.host);
    this.limited = new RateLimitedLog(log);
    this.hookLog = this.openHookLog(config.integration.hook_log);
    this.scheduler = new HookScheduler(
      { maxConcurrent: config.integration.max_concurrent, queueLimit: config.integration.queue_limit, backlogLimit: config.integration.backlog_limit },
      this.runner,
      {
        started: (hook, e) => this.hookLog.started(hook, e),
        finished: (hook, e, r) => {
          this.hookLog.done(hook, e, r);
          this.metrics.hookFinished(hook.name, r.outcome, r.duration_ms, (r.attempts ?? 1) - 1);
          if (r.outcome !== 'success') {
            const err = outputTail(r.stderr).slice(0, 200);
            this.limited.log(`${hook.name} ${r.outcome}`, 'warn', `hook ${hook.name}: ${r.outcome} on ${e.event} ${e.interface || ''} #${e.sequence}: ${r.error}${err ? `; stderr: ${err}` : ''}`);
          }
        },
        dropped: (hook, e, why) => {
          this.hookLog.done(hook, e, { outcome: 'dropped' });
          this.metrics.hookDropped(hook.name);
          this.limited.log(`${hook.name} dropped`, 'warn', `hook ${hook.name}: run for #${e.sequence} dropped (${why})`);
        },
        backlogDropped: (count, limit) => {
          this.limited.log('backlog dropped', 'warn', `events waiting behind sync hooks passed backlog_limit ${limit}: the oldest are dropped unmatched (${count} so far)`);
        },
      },
    );
    this.scheduler.setHooks(config.integration.hooks);
    this.runner.load(config.integration.hooks);
    const m = config.monitoring;
    const cc = config.containers;
    this.containers = cc.enabled ? containerAttribution({ dockerSockets: cc.docker_socket, criSockets: cc.cri_socket, waitMs: cc.wait_ms, log: (level, msg) => this.log(level, msg) }) : undefined;
    this.monitor = new Monitor(
      {
        namespaces: m.namespaces, netnsDirs: m.netns_dirs, receiveBuffer: m.receive_buffer, listExisting: m.list_existing, intake: m.intake,
        ...(this.containers ? { stage: containerStage(this.containers) } : {}),
      },
      {
        events: (events) => {
          this.metrics.countEvents(events);
          this.outputs.submit(events);
          this.scheduler.submit(events);
        },
        log: (level, msg) => this.log(level, msg),
        namespaceClosed: (name) => this.metrics.forgetNamespace(name),
      },
    );
    this.metrics = new Metrics({
      monitorStats: () => this.monitor.stats(),
      queueDepth: () => this.scheduler.queueDepth,
      running: () => this.scheduler.runningCount,
      backlog: () => this.scheduler.backlog,
      discarded: () => this.scheduler.discarded,
      backlogDropped: () => this.scheduler.backlogDropped,
      hookLogLost: () => this.hookLogLost(),
      outputs: () => this.outputs.status(),
      hooksJson: () => this.hooks(),
      statusJson: () => this.status(),
    });
  }

  /** Opens the control socket first (a second daemon is refused before it watches anything),
   * then the namespaces, then the metrics listener. */
  async start(): Promise<void> {
    // The series before anything is counted into them (prom-client is loaded only for a listener).
    if (this.config.metrics.listen) await this.metrics.load();
    this.control = await ControlServer.listen(this.config.control.socket, this);
    const outputErrors = await this.outputs.set(this.config.outputs);
    if (outputErrors.length) {
      await this.outputs.close();
      await this.control.close();
      throw new StartError(outputErrors.join('; '));
    }
    if (this.containers) {
      // One line per attribution source: what it gives under the privileges nlmon has.
      const cc = this.config.containers;
      for (const s of attributionSources(cc.docker_socket, cc.cri_socket, hasCapability(daemonCapabilities(), 'CAP_SYS_PTRACE'))) this.log(s.ok || s.absent ? 'info' : 'warn', `containers: ${s.what}: ${s.detail}`);
      await this.containers.start();
    }
    await this.monitor.start();
    if (this.config.metrics.listen) {
      try {
        this.metricsServer = await this.metrics.serve(this.config.metrics.listen);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const why = err.code === 'EADDRNOTAVAIL' ? 'that address is not on this machine'
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'the host name does not resolve'
            : err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
        throw new StartError(`metrics.listen ${this.config.metrics.listen}: cannot listen: ${why}`);
      }
      this.log('info', `metrics on http://${this.config.metrics.listen}/metrics`);
    }
    for (const w of this.config.warnings) this.log('warn', w);
    this.logIncludeIssues(this.config);
    const hooks = this.config.integration.hooks;
    this.log('info', `watching ${this.monitor.namespaces().join(', ')}; ${hooks.length} hook(s): ${hooks.map((h) => h.name).join(', ') || 'none'}; control socket ${this.control.file}`);
  }

  /** Stops intake, drops queued runs (counted), waits for running ones (bounded by their
   * timeouts), then closes the control socket and the metrics listener. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.monitor.stop();
    this.containers?.stop();
    const running = this.scheduler.runningCount;
    const backlog = this.scheduler.backlog;
    if (running) this.log('info', `stopping: waiting for ${running} running hook(s)`);
    const stopped = this.scheduler.stop();
    this.runner.close(); // no more webhook retries; idle module workers go
    if (backlog) this.log('warn', `stopping: ${backlog} event(s) waiting behind a sync hook were discarded without being matched`);
    await stopped;
    await this.outputsSet;
    await this.outputs.close();
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
      intake: st.intake,
      events: st.events,
      overruns: st.overruns,
      resyncs: st.resyncs,
      namespaces: st.namespaces.map(({ name, links, addresses, events, overruns, resyncs, reopens, malformed, receive_buffer, read_ahead, read_ahead_peak, container }) => ({ name, links, addresses, events, overruns, resyncs, reopens, malformed, receive_buffer, read_ahead, read_ahead_peak, container })),
      hooks: {
        total: hooks.length,
        enabled: hooks.filter((h) => h.enabled).length,
        running: this.scheduler.runningCount,
        queued: this.scheduler.queueDepth,
        backlog: this.scheduler.backlog,
        backlog_dropped: this.scheduler.backlogDropped,
        discarded: this.scheduler.discarded,
      },
      hook_log_lost: this.hookLogLost(),
      hook_log: this.config.integration.hook_log,
      outputs: this.outputs.status(),
    };
  }

  outputStats(): OutputStatusBase[] {
    return this.outputs.status();
  }

  /** Lines the hook log could not write, since start. */
  hookLogLost(): number {
    return this.hookLogLostBefore + this.hookLog.lost;
  }

  /** Opens the hook log again by name (SIGUSR1, and SIGHUP: logrotate's postrotate). */
  reopenLogs(): void {
    this.hookLog.reopen();
    this.outputs.reopen();
  }

  private openHookLog(file: string): HookLog {
    return new HookLog(file, (err) => this.limited.log('hook_log', 'error',
      `hook log ${file}: ${err.message}; its lines are counted and dropped until it can be written again`));
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
    const from = this.scheduler.hook(name)?.from;
    if (from) throw new ConfigEditError(`hook '${name}' is defined in the drop-in file ${from}: remove it there, then reload`);
    this.applyEdit(deleteHookFromFile(this.requireFile(), name, this.loadOptions));
    this.log('info', `hook ${name}: deleted`);
  }

  /** A drop-in hook file with a mistake is not loaded, and said so; the other hooks run. */
  private logIncludeIssues(config: NlmonConfig): void {
    for (const i of config.integration.include_issues) this.log('error', `include: ${formatIssue(i)}; that file's hooks are not loaded`);
  }

  /** Reads the config file again; a bad one is logged and the running config kept. Ignored
   * once the daemon is stopping (it would reopen what the stop closed). */
  reload(): { ok: boolean; errors: string[] } {
    if (this.stopping) {
      this.log('info', 'reload ignored: the daemon is stopping');
      return { ok: false, errors: ['the daemon is stopping'] };
    }
    if (!this.config.file) return { ok: false, errors: ['running on the embedded default config (no --config): nothing to reload'] };
    let next: NlmonConfig;
    try {
      next = loadConfigFile(this.config.file, this.loadOptions);
    } catch (e) {
      const errors = e instanceof ConfigError ? e.issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.message}`) : [`${this.config.file}: ${(e as Error).message}`];
      this.log('error', `reload rejected; the running config stays:\n${errors.join('\n')}`);
      return { ok: false, errors };
    }
    this.applyConfig(next);
    for (const w of next.warnings) this.log('warn', w);
    this.logIncludeIssues(next);
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
    setEventHost(next.host);
    const i = next.integration;
    this.runner.load(i.hooks);
    this.outputs.reopen(); // SIGHUP reopens files too (logrotate)
    // One change of outputs at a time: a reload waits for the one before (closing a nats output
    // waits for its acknowledgements in flight).
    this.outputsSet = this.outputsSet.then(() => this.outputs.set(next.outputs)).then((errors) => {
      for (const e of errors) this.log('error', `${e}; it is left out until the next reload`);
    });
    this.scheduler.setHooks(i.hooks, { maxConcurrent: i.max_concurrent, queueLimit: i.queue_limit, backlogLimit: i.backlog_limit });
    // A hook gone (deleted, or no longer in the file) takes its metric series with it.
    const kept = new Set(i.hooks.map((h) => h.name));
    for (const h of prev.integration.hooks) if (!kept.has(h.name)) this.metrics.forgetHook(h.name);
    this.monitor.setNamespaces(next.monitoring.namespaces, next.monitoring.netns_dirs);
    if (i.hook_log !== prev.integration.hook_log) {
      try {
        const log = this.openHookLog(i.hook_log);
        this.hookLogLostBefore += this.hookLog.lost;
        void this.hookLog.close();
        this.hookLog = log;
      } catch (e) {
        this.log('error', `hook_log ${i.hook_log}: ${(e as Error).message}; still writing ${prev.integration.hook_log}`);
      }
    } else {
      this.hookLog.reopen();
    }
    for (const [what, a, b] of [
      ['control.socket', prev.control.socket, next.control.socket],
      ['metrics.listen', prev.metrics.listen, next.metrics.listen],
      ['monitoring.receive_buffer', prev.monitoring.receive_buffer, next.monitoring.receive_buffer],
      ['containers', JSON.stringify(prev.containers), JSON.stringify(next.containers)],
    ] as const) {
      if (a !== b) this.log('warn', `${what} changed; it takes effect at the next restart${what === 'monitoring.receive_buffer' ? ' (or for namespaces opened from now on)' : ''}`);
    }
  }
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
  try {
    // Descriptors are what a connection flood would take from netlink and hooks: use all we may.
    const limit = nativeBinding().raiseFileLimit();
    if (limit.soft !== limit.before) log('info', `descriptor limit raised from ${limit.before} to ${limit.soft}`);
  } catch (e) {
    log('warn', `cannot raise the descriptor limit: ${(e as Error).message}`);
  }
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const offSignals = onStopSignal((sig) => {
    stopping = true;
    log('info', `${sig}: stopping`);
    // Running runs are waited for, each up to its timeout; a stop that still has not ended after
    // STOP_GRACE_MS (a run with a long timeout, a worker stuck in a system call) ends the
    // process, before systemd's TimeoutStopSec (60 s) would kill it without a word.
    const force = setTimeout(() => {
      const ended = daemon.runner.abandon(); // a script run's session would outlive the process
      log('error', `the stop did not end within ${STOP_GRACE_MS / 1000} s (runs or workers that do not end): exiting now${ended ? `; the process groups of ${ended} script run(s) killed` : ''}`);
      process.exit(1);
    }, STOP_GRACE_MS);
    force.unref();
    void daemon.stop().then(done);
  });
  let stopping = false;
  const onHup = () => {
    if (stopping) {
      log('info', 'SIGHUP ignored: the daemon is stopping');
      return;
    }
    log('info', 'SIGHUP: reloading');
    daemon.reload();
  };
  const onUsr1 = () => {
    log('info', 'SIGUSR1: reopening the hook log');
    daemon.reopenLogs();
  };
  process.on('SIGHUP', onHup);
  process.on('SIGUSR1', onUsr1);
  const offReload = () => {
    process.off('SIGHUP', onHup);
    process.off('SIGUSR1', onUsr1);
  };
  try {
    await daemon.start();
  } catch (e) {
    offSignals();
    offReload();
    await daemon.stop();
    if (e instanceof MonitorError || e instanceof ControlSocketError || e instanceof StartError) {
      log('error', e.message);
      return 1;
    }
    throw e;
  }
  await finished;
  offSignals();
  offReload();
  log('info', 'stopped');
  return 0;
}
