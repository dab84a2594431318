// The shared intake (docs/config.md "intake") as uid 65534 with only CAP_NET_ADMIN and
// CAP_NET_BROADCAST: `nlmon monitor --all-netns` runs inside a test namespace H (its "host",
// entered with nsenter: only the network namespace, so the test's bind mounts are seen), so
// every link it sees and every namespace id it gives is the test's own. A namespace made after
// start is reported with its links and addresses; a veth with its peer in H is named from both
// ends; after an overrun, the events it printed fold into exactly what `ip -j link show` says.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import type { NlEvent } from '../src/event/event.js';
import { LINKBURST, NLMON, ip, kernelLinks, needsRoot, sleep, until, withNetns, withTempDir, type LinkSummary } from './helpers/index.js';

const CAPS = '-all,+net_admin,+net_broadcast';
const SETPRIV = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=${CAPS}`, `--ambient-caps=${CAPS}`, `--bounding-set=${CAPS}`];

/** Why uid 65534 cannot run nlmon from this checkout, or false. */
function unreachable(): string | false {
  if (needsRoot) return needsRoot;
  const r = execaSync(SETPRIV[0]!, [...SETPRIV.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(NLMON)})`], { reject: false });
  return r.exitCode === 0 ? false : `uid 65534 cannot run ${NLMON} (${r.stderr.split('\n')[0]})`;
}

const opts = { skip: unreachable(), timeout: 120000 };

/** The links a stream of events leaves, in the shape of kernelLinks: every link event carries
 * the link's whole state, so the last one of each ifindex is the link (none after a removal). */
function foldLinks(events: NlEvent[], ns: string): LinkSummary[] {
  const links = new Map<number, LinkSummary>();
  for (const e of events) {
    if (e.namespace !== ns || e.family !== '' || e.ifindex === 0) continue;
    if (e.event === 'link_removed') links.delete(e.ifindex);
    else links.set(e.ifindex, { ifindex: e.ifindex, name: e.interface, up: e.up, mtu: e.mtu, operstate: e.operstate });
  }
  return [...links.values()].sort((a, b) => a.ifindex - b.ifindex);
}

test('uid 65534 with CAP_NET_ADMIN and CAP_NET_BROADCAST only: every namespace, peers named, overrun resynced', opts, () => withNetns(2, (host, inner) => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const netns = path.join(dir, 'netns');
  fs.mkdirSync(netns, { mode: 0o755 });
  ip('-n', host, 'link', 'set', 'lo', 'up');
  // Id 0 in H is taken by the inner namespace, so that the id nlmon's namespace has for itself
  // (1) differs from the one the inner namespace has for H (0): a dump's ids (H's) must be
  // turned into the inner namespace's own for link_netnsid to stay what its events said.
  ip('-n', host, 'netns', 'set', inner, '0');
  const events: NlEvent[] = [];
  let stderr = '';
  const child = execa('nsenter', [`--net=/var/run/netns/${host}`, ...SETPRIV, process.execPath, NLMON, 'monitor', '--all-netns', '--netns-dir', netns, '--json', '--receive-buffer', '262144'], { reject: false, stdin: 'ignore', buffer: false });
  let partial = '';
  child.stdout!.on('data', (b: Buffer) => {
    const text = partial + b.toString();
    const parts = text.split('\n');
    partial = parts.pop()!;
    for (const l of parts) if (l) events.push(JSON.parse(l) as NlEvent);
  });
  child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const file = path.join(netns, 'late');
  try {
    await until(() => stderr.includes('monitoring'), 'nlmon monitoring', 15000);
    assert.match(stderr, /intake: one shared socket for every namespace/);
    const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65534\s/m);
    assert.match(status, /^CapEff:\s+0*1800$/m, 'CAP_NET_ADMIN (12) and CAP_NET_BROADCAST (11) only');

    // A namespace made after start, as a runtime makes one: a file, then a bind mount; a veth
    // pair inside it with no link to H, an address, and a veth whose peer is in H.
    const before = Date.now();
    fs.writeFileSync(file, '');
    execaSync('mount', ['--bind', `/var/run/netns/${inner}`, file]);
    ip('-n', inner, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1');
    ip('-n', inner, 'addr', 'add', '10.7.0.1/24', 'dev', 'c0');
    ip('-n', inner, 'link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1', 'netns', host);
    ip('-n', host, 'link', 'set', 'e1', 'up');
    const has = (ns: string, ev: string, ifname: string) => events.find((e) => e.namespace === ns && e.event === ev && e.interface === ifname);
    const seen = () => `; nlmon said:\n${stderr}\nand printed:\n${events.map((e) => `${e.namespace} ${e.event} ${e.interface} ${e.ip}`).join('\n')}`;
    for (const ifname of ['lo', 'c0', 'c1', 'e0']) await until(() => has('late', 'link_added', ifname), `link_added ${ifname} in the late namespace${seen()}`);
    const addr = await until(() => events.find((e) => e.namespace === 'late' && e.event === 'addr_added' && e.ip === '10.7.0.1'), 'addr_added 10.7.0.1').catch((e: Error) => { throw new Error(e.message + seen()); });
    assert.equal(addr.interface, 'c0');
    // Once it is watched: a notification of an address, which carries the seq of the `ip`
    // request that made it (link notifications carry none).
    ip('-n', inner, 'addr', 'add', '10.7.0.2/24', 'dev', 'c1');
    await until(() => events.find((e) => e.namespace === 'late' && e.event === 'addr_added' && e.ip === '10.7.0.2' && !e.resync), `addr_added 10.7.0.2${seen()}`);
    assert.ok(Date.now() - before < 5000);
    const e1 = await until(() => events.find((e) => e.namespace === 'default' && e.interface === 'e1' && e.peer_namespace === 'late'), 'e1 in H named with its peer namespace');
    assert.ok(e1.link_netnsid >= 0);
    const e0 = events.filter((e) => e.namespace === 'late' && e.interface === 'e0');
    assert.ok(e0.some((e) => e.peer_namespace === 'default' && e.link_netnsid >= 0), `e0's peer is in H: ${JSON.stringify(e0.map((e) => [e.event, e.link_netnsid, e.peer_namespace]))}`);
    assert.equal(events.find((e) => e.interface === 'c0')!.peer_namespace, '', 'c0 has its peer beside it');

    // An overrun: nlmon stopped while links change in both namespaces, more than 256 KiB holds.
    const resyncsBefore = events.filter((e) => e.event === 'resync').length;
    process.kill(child.pid!, 'SIGSTOP');
    try {
      execaSync(LINKBURST, [`/var/run/netns/${inner}`, '2001', '0', 'c0', 'c1']);
      ip('-n', inner, 'link', 'add', 'n0', 'type', 'veth', 'peer', 'name', 'n1');
      ip('-n', inner, 'link', 'del', 'c0');
      ip('-n', inner, 'link', 'set', 'e0', 'mtu', '1300');
      ip('-n', host, 'link', 'set', 'e1', 'name', 'e1x');
    } finally {
      process.kill(child.pid!, 'SIGCONT');
    }
    await until(() => events.filter((e) => e.event === 'resync' && e.namespace === 'late').length > 0 && events.filter((e) => e.event === 'resync' && e.namespace === 'default').length > 0, 'a resync of both namespaces', 20000);
    assert.ok(events.filter((e) => e.event === 'resync').length > resyncsBefore);
    assert.match(stderr, /overrun/);
    await sleep(300);
    assert.deepEqual(foldLinks(events, 'late'), kernelLinks(inner));
    assert.deepEqual(foldLinks(events, 'default').filter((l) => l.name !== 'lo'), kernelLinks(host).filter((l) => l.name !== 'lo'));
    assert.ok(events.some((e) => e.namespace === 'late' && e.resync && e.event === 'link_removed' && e.interface === 'c0'), 'the removal made meanwhile was found by the resync');
    // The late namespace's veth to H keeps its peer's id and name through the resync.
    const mtu = events.find((e) => e.interface === 'e0' && e.resync && e.mtu === 1300);
    assert.ok(mtu, 'the MTU changed meanwhile was found by the resync');
    assert.deepEqual([mtu.link_netnsid, mtu.peer_namespace], [e0[0]!.link_netnsid, 'default']);
  } finally {
    child.kill('SIGTERM');
    await child;
    execaSync('umount', [file], { reject: false });
  }
})));

