// Module handlers as an attacker or a buggy handler would use them (docs/hooks.md, "Threat
// model"): a root-owned module that imports a file from a directory a user owns, statically,
// dynamically or with require(); a handler that eats memory, prints in a loop, dies over and
// over, or blocks in a system call past its timeout. The user's code must never run, and the
// daemon's memory, output and threads must stay bounded.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { ModuleRunner } from '../src/hooks/module-runner.js';
import { checkModule, checkScript, recheckFiles, recheckFilesSync } from '../src/hooks/script-check.js';
import { syntheticEvent } from '../src/event/make.js';
import { needsRoot, nlmonSync, sleep, withTempDir } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 120000 };
const ev = (iface = 'x') => syntheticEvent(iface, 'blue');

/** dir (0755) with a root-owned module directory and a directory uid 65534 owns. */
function scene(dir: string): { mods: string; user: string; pwned: string } {
  fs.chmodSync(dir, 0o755);
  const mods = path.join(dir, 'mods');
  fs.mkdirSync(mods, { mode: 0o755 });
  const user = path.join(dir, 'user');
  fs.mkdirSync(user, { mode: 0o755 });
  fs.chownSync(user, 65534, 65534);
  const pwned = path.join(dir, 'pwned');
  // The user's files, as the user would write them in the directory it owns.
  fs.writeFileSync(`${user}/evil.mjs`, `import fs from 'node:fs';\nfs.writeFileSync(${JSON.stringify(pwned)}, 'esm');\nexport const x = 1;\n`);
  fs.writeFileSync(`${user}/evil.cjs`, `require('node:fs').writeFileSync(${JSON.stringify(pwned)}, 'cjs');\n`);
  for (const f of ['evil.mjs', 'evil.cjs']) fs.chownSync(`${user}/${f}`, 65534, 65534);
  return { mods, user, pwned };
}

