// Containers from the host alone: every runtime's cgroup path, the pod log directory, and the
// lookup over a /proc-shaped tree, on recorded strings.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseCgroup, parsePodLogDir } from '../src/containers/cgroup.js';
import { HostAttribution } from '../src/containers/host-attribution.js';
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
  const a = new HostAttribution(proc, pods, () => now);
  assert.deepEqual(a.lookup(200), {
    container_id: ID, container_name: '', container_image: '', container_runtime: 'containerd', pod_name: 'web-1', pod_namespace: 'prod', pod_uid: UID,
  });
  fs.rmSync(path.join(proc, '21'), { recursive: true });
  assert.equal(a.lookup(200)?.container_id, ID, 'kept');
  assert.equal(a.lookup(100), undefined, 'the host');
  pid(30, 300, `0::/system.slice/docker-${ID}.scope\n`);
  assert.equal(a.lookup(300)?.container_runtime, 'docker', 'a first lookup is made at once');
  assert.equal(a.lookup(400), undefined);
  pid(40, 400, `0::/system.slice/docker-${ID}.scope\n`);
  assert.equal(a.lookup(400), undefined, 'a miss is not looked up again at once');
  now = 6000;
  assert.equal(a.lookup(400)?.container_id, ID, 'but after a while');
  a.forget(200);
  assert.equal(a.lookup(200), undefined, 'a namespace that went is forgotten');
}));
