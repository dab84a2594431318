// Drop-in hook files (`integration.include`, docs/config.md): each a list of hooks checked like
// the main file's; a broken or unsafe one is reported at its line and left out, and the others
// load; SIGHUP reads them again; their hooks cannot be deleted through the daemon.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { config, ip, needsRoot, nlmonSync, script, until, withDaemon, withNetns, withTempDir } from './helpers/index.js';

test('config check: good drop-ins load, a broken one is named at its line and column, an unsafe one and a duplicate name are refused; exit 2', () => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const d = path.join(dir, 'hooks.d');
  fs.mkdirSync(d, { mode: 0o755 });
  const ok = script(dir, 'ok.sh', 'exit 0');
  fs.writeFileSync(path.join(d, '10-a.yaml'), `- name: a\n  script: ${ok}\n  condition: "event == link_added"\n`);
  fs.writeFileSync(path.join(d, '20-b.yaml'), `# two hooks\n- name: b1\n  script: ${ok}\n- name: b2\n  url: http://127.0.0.1:1/x\n  async: true\n`);
  fs.writeFileSync(path.join(d, '30-broken.yaml'), `- name: c\n  script: ${ok}\n  conditon: "event == link_added"\n`);
  fs.writeFileSync(path.join(d, '40-dup.yaml'), `- name: main\n  script: ${ok}\n`);
  fs.writeFileSync(path.join(d, '50-open.yaml'), `- name: e\n  script: ${ok}\n`, { mode: 0o666 });
  fs.chmodSync(path.join(d, '50-open.yaml'), 0o666);
  fs.writeFileSync(path.join(d, 'ignored.txt'), 'not yaml');
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hook_log: ""\n    include: [hooks.d/*.yaml]\n    hooks:\n      - name: main\n        script: ${ok}\n`);
  const r = nlmonSync(['config', 'check', '--config', cfg]);
  assert.equal(r.exitCode, 2, r.stdout + r.stderr);
  const errors = r.stderr.trim().split('\n');
  assert.equal(errors.length, 3, r.stderr);
  assert.match(errors[0]!, new RegExp(`^${d}/30-broken.yaml:3:3: unknown key 'conditon' in a hook .*did you mean 'condition'`));
  assert.match(errors[1]!, new RegExp(`^${d}/40-dup.yaml:1:9: duplicate hook name 'main' \\(first defined at ${cfg}:6\\)`));
  assert.match(errors[2]!, new RegExp(`^${d}/50-open.yaml:0:0: file ${d}/50-open.yaml is world-writable`));
  assert.equal(r.stdout, `${cfg}: 3 drop-in file(s) not loaded (4 hook(s), 5 drop-in file(s))\n`);
}));

test('the daemon: drop-in hooks run, a broken drop-in is logged and left out, SIGHUP reads them again, and they cannot be deleted through the daemon', { skip: needsRoot, timeout: 60000 }, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const d = path.join(dir, 'hooks.d');
  fs.mkdirSync(d, { mode: 0o755 });
  const rec = script(dir, 'rec.sh', `echo "$NLMON_HOOK $NLMON_INTERFACE" >> ${dir}/ran`);
  fs.writeFileSync(path.join(d, 'a.yaml'), `- name: from-a\n  script: ${rec}\n  async: true\n  condition: "event == link_added AND kind == 'veth'"\n`);
  fs.writeFileSync(path.join(d, 'b.yaml'), `- name: from-b\n  script: ${rec}\n  bogus: 1\n`);
  await withDaemon(dir, config(ns, dir, `    include: [${d}/*.yaml]\n    hooks: []`), async (dm) => {
    assert.match(dm.stderr(), new RegExp(`include: ${d}/b.yaml:3:3: unknown key 'bogus'.*; that file's hooks are not loaded`));
    ip('-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    await until(() => fs.existsSync(`${dir}/ran`) && fs.readFileSync(`${dir}/ran`, 'utf8').split('\n').filter(Boolean).length === 2, 'from-a ran for both ends');
    // b fixed, a new drop-in c, then a reload.
    fs.writeFileSync(path.join(d, 'b.yaml'), `- name: from-b\n  script: ${rec}\n  async: true\n  condition: "event == link_removed AND interface == 'v0'"\n`);
    fs.writeFileSync(path.join(d, 'c.yaml'), `[]\n`);
    dm.child.kill('SIGHUP');
    await until(() => dm.stderr().includes('reloaded'), 'the reload');
    const names = (JSON.parse(nlmonSync(['hooks', 'list', '--json', '--socket', `${dir}/nlmon.sock`]).stdout) as Array<{ name: string }>).map((h) => h.name);
    assert.deepEqual(names, ['from-a', 'from-b']);
    ip('-n', ns, 'link', 'del', 'v0');
    await until(() => fs.readFileSync(`${dir}/ran`, 'utf8').includes('from-b v0'), 'from-b ran');
    const del = nlmonSync(['hooks', 'delete', 'from-a', '--socket', `${dir}/nlmon.sock`]);
    assert.equal(del.exitCode, 2);
    assert.match(del.stderr, new RegExp(`hook 'from-a' is defined in the drop-in file ${d}/a.yaml: remove it there, then reload`));
  });
})));
