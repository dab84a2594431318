// Who a script hook runs as (docs/hooks.md, "Identity"): `user` (and its groups from
// /etc/group), `group`, `capabilities` kept as ambient capabilities, and `no_new_privs`. Read at
// config load, where what the daemon cannot grant is an error; set in the child by the addon
// before exec. Users and groups come from /etc/passwd and /etc/group (not NSS: an LDAP user is
// given by number, with its group).
import fs from 'node:fs';
import type { SpawnIdentity } from '../native/addon.js';
import { CAPABILITIES, daemonCapabilities } from '../native/capabilities.js';

/** What the config asked for, as written. */
export interface IdentityKeys {
  user?: string;
  group?: string;
  capabilities?: string[];
  no_new_privs?: boolean;
}

interface Entry { name: string; id: number; gid: number; members: string[] }

function table(file: string): Entry[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const f = l.split(':');
    return { name: f[0]!, id: Number(f[2]), gid: Number(f[3]), members: (f[3] ?? '').split(',').filter(Boolean) };
  });
}

/** The identity to spawn with, or why the daemon cannot grant it; undefined when none is asked
 * for (the hook runs as the daemon). */
export function resolveIdentity(k: IdentityKeys, caps = daemonCapabilities()): { identity?: SpawnIdentity; problem?: string } {
  if (k.user === undefined && k.group === undefined && !k.capabilities?.length && !k.no_new_privs) return {};
  const has = (n: number) => ((caps >> BigInt(n)) & 1n) === 1n;
  let uid = process.geteuid?.() ?? 0;
  let gid = process.getegid?.() ?? 0;
  let groups = process.getgroups?.() ?? [];
  if (k.user !== undefined) {
    const users = table('/etc/passwd');
    const u = /^\d+$/.test(k.user) ? users.find((e) => e.id === Number(k.user)) : users.find((e) => e.name === k.user);
    if (!u && !/^\d+$/.test(k.user)) return { problem: `user '${k.user}' is not in /etc/passwd` };
    uid = u ? u.id : Number(k.user);
    if (!u && k.group === undefined) return { problem: `user ${k.user} is not in /etc/passwd: give its group too` };
    gid = u ? u.gid : gid;
    const name = u?.name;
    groups = [gid, ...table('/etc/group').filter((g) => name !== undefined && g.members.includes(name)).map((g) => g.id)];
  }
  if (k.group !== undefined) {
    const all = table('/etc/group');
    const g = /^\d+$/.test(k.group) ? { id: Number(k.group) } : all.find((e) => e.name === k.group);
    if (!g) return { problem: `group '${k.group}' is not in /etc/group` };
    gid = g.id;
    if (k.user === undefined) groups = [gid];
    else groups = [gid, ...groups.filter((x) => x !== gid)];
  }
  if ((k.user !== undefined || k.group !== undefined) && (!has(7) || !has(6))) {
    return { problem: 'the daemon cannot run a hook as another user or group: it lacks CAP_SETUID or CAP_SETGID' };
  }
  const numbers: number[] = [];
  for (const name of k.capabilities ?? []) {
    const n = CAPABILITIES.indexOf(name.toUpperCase().startsWith('CAP_') ? name.toUpperCase() : `CAP_${name.toUpperCase()}`);
    if (n < 0) return { problem: `capabilities: '${name}' is not a capability (CAP_NET_ADMIN, CAP_NET_RAW, …)` };
    if (!has(n)) return { problem: `capabilities: the daemon does not have ${CAPABILITIES[n]}, so it cannot give it to a hook` };
    numbers.push(n);
  }
  if (numbers.length && uid === 0) return { problem: 'capabilities limit a hook that runs as another user than root: give `user` too (root keeps every capability)' };
  return { identity: { uid, gid, groups: [...new Set(groups)], caps: numbers, noNewPrivs: k.no_new_privs ?? false } };
}
