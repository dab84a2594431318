// Test-made network namespaces: created with `ip netns add`, always deleted, never the host's;
// and the kernel's view of their links, to compare with nlmon's tables.
import { randomBytes } from 'node:crypto';
import { execaSync } from 'execa';
import { operstateName } from '../../src/event/event.js';
import type { LinkState } from '../../src/event/make.js';

/** Why integration tests cannot run here, or false when they can. */
export const needsRoot: string | false = process.getuid?.() === 0
  ? false
  : 'integration tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make network namespaces';

/** Runs `ip ARGS…`; returns its stdout, or throws with the command and its stderr. */
export function ip(...args: string[]): string {
  return execaSync('ip', args, { stdin: 'ignore' }).stdout;
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

/** What a link-table comparison looks at: index, name, admin state, MTU and operstate. */
export interface LinkSummary {
  ifindex: number;
  name: string;
  up: boolean;
  mtu: number;
  operstate: string;
}

/** The kernel's links of a namespace (from `ip -j link show`), by ifindex. */
export function kernelLinks(ns: string): LinkSummary[] {
  return ipLinks(ns).map((l) => ({ ifindex: l.ifindex, name: l.ifname, up: l.flags.includes('UP'), mtu: l.mtu, operstate: l.operstate.toLowerCase() }));
}

/** nlmon's table of a namespace in the same shape, to compare with kernelLinks. */
export function tableLinks(table: readonly LinkState[]): LinkSummary[] {
  return table.map((l) => ({ ifindex: l.ifindex, name: l.interface, up: (l.flags & 1) === 1, mtu: l.mtu, operstate: operstateName(l.operstate) }));
}
