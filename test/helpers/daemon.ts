// Starts `nlmon run` on a test config in a temp directory and stops it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { DAEMON_ARGS, nlmonSync, until } from './common.js';
import type { HookStatus } from '../../src/hooks/scheduler.js';

export interface RunningDaemon {
  dir: string;
  child: ResultPromise;
  stderr: () => string;
  hookLog: () => string[];
  exit: Promise<number | null>;
  stop: () => Promise<number | null>;
}

export function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nlmon-test-'));
  fs.chmodSync(d, 0o755);
  return d;
}

/** Runs fn with a fresh temp directory (mode 0755) and removes it afterwards, even on failure. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = tempDir();
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs fn with `nlmon run` started on yaml; the daemon is killed afterwards if still running. */
export async function withDaemon<T>(dir: string, yaml: string, fn: (d: RunningDaemon) => Promise<T>): Promise<T> {
  const d = await startDaemon(dir, yaml);
  try {
    return await fn(d);
  } finally {
    d.child.kill('SIGKILL');
  }
}

/** Writes an executable script (mode 0755) into dir. */
export function script(dir: string, name: string, body: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, `#!/bin/sh\n${body}\n`);
  fs.chmodSync(f, 0o755);
  return f;
}

export interface StartOptions {
  /** Give the daemon one more open descriptor (fd 3, a pipe) without close-on-exec. */
  extraFd?: boolean;
}

export async function startDaemon(dir: string, yaml: string, extraArgs: string[] = [], options: StartOptions = {}): Promise<RunningDaemon> {
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, yaml);
  const child = execa(process.execPath, [...DAEMON_ARGS, '--config', cfg, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe', ...(options.extraFd ? ['pipe' as const] : [])],
    buffer: false, reject: false, forceKillAfterDelay: 30000,
  });
  let err = '';
  const stderrRead = (async () => {
    try {
      for await (const line of child.iterable({ from: 'stderr' })) err += `${line}\n`;
    } catch {
      // the test closed the daemon's stderr on purpose
    }
  })();
  // Resolves once all of the daemon's stderr has been read.
  const exit = child.then(async (r) => {
    await stderrRead;
    return r.exitCode ?? null;
  });
  const logFile = path.join(dir, 'hook.log');
  const d: RunningDaemon = {
    dir, child, exit,
    stderr: () => err,
    hookLog: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : []),
    stop: async () => {
      child.kill('SIGTERM');
      return exit;
    },
  };
  let exited = false;
  void exit.then(() => { exited = true; });
  await until(() => exited || err.includes(' hook(s)'), 'the daemon to start');
  if (exited) throw new Error(`nlmon run exited at start:\n${err}`);
  return d;
}

export function config(ns: string, dir: string, integration: string): string {
  return `nlmon:
  monitoring:
    namespaces: [${ns}]
    netns_dirs: [/var/run/netns]
  integration:
    hook_log: ${dir}/hook.log
${integration}
  control:
    socket: ${dir}/nlmon.sock
`;
}

/** A config watching ns with the given outputs (YAML list items), containers off, no hooks, and
 * optionally metrics served on `metrics` (HOST:PORT). */
export function outputsConfig(ns: string, dir: string, outputs: string, metrics = ''): string {
  return `nlmon:
  monitoring:
    namespaces: [${ns}]
  containers:
    enabled: false
  outputs:
${outputs}
  integration:
    hook_log: ""
    hooks: []
  control:
    socket: ${dir}/nlmon.sock
${metrics ? `  metrics:\n    listen: ${metrics}\n` : ''}`;
}

/** Runs a daemon verb against the daemon of dir (its socket is dir/nlmon.sock). */
export function cli(dir: string, ...args: string[]): { exitCode?: number; stdout: string; stderr: string } {
  return nlmonSync([...args, '--socket', `${dir}/nlmon.sock`]);
}

/** `hooks stats` of the daemon of dir, by hook name. */
export function hookStats(dir: string): Record<string, HookStatus> {
  return Object.fromEntries(cliJson<HookStatus[]>(dir, 'hooks', 'stats').map((h) => [h.name, h]));
}

/** Parses `--json` output of a daemon verb, failing with its stderr. */
export function cliJson<T>(dir: string, ...args: string[]): T {
  const r = cli(dir, ...args, '--json');
  if (r.exitCode !== 0) throw new Error(`nlmon ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