test('every file a module loads is checked like a script: a user\'s file imported statically, dynamically or required never runs', opts, () => withTempDir(async (dir) => {
  const { mods, user, pwned } = scene(dir);
  const stat = path.join(mods, 'static.mjs');
  fs.writeFileSync(stat, `import '${user}/evil.mjs';\nexport default function () {}\n`);
  const cfg = path.join(dir, 'c.yaml');
  fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hooks:\n      - name: m\n        module: ${stat}\n`);
  const check = nlmonSync(['config', 'check', '--config', cfg]);
  assert.equal(check.exitCode, 2);
  assert.match(check.stderr, new RegExp(`refusing to load ${user}/evil\\.mjs: file ${user}/evil\\.mjs is owned by uid 65534`));
  assert.equal(fs.existsSync(pwned), false, 'config check did not run the user\'s code');
  const dyn = path.join(mods, 'dynamic.mjs');
  fs.writeFileSync(dyn, `import { createRequire } from 'node:module';\nexport default async function (e) {\n  if (e.interface === 'cjs') createRequire(import.meta.url)('${user}/evil.cjs');\n  else await import('${user}/evil.mjs');\n}\n`);
  const checked = checkModule(dyn, false);
  assert.ok('files' in checked, 'its own imports are fine at load');
  const runner = new ModuleRunner();
  try {
    const hook = { name: 'd', module: dyn, timeout_ms: 5000, files: checked.files, max_heap_mb: 64 };
    const esm = await runner.run(hook, ev('esm'));
    assert.equal(esm.outcome, 'failure');
    assert.match(esm.error, new RegExp(`refusing to load ${user}/evil\\.mjs`));
    const cjs = await runner.run(hook, ev('cjs'));
    assert.equal(cjs.outcome, 'failure');
    assert.match(cjs.error, new RegExp(`refusing to load ${user}/evil\\.cjs`));
  } finally {
    runner.reset();
  }
  assert.equal(fs.existsSync(pwned), false, 'the user\'s code never ran');
}));

test('a module made writable or replaced after load is refused at its next run by its worker, before its handler runs', opts, () => withTempDir(async (dir) => {
  const { mods, pwned } = scene(dir);
  const file = path.join(mods, 'm.mjs');
  fs.writeFileSync(file, `import fs from 'node:fs';\nexport default function (e) { fs.appendFileSync(${JSON.stringify(pwned)}, e.interface + '\\n'); }\n`, { mode: 0o644 });
  const checked = checkModule(file, false);
  assert.ok('files' in checked);
  const runner = new ModuleRunner();
  const runs = () => (fs.existsSync(pwned) ? fs.readFileSync(pwned, 'utf8').split('\n').filter(Boolean) : []);
  try {
    const hook = { name: 'm', module: file, timeout_ms: 5000, files: checked.files, max_heap_mb: 64 };
    assert.equal((await runner.run(hook, ev('first'))).outcome, 'success');
    fs.chmodSync(file, 0o666);
    await sleep(5); // past the worker's last check
    // One after another: each goes to the worker that ran the first (two at once may start a
    // second worker, whose loader refuses the file before the check would).
    for (const r of [await runner.run(hook, ev('w1')), await runner.run(hook, ev('w2'))]) {
      assert.equal(r.outcome, 'failure');
      assert.match(r.error, new RegExp(`^refused: file ${file} is world-writable`));
    }
    fs.chmodSync(file, 0o644);
    await sleep(5);
    assert.equal((await runner.run(hook, ev('again'))).outcome, 'success', 'safe again: it runs (it is still the file loaded)');
    const other = path.join(mods, 'other.mjs');
    fs.writeFileSync(other, 'export default function () {}\n', { mode: 0o644 });
    fs.renameSync(other, file);
    await sleep(5);
    const replaced = await runner.run(hook, ev('replaced'));
    assert.equal(replaced.outcome, 'failure');
    assert.match(replaced.error, /^refused: \S+m\.mjs was replaced since the config was loaded/);
    assert.deepEqual(runs(), ['first', 'again'], 'the handler ran only while its file was safe');
  } finally {
    runner.reset();
  }
}));

test('the runs of a hook that ask while a check of its files is under way share it; a later run gets a fresh one', opts, () => withTempDir(async (dir) => {
  const { mods, user } = scene(dir);
  const file = path.join(mods, 'h.sh');
  fs.writeFileSync(file, '#!/bin/sh\n', { mode: 0o755 });
  const checked = checkScript([file], false);
  assert.ok('files' in checked);
  const first = recheckFiles(checked.files);
  assert.equal(recheckFiles(checked.files), first, 'asked in the same turn: the same check');
  assert.equal(await first, undefined);
  fs.chmodSync(mods, 0o777);
  const second = recheckFiles(checked.files);
  assert.notEqual(second, first, 'asked after the first ended: a check of its own');
  assert.match((await second) ?? '', new RegExp(`^directory ${mods} \\(above ${file}\\) is world-writable`));
  fs.chmodSync(mods, 0o755);
  fs.renameSync(file, path.join(user, 'h.sh'));
  fs.symlinkSync(path.join(user, 'h.sh'), file);
  assert.match((await recheckFiles(checked.files)) ?? '', new RegExp(`^${file} was replaced since the config was loaded \\(now ${user}/h\\.sh, inode \\d+\\)`));
  assert.equal(recheckFilesSync(checked.files), await recheckFiles(checked.files), 'the worker\'s blocking check says the same');
}));

test('a handler that eats memory dies alone at max_heap_mb; one that prints in a loop is logged a little', opts, () => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'm.mjs');
  fs.writeFileSync(file, `const keep = [];\nexport default function (e) {\n  if (e.interface === 'eat') for (;;) keep.push(new Array(1e5).fill(e));\n  if (e.interface === 'print') for (let i = 0; i < 100000; i++) console.log('line', i);\n}\n`);
  const logged: string[] = [];
  const runner = new ModuleRunner((_h, line) => logged.push(line));
  try {
    const hook = { name: 'm', module: file, timeout_ms: 30000, files: (checkModule(file, false) as { files: never[] }).files, max_heap_mb: 32 };
    const eat = await runner.run(hook, ev('eat'));
    assert.equal(eat.outcome, 'failure');
    assert.match(eat.error, /memory/i);
    const print = await runner.run(hook, ev('print'));
    assert.equal(print.outcome, 'success');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(logged.length <= 40, `${logged.length} lines logged of 100 000 printed`);
    assert.match(logged.join('\n'), /stdout: line 0/);
  } finally {
    runner.reset();
  }
}));

test('a handler whose workers keep dying is disabled; workers stuck in a system call past their timeout are bounded', opts, () => withTempDir(async (dir) => {
  fs.chmodSync(dir, 0o755);
  const fifo = path.join(dir, 'fifo');
  execaSync('mkfifo', [fifo]);
  const file = path.join(dir, 'm.mjs');
  fs.writeFileSync(file, `import fs from 'node:fs';\nexport default function (e) {\n  if (e.interface === 'die') process.exit(3);\n  if (e.interface === 'block') fs.readFileSync(${JSON.stringify(fifo)});\n}\n`);
  const files = (checkModule(file, false) as { files: never[] }).files;
  const runner = new ModuleRunner();
  try {
    const dying = { name: 'dying', module: file, timeout_ms: 5000, files, max_heap_mb: 64 };
    const deaths = [];
    for (let i = 0; i < 6; i++) deaths.push(await runner.run(dying, ev('die')));
    assert.ok(deaths.slice(0, 5).every((r) => r.outcome === 'failure'));
    assert.match(deaths[5]!.error, /^disabled: its workers died 5 times in 60 s/);
    assert.match((await runner.run(dying, ev('fine'))).error, /^disabled/, 'until a reload');
    const blocking = { name: 'blocking', module: file, timeout_ms: 300, files, max_heap_mb: 64 };
    const stuck = [];
    for (let i = 0; i < 4; i++) stuck.push(await runner.run(blocking, ev('block')));
    assert.ok(stuck.every((r) => r.outcome === 'timeout'));
    const refused = await runner.run(blocking, ev('fine'));
    assert.equal(refused.outcome, 'failure');
    assert.match(refused.error, /4 workers of hook blocking were terminated and have not exited/);
  } finally {
    // Let the blocked reads end, so the workers can exit.
    for (let i = 0; i < 4; i++) {
      try {
        const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
        fs.closeSync(fd);
      } catch {
        // no reader left
      }
    }
    runner.reset();
  }
}));