test('the daemon as uid 65534 with CAP_NET_ADMIN and CAP_NET_BROADCAST and no_new_privs: the shared intake, a hook for a namespace made after start, one line per attribution source', opts, () => withNetns(2, (host, inner) => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const netns = path.join(dir, 'netns');
  fs.mkdirSync(netns, { mode: 0o755 });
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.chmodSync(out, 0o1777);
  const hook = path.join(dir, 'who.sh');
  fs.writeFileSync(hook, `#!/bin/sh\necho "$(id -u) $NLMON_NAMESPACE $NLMON_INTERFACE" >> ${out}/who\n`, { mode: 0o755 });
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, `nlmon:
  monitoring:
    namespaces: all
    netns_dirs: [${netns}]
  containers:
    docker_socket: [${dir}/no-engine.sock]
    cri_socket: []
  integration:
    hook_log: ""
    hooks:
      - name: who
        script: ${hook}
        condition: "event == link_added AND interface == 'c0'"
  control:
    socket: ${out}/nlmon.sock
`);
  const d = execa('nsenter', [`--net=/var/run/netns/${host}`, ...SETPRIV, '--no-new-privs', process.execPath, NLMON, 'run', '--config', cfg], { reject: false, stdin: 'ignore', all: true });
  let all = '';
  d.all!.on('data', (b: Buffer) => { all += b.toString(); });
  const file = path.join(netns, 'late');
  try {
    await until(() => all.includes('watching default'), 'the daemon started', 15000);
    assert.match(all, /intake: one shared socket for every namespace/);
    assert.match(all, /containers: processes: EACCES on other users' \/proc\/PID\/ns\/net \(needs CAP_SYS_PTRACE\)/);
    assert.match(all, /containers: docker_socket .*no-engine\.sock: not there/);
    fs.writeFileSync(file, '');
    execaSync('mount', ['--bind', `/var/run/netns/${inner}`, file]);
    ip('-n', inner, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1');
    await until(() => fs.existsSync(`${out}/who`), 'the hook ran');
    assert.equal(fs.readFileSync(`${out}/who`, 'utf8'), '65534 late c0\n');
    const status = execaSync(process.execPath, [NLMON, 'status', '--json', '--socket', `${out}/nlmon.sock`]);
    const report = JSON.parse(status.stdout) as { intake: string; namespaces: Array<{ name: string; links: number }> };
    assert.equal(report.intake, 'shared');
    assert.equal(report.namespaces.find((n) => n.name === 'late')!.links, 3);
  } finally {
    d.kill('SIGTERM');
    await d;
    execaSync('umount', [file], { reject: false });
  }
})));
