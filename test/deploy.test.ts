// The deployments (deploy/, config/, docs/fleet.md): every manifest parses, the DaemonSet asks
// for what nlmon needs and nothing more, its config passes nlmon's own checker with the paths it
// mounts, the image is built from the npm package in two stages, and the systemd unit runs at
// least privilege (systemd-analyze's own rating).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../src/daemon/config-file.js';
import { DAEMON_NODE_OPTIONS } from '../src/daemon/node-options.js';
import { execaSync } from 'execa';
import { ROOT, withTempDir } from './helpers/index.js';

// Manifests are free-form YAML: read them as plain objects.
type Obj = Record<string, any>;

function manifests(): Obj[] {
  const dir = path.join(ROOT, 'deploy', 'kubernetes');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d) => {
    assert.deepEqual(d.errors, [], `${f} parses`);
    return d.toJS() as Obj;
  }));
}

test('the DaemonSet: host network, NET_ADMIN and NET_BROADCAST only (no SYS_ADMIN, no host PID), a read-only root, the mounts and probes nlmon needs; its namespace\'s Pod Security level', () => {
  const all = manifests();
  assert.deepEqual(all.map((m) => m.kind).sort(), ['ConfigMap', 'DaemonSet', 'Namespace']);
  for (const m of all) if (m.kind !== 'Namespace') assert.equal(m.metadata.namespace, 'nlmon', `${m.kind} in the nlmon namespace`);
  const ds = all.find((m) => m.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec;
  assert.deepEqual(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
  assert.equal(pod.hostNetwork, true, 'the node\'s own namespace is the default one');
  assert.equal(pod.hostPID, undefined, 'pods are named through CRI, not from the node\'s processes');
  const ns = all.find((m) => m.kind === 'Namespace')!;
  assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged', 'host network and hostPath need the privileged level');
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }], 'every node');
  const c = pod.containers[0];
  assert.equal(pod.containers.length, 1);
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BROADCAST'] });
  assert.equal(c.securityContext.privileged, undefined, 'not privileged');
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  const mounts = new Map<string, Obj>(c.volumeMounts.map((m: Obj) => [m.mountPath, m]));
  const volumes = new Map<string, Obj>(pod.volumes.map((v: Obj) => [v.name, v]));
  const hostPathOf = (mountPath: string) => volumes.get(mounts.get(mountPath)!.name)!.hostPath?.path;
  assert.equal(hostPathOf('/host/run'), '/run');
  assert.equal(mounts.get('/host/run')!.readOnly, true);
  assert.equal(mounts.get('/host/run')!.mountPropagation, 'HostToContainer', 'namespace files made after start reach nlmon');
  assert.equal(hostPathOf('/run/netns'), '/run/netns', 'namespace files where CRI names them');
  assert.equal(mounts.get('/run/netns')!.readOnly, true);
  assert.equal(hostPathOf('/var/log/pods'), '/var/log/pods');
  assert.equal(mounts.get('/var/log/pods')!.readOnly, true);
  assert.equal(volumes.get(mounts.get('/etc/nlmon')!.name)!.configMap.name, 'nlmon-config');
  assert.equal(hostPathOf('/var/lib/nlmon'), '/var/lib/nlmon', 'the spools outlive the pod');
  for (const [p, m] of mounts) {
    if (!m.readOnly) assert.ok(['/run/nlmon', '/var/log/nlmon', '/var/lib/nlmon'].includes(p), `${p}: only the control socket, the logs and the spools are writable`);
  }
  for (const probe of [c.livenessProbe, c.readinessProbe]) {
    assert.deepEqual(probe.httpGet, { path: '/api/status', port: 'metrics' }, 'an HTTP GET of the status, not a Node started per probe');
    assert.equal(probe.exec, undefined);
  }
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, 'requests and a memory limit');
  assert.equal(ds.spec.template.metadata.annotations['prometheus.io/port'], String(c.ports[0].containerPort));
});

