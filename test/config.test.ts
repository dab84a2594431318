// `nlmon config check` on malformed configs: each mistake at its FILE:LINE:COL.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../src/daemon/config-file.js';
import { ROOT, nlmonSync } from './helpers/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlmon-config-'));
const safe = path.join(dir, 'ok.sh');
fs.writeFileSync(safe, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
fs.chmodSync(safe, 0o755);
const worldWritable = path.join(dir, 'ww.sh');
fs.writeFileSync(worldWritable, '#!/bin/sh\nexit 0\n');
fs.chmodSync(worldWritable, 0o777);
const groupWritable = path.join(dir, 'gw.sh');
fs.writeFileSync(groupWritable, '#!/bin/sh\nexit 0\n');
fs.chmodSync(groupWritable, 0o775);
const open = path.join(dir, 'token');
fs.writeFileSync(open, 't0ken\n');
fs.chmodSync(open, 0o644);
const notExec = path.join(dir, 'noexec.sh');
fs.writeFileSync(notExec, '#!/bin/sh\nexit 0\n');
fs.chmodSync(notExec, 0o644);
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const hooks = (body: string) => `nlmon:\n  integration:\n    hooks:\n${body}`;

// [what, yaml, line, col, message]
const CASES: Array<[string, string, number, number, RegExp]> = [
  ['YAML syntax', 'nlmon:\n  monitoring: [a\n', 3, 1, /YAML/],
  ['tab indentation', 'nlmon:\n\tmonitoring: {}\n', 2, 1, /YAML/],
  ['not a mapping', '- a\n- b\n', 1, 1, /must be a mapping with the key 'nlmon'/],
  ['unknown top-level key', 'nlmon: {}\nextra: 1\n', 2, 1, /unknown key 'extra' in the top level/],
  ['unknown section', 'nlmon:\n  monitor: {}\n', 2, 3, /unknown key 'monitor' in nlmon/],
  ['unknown monitoring key', 'nlmon:\n  monitoring:\n    namespace: [default]\n', 3, 5, /unknown key 'namespace'.*known: namespaces/],
  ['namespaces as a bad word', 'nlmon:\n  monitoring:\n    namespaces: some\n', 3, 17, /namespaces must be 'all' or a list/],
  ['empty namespaces', 'nlmon:\n  monitoring:\n    namespaces: []\n', 3, 17, /must not be empty/],
  ['receive_buffer as a string', 'nlmon:\n  monitoring:\n    receive_buffer: big\n', 3, 21, /receive_buffer must be an integer, not a string/],
  ['receive_buffer too small', 'nlmon:\n  monitoring:\n    receive_buffer: 10\n', 3, 21, /at least 4096/],
  ['an unknown intake', 'nlmon:\n  monitoring:\n    intake: setns\n', 3, 13, /intake must be one of auto, per_namespace, shared, not 'setns'/],
  ['list_existing not a boolean', 'nlmon:\n  monitoring:\n    list_existing: "yes"\n', 3, 20, /list_existing must be true or false/],
  ['relative netns dir', 'nlmon:\n  monitoring:\n    netns_dirs: [run/netns]\n', 3, 17, /not an absolute path/],
  ['max_concurrent zero', 'nlmon:\n  integration:\n    max_concurrent: 0\n', 3, 21, /max_concurrent must be at least 1/],
  ['queue_limit float', 'nlmon:\n  integration:\n    queue_limit: 1.5\n', 3, 18, /queue_limit must be an integer/],
  ['hooks not a list', 'nlmon:\n  integration:\n    hooks: {a: 1}\n', 3, 12, /hooks must be a list/],
  ['hook without name', hooks(`      - script: ${safe}\n`), 4, 9, /a hook needs a name/],
  ['hook without an action', hooks('      - name: a\n'), 4, 9, /hook 'a' needs one action: script, url or module/],
  ['hook with two actions', hooks(`      - name: a\n        script: ${safe}\n        url: http://127.0.0.1:1/\n`), 6, 9, /exactly one action/],
  ['debounce_ms on a sync hook', hooks('      - name: a\n        script: /bin/true\n        debounce_ms: 100\n'), 6, 9, /debounce_ms needs async: true/],
  ['max_delay_ms without debounce_ms', hooks('      - name: a\n        script: /bin/true\n        async: true\n        max_delay_ms: 100\n'), 7, 9, /max_delay_ms needs debounce_ms/],
  ['max_delay_ms under debounce_ms', hooks('      - name: a\n        script: /bin/true\n        async: true\n        debounce_ms: 500\n        max_delay_ms: 100\n'), 8, 23, /max_delay_ms \(100\) must be at least debounce_ms \(500\)/],
  ['burst without min_interval_ms', hooks('      - name: a\n        script: /bin/true\n        async: true\n        burst: 3\n'), 7, 9, /burst needs min_interval_ms/],
  ['retries on a module hook', hooks('      - name: a\n        module: /nonexistent.mjs\n        retries: 2\n'), 6, 9, /module hooks are not retried \(retries is for script and url hooks\)/],
  ['retry_on out of range', hooks('      - name: a\n        script: /bin/true\n        retries: 2\n        retry_on: [75, 300]\n'), 7, 24, /retry_on: each item must be an integer from 1 to 255, not 300/],
  ['url that is not http', hooks('      - name: a\n        url: ftp://x/\n'), 5, 14, /must be http:\/\/ or https:\/\//],
  ['url with credentials', hooks('      - name: a\n        url: http://u:p@127.0.0.1:1/\n'), 5, 14, /credentials in headers/],
  ['secret not whsec_', hooks('      - name: a\n        url: http://127.0.0.1:1/\n        secret: "not base64!"\n'), 6, 17, /whsec_/],
  ['key of another action', hooks('      - name: a\n        url: http://127.0.0.1:1/\n        args: [x]\n'), 6, 9, /args is for script hooks, not url hooks/],
  ['header set by nlmon', hooks('      - name: a\n        url: http://127.0.0.1:1/\n        headers: {Content-Type: text/plain}\n'), 6, 19, /Content-Type is set by nlmon/],
  ['module that is not there', hooks('      - name: a\n        module: /nonexistent/m.mjs\n'), 5, 17, /module \/nonexistent\/m\.mjs does not exist/],
  ['unknown hook key', hooks(`      - name: a\n        script: ${safe}\n        timeout: 5\n`), 6, 9, /unknown key 'timeout' in a hook/],
  ['duplicate hook name', hooks(`      - name: a\n        script: ${safe}\n      - name: a\n        script: ${safe}\n`), 6, 15, /duplicate hook name 'a' \(first defined on line 4\)/],
  ['bad condition column', hooks(`      - name: a\n        script: ${safe}\n        condition: "mtu == 1 AND (up"\n`), 6, 37, /missing '\)'/],
  ['unknown field in condition', hooks(`      - name: a\n        script: ${safe}\n        condition: frob == 1\n`), 6, 20, /unknown field 'frob'/],
  ['missing script', hooks(`      - name: a\n        script: ${dir}/nope.sh\n`), 5, 17, new RegExp(`${dir}/nope.sh does not exist|not found`)],
  ['world-writable script', hooks(`      - name: a\n        script: ${worldWritable}\n`), 5, 17, new RegExp(`script ${worldWritable} is world-writable`)],
  ['group-writable script', hooks(`      - name: a\n        script: ${groupWritable} --flag\n`), 5, 17, /is group-writable/],
  ['not executable', hooks(`      - name: a\n        script: ${notExec}\n`), 5, 17, /is not executable/],
  ['unterminated quote in script', hooks(`      - name: a\n        script: "${safe} 'x"\n`), 5, 17, /unterminated ' quote/],
  ['timeout_ms negative', hooks(`      - name: a\n        script: ${safe}\n        timeout_ms: -5\n`), 6, 21, /timeout_ms must be at least 1/],
  ['env value a list', hooks(`      - name: a\n        script: ${safe}\n        env: {A: [1]}\n`), 6, 18, /env: A must be a string/],
  ['env NLMON_ variable', hooks(`      - name: a\n        script: ${safe}\n        env: {NLMON_HOOK: x}\n`), 6, 15, /set by nlmon/],
  ['bad metrics listen', 'nlmon:\n  metrics:\n    listen: localhost\n', 3, 13, /HOST:PORT/],
  ['metrics port out of range', 'nlmon:\n  metrics:\n    listen: 127.0.0.1:99999\n', 3, 13, /port 99999 is out of range/],
  ['metrics port 0', 'nlmon:\n  metrics:\n    listen: "127.0.0.1:0"\n', 3, 13, /port 0 is out of range/],
  ['metrics bad IPv4', 'nlmon:\n  metrics:\n    listen: 300.1.2.3:9470\n', 3, 13, /not an IPv4 address/],
  ['metrics bad host', 'nlmon:\n  metrics:\n    listen: "a_b:9470"\n', 3, 13, /not a host name or address/],
  ['relative control socket', 'nlmon:\n  control:\n    socket: nlmon.sock\n', 3, 13, /absolute path/],
  // Values that crashed a reload or were misread silently.
  ['binary condition', hooks(`      - name: a\n        script: ${safe}\n        condition: !!binary aGVsbG8=\n`), 6, 29, /condition must be a string, not a !!binary value/],
  ['binary hook_log', 'nlmon:\n  integration:\n    hook_log: !!binary aGVsbG8=\n', 3, 24, /hook_log must be a string, not a !!binary value/],
  ['binary socket', 'nlmon:\n  control:\n    socket: !!binary aGVsbG8=\n', 3, 22, /socket must be a string, not a !!binary value/],
  ['condition alias', hooks(`      - name: a\n        script: ${safe}\n        condition: &c "up"\n      - name: b\n        script: ${safe}\n        condition: *c\n`), 9, 20, /condition must be a string, not an alias/],
  ['script alias', hooks(`      - name: a\n        script: &s ${safe}\n      - name: b\n        script: *s\n`), 7, 17, /script must be a string, not an alias/],
  ['name alias', hooks(`      - name: &n a\n        script: ${safe}\n      - name: *n\n        script: ${safe}\n`), 6, 15, /name must be a string, not an alias/],
  ['env alias', hooks(`      - name: a\n        script: &s ${safe}\n        env: {SITE: *s}\n`), 6, 21, /env: SITE must be a string, not an alias/],
  ['YAML 1.1 date condition', `%YAML 1.1\n---\n${hooks(`      - name: a\n        script: ${safe}\n        condition: 2001-12-14\n`)}`, 8, 20, /condition must be a string, not a date \(YAML 1.1 reads this as a date: quote it\)/],
  ['condition nested too deeply', hooks(`      - name: a\n        script: ${safe}\n        condition: "${'('.repeat(1050)}up${')'.repeat(1050)}"\n`), 6, 277, /nested too deeply/],
  ['NOT chain too long', hooks(`      - name: a\n        script: ${safe}\n        condition: "${'NOT '.repeat(8600)}up"\n`), 6, 1045, /nested too deeply/],
  ['timeout_ms 2^31', hooks(`      - name: a\n        script: ${safe}\n        timeout_ms: 2147483648\n`), 6, 21, /timeout_ms must be at most 86400000 \(24 hours\)/],
  ['timeout_ms 1e300', hooks(`      - name: a\n        script: ${safe}\n        timeout_ms: 1e300\n`), 6, 21, /timeout_ms must be an integer/],
  ['socket path too long', `nlmon:\n  control:\n    socket: /run/${'x'.repeat(110)}.sock\n`, 3, 13, /holds at most 107/],
  ['hook_log under /proc', 'nlmon:\n  integration:\n    hook_log: /proc/self/x/hook.log\n', 3, 15, /must not be under \/proc, \/sys or \/dev/],
  // nats outputs
  ['nats without url', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      stream: S\n      subject: a.b\n', 3, 7, /needs a url/],
  ['nats bad url', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: http://x:4222\n      stream: S\n      subject: a.b\n', 5, 12, /'http:\/\/x:4222' is not a server URL/],
  ['nats stream with a dot', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      stream: a.b\n      subject: a.b\n', 6, 15, /stream 'a.b' must be a name without/],
  ['nats subject wildcard', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      stream: S\n      subject: a.>\n', 7, 16, /must not contain white space, \* or >/],
  ['nats subject unknown placeholder', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      stream: S\n      subject: a.{pod}\n', 7, 16, /only the placeholders \{host\}, \{namespace\} and \{event\}/],
  ['nats subject empty token', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      stream: S\n      subject: a..b\n', 7, 16, /empty token/],
  ['nats token_file readable by all', `nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      token_file: ${open}\n      stream: S\n      subject: a\n`, 6, 19, /token_file .* is readable by every user/],
  ['nats token and credentials', `nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      token: t\n      credentials_file: ${safe}\n      stream: S\n      subject: a\n`, 7, 7, /token and credentials_file are ways to log in: give one/],
  ['nats missing credentials file', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      credentials_file: /nonexistent/x.creds\n      stream: S\n      subject: a\n', 6, 25, /no such file/],
  ['nats spool_limit too small', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      stream: S\n      subject: a\n      spool_limit: 1000\n', 8, 20, /spool_limit must be at least 65536/],
  ['path on a nats output', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      stream: S\n      subject: a\n      path: /tmp/x\n', 8, 7, /path is not a key of a nats output/],
  ['two outputs one spool', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: nats://127.0.0.1:4222\n      stream: S\n      subject: a\n      spool_dir: /tmp/sp\n    - name: g\n      type: nats\n      url: nats://127.0.0.1:4222\n      stream: S\n      subject: b\n      spool_dir: /tmp/sp\n', 14, 18, /is also another output's/],
  ['tls unknown key', 'nlmon:\n  outputs:\n    - name: f\n      type: nats\n      url: tls://127.0.0.1:4222\n      tls: {ca2: x}\n      stream: S\n      subject: a\n', 6, 13, /unknown key 'ca2'/],
  ['socket under /sys', 'nlmon:\n  control:\n    socket: /sys/kernel/nlmon.sock\n', 3, 13, /must not be under/],
];

test(`config check reports ${CASES.length} kinds of mistake at their line and column`, () => {
  for (const [what, yaml, line, col, re] of CASES) {
    const file = path.join(dir, `${what.replace(/\W+/g, '-')}.yaml`);
    fs.writeFileSync(file, yaml);
    let err: unknown;
    try { loadConfigFile(file); } catch (e) { err = e; }
    assert.ok(err instanceof ConfigError, `${what}: expected an error`);
    const issue = err.issues.find((i) => re.test(i.message));
    assert.ok(issue, `${what}: no issue matches ${re}: ${err.message}`);
    assert.equal(`${issue.file}:${issue.line}:${issue.col}`, `${file}:${line}:${col}`, `${what}: ${issue.message}`);
  }
});

test('every mistake is reported, not only the first; the CLI exits 2 and prints FILE:LINE:COL', () => {
  const file = path.join(dir, 'many.yaml');
  fs.writeFileSync(file, `nlmon:\n  monitoring:\n    receive_buffer: x\n  integration:\n    max_concurrent: 0\n    hooks:\n      - name: a\n        script: ${worldWritable}\n`);
  const r = nlmonSync(['config', 'check', '--config', file]);
  assert.equal(r.exitCode, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 3, r.stderr);
  assert.match(lines[0]!, new RegExp(`^${file}:3:21: receive_buffer`));
  assert.match(lines[1]!, new RegExp(`^${file}:5:21: max_concurrent`));
  assert.match(lines[2]!, new RegExp(`^${file}:8:17: hook 'a': script ${worldWritable} is world-writable`));
  const ok = nlmonSync(['config', 'check', '--config', file, '--allow-unsafe-scripts']);
  assert.equal(ok.exitCode, 2, 'the other two mistakes remain');
  assert.doesNotMatch(ok.stderr, /world-writable/);
});

test('defaults, relative scripts, and the shipped example config', () => {
  const cfg = parseConfig(hooks(`      - name: a\n        script: "${safe} 'two words'"\n        args: [x]\n`), path.join(dir, 'c.yaml'));
  const h = cfg.integration.hooks[0]!;
  assert.equal(h.action, 'script');
  if (h.action !== 'script') return;
  assert.deepEqual(h.argv, [safe, 'two words', 'x']);
  assert.equal(h.timeout_ms, 30000);
  assert.equal(h.enabled, true);
  assert.equal(h.async, false);
  assert.equal(h.capture_output, false);
  assert.equal(cfg.integration.max_concurrent, 10);
  assert.equal(cfg.integration.queue_limit, 10000);
  assert.deepEqual(cfg.monitoring.namespaces, ['default']);
  assert.equal(cfg.monitoring.intake, 'auto');
  assert.equal(cfg.monitoring.receive_buffer, 16777216);
  const example = nlmonSync(['config', 'check', '--config', 'config/nlmon.yaml'], { cwd: ROOT });
  assert.equal(example.exitCode, 0, example.stderr);
  const missing = nlmonSync(['config', 'check', '--config', path.join(dir, 'absent.yaml')]);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /absent\.yaml.*no such file/);
});

test('secrets from the environment: ${NAME} in a webhook secret, a header and a nats token; $$ for a $; an unset variable or a stray $ at its line and column', () => {
  const key = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  process.env.NLMON_TEST_SECRET = key;
  process.env.NLMON_TEST_TOKEN = 's3cret';
  delete process.env.NLMON_TEST_UNSET;
  try {
    const yaml = `nlmon:
  integration:
    hooks:
      - name: w
        url: http://127.0.0.1:9/
        secret: \${NLMON_TEST_SECRET}
        headers:
          Authorization: "Bearer \${NLMON_TEST_TOKEN}"
          X-Price: "5$$"
  outputs:
    - name: f
      type: nats
      url: nats://127.0.0.1:4222
      token: \${NLMON_TEST_TOKEN}
      stream: S
      subject: a
      spool_dir: ${dir}/spool
`;
    const cfg = parseConfig(yaml, path.join(dir, 'env.yaml'));
    const h = cfg.integration.hooks[0]!;
    assert.equal(h.action, 'url');
    if (h.action !== 'url') return;
    assert.equal(h.secret.toString('base64'), key.slice('whsec_'.length), 'the secret is the variable\'s');
    assert.equal(h.headers.authorization, 'Bearer s3cret');
    assert.equal(h.headers['x-price'], '5$');
    const o = cfg.outputs[0]!;
    assert.equal(o.type === 'nats' && o.token, 's3cret');
    assert.deepEqual(cfg.inline_secrets, [], 'references are not secrets held in the file');
    const inline = parseConfig(yaml.replace('token: ${NLMON_TEST_TOKEN}', () => 'token: a$$b'), path.join(dir, 'env.yaml'));
    assert.equal(inline.outputs[0]!.type === 'nats' && inline.outputs[0]!.token, 'a$b');
    assert.deepEqual(inline.inline_secrets, ["the token of output 'f'"]);
    const cases: Array<[string, number, number, RegExp]> = [
      [yaml.replace('${NLMON_TEST_SECRET}', () => '${NLMON_TEST_UNSET}'), 6, 17, /the secret of hook 'w': the environment variable NLMON_TEST_UNSET is not set/],
      [yaml.replace('Bearer ${NLMON_TEST_TOKEN}', () => 'Bearer $TOKEN'), 8, 26, /headers: Authorization: '\$' is not a reference: write \$\{NAME\}/],
      [yaml.replace('token: ${NLMON_TEST_TOKEN}', () => 'token: ${1X}'), 14, 14, /'\$\{1X\}' is not a reference/],
    ];
    for (const [text, line, col, re] of cases) {
      const file = path.join(dir, 'env-bad.yaml');
      fs.writeFileSync(file, text);
      let err: unknown;
      try { loadConfigFile(file); } catch (e) { err = e; }
      assert.ok(err instanceof ConfigError, `expected an error for ${re}`);
      const issue = err.issues.find((i) => re.test(i.message));
      assert.ok(issue, `no issue matches ${re}: ${err.message}`);
      assert.equal(`${issue.line}:${issue.col}`, `${line}:${col}`, issue.message);
      assert.doesNotMatch(err.message, /s3cret|MfKQ9r8/, 'no secret in the message');
    }
  } finally {
    delete process.env.NLMON_TEST_SECRET;
    delete process.env.NLMON_TEST_TOKEN;
  }
});
