// What a local attacker tried (the unprivileged parts run as uid 65534, as they were found):
// scripts changed after load, a condition that backtracks forever, a FIFO in a netns directory,
// a config that crashed a reload.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import type { StatusReport } from '../src/daemon/control-api.js';
import {
  cli, cliJson, config, hookStats, ip, lines, linkburst, needsRoot, NLMON, nlmonSync, script, sleep, until, withDaemon, withNetns, withTempDir,
} from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 120000 };
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
/** Runs a shell command as uid 65534. */
const asNobody = (cmd: string) => execaSync('setpriv', [...NOBODY, 'sh', '-c', cmd], { reject: false });

test('a script made writable after load is refused at its next run, before another user can run code as root', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const s = script(dir, 'hook.sh', `echo ran >> "${dir}/ran"`);
  await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: h\n        script: ${s}\n        condition: "event == link_added"\n`), async (d) => {
    ip('-n', ns, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'a1');
    await until(() => lines(`${dir}/ran`).length === 2, 'two honest runs');
    fs.chmodSync(s, 0o777);
    assert.equal(asNobody(`printf '#!/bin/sh\\necho pwned > ${dir}/pwned\\n' > ${s}`).exitCode, 0, 'the attacker rewrote the script');
    ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
    await until(() => hookStats(dir).h!.failures === 2, 'the two refused runs');
    assert.equal(fs.existsSync(`${dir}/pwned`), false, 'the attacker\'s code never ran');
    assert.match(hookStats(dir).h!.last_error, /^refused: file \S+hook\.sh is world-writable/);
    assert.match(d.hookLog().join('\n'), /done h : \S+ : \S+hook\.sh REFUSED/);
  });
})));

test('a script replaced since load (mv over it, or a symlink swapped in) is refused until a reload', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const s = script(dir, 'hook.sh', `echo ran >> "${dir}/ran"`);
  await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: h\n        script: ${s}\n        condition: "event == link_added"\n`), async (d) => {
    const other = script(dir, 'other.sh', `echo other >> "${dir}/other"`);
    fs.renameSync(other, s);
    ip('-n', ns, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'a1');
    await until(() => hookStats(dir).h!.failures === 2, 'refused runs');
    assert.match(hookStats(dir).h!.last_error, /was replaced since the config was loaded/);
    assert.equal(fs.existsSync(`${dir}/other`), false);
    d.child.kill('SIGHUP');
    await until(() => d.stderr().includes('reloaded'), 'the reload');
    ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
    await until(() => lines(`${dir}/other`).length === 2, 'the new file runs after the reload');
  });
})));

