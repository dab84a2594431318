// `nlmon doctor`: what works under the privileges nlmon has, read as the process that asks —
// root, root without CAP_SYS_ADMIN in its bounding set, and uid 65534 with no capabilities
// facing a root-only engine socket.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execaSync } from 'execa';
import { needsRoot, NLMON, withTempDir } from './helpers/index.js';
import type { DoctorCheck } from '../src/daemon/doctor.js';

const doctorAs = (prefix: string[], cfg: string): Record<string, DoctorCheck> => {
  const r = execaSync(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), NLMON, 'doctor', '--config', cfg, '--json']);
  return Object.fromEntries((JSON.parse(r.stdout) as DoctorCheck[]).map((c) => [c.what, c]));
};

test('nlmon doctor says which capabilities nlmon has and what a missing one costs, and which engine sockets it can use', { skip: needsRoot, timeout: 60000 }, () => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const sock = path.join(dir, 'engine.sock');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(sock, r));
  fs.chmodSync(sock, 0o600);
  const cfg = path.join(dir, 'c.yaml');
  fs.writeFileSync(cfg, `nlmon:\n  containers:\n    docker_socket: [${sock}]\n    cri_socket: []\n  integration:\n    hook_log: ${dir}/log/hook.log\n`);
  try {
    const root = doctorAs([], cfg);
    assert.equal(root.CAP_SYS_ADMIN!.ok, true);
    assert.equal(root[`docker_socket ${sock}`]!.ok, true);
    assert.equal(root[`hook_log ${dir}/log`]!.ok, true);
    const noAdmin = doctorAs(['setpriv', '--bounding-set=-sys_admin'], cfg);
    assert.equal(noAdmin.CAP_SYS_ADMIN!.ok, false);
    assert.match(noAdmin.CAP_SYS_ADMIN!.detail, /^missing: no watching namespaces other than the one nlmon runs in/);
    assert.equal(noAdmin.CAP_NET_ADMIN!.ok, true);
    const nobody = doctorAs(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], cfg);
    assert.equal(nobody.CAP_NET_ADMIN!.ok, false);
    assert.deepEqual([nobody[`docker_socket ${sock}`]!.ok, nobody[`docker_socket ${sock}`]!.detail], [false, 'EACCES: no names from it (connecting needs write permission on the socket: root, or its group)']);
    assert.equal(root.processes!.ok, true);
    assert.deepEqual([nobody.processes!.ok, nobody.processes!.detail], [false, 'EACCES on other users\' /proc/PID/ns/net (needs CAP_SYS_PTRACE): no container is named']);
    assert.equal(nobody.CAP_NET_BROADCAST!.ok, false);
    assert.equal(nobody[`hook_log ${dir}/log`]!.ok, false);
  } finally {
    server.close();
  }
}));
