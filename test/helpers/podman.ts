// Real Podman containers for the tests: Podman with runc, a config of the test's own (the default
// runtime and ulimits fail on this kind of host), a local busybox image (no registry), and the
// engine API served on a socket in the test's directory. Everything it starts is removed after,
// even when the test fails.
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync, type ResultPromise } from 'execa';
import { until } from './common.js';
import { needsRoot } from './netns.js';

/** The test image, named per process: two runs on one host (a developer's and CI's) share
 * Podman's storage, and each removes its image at the end. */
export const IMAGE = `localhost/nlmon-test-${process.pid}:latest`;

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why the container tests cannot run here, or false. */
export const needsPodman: string | false = needsRoot
  || (!onPath('podman') ? 'podman is not installed (apt-get install podman runc busybox-static)' : false)
  || (!onPath('runc') ? 'runc is not installed' : false)
  || (!fs.existsSync('/bin/busybox') ? 'busybox-static is not installed' : false);

export interface Podman {
  dir: string;
  /** The engine API socket (podman system service). */
  socket: string;
  env: Record<string, string>;
  /** Starts a container running `sleep`; returns its full id. */
  run(name: string, ...extra: string[]): Promise<string>;
  rm(name: string): Promise<void>;
  /** Stops the API service (the containers stay). */
  stopService(): Promise<void>;
}

async function podmanCmd(env: Record<string, string>, ...args: string[]): Promise<string> {
  const r = await execa('podman', args, { env, reject: false, timeout: 120_000 });
  if (r.exitCode !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Runs fn with podman set up in dir and its API served at dir/podman.sock (unless `api` is
 * false); removes the containers fn started, the service and the image afterwards. */
export async function withPodman<T>(dir: string, fn: (p: Podman) => Promise<T>, options: { api?: boolean } = {}): Promise<T> {
  const conf = path.join(dir, 'containers.conf');
  fs.writeFileSync(conf, '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n');
  const env = { CONTAINERS_CONF: conf };
  const img = path.join(dir, 'image');
  fs.mkdirSync(path.join(img, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(img, 'bin', 'busybox'));
  fs.chmodSync(path.join(img, 'bin', 'busybox'), 0o755);
  for (const l of ['sh', 'sleep']) fs.symlinkSync('busybox', path.join(img, 'bin', l));
  const tar = execa('tar', ['-C', img, '-c', '.'], { encoding: 'buffer' });
  await execa('podman', ['import', '-q', '-', IMAGE], { env, input: (await tar).stdout, timeout: 120_000 });
  const socket = path.join(dir, 'podman.sock');
  let service: ResultPromise | undefined;
  if (options.api !== false) {
    service = execa('podman', ['system', 'service', '--time=0', `unix://${socket}`], { env, reject: false, stdio: 'ignore' });
    await until(() => fs.existsSync(socket), 'the podman API socket', 20000);
  }
  const started: string[] = [];
  const p: Podman = {
    dir, socket, env,
    async run(name, ...extra) {
      started.push(name);
      return podmanCmd(env, 'run', '-d', '--name', name, ...extra, IMAGE, '/bin/sleep', '600');
    },
    async rm(name) {
      await podmanCmd(env, 'rm', '-f', '-t', '0', name);
    },
    async stopService() {
      service?.kill('SIGTERM');
      await service;
      service = undefined;
    },
  };
  try {
    return await fn(p);
  } finally {
    for (const name of started) execaSync('podman', ['rm', '-f', '-t', '0', '--ignore', name], { env, reject: false });
    service?.kill('SIGTERM');
    await service;
    execaSync('podman', ['rmi', '-f', IMAGE], { env, reject: false });
  }
}
