// Webhooks against a real HTTP server on 127.0.0.1 (signatures checked with the standardwebhooks
// package), the scheduler giving a retrying run's slot away, and module handlers in worker
// threads, through the daemon on real netlink.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { execaSync } from 'execa';
import { WebhookRunner, type WebhookSpec } from '../src/hooks/actions/url.js';
import { ActionRunners } from '../src/hooks/registry.js';
import { HookScheduler } from '../src/hooks/scheduler.js';
import { compileCondition } from '../src/event/filter.js';
import { syntheticEvent } from '../src/event/make.js';
import type { HookConfig } from '../src/hooks/registry.js';
import type { NlEvent } from '../src/event/event.js';
import {
  LINKBURST, cli, cliJson, hookStats, ip, needsRoot, nlmonSync, sleep, startDaemon, until, withNetns, withTempDir,
} from './helpers/index.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface Received { headers: http.IncomingHttpHeaders; body: string; at: number }

/** A real HTTP server on 127.0.0.1 answering each request with answer(n) (n from 0). */
async function receiver(answer: (n: number, req: http.IncomingMessage, res: http.ServerResponse) => void = (_n, _q, res) => res.writeHead(204).end()) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c; });
    req.on('end', () => {
      got.push({ headers: req.headers, body, at: Date.now() });
      answer(got.length - 1, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`, port, got, server,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function spec(url: string, extra: Partial<WebhookSpec> = {}): WebhookSpec {
  return { name: 'web', url, method: 'POST', headers: {}, format: 'json', secret: Buffer.from(SECRET.slice(6), 'base64'), retries: 3, timeout_ms: 2000, ...extra };
}

function event(): NlEvent {
  const e = syntheticEvent('veth9', 'blue');
  e.sequence = 42;
  return e;
}

test('webhook: the body is the event, signed so that standardwebhooks verifies it; CloudEvents when asked', async () => {
  const r = await receiver();
  const runner = new WebhookRunner();
  try {
    const e = event();
    const res = await runner.run(spec(r.url), e);
    assert.equal(res.outcome, 'success');
    assert.equal(res.attempts, 1);
    const req = r.got[0]!;
    assert.equal(req.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(req.body), e);
    const verified = new Webhook(SECRET).verify(req.body, req.headers as Record<string, string>);
    assert.deepEqual(verified, e);
    assert.throws(() => new Webhook('whsec_' + Buffer.from('another key').toString('base64')).verify(req.body, req.headers as Record<string, string>));
    await runner.run(spec(r.url, { format: 'cloudevents', secret: Buffer.alloc(0) }), e);
    const ce = JSON.parse(r.got[1]!.body);
    assert.equal(r.got[1]!.headers['content-type'], 'application/cloudevents+json');
    assert.equal(r.got[1]!.headers['webhook-signature'], undefined, 'unsigned without a secret');
    assert.match(String(r.got[1]!.headers['webhook-id']), /^msg_/, 'but with its id, for de-duplication');
    assert.deepEqual([ce.specversion, ce.type, ce.source, ce.id, ce.time], ['1.0', 'io.nlmon.link_added', `nlmon://${e.host}/blue`, `msg_${e.host}_${e.timestamp}_42`, new Date(e.timestamp).toISOString()]);
    assert.deepEqual(ce.data, e);
  } finally {
    runner.close();
    await r.close();
  }
});

test('webhook: 503 twice then 200 is three attempts with one webhook-id; a 400 is not retried; 429 waits for Retry-After', async () => {
  let slowDowns = 0;
  const r = await receiver((n, req, res) => {
    if (req.url === '/bad') return void res.writeHead(400).end('no such thing');
    if (req.url === '/slow-down') return void (slowDowns++ === 0 ? res.writeHead(429, { 'retry-after': '1' }).end() : res.writeHead(200).end());
    res.writeHead(n < 2 ? 503 : 200).end();
  });
  const runner = new WebhookRunner();
  try {
    const ok = await runner.run(spec(r.url), event());
    assert.deepEqual([ok.outcome, ok.attempts, r.got.length], ['success', 3, 3]);
    assert.equal(new Set(r.got.map((g) => g.headers['webhook-id'])).size, 1, 'one webhook-id across the attempts');
    for (const g of r.got) new Webhook(SECRET).verify(g.body, g.headers as Record<string, string>);
    const bad = await runner.run(spec(r.url.replace('/hook', '/bad')), event());
    assert.deepEqual([bad.outcome, bad.attempts, bad.http_status, bad.error, bad.stderr], ['failure', 1, 400, 'HTTP 400', 'no such thing']);
    const t0 = Date.now();
    const slow = await runner.run(spec(r.url.replace('/hook', '/slow-down')), event());
    assert.deepEqual([slow.outcome, slow.attempts], ['success', 2]);
    assert.ok(Date.now() - t0 >= 950, 'Retry-After: 1 was honoured');
  } finally {
    runner.close();
    await r.close();
  }
});

