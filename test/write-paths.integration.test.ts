// Root writes through paths a user controls (docs/hooks.md, "Threat model"), tried as the
// attacker would: the unprivileged steps run as uid 65534. A user who owns a directory on a path
// nlmon writes (the hook log, the file output, the spool, the control socket), or who got there
// first in a sticky directory, plants a symlink to a root-only file; nlmon must refuse the path,
// say which and why in one line, and leave the file as it was.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { cliJson, ip, needsRoot, NLMON, outputsConfig, startDaemon, until, withNetns, withTempDir } from './helpers/index.js';
import type { OutputStatus } from '../src/outputs/registry.js';

const opts = { skip: needsRoot || (hasSetpriv() ? false : 'setpriv is not installed (util-linux)'), timeout: 120000 };

function hasSetpriv(): boolean {
  try {
    execaSync('setpriv', ['--version']);
    return true;
  } catch {
    return false;
  }
}

/** Runs a shell command as uid 65534, failing the test if it fails. */
function asNobody(cmd: string): void {
  const r = execaSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', cmd], { reject: false });
  assert.equal(r.exitCode, 0, `as uid 65534: ${cmd}: ${r.stderr}`);
}

/** The scene: dir (root, 0755) holds a root-only victim file, a directory the user owns, and a
 * sticky world-writable directory as /tmp is. */
function scene(dir: string): { victim: string; user: string; sticky: string; before: string } {
  fs.chmodSync(dir, 0o755);
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'root only\n', { mode: 0o600 });
  const user = path.join(dir, 'user');
  fs.mkdirSync(user, { mode: 0o755 });
  fs.chownSync(user, 65534, 65534);
  const sticky = path.join(dir, 'sticky');
  fs.mkdirSync(sticky);
  fs.chmodSync(sticky, 0o1777);
  return { victim, user, sticky, before: fs.readFileSync(victim, 'utf8') };
}

/** `nlmon run` that must refuse to start: its exit code and stderr. */
async function refusedStart(dir: string, yaml: string): Promise<{ code: number | undefined; stderr: string }> {
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, yaml);
  const r = await execa(process.execPath, [NLMON, 'run', '--config', cfg], { reject: false, timeout: 30000, stdin: 'ignore' });
  return { code: r.exitCode, stderr: r.stderr };
}

test('a hook log, a spool or a control socket under a directory another user owns is refused at start, and the file the symlinks point at is untouched', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const { victim, user, before } = scene(dir);
  asNobody(`ln -s ../victim ${user}/hook.log && mkdir ${user}/spool && ln -s ../../victim ${user}/spool/acked && ln -s ../../victim ${user}/spool/lock`);
  const hookLog = await refusedStart(dir, `nlmon:\n  monitoring:\n    namespaces: [${ns}]\n  integration:\n    hook_log: ${user}/hook.log\n  control:\n    socket: ${dir}/nlmon.sock\n`);
  assert.equal(hookLog.code, 1, hookLog.stderr);
  assert.match(hookLog.stderr, new RegExp(`${user}: owned by uid 65534, not root or nlmon's user; refusing to write there as root`));
  const spool = await refusedStart(dir, outputsConfig(ns, dir, `    - name: fleet\n      type: nats\n      url: nats://127.0.0.1:1\n      stream: S\n      subject: nlmon.{host}\n      spool_dir: ${user}/spool\n`));
  assert.equal(spool.code, 1, spool.stderr);
  assert.match(spool.stderr, new RegExp(`output fleet: cannot open its spool_dir ${user}/spool: ${user}: owned by uid 65534`));
  const socket = await refusedStart(dir, `nlmon:\n  monitoring:\n    namespaces: [${ns}]\n  integration:\n    hook_log: ""\n  control:\n    socket: ${user}/nlmon.sock\n`);
  assert.equal(socket.code, 1, socket.stderr);
  assert.match(socket.stderr, new RegExp(`control socket: ${user}: owned by uid 65534`));
  assert.equal(fs.readFileSync(victim, 'utf8'), before, 'the root-only file is as it was');
  assert.equal(fs.lstatSync(`${user}/spool/acked`).isSymbolicLink(), true, 'the planted links are left alone');
})));

test('a file output through a user\'s directory or a link planted in a sticky directory is refused and counted, the daemon runs on, and the target is untouched', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const { victim, user, sticky, before } = scene(dir);
  asNobody(`ln -s ../victim ${user}/events.ndjson && ln -s ../victim ${sticky}/linked.ndjson && echo mine > ${sticky}/theirs.ndjson && ln -s ${dir} ${sticky}/spool-parent`);
  const file = (name: string, p: string) => `    - name: ${name}\n      type: file\n      path: ${p}\n`;
  const outputs = file('userdir', `${user}/events.ndjson`) + file('linked', `${sticky}/linked.ndjson`) + file('theirs', `${sticky}/theirs.ndjson`)
    + file('honest', `${dir}/logs/events.ndjson`);
  const d = await startDaemon(dir, outputsConfig(ns, dir, outputs));
  try {
    ip('-n', ns, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'a1');
    const stats = () => Object.fromEntries(cliJson<OutputStatus[]>(dir, 'outputs', 'stats').map((o) => [o.name, o]));
    await until(() => stats().honest!.delivered >= 2, 'the honest output to write the events');
    const s = stats();
    for (const name of ['userdir', 'linked', 'theirs']) {
      assert.equal(s[name]!.state, 'error', `${name} is not open`);
      assert.equal(s[name]!.delivered, 0, `${name} wrote nothing`);
      assert.ok(s[name]!.dropped >= 2, `${name} counts what it dropped`);
    }
    assert.match(s.userdir!.last_error, new RegExp(`${user}: owned by uid 65534, not root or nlmon's user; refusing to write there as root`));
    assert.match(s.linked!.last_error, new RegExp(`${sticky}/linked.ndjson: a symbolic link \\(owned by uid 65534\\); refusing`));
    assert.match(s.theirs!.last_error, new RegExp(`${sticky}/theirs.ndjson: owned by uid 65534`));
    assert.match(d.stderr(), /output userdir: .*refusing to write there as root/);
    // A rotation (SIGUSR1) opens each again by name, through the same checks.
    d.child.kill('SIGUSR1');
    ip('-n', ns, 'link', 'set', 'a0', 'up');
    await until(() => stats().honest!.delivered >= 3, 'the event after the rotation');
    assert.equal(stats().userdir!.delivered, 0);
  } finally {
    await d.stop();
  }
  assert.equal(fs.readFileSync(victim, 'utf8'), before, 'the root-only file is as it was');
  assert.equal(fs.readFileSync(`${sticky}/theirs.ndjson`, 'utf8'), 'mine\n', 'the user\'s own file got nothing');
  assert.ok(fs.readFileSync(`${dir}/logs/events.ndjson`, 'utf8').includes('"interface":"a0"'));
})));
