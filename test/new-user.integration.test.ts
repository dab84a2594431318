// What a new user trips over (issue 24), each written as the user's command: a watch piped into
// `head`, the exit codes of a verb without its subcommand and of an unreadable config, and the
// metrics as `promtool check metrics` reads them, a deleted hook's series gone.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execa, execaSync } from 'execa';
import { NLMON, config, freePort, needsRoot, nlmonSync, script, until, withDaemon, withNetns, withTempDir } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 60000 };

test('hooks stats --watch | head -5 (and --json) ends quietly, with no escape codes into the pipe', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const ok = script(dir, 'ok.sh', 'exit 0');
  await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: a\n        script: ${ok}\n`), async () => {
    for (const json of ['', ' --json']) {
      const r = await execa('sh', ['-c', `${process.execPath} ${NLMON} hooks stats --watch --interval 100${json} --socket ${dir}/nlmon.sock | head -5`], { reject: false, timeout: 20000 });
      assert.equal(r.exitCode, 0);
      assert.equal(r.stderr, '', 'no EPIPE stack');
      assert.equal(r.stdout.split('\n').length, 5);
      assert.doesNotMatch(r.stdout, /\x1b/, 'no clear-screen into a pipe');
    }
  });
})));

test('exit codes: a verb without its subcommand is a usage error (2); help asked for is 0; an unreadable config for a daemon verb is 2', () => {
  assert.equal(nlmonSync(['hooks']).exitCode, 2);
  assert.equal(nlmonSync(['outputs']).exitCode, 2);
  assert.equal(nlmonSync([]).exitCode, 2);
  assert.equal(nlmonSync(['help', 'hooks']).exitCode, 0);
  assert.equal(nlmonSync(['hooks', '--help']).exitCode, 0);
  const r = nlmonSync(['status', '-c', '/nonexistent.yaml']);
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /^\/nonexistent.yaml:0:0: cannot read the config file: no such file/);
});

const noPromtool = execaSync('promtool', ['--version'], { reject: false }).exitCode === 0 ? false : 'promtool is not installed (Debian: prometheus)';

test('promtool check metrics passes on /metrics; a deleted hook\'s series go with it; the events metric says it counts addresses too', { ...opts, skip: needsRoot || noPromtool }, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const ok = script(dir, 'ok.sh', 'exit 0');
  const port = await freePort();
  const yaml = config(ns, dir, `    hooks:\n      - name: gone\n        script: ${ok}\n        async: true\n`) + `  metrics:\n    listen: 127.0.0.1:${port}\n`;
  await withDaemon(dir, yaml, async () => {
    const run = nlmonSync(['hooks', 'run', 'gone', '--config', `${dir}/nlmon.yaml`, '--interface', 'x']);
    assert.equal(run.exitCode, 0, run.stderr);
    // A real run through the daemon: a link in its namespace.
    execaSync('ip', ['-n', ns, 'link', 'add', 'm0', 'type', 'veth', 'peer', 'name', 'm1']);
    let body = '';
    for (let i = 0; i < 100 && !body.includes('nlmon_hook_runs_total{hook="gone"'); i++) {
      body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(body, /nlmon_hook_runs_total\{hook="gone",result="success"\}/);
    assert.match(body, /# HELP nlmon_events_total Events emitted \(link and address\)/);
    const check = await execa('promtool', ['check', 'metrics'], { input: body, reject: false });
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    assert.equal(nlmonSync(['hooks', 'delete', 'gone', '--socket', `${dir}/nlmon.sock`]).exitCode, 0);
    const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.doesNotMatch(after, /hook="gone"/);
  });
})));

test('hooks log NAME: that hook\'s last lines from the daemon\'s hook log; -f prints what is appended, across a rotation', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const ok = script(dir, 'ok.sh', 'exit 0');
  const bad = script(dir, 'bad.sh', 'echo "it broke" >&2; exit 3');
  await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: good\n        script: ${ok}\n        condition: "event == link_added"\n      - name: broken\n        script: ${bad}\n        condition: "event == link_added"\n`), async () => {
    execaSync('ip', ['-n', ns, 'link', 'add', 'l0', 'type', 'veth', 'peer', 'name', 'l1']);
    const socket = ['--socket', `${dir}/nlmon.sock`];
    await until(() => nlmonSync(['hooks', 'log', 'broken', ...socket]).stdout.split('\n').filter(Boolean).length === 6, 'two runs of broken: start, end, stderr each');
    const r = nlmonSync(['hooks', 'log', 'broken', ...socket]);
    assert.equal(r.exitCode, 0);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.every((l) => / : (started|done|stderr) broken : /.test(l)), r.stdout);
    assert.ok(lines.some((l) => l.includes('stderr broken : it broke')));
    assert.equal(nlmonSync(['hooks', 'log', 'broken', '-n', '2', ...socket]).stdout.trim().split('\n').length, 2);
    assert.equal(nlmonSync(['hooks', 'log', '-n', '1000', ...socket]).stdout.trim().split('\n').length, 10, 'all hooks: 2 runs of each, and broken\'s stderr');
    // -f: new lines as they come, and after a rotation (logrotate's rename, then SIGUSR1).
    const follow = execa(process.execPath, [NLMON, 'hooks', 'log', 'good', '-f', '-n', '0', ...socket], { reject: false });
    let seen = '';
    follow.stdout!.on('data', (b: Buffer) => { seen += b.toString(); });
    await new Promise((res) => setTimeout(res, 500));
    execaSync('ip', ['-n', ns, 'link', 'add', 'l2', 'type', 'veth', 'peer', 'name', 'l3']);
    await until(() => (seen.match(/done good/g) ?? []).length === 2, 'two new runs of good, followed');
    fs.renameSync(`${dir}/hook.log`, `${dir}/hook.log.1`);
    execaSync('pkill', ['-USR1', '-f', `run --config ${dir}/nlmon.yaml`]);
    await new Promise((res) => setTimeout(res, 300));
    execaSync('ip', ['-n', ns, 'link', 'add', 'l4', 'type', 'veth', 'peer', 'name', 'l5']);
    await until(() => (seen.match(/done good/g) ?? []).length === 4, 'the runs after the rotation, followed');
    assert.doesNotMatch(seen, /broken/);
    follow.kill('SIGINT');
    assert.equal((await follow).exitCode, 0);
  });
})));

