// Containers from the host alone: every runtime's cgroup path, the pod log directory, and the
// lookup over a /proc-shaped tree, on recorded strings.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseCgroup, parsePodLogDir } from '../src/containers/cgroup.js';
import { HostAttribution } from '../src/containers/host-attribution.js';
import { ContainerResolver } from '../src/containers/resolver.js';
import { engineContainer } from '../src/containers/engine-api.js';
import type { ContainerFields } from '../src/event/event.js';

function get(r: ContainerFields | Promise<void> | undefined): ContainerFields | undefined {
  assert.ok(!(r instanceof Promise), 'answered at once');
  return r;
}
import { withTempDir } from './helpers/index.js';

const ID = 'a3f1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80';
const UID = '5f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b';

test('every runtime\'s cgroup path names its container (systemd and cgroupfs drivers, v1 and v2)', () => {
  const cases: Array<[string, string, string, string]> = [
    [`0::/system.slice/docker-${ID}.scope\n`, ID, 'docker', ''],
    [`12:pids:/docker/${ID}\n11:memory:/docker/${ID}\n`, ID, 'docker', ''],
    [`0::/machine.slice/libpod-${ID}.scope/container\n`, ID, 'podman', ''],
    [`1:name=systemd:/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope\n`, ID, 'podman', ''],
    [`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope\n`, ID, 'containerd', UID],
    [`0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replace(/-/g, '_')}.slice/crio-${ID}.scope\n`, ID, 'cri-o', UID],
    [`4:memory:/kubepods/burstable/pod${UID}/${ID}\n`, ID, '', UID],
    [`0::/kubepods/pod${UID}/${ID}\n`, ID, '', UID],
    [`0::/k8s.io/${ID}\n`, ID, 'containerd', ''],
  ];
  for (const [text, id, runtime, uid] of cases) {
    assert.deepEqual(parseCgroup(text), { container_id: id, container_runtime: runtime, pod_uid: uid }, text);
  }
  for (const host of ['0::/\n', '0::/system.slice/sshd.service\n', '0::/user.slice/user-0.slice/session-3.scope\n', `0::/machine.slice/libpod-conmon-${ID}.scope\n`, '']) {
    assert.equal(parseCgroup(host), undefined, host);
  }
});

test('a pod log directory names the pod', () => {
  assert.deepEqual(parsePodLogDir(`prod_web-1_${UID}`), { pod_namespace: 'prod', pod_name: 'web-1', pod_uid: UID });
  assert.deepEqual(parsePodLogDir(`kube-system_coredns-5d78c9869d-abcde_${UID}`), { pod_namespace: 'kube-system', pod_name: 'coredns-5d78c9869d-abcde', pod_uid: UID });
  for (const bad of ['prod_web-1', `prod_web_1_${UID}`, `Prod_web_${UID}`, 'x_y_z']) assert.equal(parsePodLogDir(bad), undefined, bad);
});

test('the lookup finds a process in the namespace, reads its cgroup and its pod, keeps the answer and retries a miss only later', () => withTempDir(async (dir) => {
  const proc = path.join(dir, 'proc');
  const pods = path.join(dir, 'pods');
  const pid = (n: number, ino: number, cgroup: string) => {
    fs.mkdirSync(path.join(proc, String(n), 'ns'), { recursive: true });
    fs.symlinkSync(`net:[${ino}]`, path.join(proc, String(n), 'ns', 'net'));
    fs.writeFileSync(path.join(proc, String(n), 'cgroup'), cgroup);
  };
  pid(1, 100, '0::/init.scope\n');
  pid(20, 200, '0::/system.slice/netns-helper.service\n'); // a host process in the container's namespace
  pid(21, 200, `0::/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope\n`);
  fs.mkdirSync(path.join(pods, `prod_web-1_${UID}`), { recursive: true });
  fs.mkdirSync(path.join(proc, 'self'));
  let now = 0;
  const a = new ContainerResolver({ waitMs: 1000, host: new HostAttribution(proc, pods), now: () => now });
  assert.deepEqual(a.lookup(200, 0, true), {
    container_id: ID, container_name: '', container_image: '', container_runtime: 'containerd', pod_name: 'web-1', pod_namespace: 'prod', pod_uid: UID,
  });
  fs.rmSync(path.join(proc, '21'), { recursive: true });
  assert.equal(get(a.lookup(200, 0, true))?.container_id, ID, 'kept');
  assert.equal(a.lookup(100, 0, true), undefined, 'the host');
  pid(30, 300, `0::/system.slice/docker-${ID}.scope\n`);
  assert.equal(get(a.lookup(300, 0, true))?.container_runtime, 'docker', 'a first lookup is made at once');
  assert.equal(a.lookup(400, 0, true), undefined);
  pid(40, 400, `0::/system.slice/docker-${ID}.scope\n`);
  assert.equal(a.lookup(400, 0, true), undefined, 'a miss is not looked up again at once');
  now = 6000;
  assert.equal(get(a.lookup(400, 0, true))?.container_id, ID, 'but after a while');
  a.forget(200);
  assert.equal(a.lookup(200, 0, true), undefined, 'a namespace that went is forgotten');
}));