test('webhook: a receiver that never answers is a timeout per attempt; one that is down at first gets the event when it comes back', async () => {
  const silent = await receiver(() => { /* never answers */ });
  const runner = new WebhookRunner();
  try {
    const t0 = Date.now();
    const res = await runner.run(spec(silent.url, { retries: 1, timeout_ms: 300 }), event());
    assert.deepEqual([res.outcome, res.attempts, silent.got.length], ['timeout', 2, 2]);
    assert.match(res.error, /no answer within timeout_ms 300 after 2 attempts/);
    assert.ok(Date.now() - t0 >= 600);
  } finally {
    await silent.close();
  }
  // A port with nothing listening, then a receiver on it 400 ms later.
  const probe = await receiver();
  const port = probe.port;
  await probe.close();
  let late: Awaited<ReturnType<typeof receiver>> | undefined;
  const opening = sleep(400).then(async () => {
    const server = http.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200).end()); });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    late = { url: '', port, got: [], server, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  });
  try {
    const res = await runner.run(spec(`http://127.0.0.1:${port}/hook`, { retries: 5 }), event());
    assert.equal(res.outcome, 'success', res.error);
    assert.ok(res.attempts >= 2, 'the first attempts were refused');
  } finally {
    await opening;
    await late?.close();
    runner.close();
  }
});

test('a webhook waiting to retry gives its max_concurrent slot to other runs', async () => {
  const r = await receiver((n, _q, res) => (n === 0 ? res.writeHead(503, { 'retry-after': '1' }).end() : res.writeHead(200).end()));
  await withTempDir(async (dir) => {
    const marker = path.join(dir, 'script-ran');
    const base = { condition: '', match: compileCondition(''), timeout_ms: 5000, enabled: true, async: true };
    const hooks: HookConfig[] = [
      { ...base, name: 'web', action: 'url', url: r.url, method: 'POST', headers: {}, format: 'json', secret: Buffer.alloc(0), retries: 2 },
      { ...base, name: 'touch', action: 'script', script: `/usr/bin/touch ${marker}`, argv: ['/usr/bin/touch', marker], args: [], env: {}, capture_output: false, keep_children: false, files: [] },
    ];
    const runner = new ActionRunners();
    const results: string[] = [];
    const s = new HookScheduler({ maxConcurrent: 1, queueLimit: 100 }, runner, { finished: (h, _e, res) => results.push(`${h.name}:${res.outcome}`) });
    s.setHooks(hooks);
    s.submit([event()]);
    await until(() => results.length === 2, 'both runs', 10000);
    assert.deepEqual(results, ['touch:success', 'web:success'], 'the script ran while the webhook waited');
    assert.ok(fs.statSync(marker).mtimeMs < r.got[1]!.at, 'before the second attempt');
    assert.equal(s.status().find((h) => h.name === 'web')!.retries, 1);
    runner.close();
  });
  await r.close();
});

const opts = { skip: needsRoot, timeout: 60000 };

