// Memory and slots a misbehaving webhook receiver can take (docs/hooks.md, "Threat model"),
// against a real HTTP receiver on 127.0.0.1: one that never answers must not starve the other
// hooks, and one that answers 503 with Retry-After: 60 must not grow the daemon without bound —
// runs waiting to retry count against queue_limit, and what does not fit is dropped and counted.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { config, hookStats, ip, linkburst, needsRoot, script, startDaemon, statusKb, until, withNetns, withTempDir, cliJson, lines } from './helpers/index.js';

const opts = { skip: needsRoot, timeout: 240000 };

async function receiver(answer: (res: http.ServerResponse) => void): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    n++;
    req.resume();
    held.push(res);
    answer(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    count: () => n,
    close: async () => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

test('a receiver that never answers holds only its hook\'s max_concurrent: the script hook\'s runs go on', opts, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const rx = await receiver(() => { /* never answers */ });
  const rec = script(dir, 'rec.sh', `echo "$NLMON_INTERFACE" >> ${dir}/ran`);
  const d = await startDaemon(dir, config(ns, dir, `    max_concurrent: 4
    hooks:
      - name: hung
        url: ${rx.url}
        timeout_ms: 60000
        retries: 0
        max_concurrent: 2
        async: true
        condition: "event == link_added"
      - name: rec
        script: ${rec}
        async: true
        condition: "event == link_added"
`));
  try {
    for (let i = 0; i < 10; i++) ip('-n', ns, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', `p${i}`);
    await until(() => lines(`${dir}/ran`).length === 20, 'every script run, beside the hung webhook');
    await until(() => rx.count() === 2, 'two requests hanging at the receiver');
    const st = hookStats(dir);
    assert.equal(st.hung!.running, 2, 'the hung hook holds its 2 slots, no more');
    assert.equal(st.hung!.queued, 18);
    assert.equal(rx.count(), 2, 'no third request');
  } finally {
    await d.stop();
    await rx.close();
  }
})));

test('ten 8 000-change bursts to a receiver answering 503 with Retry-After: 60 grow the daemon by at most 75 MB; the runs that do not fit are dropped and counted', opts, (t) => withNetns(1, (ns) => withTempDir(async (dir) => {
  const rx = await receiver((res) => res.writeHead(503, { 'retry-after': '60' }).end());
  const d = await startDaemon(dir, config(ns, dir, `    hooks:
      - name: web
        url: ${rx.url}
        retries: 5
        async: true
        condition: "interface == 'b0'"
`).replace(`    hook_log: ${dir}/hook.log`, '    hook_log: ""'));
  try {
    ip('-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1');
    await until(() => hookStats(dir).web!.retrying >= 1, 'the first run waiting to retry');
    const pid = d.child.pid!;
    const before = statusKb(pid, 'VmRSS');
    for (let i = 0; i < 10; i++) linkburst(`/var/run/netns/${ns}`, 8000, 0, 'b0');
    await until(() => {
      const w = hookStats(dir).web!;
      return w.queued === 0 && w.retrying + w.dropped >= 80000 && w;
    }, 'every run of the bursts waiting to retry or dropped', 180000);
    const after = statusKb(pid, 'VmRSS');
    const w = hookStats(dir).web!;
    assert.ok(w.retrying <= 10000 + 10, `at most queue_limit (10000) runs wait to retry, and those that were running (max_concurrent 10), not ${w.retrying}`);
    assert.ok(w.dropped >= 80000 - w.retrying, `the rest are dropped and counted: ${w.dropped}`);
    t.diagnostic(`RSS grew by ${((after - before) / 1024).toFixed(0)} MB with ${w.retrying} runs waiting to retry`);
    assert.ok(after - before <= 75 * 1024, `RSS grew by ${((after - before) / 1024).toFixed(0)} MB`);
    const metrics = cliJson<{ hooks: { queued: number } }>(dir, 'status');
    assert.equal(metrics.hooks.queued, 0);
    assert.match(d.stderr(), /hook web: run for #\d+ dropped \(queue_limit 10000 of hook web reached/);
  } finally {
    await d.stop();
    await rx.close();
  }
})));