test('a young namespace with no process yet is looked at again until its container starts, for up to wait_ms; one with a host process is not', () => withTempDir(async (dir) => {
  const proc = path.join(dir, 'proc');
  const pid = (n: number, ino: number, cgroup: string) => {
    fs.mkdirSync(path.join(proc, String(n), 'ns'), { recursive: true });
    fs.symlinkSync(`net:[${ino}]`, path.join(proc, String(n), 'ns', 'net'));
    fs.writeFileSync(path.join(proc, String(n), 'cgroup'), cgroup);
  };
  fs.mkdirSync(proc);
  const a = new ContainerResolver({ waitMs: 1000, host: new HostAttribution(proc, path.join(dir, 'pods')) });
  const born = Date.now();
  assert.equal(a.lookup(500, 0, true), undefined, 'a namespace there at start is not waited for');
  const pending = a.lookup(600, born, true);
  assert.ok(pending instanceof Promise, 'a young empty namespace is waited for');
  assert.equal(a.lookup(600, born, false), undefined, 'without wait, the caller goes on');
  setTimeout(() => pid(60, 600, `0::/machine.slice/libpod-${ID}.scope/container\n`), 120);
  await pending;
  // Found, not given up: a namespace whose wait ran out is a miss (as 700 below shows).
  assert.equal(get(a.lookup(600, born, true))?.container_runtime, 'podman', 'found once its process started, within the wait');
  const never = a.lookup(700, Date.now(), true);
  assert.ok(never instanceof Promise);
  const t0 = Date.now();
  await never;
  assert.ok(Date.now() - t0 >= 900, 'an empty namespace is given up only at wait_ms');
  assert.equal(a.lookup(700, t0, true), undefined, 'and then counted as a miss');
  pid(80, 800, '0::/system.slice/ip-netns.service\n');
  assert.equal(a.lookup(800, Date.now(), true), undefined, 'a namespace holding a host process is no container: no wait');
  // A runtime's helper in the namespace (netavark setting up podman's network, before the
  // container's process is there) is no answer: the wait goes on.
  pid(85, 850, '0::/user.slice/user-0.slice/session-1.scope\n');
  fs.writeFileSync(path.join(proc, '85', 'comm'), 'netavark\n');
  const helper = a.lookup(850, Date.now(), true);
  assert.ok(helper instanceof Promise, 'a namespace holding only a runtime helper is waited for');
  setTimeout(() => pid(86, 850, `0::/machine.slice/libpod-${ID}.scope/container\n`), 120);
  await helper;
  assert.equal(get(a.lookup(850, 0, true))?.container_id, ID, 'and its container found once it starts');
  const off = new ContainerResolver({ waitMs: 0, host: new HostAttribution(proc, path.join(dir, 'pods')) });
  assert.equal(off.lookup(900, Date.now(), true), undefined, 'wait_ms 0 never waits');
}));

test('an engine\'s inspect answer (recorded from Podman 4.3) names the container and its namespace', () => {
  const inspect = {
    Id: '2886d0586c139404a0544cd985d6a6df4d9bd7057977f0bd6683a2ce1d4ca683', Name: '/t1',
    Config: { Image: 'localhost/nlmon-test:latest', Labels: null },
    State: { Pid: 2538, Status: 'running' },
    NetworkSettings: { SandboxKey: '/run/netns/netns-3e26ea8d-8088-931d-626e-d546ce3c24c9' },
    HostConfig: { NetworkMode: 'bridge' },
  };
  const inos: Record<string, number> = { '/run/netns/netns-3e26ea8d-8088-931d-626e-d546ce3c24c9': 4026532300, '/proc/2538/ns/net': 4026532300 };
  const c = engineContainer(inspect, 'podman', (p) => inos[p] ?? -1)!;
  assert.equal(c.ino, 4026532300);
  assert.equal(c.joined, false);
  assert.deepEqual(c.fields, {
    container_id: inspect.Id, container_name: 't1', container_image: 'localhost/nlmon-test:latest', container_runtime: 'podman', pod_name: '', pod_namespace: '', pod_uid: '',
  });
  // Docker on a Kubernetes node: the sandbox key is gone once stopped; the pid names it, the labels the pod.
  const k8s = engineContainer({ ...inspect, NetworkSettings: { SandboxKey: '' }, Config: { Image: 'nginx', Labels: { 'io.kubernetes.pod.name': 'web-1', 'io.kubernetes.pod.namespace': 'prod', 'io.kubernetes.pod.uid': UID } } }, 'docker', (p) => inos[p] ?? -1)!;
  assert.equal(k8s.ino, 4026532300, 'from /proc/PID/ns/net');
  assert.deepEqual([k8s.fields.pod_namespace, k8s.fields.pod_name, k8s.fields.pod_uid], ['prod', 'web-1', UID]);
  assert.equal(engineContainer({ ...inspect, HostConfig: { NetworkMode: 'host' } }, 'docker', (p) => inos[p] ?? -1)!.ino, -1, 'host network: no namespace of its own');
  assert.equal(engineContainer({ ...inspect, HostConfig: { NetworkMode: `container:${inspect.Id}` } }, 'podman', (p) => inos[p] ?? -1)!.joined, true);
  assert.equal(engineContainer({ ...inspect, State: { Pid: 0 }, NetworkSettings: {} }, 'podman', () => -1)!.ino, -1, 'created, not started');
  assert.equal(engineContainer({ ...inspect, Id: '../etc' }, 'podman', () => 1), undefined);
});