test('daemon: a url hook and a module hook on real events; stats, retries, the hook log, /api/hooks and the metrics agree', opts, () => withNetns(1, async (ns) => withTempDir(async (dir) => {
  let fails = 1;
  const r = await receiver((_n, _q, res) => res.writeHead(fails-- > 0 ? 502 : 200).end());
  const seen = path.join(dir, 'seen');
  fs.writeFileSync(path.join(dir, 'record.mjs'), `import fs from 'node:fs';\nexport default function (e, { log }) {\n  fs.appendFileSync(${JSON.stringify(seen)}, e.sequence + ' ' + e.interface + '\\n');\n  log('recorded', e.sequence);\n}\n`);
  fs.writeFileSync(path.join(dir, 'throws.mjs'), `export function handle(e) {\n  throw new Error('no route to ' + e.interface);\n}\n`);
  const port = r.port + 1;
  const d = await startDaemon(dir, `nlmon:
  monitoring:
    namespaces: [${ns}]
  containers:
    enabled: false
  integration:
    hook_log: ${dir}/hook.log
    hooks:
      - name: web
        url: ${r.url}
        secret: ${SECRET}
        condition: "event == link_added"
      - name: record
        module: record.mjs
        condition: "kind == 'veth'"
      - name: fails
        module: ./throws.mjs
        condition: "event == link_removed"
  control:
    socket: ${dir}/nlmon.sock
  metrics:
    listen: 127.0.0.1:${port}
`);
  try {
    ip('-n', ns, 'link', 'add', 'wa', 'type', 'veth', 'peer', 'name', 'wb');
    ip('-n', ns, 'link', 'set', 'wa', 'mtu', '1400');
    ip('-n', ns, 'link', 'del', 'wa');
    await until(() => { const s = hookStats(dir); return s.web!.executions === 2 && s.record!.executions >= 5 && s.fails!.executions === 2; }, 'every run', 15000);
    const stats = hookStats(dir);
    assert.deepEqual([stats.web!.successes, stats.web!.retries, stats.web!.action], [2, 1, 'url'], 'two events, one retried once');
    assert.equal(r.got.filter((g) => JSON.parse(g.body).event === 'link_added').length, 3);
    assert.deepEqual([stats.fails!.failures, stats.fails!.last_error], [2, 'no route to wb'], 'the throw is the failure');
    const lines = fs.readFileSync(seen, 'utf8').split('\n').filter(Boolean);
    const seqs = lines.map((l) => Number(l.split(' ')[0]));
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'a sync module hook sees its events in order');
    assert.equal(lines.length, stats.record!.executions);
    const log = fs.readFileSync(path.join(dir, 'hook.log'), 'utf8');
    assert.match(log, new RegExp(`done \\S+ : \\S+ : ${r.url.replace(/[.]/g, '\\.')} OK`));
    assert.match(log, /done fails : \S+ : \S*throws\.mjs ERROR:threw/);
    const api = await (await fetch(`http://127.0.0.1:${port}/api/hooks`)).json() as Array<{ name: string; action: string; retries: number }>;
    assert.deepEqual(api.map((h) => [h.name, h.action]), [['web', 'url'], ['record', 'module'], ['fails', 'module']]);
    const status = await (await fetch(`http://127.0.0.1:${port}/api/status`)).json() as { events: number };
    assert.ok(status.events >= 5);
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/hooks`, { method: 'POST' })).status, 404, 'read-only');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /nlmon_hook_retries_total\{hook="web"\} 1/);
    const list = cli(dir, 'hooks', 'list');
    assert.match(list.stdout, /^NAME\s+ENABLED\s+ASYNC\s+ACTION\s+CONDITION\s+TARGET\n/);
    assert.match(list.stdout, /\nweb\s+yes\s+no\s+url\s+event == link_added\s+http:\/\/127\.0\.0\.1/);
  } finally {
    await d.stop();
    await r.close();
  }
})));

test('daemon: a module handler that spins is terminated at its timeout, and intake loses nothing meanwhile', opts, () => withNetns(1, async (ns) => withTempDir(async (dir) => {
  fs.writeFileSync(path.join(dir, 'spin.mjs'), 'export default function () {\n  for (;;) {}\n}\n');
  ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
  const d = await startDaemon(dir, `nlmon:
  monitoring:
    namespaces: [${ns}]
  containers:
    enabled: false
  integration:
    hook_log: ${dir}/hook.log
    hooks:
      - name: spin
        module: spin.mjs
        condition: "interface == 's0'"
        timeout_ms: 1500
        async: true
  control:
    socket: ${dir}/nlmon.sock
`);
  try {
    ip('-n', ns, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 's1');
    await until(() => hookStats(dir).spin!.running === 1, 'the spinning run');
    const before = cliJson<{ events: number }>(dir, 'status').events;
    const n = 6000;
    execaSync(LINKBURST, [`/var/run/netns/${ns}`, String(n), '0', 'b0']);
    await until(() => cliJson<{ events: number }>(dir, 'status').events - before >= n, 'every change of the burst', 20000);
    await until(() => hookStats(dir).spin!.timeouts === 1, 'the timeout', 5000);
    assert.match(hookStats(dir).spin!.last_error, /timeout_ms 1500/);
    assert.equal(cliJson<{ overruns: number }>(dir, 'status').overruns, 0);
    // A fresh worker serves the next event.
    ip('-n', ns, 'link', 'set', 's0', 'mtu', '1300');
    await until(() => hookStats(dir).spin!.timeouts === 2, 'the second run also ends at its timeout', 6000);
  } finally {
    await d.stop();
  }
})));

test('config check refuses a module with a syntax error, naming its path and line', () => withTempDir(async (dir) => {
  fs.writeFileSync(path.join(dir, 'broken.mjs'), 'export default function (e) {\n  return e.;\n}\n');
  fs.writeFileSync(path.join(dir, 'nlmon.yaml'), 'nlmon:\n  integration:\n    hooks:\n      - name: broken\n        module: broken.mjs\n');
  const r = nlmonSync(['config', 'check', '--config', path.join(dir, 'nlmon.yaml')]);
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, new RegExp(`nlmon\\.yaml:5:17: hook 'broken': module ${dir.replace(/[.]/g, '\\.')}/broken\\.mjs does not load: SyntaxError: .* \\(${dir.replace(/[.]/g, '\\.')}/broken\\.mjs:2\\)`));
}));

test('module runs behind one that spins on the same worker are moved to a fresh worker at its timeout, not lost', () => withTempDir(async (dir) => {
  const file = path.join(dir, 'm.mjs');
  fs.writeFileSync(file, 'export default function (e) {\n  if (e.interface === \'spin\') for (;;) {}\n  if (e.interface === \'boom\') throw new Error(\'boom\');\n}\n');
  const { ModuleRunner } = await import('../src/hooks/module-runner.js');
  const runner = new ModuleRunner();
  try {
    const hook = { name: 'm', module: file, timeout_ms: 800 };
    const ev = (iface: string) => syntheticEvent(iface, 'blue');
    const runs = [runner.run(hook, ev('spin')), ...Array.from({ length: 6 }, (_, i) => runner.run(hook, ev(i === 3 ? 'boom' : `ok${i}`)))];
    const results = await Promise.all(runs);
    assert.equal(results[0]!.outcome, 'timeout');
    assert.deepEqual(results.slice(1).map((r) => r.outcome), ['success', 'success', 'success', 'failure', 'success', 'success']);
    assert.equal(results[4]!.error, 'boom');
    const after = await runner.run(hook, ev('ok'));
    assert.equal(after.outcome, 'success', 'a fresh worker serves the next run');
  } finally {
    runner.reset();
  }
}));

test('a module run times out at its own timeout_ms though a run with a later deadline went first (one timer per worker)', () => withTempDir(async (dir) => {
  const file = path.join(dir, 'm.mjs');
  fs.writeFileSync(file, 'export default function (e) {\n  return new Promise((resolve) => setTimeout(resolve, e.interface === \'warm\' ? 0 : e.interface === \'long\' ? 3000 : 10000));\n}\n');
  const { ModuleRunner } = await import('../src/hooks/module-runner.js');
  const runner = new ModuleRunner();
  try {
    const ev = (iface: string) => syntheticEvent(iface, 'blue');
    // A first run, so that the worker is up and known to be quick: the next two go to it.
    assert.equal((await runner.run({ name: 'm', module: file, timeout_ms: 8000 }, ev('warm'))).outcome, 'success');
    const long = runner.run({ name: 'm', module: file, timeout_ms: 8000 }, ev('long'));
    const short = await runner.run({ name: 'm', module: file, timeout_ms: 300 }, ev('short'));
    assert.equal(short.outcome, 'timeout');
    assert.ok(short.duration_ms >= 300 && short.duration_ms < 2500, `timed out after ${short.duration_ms} ms, not at the first run's deadline`);
    const first = await long;
    assert.equal(first.outcome, 'failure', 'the run that had started ends with its worker');
    assert.match(first.error, /its worker was terminated while this run was in it/);
    assert.equal((await runner.run({ name: 'm', module: file, timeout_ms: 200 }, ev('again'))).outcome, 'timeout', 'a fresh worker, its own timer');
  } finally {
    runner.reset();
  }
}));