test('completion: the bash script completes verbs, subverbs and options from the command tree; --names lists the running daemon\'s hooks; zsh and fish scripts are made', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const bin = `${dir}/bin`;
  fs.mkdirSync(bin);
  fs.symlinkSync(NLMON, `${bin}/nlmon`);
  const complete = (words: string) => {
    const script = `eval "$(nlmon completion bash)"; read -ra COMP_WORDS <<< "$W"; [[ "$W" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _nlmon; echo "\${COMPREPLY[*]}"`;
    return execaSync('bash', ['-c', script], { env: { PATH: `${bin}:${process.env.PATH}`, W: words } }).stdout;
  };
  assert.equal(complete('nlmon ho'), 'hooks');
  assert.equal(complete('nlmon hooks en'), 'enable');
  assert.equal(complete('nlmon monitor --js'), '--json');
  assert.equal(complete('nlmon monitor --netns x --co'), '--count --color');
  assert.equal(complete('nlmon replay --r'), '--run');
  const ok = script(dir, 'ok.sh', 'exit 0');
  await withDaemon(dir, config(ns, dir, `    hooks:\n      - name: alpha\n        script: ${ok}\n      - name: beta\n        script: ${ok}\n`), async () => {
    assert.equal(nlmonSync(['completion', '--names', 'hooks', '--socket', `${dir}/nlmon.sock`]).stdout, 'alpha\nbeta\n');
  });
  assert.equal(nlmonSync(['completion', '--names', 'hooks', '--socket', `${dir}/none.sock`]).stdout, '', 'no daemon: nothing');
  assert.match(nlmonSync(['completion', 'zsh']).stdout, /bashcompinit[\s\S]*complete -F _nlmon nlmon/);
  assert.match(nlmonSync(['completion', 'fish']).stdout, /^complete -c nlmon -n '__fish_use_subcommand' -a hooks$/m);
  assert.equal(nlmonSync(['completion', 'tcsh']).exitCode, 2);
})));
