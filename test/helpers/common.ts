// What tests and `npm run bench` share: the repository's paths, waiting, reading files and
// /proc, and the link-change generator. Child processes are started with execa: errors carry the
// command and its stderr, and a test process that dies takes its children with it.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execaSync, type SyncResult } from 'execa';
import { DAEMON_NODE_OPTIONS } from '../../src/daemon/node-options.js';

/** The repository (this file runs from dist/test/helpers/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const NLMON = path.join(ROOT, 'bin', 'nlmon.js');
/** Node's arguments for the daemon, as the shipped units start it (src/daemon/node-options.ts). */
export const DAEMON_ARGS = [...DAEMON_NODE_OPTIONS.split(' '), NLMON, 'run'];
/** Built by `npm run build:tools` (pretest, prebench): a test tool, not part of the package. */
export const LINKBURST = path.join(ROOT, 'build', 'tools', 'nlmon-linkburst');
export const HOOKSTAMP = path.join(ROOT, 'build', 'tools', 'nlmon-hookstamp');
/** The bench's floor: a bare rtnetlink reader that prints a short line per message. */
export const BAREREAD = path.join(ROOT, 'build', 'tools', 'nlmon-bareread');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until fn() is truthy (or resolves to a truthy value); fails with `what` after timeoutMs. */
export async function until<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The non-empty lines of a file; [] if it does not exist (yet). */
export function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat; with `tid`, one of its
 * threads', from /proc/PID/task/TID/stat. */
export function cpuSeconds(pid: number, tid?: number): number {
  const f = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ
}

/** A kB field of /proc/PID/status (VmRSS, VmHWM, …). */
export function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

/** Runs `nlmon ARGS…` to the end: exit code, stdout and stderr as printed (final newline kept). */
export function nlmonSync(args: string[], options: { cwd?: string; timeout?: number } = {}): SyncResult<{ reject: false; stripFinalNewline: false }> {
  return execaSync(process.execPath, [NLMON, ...args], { reject: false, stripFinalNewline: false, timeout: options.timeout ?? 20000, ...(options.cwd ? { cwd: options.cwd } : {}) });
}

/** Toggles the named links of a namespace file `count` times (rate per second, 0 = as fast as the
 * kernel allows) with raw RTM_NEWLINK requests; throws with its output if it fails. */
export function linkburst(netnsPath: string, count: number, rate: number, ...ifnames: string[]): void {
  execaSync(LINKBURST, [netnsPath, String(count), String(rate), ...ifnames]);
}

/** A TCP port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  // Below the kernel's range for the local ports of outgoing connections: a port from that range,
  // free when asked, can be taken by any connection made before the server binds it (seen: a
  // nats-server's monitor port, in use by the time it started).
  const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  const from = Math.min(10000, low - 1000);
  for (let i = 0; i < 200; i++) {
    const port = from + Math.floor(Math.random() * (low - from));
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${from}-${low - 1}`);
}
