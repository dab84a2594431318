// A real containerd with its CRI plugin, for the tests: Debian's containerd started as root on a
// config of the test's own (root, state and socket in the test's directory; a local busybox
// image as the sandbox image, made here as a Docker archive, no registry; CNI's bridge plugin
// from containernetworking-plugins on a bridge of the test's own). Pods are run with the same
// gRPC client nlmon uses. Sandboxes, shims, mounts, the bridge and the server are removed after,
// even when the test fails.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync, type ResultPromise } from 'execa';
import { call, criClient, type CriClient } from '../../src/containers/cri.js';
import { until } from './common.js';
import { needsRoot } from './netns.js';

const IMAGE = 'localhost/nlmon-pause:latest';
const CNI_BIN = '/usr/lib/cni';

/** Why the CRI tests cannot run here, or false. */
export const needsContainerd: string | false = needsRoot
  || (!fs.existsSync('/usr/bin/containerd') ? 'containerd is not installed (apt-get install containerd containernetworking-plugins busybox-static)' : false)
  || (!fs.existsSync(path.join(CNI_BIN, 'bridge')) ? 'the CNI plugins are not installed (containernetworking-plugins)' : false)
  || (!fs.existsSync('/bin/busybox') ? 'busybox-static is not installed' : false);

export interface Containerd {
  socket: string;
  client: CriClient;
  /** The host bridge the pods' veths are attached to. */
  bridge: string;
  runPod(name: string, namespace: string, uid: string): Promise<string>;
  removePod(id: string): Promise<void>;
}

/** The sandbox image: busybox whose command sleeps, as a Docker archive for `ctr images import`. */
function pauseImage(dir: string): string {
  const img = path.join(dir, 'image');
  const rootfs = path.join(img, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const l of ['sh', 'sleep']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', l));
  execaSync('tar', ['-C', rootfs, '-cf', path.join(img, 'layer.tar'), '.']);
  const digest = crypto.createHash('sha256').update(fs.readFileSync(path.join(img, 'layer.tar'))).digest('hex');
  fs.writeFileSync(path.join(img, 'config.json'), JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sleep', '1000000'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${digest}`] },
  }));
  fs.writeFileSync(path.join(img, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [IMAGE], Layers: ['layer.tar'] }]));
  const tar = path.join(dir, 'pause.tar');
  execaSync('tar', ['-C', img, '-cf', tar, 'manifest.json', 'config.json', 'layer.tar']);
  return tar;
}

async function config(dir: string, bridge: string): Promise<string> {
  let s = (await execa('containerd', ['config', 'default'])).stdout;
  const set = (from: RegExp, to: string) => {
    if (!from.test(s)) throw new Error(`containerd config default has no ${from}`);
    s = s.replace(from, to);
  };
  set(/^root = .*$/m, `root = "${dir}/root"`);
  set(/^state = .*$/m, `state = "${dir}/state"`);
  set(/(\[grpc\]\n\s+address = ).*$/m, `$1"${dir}/containerd.sock"`);
  set(/sandbox_image = .*$/m, `sandbox_image = "${IMAGE}"`);
  set(/bin_dir = .*$/m, `bin_dir = "${CNI_BIN}"`);
  set(/conf_dir = .*$/m, `conf_dir = "${dir}/net.d"`);
  // The sandbox's oom_score_adj is made negative unless restricted, and that needs
  // CAP_SYS_RESOURCE, which a root in a container may not have.
  set(/restrict_oom_score_adj = false/, 'restrict_oom_score_adj = true');
  fs.mkdirSync(path.join(dir, 'net.d'));
  fs.writeFileSync(path.join(dir, 'net.d', '10-nlmon.conflist'), JSON.stringify({
    cniVersion: '0.4.0', name: 'nlmon-test',
    plugins: [{ type: 'bridge', bridge, ipam: { type: 'host-local', subnet: `10.213.${process.pid % 250}.0/24`, dataDir: `${dir}/ipam` } }],
  }));
  const file = path.join(dir, 'containerd.toml');
  fs.writeFileSync(file, s);
  return file;
}

/** Runs fn with containerd serving CRI at dir/containerd.sock. */
export async function withContainerd<T>(dir: string, fn: (c: Containerd) => Promise<T>): Promise<T> {
  const socket = path.join(dir, 'containerd.sock');
  const bridge = `nlcni${process.pid % 100000}`;
  const server: ResultPromise = execa('containerd', ['--config', await config(dir, bridge)], { reject: false, stdio: ['ignore', 'ignore', 'pipe'], buffer: false });
  let log = '';
  server.stderr!.setEncoding('utf8').on('data', (d: string) => { log = (log + d).slice(-20000); });
  const client = await criClient(socket);
  const pods: string[] = [];
  try {
    await until(() => fs.existsSync(socket), 'containerd\'s socket', 20000);
    await execa('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', pauseImage(dir)]);
    const c: Containerd = {
      socket, client, bridge,
      async runPod(name, namespace, uid) {
        try {
          const r = await call(client, client.RunPodSandbox, { config: { metadata: { name, namespace, uid, attempt: 0 }, hostname: name, log_directory: path.join(dir, 'pods', `${namespace}_${name}_${uid}`) } }, 60000);
          pods.push(r.pod_sandbox_id);
          return r.pod_sandbox_id;
        } catch (e) {
          throw new Error(`RunPodSandbox failed: ${(e as Error).message}\ncontainerd's log ends:\n${log.split('\n').filter((l) => /level=(error|warning)/.test(l)).slice(-5).join('\n')}`);
        }
      },
      async removePod(id) {
        await call(client, client.StopPodSandbox, { pod_sandbox_id: id }, 60000);
        await call(client, client.RemovePodSandbox, { pod_sandbox_id: id }, 60000);
      },
    };
    return await fn(c);
  } finally {
    for (const id of pods) {
      await call(client, client.StopPodSandbox, { pod_sandbox_id: id }, 30000).catch(() => {});
      await call(client, client.RemovePodSandbox, { pod_sandbox_id: id }, 30000).catch(() => {});
    }
    client.close();
    server.kill('SIGTERM');
    await server;
    // Shims outlive containerd by design: end those of this instance.
    execaSync('pkill', ['-KILL', '-f', `containerd-shim.*-address ${socket}`], { reject: false });
    const mounts = execaSync('findmnt', ['-rn', '-o', 'TARGET'], { reject: false }).stdout.split('\n').filter((m) => m.startsWith(dir + '/'));
    for (const m of mounts.sort().reverse()) execaSync('umount', ['-l', m], { reject: false });
    execaSync('ip', ['link', 'del', bridge], { reject: false });
  }
}
