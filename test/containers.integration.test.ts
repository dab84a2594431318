// Real Podman containers (runc, a local busybox image): the daemon names the container of the
// host-side veth and of the container's own eth0, through Podman's engine API and, without it,
// from the container process's cgroup; hooks filter on the container. And a real containerd's
// pod sandboxes, through CRI over gRPC.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { NlEvent } from '../src/event/event.js';
import { execaSync } from 'execa';
import { cliJson, script, startDaemon, until, withTempDir } from './helpers/index.js';
import { IMAGE, needsPodman, withPodman } from './helpers/podman.js';
import { needsContainerd, withContainerd } from './helpers/containerd.js';

const opts = { skip: needsPodman, timeout: 120_000 };

function events(file: string): NlEvent[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as NlEvent) : [];
}

function daemonConfig(dir: string, containers: string): string {
  script(dir, 'all.sh', `printf '%s\\n' "$NLMON_EVENT_JSON" >> ${dir}/events`);
  script(dir, 'named.sh', `echo "$NLMON_CONTAINER_NAME $NLMON_EVENT $NLMON_INTERFACE $NLMON_NAMESPACE" >> ${dir}/named`);
  return `nlmon:
  monitoring:
    namespaces: all
    netns_dirs: [/var/run/netns]
  containers:
${containers}
  integration:
    hook_log: ${dir}/hook.log
    hooks:
      - name: all
        script: ${dir}/all.sh
      - name: named
        script: ${dir}/named.sh
        condition: "container_name == 'nlmon-web-${process.pid}'"
  control:
    socket: ${dir}/nlmon.sock
`;
}

