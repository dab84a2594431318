// What the daemon verbs print: aligned tables like ps or kubectl (docs/cli.md shows each).
import type { HookStatus } from '../hooks/scheduler.js';
import { terminalSafe } from '../event/format.js';
import type { StatusReport } from '../daemon/control-api.js';
import type { OutputStatusBase as OutputStatus } from '../outputs/output.js';

/** Pads columns to their widest cell; the first row is the header. Every cell is escaped:
 * container, pod and interface names, URLs and servers' errors are chosen by others, and a
 * control character in one (a forged line, a terminal title) is printed as \xNN. */
export function table(cells: string[][]): string {
  const rows = cells.map((r) => r.map(terminalSafe));
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') + '\n';
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** A number an output type may not have (a file has no spool): shown as 0, as `outputs stats`
 * always has. */
const count = (o: OutputStatus, key: string) => String((o as unknown as Record<string, unknown>)[key] ?? 0);

export function statsTable(hooks: HookStatus[]): string {
  return table([
    ['NAME', 'ENABLED', 'ASYNC', 'RUNS', 'OK', 'FAIL', 'TIMEOUT', 'DROPPED', 'RETRIES', 'RUNNING', 'QUEUED', 'AVG_MS', 'P95_MS', 'LAST_EXIT'],
    ...hooks.map((h) => [h.name, h.enabled ? 'yes' : 'no', h.async ? 'yes' : 'no', String(h.executions), String(h.successes), String(h.failures),
      String(h.timeouts), String(h.dropped), String(h.retries), String(h.running), String(h.queued), ms(h.avg_ms), ms(h.p95_ms), h.last_exit_code === null ? '-' : String(h.last_exit_code)]),
  ]);
}

/** `hooks stats NAME`: the last failure of the hook and the end of its output. */
export function lastOutput(hooks: HookStatus[]): string {
  return hooks.filter((h) => h.last_error || h.last_output).map((h) => `\n${h.name}: ${h.last_error ? `last run failed (${h.last_run_at}): ${terminalSafe(h.last_error)}` : 'the last run succeeded'}${h.last_output ? `\nthe output of its last failure:\n${terminalSafe(h.last_output)}` : ''}\n`).join('');
}

export function listTable(hooks: HookStatus[]): string {
  return table([
    ['NAME', 'ENABLED', 'ASYNC', 'ACTION', 'CONDITION', 'TARGET'],
    ...hooks.map((h) => [h.name, h.enabled ? 'yes' : 'no', h.async ? 'yes' : 'no', h.action, h.condition || '(every event)', h.target]),
  ]);
}

export function outputsTable(outputs: OutputStatus[]): string {
  const errors = outputs.filter((o) => o.last_error).map((o) => `${terminalSafe(o.name)} (${o.last_error_at}): ${terminalSafe(o.last_error)}\n`).join('');
  return table([
    ['OUTPUT', 'TYPE', 'STATE', 'EVENTS', 'DELIVERED', 'DROPPED', 'SPOOLED', 'SPOOL_BYTES', 'LAG_S', 'TARGET'],
    ...outputs.map((o) => [o.name, o.type, o.state, String(o.events), String(o.delivered), String(o.dropped), count(o, 'spooled'), count(o, 'spool_bytes'), count(o, 'lag_seconds'), o.target]),
  ]) + (errors ? `\nlast errors:\n${errors}` : '');
}

export function statusText(s: StatusReport): string {
  const lines = [
    `nlmon ${s.version}, pid ${s.pid}, up ${s.uptime_s} s (since ${s.started_at}), config ${terminalSafe(s.config) || '<embedded default>'}`,
    `events ${s.events}, overruns ${s.overruns}, resyncs ${s.resyncs}; intake ${s.intake === 'shared' ? 'one shared socket' : 'a socket per namespace'}`,
    `hooks ${s.hooks.total} (${s.hooks.enabled} enabled), running ${s.hooks.running}, queued ${s.hooks.queued}, events waiting on sync hooks ${s.hooks.backlog}` +
      (s.hooks.backlog_dropped ? `, dropped past backlog_limit ${s.hooks.backlog_dropped}` : '') +
      (s.hooks.discarded ? `, discarded by the stop ${s.hooks.discarded}` : ''),
    ...(s.hook_log_lost ? [`hook log: ${s.hook_log_lost} line(s) could not be written`] : []),
    '',
    table([['NAMESPACE', 'LINKS', 'ADDRS', 'EVENTS', 'OVERRUNS', 'RESYNCS', 'REOPENS', 'MALFORMED', 'RCVBUF', 'READ_AHEAD', 'CONTAINER'],
      ...s.namespaces.map((n) => [n.name, String(n.links), String(n.addresses), String(n.events), String(n.overruns), String(n.resyncs), String(n.reopens), String(n.malformed), String(n.receive_buffer), String(n.read_ahead_peak), n.container || '-'])]).trimEnd(),
    ...(s.outputs.length ? ['', outputsTable(s.outputs).trimEnd()] : []),
  ];
  return lines.join('\n') + '\n';
}
