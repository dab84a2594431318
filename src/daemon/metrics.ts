// Prometheus metrics (docs/config.md, "nlmon.metrics"; prom-client), and the HTTP listener that
// serves GET /metrics, and the read-only JSON views GET /api/hooks and GET /api/status (the
// control socket stays the only way to change anything). prom-client is loaded, and the series
// made, only when metrics are served (`metrics.listen`, read at start): a daemon without a
// listener counts nothing here and does not load it (start-up time and memory; README,
// "Measured").
import http from 'node:http';
import type { Counter, Histogram, Registry } from 'prom-client';
import { importPackage } from '../builtin.js';
import type { NlEvent } from '../event/event.js';
import type { MonitorStats } from '../netlink/monitor.js';
import type { RunOutcome } from '../hooks/action.js';
import type { OutputStatusBase as OutputStatus } from '../outputs/output.js';

/** What the metrics read from the running daemon when scraped. */
export interface MetricsSource {
  monitorStats(): MonitorStats;
  queueDepth(): number;
  running(): number;
  /** Events held back behind a running sync hook. */
  backlog(): number;
  /** Events discarded from that backlog by a stop. */
  discarded(): number;
  /** Events dropped from that backlog past backlog_limit. */
  backlogDropped?(): number;
  /** Lines the hook log could not write. */
  hookLogLost(): number;
  /** `nlmon hooks stats --json` and `nlmon status --json`, for GET /api/hooks and /api/status. */
  hooksJson?(): unknown;
  /** Each output's counts (`nlmon outputs stats`). */
  outputs?(): OutputStatus[];
  statusJson?(): unknown;
}

/** The event-loop delay sampler of prom-client's default metrics wakes the loop this often (ms);
 * its default of 10 ms alone woke an idle daemon 100 times a second. */
const LOOP_DELAY_RESOLUTION_MS = 1000;
/** Connections the metrics listener holds at once; more are closed as they come. */
const MAX_CONNECTIONS = 32;

/** The series that are counted into (the others are read from the source when scraped). */
interface Series {
  registry: Registry;
  events: Counter<'namespace' | 'event'>;
  hookRuns: Counter<'hook' | 'result'>;
  hookRetries: Counter<'hook'>;
  hookDuration: Histogram<'hook'>;
  collectDefaultMetrics: typeof import('prom-client').collectDefaultMetrics;
}

export class Metrics {
  private series: Series | undefined;
  private loading: Promise<Series> | undefined;
  private readonly batchCounts = new Map<string, { namespace: string; event: string; n: number }>();
  /** The event names counted per namespace, so that a namespace's series can be removed. */
  private readonly eventsSeen = new Map<string, Set<string>>();
  private processMetrics = false;

  constructor(private readonly source: MetricsSource) {}

  /** The registry, once load() has made it. */
  get registry(): Registry | undefined {
    return this.series?.registry;
  }

  /** Loads prom-client and makes the series; from then on events and runs are counted. */
  load(): Promise<Series> {
    this.loading ??= importPackage<typeof import('prom-client')>('prom-client').then((prom) => {
      this.series = makeSeries(prom, this.source);
      return this.series;
    });
    return this.loading;
  }

  /** Removes the series of a hook that is gone (deleted, or left out of a reloaded file). */
  forgetHook(hook: string): void {
    const m = this.series;
    if (!m) return;
    for (const result of ['success', 'failure', 'timeout', 'dropped']) m.hookRuns.remove({ hook, result });
    m.hookRetries.remove({ hook });
    m.hookDuration.remove({ hook });
  }

  /** Removes the series of a namespace no longer watched (containers come and go). */
  forgetNamespace(namespace: string): void {
    for (const event of this.eventsSeen.get(namespace) ?? []) this.series?.events.remove({ namespace, event });
    this.eventsSeen.delete(namespace);
  }