test('a script in a directory another user owns, and a world-writable script given to an interpreter, are refused at load', opts, () => withTempDir(async (dir) => {
  const theirs = path.join(dir, 'theirs');
  fs.mkdirSync(theirs, { mode: 0o755 });
  const s = script(theirs, 'hook.sh', 'exit 0');
  fs.chownSync(theirs, 65534, 65534);
  const ww = script(dir, 'ww.sh', 'exit 0');
  fs.chmodSync(ww, 0o666);
  for (const [scriptLine, why] of [[s, new RegExp(`directory ${theirs} \\(above ${s}\\) is owned by uid 65534`)], [`/bin/sh ${ww}`, new RegExp(`file ${ww} is world-writable`)]] as const) {
    const cfg = path.join(dir, 'c.yaml');
    fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hooks:\n      - name: h\n        script: ${scriptLine}\n`);
    const r = nlmonSync(['config', 'check', '--config', cfg]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, why);
  }
}));

test('a condition that backtracks forever on a long alias neither freezes the daemon nor loses events', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  ip('-n', ns, 'link', 'add', 'r0', 'type', 'veth', 'peer', 'name', 'r1');
  await withDaemon(dir, config(ns, dir, `    hooks:
      - name: redos1
        script: /bin/true
        condition: "alias =~ '^(a+)+$'"
        async: true
      - name: redos2
        script: /bin/true
        condition: "interface =~ '^(((a+)+)+)+$' OR alias =~ '^(((a+)+)+)+$'"
        async: true
`), async () => {
    // The alias a container's root could set on its own interface: 255 bytes, almost matching.
    // (Setting an alias sends no notification: the 20 000 changes are all the events.)
    ip('-n', ns, 'link', 'set', 'r0', 'alias', `${'a'.repeat(254)}b`);
    linkburst(`/var/run/netns/${ns}`, 20000, 0, 'r0');
    const st = cliJson<StatusReport>(dir, 'status');
    assert.equal(st.hooks.total, 2, 'the control socket answers during the burst');
    let seen = 0;
    await until(() => (seen = cliJson<StatusReport>(dir, 'status').events) === 20000, 'every event received', 30000).catch((e: Error) => { throw new Error(`${e.message}: ${seen}`); });
    assert.equal(cliJson<StatusReport>(dir, 'status').overruns, 0);
  });
})));

test('a FIFO in a netns directory hangs neither the daemon nor monitor', opts, () => withTempDir(async (dir) => {
  const nsdir = path.join(dir, 'netns');
  fs.mkdirSync(nsdir);
  execaSync('mkfifo', [path.join(nsdir, 'trap')]);
  fs.writeFileSync(path.join(nsdir, 'plain'), '');
  const mon = execa(process.execPath, [NLMON, 'monitor', '--all-netns', '--netns-dir', nsdir], { reject: false, timeout: 20000, forceKillAfterDelay: 1000 });
  await sleep(1500);
  mon.kill('SIGTERM');
  const r = await mon;
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stderr, /namespace file \S+trap is not a regular file; skipped/);
  const yaml = `nlmon:\n  monitoring:\n    namespaces: all\n    netns_dirs: [${nsdir}]\n  integration:\n    hook_log: ""\n    hooks: []\n  control:\n    socket: ${dir}/nlmon.sock\n`;
  await withDaemon(dir, yaml, async (d) => {
    await sleep(1500);
    assert.deepEqual(cliJson<StatusReport>(dir, 'status').namespaces.map((n) => n.name), ['default']);
    assert.match(d.stderr(), /not a network namespace; skipped until it changes/);
    assert.equal(await d.stop(), 0);
  });
}));

test('a reload with a !!binary condition or a 1 050-deep one keeps the running config', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const yaml = config(ns, dir, '    hooks:\n      - name: h\n        script: /bin/true\n');
  await withDaemon(dir, yaml, async (d) => {
    for (const bad of ['        condition: !!binary aGVsbG8=\n', `        condition: "${'('.repeat(1050)}up${')'.repeat(1050)}"\n`]) {
      fs.writeFileSync(`${dir}/nlmon.yaml`, yaml.replace('        script: /bin/true\n', `        script: /bin/true\n${bad}`));
      const before = d.stderr().split('reload rejected').length;
      d.child.kill('SIGHUP');
      await until(() => d.stderr().split('reload rejected').length > before, 'the rejection');
      assert.equal(cli(dir, 'status').exitCode, 0, 'still running');
    }
    assert.equal(await d.stop(), 0);
  });
})));

test('300 half-sent requests on the metrics listener of a daemon limited to 256 descriptors: a new veth is still reported and its hook runs', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const port = 21000 + (process.pid % 20000);
  const s = script(dir, 'rec.sh', `echo "$NLMON_INTERFACE" >> "${dir}/ran"`);
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, config(ns, dir, `    hooks:\n      - name: rec\n        script: ${s}\n        condition: "event == link_added"\n`) + `  metrics:\n    listen: 127.0.0.1:${port}\n`);
  const d = execa('prlimit', ['--nofile=256:256', process.execPath, NLMON, 'run', '--config', cfg], { stdin: 'ignore', stdout: 'ignore', buffer: false, reject: false, forceKillAfterDelay: 5000 });
  let err = '';
  d.stderr!.setEncoding('utf8').on('data', (t: string) => { err += t; });
  const sockets: net.Socket[] = [];
  try {
    await until(() => err.includes(' hook(s)'), 'the daemon to start');
    for (let i = 0; i < 300; i++) {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => {});
      c.write('GET /metrics HTTP/1.1\r\nHost: nlmon\r\n'); // never finished
      sockets.push(c);
    }
    await sleep(500);
    ip('-n', ns, 'link', 'add', 'q0', 'type', 'veth', 'peer', 'name', 'q1');
    await until(() => lines(`${dir}/ran`).length === 2, 'the hook for both new ends');
    assert.deepEqual(lines(`${dir}/ran`).sort(), ['q0', 'q1']);
    assert.doesNotMatch(err, /EMFILE|gone; socket closed/);
    assert.equal(cliJson<StatusReport>(dir, 'status').namespaces[0]!.name, ns);
  } finally {
    for (const c of sockets) c.destroy();
    d.kill('SIGKILL');
    await d;
  }
})));

test('hooks add: no write through a planted symlink, no edit in a directory others can write, a symlinked config edited at its target', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const s = script(dir, 'rec.sh', 'exit 0');
  await withDaemon(dir, config(ns, dir, '    hooks: []\n'), async (d) => {
    // The old temp name was guessable: a symlink planted there made root overwrite its target.
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'precious\n');
    fs.symlinkSync(victim, path.join(dir, `.nlmon.yaml.nlmon-${d.child.pid}.tmp`));
    assert.equal(cli(dir, 'hooks', 'add', '--name', 'a', '--script', s).exitCode, 0);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
    assert.match(fs.readFileSync(`${dir}/nlmon.yaml`, 'utf8'), /name: a/);
    assert.ok(fs.readdirSync(dir).every((n) => !/\.nlmon-[0-9a-f]{16}\.tmp$/.test(n)), 'no temp file left');
    // A config that is a symlink: the link stays, its target changes.
    fs.mkdirSync(`${dir}/real`, { mode: 0o755 });
    fs.renameSync(`${dir}/nlmon.yaml`, `${dir}/real/nlmon.yaml`);
    fs.symlinkSync(`${dir}/real/nlmon.yaml`, `${dir}/nlmon.yaml`);
    assert.equal(cli(dir, 'hooks', 'add', '--name', 'b', '--script', s).exitCode, 0);
    assert.ok(fs.lstatSync(`${dir}/nlmon.yaml`).isSymbolicLink());
    assert.match(fs.readFileSync(`${dir}/real/nlmon.yaml`, 'utf8'), /name: b/);
    // A directory others can write: refused, nothing changed.
    fs.chmodSync(`${dir}/real`, 0o777);
    const before = fs.readFileSync(`${dir}/real/nlmon.yaml`, 'utf8');
    const r = cli(dir, 'hooks', 'add', '--name', 'c', '--script', s);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /refusing to rewrite \S+nlmon\.yaml: its directory \S+real is writable by every user/);
    assert.equal(fs.readFileSync(`${dir}/real/nlmon.yaml`, 'utf8'), before);
    fs.chmodSync(`${dir}/real`, 0o755);
  });
})));

test('the control API answers 400 to a bad %-escape and 404 to extra path segments', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  await withDaemon(dir, config(ns, dir, '    hooks:\n      - name: h\n        script: /bin/true\n'), async () => {
    const ask = (method: string, p: string) => new Promise<number>((resolve, reject) => {
      const req = http.request({ socketPath: `${dir}/nlmon.sock`, method, path: p }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.end();
    });
    assert.equal(await ask('GET', '/v1/hooks/%E0%A4%A'), 400);
    assert.equal(await ask('POST', '/v1/hooks/h/enable/extra'), 404);
    assert.equal(await ask('GET', '/v1/status/extra'), 404);
    assert.equal(await ask('POST', '/v1/hooks/h/disable'), 200);
  });
})));
