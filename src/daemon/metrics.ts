// Prometheus metrics (docs/config.md, "nlmon.metrics"; prom-client), and the HTTP listener that serves GET /metrics.
import http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { NlEvent } from '../event/event.js';
import type { MonitorStats } from '../netlink/monitor.js';
import type { RunOutcome } from '../hooks/runner.js';

/** What the metrics read from the running daemon when scraped. */
export interface MetricsSource {
  monitorStats(): MonitorStats;
  queueDepth(): number;
  running(): number;
  /** Events held back behind a running sync hook. */
  backlog(): number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly events: Counter<'namespace' | 'event'>;
  private readonly hookRuns: Counter<'hook' | 'result'>;
  private readonly hookDuration: Histogram<'hook'>;
  private readonly batchCounts = new Map<string, { namespace: string; event: string; n: number }>();

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    this.events = new Counter({ name: 'nlmon_events_total', help: 'Link events emitted, by namespace and event', labelNames: ['namespace', 'event'], registers });
    new Counter({
      name: 'nlmon_netlink_overruns_total', help: 'Netlink receive buffer overruns (ENOBUFS), by namespace', labelNames: ['namespace'], registers,
      collect() {
        this.reset();
        for (const ns of source.monitorStats().namespaces) this.inc({ namespace: ns.name }, ns.overruns);
      },
    });
    new Counter({
      name: 'nlmon_resyncs_total', help: 'Link table resyncs after an overrun, by namespace', labelNames: ['namespace'], registers,
      collect() {
        this.reset();
        for (const ns of source.monitorStats().namespaces) this.inc({ namespace: ns.name }, ns.resyncs);
      },
    });
    this.hookRuns = new Counter({ name: 'nlmon_hook_runs_total', help: 'Hook runs by result (success, failure, timeout, dropped)', labelNames: ['hook', 'result'], registers });
    this.hookDuration = new Histogram({
      name: 'nlmon_hook_duration_seconds', help: 'Hook run duration', labelNames: ['hook'], registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    });
    new Gauge({ name: 'nlmon_hook_queue_depth', help: 'Hook runs waiting for a slot', registers, collect() { this.set(source.queueDepth()); } });
    new Gauge({ name: 'nlmon_hook_backlog_events', help: 'Events waiting for a sync hook to end before they are matched', registers, collect() { this.set(source.backlog()); } });
    new Gauge({ name: 'nlmon_hooks_running', help: 'Hook runs in progress', registers, collect() { this.set(source.running()); } });
    new Gauge({ name: 'nlmon_namespaces_watched', help: 'Network namespaces watched', registers, collect() { this.set(source.monitorStats().namespaces.length); } });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts a batch of events, one counter update per (namespace, event) pair in it. */
  countEvents(events: NlEvent[]): void {
    const counts = this.batchCounts;
    for (const e of events) {
      const key = `${e.namespace}\0${e.event}`;
      const c = counts.get(key);
      if (c) c.n++;
      else counts.set(key, { namespace: e.namespace, event: e.event, n: 1 });
    }
    for (const c of counts.values()) this.events.inc({ namespace: c.namespace, event: c.event }, c.n);
    counts.clear();
  }

  hookFinished(hook: string, outcome: RunOutcome, durationMs: number): void {
    this.hookRuns.inc({ hook, result: outcome });
    this.hookDuration.observe({ hook }, durationMs / 1000);
  }

  hookDropped(hook: string): void {
    this.hookRuns.inc({ hook, result: 'dropped' });
  }

  /** Serves GET /metrics on HOST:PORT; resolves once listening. */
  serve(listen: string): Promise<http.Server> {
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
    const port = Number(listen.slice(i + 1));
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }
}
