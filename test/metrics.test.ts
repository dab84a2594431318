// The metrics registry: nothing loaded, counted or sampled unless metrics are served, and a
// namespace's series go when it goes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../src/daemon/metrics.js';
import { syntheticEvent } from '../src/event/make.js';

const source = { monitorStats: () => ({ intake: 'per_namespace' as const, events: 0, overruns: 0, resyncs: 0, namespaces: [] }), queueDepth: () => 0, running: () => 0, backlog: () => 0, discarded: () => 0, hookLogLost: () => 0 };

test('process metrics (and their event-loop sampler) are registered only when metrics are served', async () => {
  const m = new Metrics(source);
  assert.equal(m.registry, undefined, 'no registry (prom-client not loaded) before metrics are served');
  m.countEvents([syntheticEvent('x', 'a')]);
  const { registry } = await m.load();
  assert.doesNotMatch(await registry.metrics(), /namespace="a"/, 'nothing was counted before');
  const names = async () => (await registry.getMetricsAsJSON()).map((x) => x.name);
  assert.deepEqual((await names()).filter((n) => !n.startsWith('nlmon_')), []);
  const server = await m.serve('127.0.0.1:0');
  try {
    assert.ok((await names()).includes('nodejs_eventloop_lag_seconds'));
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('forgetNamespace removes every series of that namespace and no other', async () => {
  const m = new Metrics(source);
  await m.load();
  const e = (ns: string, event: 'link_added' | 'link_removed') => ({ ...syntheticEvent('x', ns), event });
  m.countEvents([e('a', 'link_added'), e('a', 'link_removed'), e('b', 'link_added')]);
  m.forgetNamespace('a');
  const text = await m.registry!.metrics();
  assert.doesNotMatch(text, /namespace="a"/);
  assert.match(text, /nlmon_events_total\{namespace="b",event="link_added"\} 1/);
});
