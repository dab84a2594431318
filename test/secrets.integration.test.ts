// Secrets (docs/hooks.md, "Threat model"), tried as a local user would find them: in `ps` (a
// secret given on the command line), in a config file anyone can read, in a secret file anyone
// can rewrite, and in what nlmon shows: outputs stats, hooks list, the hook log, the daemon's log
// and the unauthenticated /api/status and /api/hooks.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { cli, config, freePort, ip, needsRoot, NLMON, nlmonSync, startDaemon, until, withNetns, withTempDir } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 120000 };
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

test('hooks add takes a secret from standard input or a file, never from argv; a config holding one is written 0600', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const d = await startDaemon(dir, config(ns, dir, '    hooks: []\n'));
  const cfg = path.join(dir, 'nlmon.yaml');
  try {
    const argv = nlmonSync(['hooks', 'add', '--name', 'w', '--url', 'http://127.0.0.1:9/', '--secret', SECRET, '--socket', `${dir}/nlmon.sock`]);
    assert.equal(argv.exitCode, 2);
    assert.match(argv.stderr, /a secret on the command line is readable by every user/);
    assert.ok(!fs.readFileSync(cfg, 'utf8').includes(SECRET));
    const file = path.join(dir, 'webhook.secret');
    fs.writeFileSync(file, `${SECRET}\n`, { mode: 0o666 });
    fs.chmodSync(file, 0o666);
    const loose = nlmonSync(['hooks', 'add', '--name', 'w', '--url', 'http://127.0.0.1:9/', '--secret-file', file, '--socket', `${dir}/nlmon.sock`]);
    assert.equal(loose.exitCode, 2, loose.stderr);
    assert.match(loose.stderr, new RegExp(`secret_file ${file} is writable by every user`));
    fs.chmodSync(file, 0o600);
    const viaFile = nlmonSync(['hooks', 'add', '--name', 'w', '--url', 'http://127.0.0.1:9/', '--secret-file', file, '--socket', `${dir}/nlmon.sock`]);
    assert.equal(viaFile.exitCode, 0, viaFile.stderr);
    assert.match(fs.readFileSync(cfg, 'utf8'), new RegExp(`secret_file: ${file}`));
    assert.equal(fs.statSync(cfg).mode & 0o777, 0o644, 'no secret in the file itself: its mode is kept');
    const stdin = execaSync(process.execPath, [NLMON, 'hooks', 'add', '--name', 'w2', '--url', 'http://127.0.0.1:9/', '--secret', '-', '--socket', `${dir}/nlmon.sock`], { input: `${SECRET}\n`, reject: false });
    assert.equal(stdin.exitCode, 0, stdin.stderr);
    assert.ok(fs.readFileSync(cfg, 'utf8').includes(SECRET), 'the secret from stdin is in the config');
    assert.equal(fs.statSync(cfg).mode & 0o777, 0o600, 'which is now readable by its owner only');
  } finally {
    await d.stop();
  }
})));

test('config check refuses a secret_file or credentials_file others can write or every user can read, and warns of a readable config holding a secret', () => withTempDir(async (dir) => {
  const secret = path.join(dir, 'webhook.secret');
  fs.writeFileSync(secret, SECRET, { mode: 0o666 });
  fs.chmodSync(secret, 0o666);
  const creds = path.join(dir, 'nlmon.creds');
  fs.writeFileSync(creds, 'not read', { mode: 0o644 });
  const cfg = path.join(dir, 'nlmon.yaml');
  fs.writeFileSync(cfg, `nlmon:
  integration:
    hooks:
      - name: w
        url: http://127.0.0.1:9/
        secret_file: ${secret}
  outputs:
    - name: fleet
      type: nats
      url: nats://127.0.0.1:1
      stream: S
      subject: s
      credentials_file: ${creds}
      spool_dir: ${dir}/spool
`, { mode: 0o644 });
  const bad = nlmonSync(['config', 'check', '--config', cfg]);
  assert.equal(bad.exitCode, 2);
  assert.match(bad.stderr, new RegExp(`${cfg}:6:22: hook 'w': secret_file ${secret} is writable by every user \\(chmod 600`));
  assert.match(bad.stderr, new RegExp(`${cfg}:13:25: output 'fleet': credentials_file ${creds} is readable by every user`));
  fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hooks:\n      - name: w\n        url: http://127.0.0.1:9/\n        secret: ${SECRET}\n`);
  fs.chmodSync(cfg, 0o644);
  const warned = nlmonSync(['config', 'check', '--config', cfg]);
  assert.equal(warned.exitCode, 0, warned.stderr);
  assert.match(warned.stderr, new RegExp(`^warning: ${cfg} holds the secret of hook 'w' and is readable by every user: chmod 600`, 'm'));
  fs.chmodSync(cfg, 0o600);
  assert.equal(nlmonSync(['config', 'check', '--config', cfg]).stderr, '');
}));

test('a password in a nats URL and a token in a webhook URL\'s query are never shown: stats, lists, the hook log, the log, /api/status, /api/hooks', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const port = await freePort();
  const yaml = config(ns, dir, `    hooks:\n      - name: w\n        url: http://127.0.0.1:9/hook?token=abc123secret\n        retries: 0\n        async: true\n`).replace('  control:', `  containers:\n    enabled: false\n  outputs:\n    - name: fleet\n      type: nats\n      url: nats://bob:hunter2pass@127.0.0.1:1\n      stream: S\n      subject: nlmon.x\n      spool_dir: ${dir}/spool\n  control:`)
    + `  metrics:\n    listen: 127.0.0.1:${port}\n`;
  const d = await startDaemon(dir, yaml);
  try {
    ip('-n', ns, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'a1');
    await until(() => d.hookLog().some((l) => l.includes(' done ')), 'a webhook run');
    await until(() => JSON.parse(cli(dir, 'outputs', 'stats', '--json').stdout)[0].last_error !== '', 'the output\'s connection error');
    const seen = [
      cli(dir, 'outputs', 'stats').stdout, cli(dir, 'outputs', 'stats', '--json').stdout, cli(dir, 'status', '--json').stdout,
      cli(dir, 'hooks', 'list').stdout, cli(dir, 'hooks', 'list', '--json').stdout, d.hookLog().join('\n'), d.stderr(),
      await (await fetch(`http://127.0.0.1:${port}/api/status`)).text(), await (await fetch(`http://127.0.0.1:${port}/api/hooks`)).text(),
    ];
    for (const text of seen) {
      assert.ok(!text.includes('abc123secret') && !text.includes('hunter2pass'), `a credential shown in:\n${text}`);
    }
    assert.match(seen[0]!, /nats:\/\/bob:\*\*\*@127\.0\.0\.1:1 S nlmon\.x/);
    assert.match(seen[3]!, /http:\/\/127\.0\.0\.1:9\/hook\?token=\*\*\*/);
  } finally {
    await d.stop();
  }
})));