test('the ConfigMap\'s config passes nlmon\'s checker, and names the paths the DaemonSet mounts', () => {
  const all = manifests();
  const text = all.find((m) => m.kind === 'ConfigMap')!.data['nlmon.yaml'] as string;
  const cfg = parseConfig(text, 'deploy/kubernetes/configmap.yaml');
  assert.equal(cfg.monitoring.namespaces, 'all');
  const c = all.find((m) => m.kind === 'DaemonSet')!.spec.template.spec.containers[0];
  const mounted = (p: string) => c.volumeMounts.some((m: Obj) => p === m.mountPath || p.startsWith(`${m.mountPath}/`));
  for (const p of [...cfg.monitoring.netns_dirs, ...cfg.containers.docker_socket, ...cfg.containers.cri_socket, cfg.control.socket, cfg.integration.hook_log, ...cfg.outputs.map((o) => (o.type === 'file' ? o.path : o.spool_dir))]) {
    assert.ok(mounted(p), `${p} is on a mount`);
  }
  const fleet = cfg.outputs.find((o) => o.type === 'nats') as Extract<typeof cfg.outputs[number], { type: 'nats' }> | undefined;
  assert.ok(fleet, 'a nats output ships the events off the node');
  const spoolMount = c.volumeMounts.find((m: Obj) => fleet.spool_dir.startsWith(`${m.mountPath}/`));
  const pod = all.find((m) => m.kind === 'DaemonSet')!.spec.template.spec;
  assert.ok(pod.volumes.find((v: Obj) => v.name === spoolMount.name).hostPath, 'the spool is on a hostPath');
  assert.equal(cfg.metrics.listen.split(':').at(-1), String(c.ports[0].containerPort));
  assert.deepEqual(c.args.slice(0, 3), ['run', '--config', '/etc/nlmon/nlmon.yaml']);
});

test('the Containerfile builds from the npm package in two stages on a current Node; the second has no compiler; the build context is the tarball alone', () => {
  const text = fs.readFileSync(path.join(ROOT, 'deploy', 'Containerfile'), 'utf8');
  const froms = text.match(/^FROM \S+/gm)!;
  for (const from of froms) assert.match(from, /node:24\.\d+-bookworm/, `${from}: Node 24, a pinned minor`);
  // The install writes the code caches for the Node of the first stage; the second runs them.
  assert.equal(new Set(froms.map((f) => /node:([\d.]+)-/.exec(f)![1])).size, 1, `one Node version in both stages: ${froms.join(', ')}`);
  assert.deepEqual(fs.readFileSync(path.join(ROOT, '.containerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')), ['*', '!nlmon-*.tgz']);
  assert.doesNotMatch(text, /apt-get/, 'the build image has the compiler already');
  const stages = text.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  assert.match(stages[0]!, /COPY nlmon-\*\.tgz/);
  assert.match(stages[0]!, /npm install --global --prefix \/opt\/nlmon/);
  assert.doesNotMatch(stages[1]!, /g\+\+|python3|apt-get/);
  assert.match(stages[1]!, /COPY --from=build \/opt\/nlmon \/opt\/nlmon/);
  assert.ok(stages[1]!.split('\n').includes(`ENV NODE_OPTIONS=${DAEMON_NODE_OPTIONS}`), 'the V8 options the tests and the bench start the daemon with');
});

test('the systemd unit starts the daemon with the V8 options the tests and the bench use', () => {
  const text = fs.readFileSync(path.join(ROOT, 'config', 'nlmon.service'), 'utf8');
  assert.deepEqual(text.split('\n').filter((l) => l.startsWith('Environment=NODE_OPTIONS=')), [`Environment=NODE_OPTIONS=${DAEMON_NODE_OPTIONS}`]);
});

/** `systemd-analyze`, or why a test that needs it is skipped. */
const noSystemdAnalyze = execaSync('systemd-analyze', ['--version'], { reject: false }).exitCode === 0 ? false : 'systemd-analyze is not installed';

test('the systemd unit: the nlmon user with CAP_NET_ADMIN and CAP_NET_BROADCAST only, sandboxed to an exposure of 3.0 or lower, and verified', { skip: noSystemdAnalyze }, () => withTempDir(async (dir) => {
  const unit = path.join(ROOT, 'config', 'nlmon.service');
  const text = fs.readFileSync(unit, 'utf8');
  const value = (key: string) => text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  assert.deepEqual(value('User'), ['nlmon']);
  assert.deepEqual(value('AmbientCapabilities'), ['CAP_NET_ADMIN CAP_NET_BROADCAST']);
  assert.deepEqual(value('CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_BROADCAST']);
  assert.deepEqual(value('StateDirectory'), ['nlmon'], 'the spool under /var/lib/nlmon');
  assert.match(fs.readFileSync(path.join(ROOT, 'config', 'nlmon.sysusers'), 'utf8'), /^u nlmon - /m);
  const security = execaSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unit], { reject: false });
  const level = /Overall exposure level for nlmon\.service: ([\d.]+)/.exec(security.stdout);
  assert.ok(level, security.stdout + security.stderr);
  assert.ok(Number(level[1]) <= 3.0, `exposure ${level[1]}`);
  // verify wants the unit's own name; it reads the ExecStart binary (/usr/bin/env).
  const copy = path.join(dir, 'nlmon.service');
  fs.copyFileSync(unit, copy);
  const verify = execaSync('systemd-analyze', ['verify', copy], { reject: false });
  assert.equal(verify.exitCode, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
}));
