// Per-hook identity (docs/hooks.md, "Identity"): a script hook runs as the user and group it
// names, with only the capabilities it lists (ambient), and no_new_privs; what the daemon cannot
// grant is a config error. The daemon runs inside a test namespace (ip netns exec), so the hook
// that changes a link's MTU changes only the test's veth.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { ip, lines, needsRoot, NLMON, until, withNetns, withTempDir } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 120000 };

test('a hook with user: nobody runs as 65534; capabilities: [CAP_NET_ADMIN] lets it set an MTU, and without them it cannot', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.chmodSync(out, 0o1777);
  const write = (name: string, body: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return f;
  };
  const who = write('who.sh', `echo "$(id -u) $(id -g) $NLMON_INTERFACE" >> ${out}/who`);
  const mtu = write('mtu.sh', `ip link set dev "$NLMON_INTERFACE" mtu 1400 2>> ${out}/err; echo "$NLMON_INTERFACE $?" >> ${out}/mtu`);
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, `nlmon:
  monitoring:
    namespaces: [default]
  containers:
    enabled: false
  integration:
    hook_log: ""
    hooks:
      - name: who
        script: ${who}
        user: nobody
        async: true
        condition: "event == link_added AND interface == 'v0'"
      - name: with-cap
        script: ${mtu}
        user: nobody
        capabilities: [CAP_NET_ADMIN]
        no_new_privs: true
        async: true
        condition: "event == link_added AND interface == 'v0'"
      - name: without-cap
        script: ${mtu}
        user: nobody
        async: true
        condition: "event == link_added AND interface == 'w0'"
  control:
    socket: ${dir}/nlmon.sock
`);
  // The daemon in the test's namespace: its default namespace is that one.
  const d = execa('ip', ['netns', 'exec', ns, process.execPath, NLMON, 'run', '--config', cfg], { reject: false, buffer: true, stdin: 'ignore' });
  try {
    await until(() => fs.existsSync(`${dir}/nlmon.sock`), 'the daemon in the namespace');
    ip('-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    ip('-n', ns, 'link', 'add', 'w0', 'type', 'veth', 'peer', 'name', 'w1');
    await until(() => lines(`${out}/mtu`).length === 2 && lines(`${out}/who`).length === 1, 'the three runs');
    assert.deepEqual(lines(`${out}/who`), ['65534 65534 v0'], 'user nobody: uid and gid 65534');
    const results = Object.fromEntries(lines(`${out}/mtu`).map((l) => l.split(' ')));
    assert.equal(results.v0, '0', 'with CAP_NET_ADMIN the MTU was set');
    assert.notEqual(results.w0, '0', 'without it, refused');
    const mtuOf = (dev: string) => (JSON.parse(execaSync('ip', ['-n', ns, '-j', 'link', 'show', dev]).stdout) as Array<{ mtu: number }>)[0]!.mtu;
    assert.equal(mtuOf('v0'), 1400);
    assert.equal(mtuOf('w0'), 1500);
  } finally {
    d.kill('SIGTERM');
    await d;
  }
})));

test('capabilities the daemon does not have, or for a hook that stays root, are config errors', opts, () => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const cfg = path.join(dir, 'c.yaml');
  fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hooks:\n      - name: h\n        script: /bin/true\n        user: nobody\n        capabilities: [CAP_NET_ADMIN]\n      - name: root\n        script: /bin/true\n        capabilities: [net_raw]\n      - name: typo\n        script: /bin/true\n        user: nobody\n        capabilities: [CAP_NET_ADMINN]\n      - name: ghost\n        script: /bin/true\n        user: no-such-user-here\n`);
  // The daemon started without CAP_NET_ADMIN in its bounding set cannot give it.
  const r = execaSync('setpriv', ['--bounding-set=-net_admin', process.execPath, NLMON, 'config', 'check', '--config', cfg], { reject: false });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /c\.yaml:7:23: hook 'h': capabilities: the daemon does not have CAP_NET_ADMIN, so it cannot give it to a hook/);
  assert.match(r.stderr, /hook 'root': capabilities limit a hook that runs as another user than root/);
  assert.match(r.stderr, /hook 'typo': capabilities: 'CAP_NET_ADMINN' is not a capability/);
  assert.match(r.stderr, /hook 'ghost': user 'no-such-user-here' is not in \/etc\/passwd/);
}));