  /** Counts a batch of events, one counter update per (namespace, event) pair in it. */
  countEvents(events: NlEvent[]): void {
    const m = this.series;
    if (!m) return;
    const counts = this.batchCounts;
    for (const e of events) {
      const key = `${e.namespace}\0${e.event}`;
      const c = counts.get(key);
      if (c) c.n++;
      else counts.set(key, { namespace: e.namespace, event: e.event, n: 1 });
    }
    for (const c of counts.values()) {
      m.events.inc({ namespace: c.namespace, event: c.event }, c.n);
      let seen = this.eventsSeen.get(c.namespace);
      if (!seen) this.eventsSeen.set(c.namespace, (seen = new Set()));
      seen.add(c.event);
    }
    counts.clear();
  }

  hookFinished(hook: string, outcome: RunOutcome, durationMs: number, retries = 0): void {
    const m = this.series;
    if (!m) return;
    m.hookRuns.inc({ hook, result: outcome });
    if (retries > 0) m.hookRetries.inc({ hook }, retries);
    m.hookDuration.observe({ hook }, durationMs / 1000);
  }

  hookDropped(hook: string): void {
    this.series?.hookRuns.inc({ hook, result: 'dropped' });
  }

  /** Serves GET /metrics on HOST:PORT; resolves once listening. prom-client's process metrics
   * are registered here, only when metrics are served, and sampled coarsely. */
  async serve(listen: string): Promise<http.Server> {
    const m = await this.load();
    const registry = m.registry;
    if (!this.processMetrics) {
      this.processMetrics = true;
      m.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: LOOP_DELAY_RESOLUTION_MS });
      // Counting descriptors opens /proc/self/fd on every scrape: not offered to an
      // unauthenticated listener.
      registry.removeSingleMetric('process_open_fds');
      registry.removeSingleMetric('process_max_fds');
      // Gauges with a counter's `_total` name (promtool check metrics refuses them); the same
      // gauges without the suffix stay.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
    }
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
    const port = Number(listen.slice(i + 1));
    // The listener has no authentication, so any local user can connect: bound the connections
    // and their time, so that idle or half-sent requests cannot take the daemon's descriptors.
    const server = http.createServer({ headersTimeout: 5000, requestTimeout: 10000, keepAliveTimeout: 2000, connectionsCheckingInterval: 1000 }, (req, res) => {
      const url = (req.url ?? '').split('?')[0];
      const view = url === '/api/hooks' ? this.source.hooksJson : url === '/api/status' ? this.source.statusJson : undefined;
      if (req.method === 'GET' && view) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(view())}\n`);
        return;
      }
      if (req.method !== 'GET' || url !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics, /api/hooks or /api/status\n');
        return;
      }
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.setTimeout(10000, (socket) => socket.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }
}

/** Every nlmon_ series in a new registry: the counted ones, and those read when scraped. */
function makeSeries(prom: typeof import('prom-client'), source: MetricsSource): Series {
  const { Counter, Gauge, Histogram, Registry } = prom;
    const registry = new Registry();
    const registers = [registry];
    const events = new Counter({ name: 'nlmon_events_total', help: 'Events emitted (link and address), by namespace and event', labelNames: ['namespace', 'event'], registers });
    // A series per namespace, read from the monitor's counts when scraped.
    type Ns = MonitorStats['namespaces'][number];
    const perNamespace = (kind: 'counter' | 'gauge', name: string, help: string, value: (ns: Ns) => number): void => {
      const each = (put: (labels: { namespace: string }, v: number) => void): void => {
        for (const ns of source.monitorStats().namespaces) put({ namespace: ns.name }, value(ns));
      };
      const options = { name, help, labelNames: ['namespace'], registers };
      if (kind === 'counter') new Counter({ ...options, collect() { this.reset(); each((l, v) => this.inc(l, v)); } });
      else new Gauge({ ...options, collect() { this.reset(); each((l, v) => this.set(l, v)); } });
    };
    perNamespace('counter', 'nlmon_netlink_overruns_total', 'Netlink receive buffer overruns (ENOBUFS), by namespace', (ns) => ns.overruns);
    perNamespace('counter', 'nlmon_read_ahead_datagrams_total', 'Netlink datagrams read ahead of the event loop while it was behind, by namespace', (ns) => ns.read_ahead);
    perNamespace('gauge', 'nlmon_read_ahead_peak_bytes', 'The most bytes a namespace\'s read-ahead queue has held (its cap: the receive buffer asked for)', (ns) => ns.read_ahead_peak);
    perNamespace('counter', 'nlmon_resyncs_total', 'Link table resyncs after an overrun, by namespace', (ns) => ns.resyncs);
    new Counter({
      name: 'nlmon_output_events_total', help: 'Events of each output by result: delivered (written or acknowledged), dropped', labelNames: ['output', 'result'], registers,
      collect() {
        this.reset();
        for (const o of source.outputs?.() ?? []) {
          this.inc({ output: o.name, result: 'delivered' }, o.delivered);
          this.inc({ output: o.name, result: 'dropped' }, o.dropped);
        }
      },
    });
    new Gauge({
      name: 'nlmon_output_spool_bytes', help: 'Bytes in each output\'s on-disk spool', labelNames: ['output'], registers,
      collect() {
        this.reset();
        for (const o of source.outputs?.() ?? []) if ('spool_bytes' in o) this.set({ output: o.name }, o.spool_bytes as number);
      },
    });
    new Gauge({
      name: 'nlmon_output_lag_seconds', help: 'Seconds since the oldest event not yet delivered by each output was received (0: none waits)', labelNames: ['output'], registers,
      collect() {
        this.reset();
        for (const o of source.outputs?.() ?? []) if ('lag_seconds' in o) this.set({ output: o.name }, o.lag_seconds as number);
      },
    });
    const hookRetries = new Counter({ name: 'nlmon_hook_retries_total', help: 'Webhook requests and script runs made again after a failed attempt', labelNames: ['hook'], registers });
    const hookRuns = new Counter({ name: 'nlmon_hook_runs_total', help: 'Hook runs by result (success, failure, timeout, dropped)', labelNames: ['hook', 'result'], registers });
    const hookDuration = new Histogram({
      name: 'nlmon_hook_duration_seconds', help: 'Hook run duration', labelNames: ['hook'], registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    });
    new Gauge({ name: 'nlmon_hook_queue_depth', help: 'Hook runs waiting for a slot', registers, collect() { this.set(source.queueDepth()); } });
    new Gauge({ name: 'nlmon_hook_backlog_events', help: 'Events waiting for a sync hook to end before they are matched', registers, collect() { this.set(source.backlog()); } });
    new Gauge({ name: 'nlmon_hooks_running', help: 'Hook runs in progress', registers, collect() { this.set(source.running()); } });
    new Gauge({ name: 'nlmon_namespaces_watched', help: 'Network namespaces watched', registers, collect() { this.set(source.monitorStats().namespaces.length); } });
    new Counter({
      name: 'nlmon_hook_backlog_discarded_total', help: 'Events waiting behind a sync hook that a stop discarded unmatched', registers,
      collect() { this.reset(); this.inc(source.discarded()); },
    });
    new Counter({
      name: 'nlmon_hook_backlog_dropped_total', help: 'Events waiting behind a sync hook that were dropped unmatched past backlog_limit', registers,
      collect() { this.reset(); this.inc(source.backlogDropped?.() ?? 0); },
    });
    new Counter({
      name: 'nlmon_hook_log_lost_total', help: 'Hook log lines that could not be written (full disk, I/O error)', registers,
      collect() { this.reset(); this.inc(source.hookLogLost()); },
    });
  return { registry, events, hookRuns, hookRetries, hookDuration, collectDefaultMetrics: prom.collectDefaultMetrics };
}