test('podman: the host veth and the container\'s eth0 carry the container from the engine API, added and removed; a hook filters on container_name', opts, () => withTempDir(async (dir) => withPodman(dir, async (pm) => {
  const name = `nlmon-web-${process.pid}`;
  const d = await startDaemon(dir, daemonConfig(dir, `    docker_socket: [${pm.socket}]`));
  try {
    await until(() => d.stderr().includes(`reading Podman at ${pm.socket}`), 'the daemon to reach the podman API');
    const id = await pm.run(name);
    const file = path.join(dir, 'events');
    const hostAdded = await until(() => events(file).find((e) => e.namespace === 'default' && e.event === 'link_added' && e.kind === 'veth'), 'the host veth');
    assert.equal(hostAdded.container_id, id);
    assert.equal(hostAdded.container_name, name);
    assert.equal(hostAdded.container_runtime, 'podman');
    assert.equal(hostAdded.container_image, IMAGE);
    assert.match(hostAdded.peer_namespace, /^netns-/);
    const inside = await until(() => events(file).find((e) => e.namespace === hostAdded.peer_namespace && e.event === 'link_added' && e.interface === 'eth0'), 'the container\'s eth0 as link_added');
    assert.equal(inside.container_name, name);
    assert.equal(inside.container_id, id);
    // Its IPv4 address, set by Podman's network before the namespace was found, as addr_added.
    const addr = await until(() => events(file).find((e) => e.namespace === hostAdded.peer_namespace && e.event === 'addr_added' && e.family === 'inet' && e.interface === 'eth0'), 'the container\'s address');
    assert.match(addr.ip, /^10\.88\./);
    assert.equal(addr.container_name, name);
    const status = cliJson<{ namespaces: Array<{ name: string; container: string }> }>(dir, 'status');
    assert.equal(status.namespaces.find((n) => n.name === hostAdded.peer_namespace)?.container, name, 'nlmon status names the container');

    await pm.rm(name);
    const removed = await until(() => events(file).find((e) => e.namespace === 'default' && e.event === 'link_removed' && e.ifindex === hostAdded.ifindex), 'the host veth removed');
    assert.equal(removed.container_name, name, 'the removal carries the container, though its namespace is gone');
    assert.equal(removed.container_id, id);
    assert.equal(removed.peer_namespace, hostAdded.peer_namespace, 'and the peer namespace it was last named with');
    // Every event of the container ran the filtered hook once, with NLMON_CONTAINER_NAME.
    const mine = events(file).filter((e) => e.container_name === name);
    await until(() => fs.existsSync(path.join(dir, 'named')) && fs.readFileSync(path.join(dir, 'named'), 'utf8').split('\n').filter(Boolean).length === mine.length, 'the named hook\'s runs');
    const named = fs.readFileSync(path.join(dir, 'named'), 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(named, mine.map((e) => `${name} ${e.event} ${e.interface} ${e.namespace}`));
    assert.ok(events(file).filter((e) => e.container_name !== name).every((e) => e.container_id === ''), 'no other event names a container');
  } finally {
    await d.stop();
  }
})));

test('podman: a namespace that outlives its container (--network ns:) is no longer named after it once the container is removed', opts, () => withTempDir(async (dir) => withPodman(dir, async (pm) => {
  const name = `nlmon-ns-${process.pid}`;
  const ns = `nlmon-test-keep-${process.pid}`;
  execaSync('ip', ['netns', 'add', ns]);
  const d = await startDaemon(dir, daemonConfig(dir, `    docker_socket: [${pm.socket}]`));
  try {
    await until(() => d.stderr().includes(`reading Podman at ${pm.socket}`), 'the daemon to reach the podman API');
    await pm.run(name, '--network', `ns:/var/run/netns/${ns}`);
    const file = path.join(dir, 'events');
    execaSync('ip', ['-n', ns, 'link', 'add', 'k0', 'type', 'veth', 'peer', 'name', 'k1']);
    const during = await until(() => events(file).find((e) => e.namespace === ns && e.interface === 'k0' && e.event === 'link_added'), 'k0 while the container runs');
    assert.equal(during.container_name, name);
    assert.equal(cliJson<{ namespaces: Array<{ name: string; container: string }> }>(dir, 'status').namespaces.find((n) => n.name === ns)?.container, name);
    await pm.rm(name);
    // The engine's removal reaches nlmon; then a new link in the namespace names no container.
    await until(() => cliJson<{ namespaces: Array<{ name: string; container: string }> }>(dir, 'status').namespaces.find((n) => n.name === ns)?.container === '', 'nlmon status without the container', 20000);
    execaSync('ip', ['-n', ns, 'link', 'add', 'k2', 'type', 'veth', 'peer', 'name', 'k3']);
    const after = await until(() => events(file).find((e) => e.namespace === ns && e.interface === 'k2' && e.event === 'link_added'), 'k2 after the container is gone');
    assert.deepEqual([after.container_id, after.container_name], ['', '']);
  } finally {
    await d.stop();
    execaSync('ip', ['netns', 'del', ns], { reject: false });
  }
})));

test('podman without the engine API: the container id and runtime come from the container process\'s cgroup', opts, () => withTempDir(async (dir) => withPodman(dir, async (pm) => {
  const name = `nlmon-web-${process.pid}`;
  const d = await startDaemon(dir, daemonConfig(dir, '    docker_socket: []'));
  try {
    const id = await pm.run(name);
    const file = path.join(dir, 'events');
    const hostAdded = await until(() => events(file).find((e) => e.namespace === 'default' && e.event === 'link_added' && e.kind === 'veth'), 'the host veth');
    assert.equal(hostAdded.container_id, id, 'waited for the container process (wait_ms)');
    assert.equal(hostAdded.container_runtime, 'podman');
    assert.equal(hostAdded.container_name, '', 'the name is known only to the engine');
    const inside = await until(() => events(file).find((e) => e.namespace === hostAdded.peer_namespace && e.interface === 'eth0'), 'the container\'s eth0');
    assert.equal(inside.container_id, id);
    await pm.rm(name);
    const removed = await until(() => events(file).find((e) => e.event === 'link_removed' && e.ifindex === hostAdded.ifindex && e.namespace === 'default'), 'the host veth removed');
    assert.equal(removed.container_id, id);
    assert.ok(!fs.existsSync(path.join(dir, 'named')), 'the hook on container_name never ran');
  } finally {
    await d.stop();
  }
}, { api: false })));

test('containerd over CRI: a pod sandbox\'s veth on the host carries the pod\'s name, namespace and uid, added and removed', { skip: needsContainerd, timeout: 180_000 }, () => withTempDir(async (dir) => withContainerd(dir, async (ctd) => {
  const uid = '7d2f4c1a-0b3e-4a5d-9c8b-1e2f3a4b5c6d';
  const d = await startDaemon(dir, daemonConfig(dir, `    docker_socket: []\n    cri_socket: [${ctd.socket}]`));
  try {
    await until(() => d.stderr().includes(`reading CRI (containerd`), 'the daemon to reach containerd');
    const id = await ctd.runPod('web-1', 'prod', uid);
    const file = path.join(dir, 'events');
    // CNI's bridge plugin makes the pair from the pod's side: the kernel announces the host end
    // before this namespace has an id for the pod's, so its link_added has link_netnsid -1 and
    // no peer; every event after it has both.
    const hostAdded = await until(() => events(file).find((e) => e.namespace === 'default' && e.kind === 'veth' && e.link_netnsid >= 0), 'the pod\'s host veth', 20000);
    assert.deepEqual([hostAdded.pod_name, hostAdded.pod_namespace, hostAdded.pod_uid], ['web-1', 'prod', uid]);
    assert.equal(hostAdded.container_id, id, 'the sandbox');
    assert.equal(hostAdded.container_runtime, 'containerd');
    assert.match(hostAdded.peer_namespace, /^cni-/);
    const inside = await until(() => events(file).find((e) => e.namespace === hostAdded.peer_namespace && e.event === 'link_added' && e.interface === 'eth0'), 'the pod\'s eth0');
    assert.equal(inside.pod_name, 'web-1');
    const status = cliJson<{ namespaces: Array<{ name: string; container: string }> }>(dir, 'status');
    assert.equal(status.namespaces.find((n) => n.name === hostAdded.peer_namespace)?.container, 'prod/web-1', 'nlmon status names the pod');
    await ctd.removePod(id);
    const removed = await until(() => events(file).find((e) => e.namespace === 'default' && e.event === 'link_removed' && e.ifindex === hostAdded.ifindex), 'the host veth removed', 20000);
    assert.deepEqual([removed.pod_name, removed.pod_namespace, removed.pod_uid], ['web-1', 'prod', uid]);
  } finally {
    await d.stop();
  }
})));
