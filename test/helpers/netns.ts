// Test-made network namespaces: created with `ip netns add`, always deleted, never the host's.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const NLMON = path.join(ROOT, 'bin', 'nlmon.js');
export const LINKBURST = path.join(ROOT, 'build', 'Release', 'nlmon-linkburst');

/** Why integration tests cannot run here, or false when they can. */
export const needsRoot: string | false = process.getuid?.() === 0
  ? false
  : 'integration tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make network namespaces';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  address?: string;
  link_index?: number;
}

export function ipLinks(ns: string): IpLink[] {
  return JSON.parse(ip('-n', ns, '-j', '-d', 'link', 'show')) as IpLink[];
}

export function newName(tag = ''): string {
  return `nlmon-test-${tag}${process.pid % 10000}-${randomBytes(3).toString('hex')}`;
}

/** Runs fn with `count` fresh namespaces and deletes them afterwards, even on failure. */
export async function withNetns<T>(count: number, fn: (...names: string[]) => Promise<T>): Promise<T> {
  const names: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const n = newName();
      ip('netns', 'add', n);
      names.push(n);
    }
    return await fn(...names);
  } finally {
    for (const n of names) {
      try { ip('netns', 'del', n); } catch { /* already gone */ }
    }
  }
}

/** Polls until fn() is truthy; fails with `what` after timeoutMs. */
export async function until<T>(fn: () => T | undefined | false, what: string, timeoutMs = 10000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
