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

const noShell = (shell: string) => (execaSync(shell, ['-c', 'true'], { reject: false }).exitCode === 0 ? false : `${shell} is not installed (Debian: ${shell})`);

/** What each shell's completion script offers for a command line, as its shell runs it (a
 * line ending in a space completes a new word), the offers sorted and joined by spaces. The
 * `nlmon` on PATH is the one under test. */
const completers = (dir: string) => {
  const bin = `${dir}/bin`;
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(`${bin}/nlmon`, `#!/bin/sh\nexec ${process.execPath} ${NLMON} "$@"\n`, { mode: 0o755 });
  const run = (shell: string, script: string, words: string) =>
    execaSync(shell, shell === 'zsh' ? ['-f', '-c', script] : ['-c', script], { env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir, W: words } }).stdout.split(/\s+/).filter(Boolean).sort().join(' ');
  return {
    bash: (words: string) => run('bash', `eval "$(nlmon completion bash)"; read -ra COMP_WORDS <<< "$W"; [[ "$W" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _nlmon; echo "\${COMPREPLY[*]}"`, words),
    // zsh's own _bash_complete, as a Tab calls it, with compadd (a builtin only inside a Tab)
    // doing what it does there: keep the offers that start with the word typed.
    zsh: (words: string) => run('zsh', `autoload -U compinit && compinit -u -D; eval "$(nlmon completion zsh)"
compadd() { local -a m; while (( $# )); do case $1 in -a) m+=(\${(P)2}); shift 2;; -) shift; m+=("$@"); break;; *) shift;; esac; done; local a; for a in $m; do [[ $a == \${words[CURRENT]}* && -n \${a// } ]] && print -r -- "$a"; done; }
words=(\${(z)W}); [[ $W == *' ' ]] && words+=(''); CURRENT=\${#words}; _bash_complete -F _nlmon`, words),
    fish: (words: string) => run('fish', 'nlmon completion fish | source; complete -C "$W"', words),
  };
};

/** A daemon's config with two hooks, alpha and beta. */
const twoHooks = (ns: string, dir: string) => {
  const ok = script(dir, 'ok.sh', 'exit 0');
  return config(ns, dir, `    hooks:\n      - name: alpha\n        script: ${ok}\n      - name: beta\n        script: ${ok}\n`);
};

test('completion --names lists the running daemon\'s hooks, and nothing when none answers; an unknown shell is a usage error', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  await withDaemon(dir, twoHooks(ns, dir), async () => {
    assert.equal(nlmonSync(['completion', '--names', 'hooks', '--socket', `${dir}/nlmon.sock`]).stdout, 'alpha\nbeta\n');
  });
  assert.equal(nlmonSync(['completion', '--names', 'hooks', '--socket', `${dir}/none.sock`]).stdout, '', 'no daemon: nothing');
  assert.equal(nlmonSync(['completion', 'tcsh']).exitCode, 2);
})));

for (const shell of ['bash', 'zsh', 'fish'] as const) {
  test(`completion in ${shell}, run by ${shell} itself: verbs, subverbs (not offered again after one), options, and the hooks of the daemon the line names`, { ...opts, skip: needsRoot || (shell !== 'bash' && noShell(shell)) }, () => withNetns(1, (ns) => withTempDir(async (dir) => {
    const complete = completers(dir)[shell];
    assert.equal(complete('nlmon ho'), 'hooks');
    assert.equal(complete('nlmon hooks en'), 'enable');
    assert.equal(complete('nlmon monitor --js'), '--json');
    assert.equal(complete('nlmon monitor --netns x --co'), '--color --count');
    assert.equal(complete('nlmon replay --r'), '--run');
    assert.equal(complete('nlmon outputs '), 'stats');
    await withDaemon(dir, twoHooks(ns, dir), async () => {
      // The hooks' names of the daemon the line names (by its socket, by its config), and (in
      // bash and zsh, which offer options without a dash typed) the verb's options; never the
      // hooks verbs again.
      const names = (line: string) => complete(line).split(' ').filter((w) => w && !w.startsWith('-'));
      assert.deepEqual(names(`nlmon hooks stats --socket ${dir}/nlmon.sock `), ['alpha', 'beta']);
      assert.deepEqual(names(`nlmon hooks -c ${dir}/nlmon.yaml enable `), ['alpha', 'beta']);
      assert.deepEqual(names('nlmon hooks disable -c ~/nlmon.yaml '), ['alpha', 'beta'], 'a config under ~');
      assert.deepEqual(names(`nlmon hooks log --socket=${dir}/nlmon.sock `), ['alpha', 'beta']);
      assert.deepEqual(names(`nlmon hooks stats --socket ${dir}/none.sock `), [], 'no daemon there: no names');
    });
  })));
}