test('module runs go to one worker while the handler is quick, and spread over workers once it is slow', { skip: os.availableParallelism() < 2 ? 'needs 2 CPUs' : false }, () => withTempDir(async (dir) => {
  const file = path.join(dir, 'm.mjs');
  // The thread each run ran in; a `slow` event blocks its worker 50 ms.
  fs.writeFileSync(file, "import { threadId } from 'node:worker_threads';\nconst pause = new Int32Array(new SharedArrayBuffer(4));\nexport default function (e, { log }) {\n  if (e.interface === 'slow') Atomics.wait(pause, 0, 0, 50);\n  log(String(threadId));\n}\n");
  const { ModuleRunner } = await import('../src/hooks/module-runner.js');
  const runner = new ModuleRunner();
  const threads = async (iface: string, n: number) => {
    const results = await Promise.all(Array.from({ length: n }, () => runner.run({ name: iface, module: file, timeout_ms: 10_000 }, syntheticEvent(iface, 'blue'))));
    assert.ok(results.every((r) => r.outcome === 'success'), JSON.stringify(results));
    return new Set(results.map((r) => r.stdout.trim()));
  };
  try {
    // Quick: after a few answers have told what a run takes, three at a time share one worker.
    for (let i = 0; i < 10; i++) await threads('quick', 3);
    const quick = new Set<string>();
    for (let i = 0; i < 10; i++) for (const t of await threads('quick', 3)) quick.add(t);
    assert.equal(quick.size, 1, `quick runs in threads ${[...quick].join(', ')}`);
    // Slow: once one run has told what it takes, the next ones go to more than one worker.
    await threads('slow', 1);
    assert.ok((await threads('slow', 4)).size >= 2, 'slow runs spread over workers');
  } finally {
    runner.reset();
  }
}));
