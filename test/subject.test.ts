// A nats output's subject template: filled in per event, turned into the filter a stream must
// take, and checked against a stream's subjects.
import test from 'node:test';
import assert from 'node:assert/strict';
import { subjectCovers, subjectFilter, subjectFor, subjectProblem } from '../src/outputs/nats/subject.js';
import { syntheticEvent } from '../src/event/make.js';

test('subject templates: placeholders filled with safe tokens; the filter; coverage by a stream', () => {
  const e = { ...syntheticEvent('eth0', 'cni-1.2 x'), host: 'node7.example.com', event: 'link_down' as const };
  assert.equal(subjectFor('nlmon.{host}.{namespace}.{event}')(e), 'nlmon.node7_example_com.cni-1_2_x.link_down');
  assert.equal(subjectFor('nlmon.{namespace}')({ ...e, namespace: '' }), 'nlmon.-');
  assert.equal(subjectFor('nlmon.events')(e), 'nlmon.events');
  assert.equal(subjectFilter('nlmon.{host}.{event}'), 'nlmon.*.*');
  assert.equal(subjectFilter('nlmon.h-{host}.x'), 'nlmon.*.x');
  for (const [f, sub, ok] of [
    ['nlmon.>', 'nlmon.*.*', true], ['nlmon.*.*', 'nlmon.*.*', true], ['nlmon.*', 'nlmon.*.*', false],
    ['nlmon.a.*', 'nlmon.*.*', false], ['>', 'a', true], ['nlmon.events', 'nlmon.events', true], ['nlmon.>', 'nlmon', false],
  ] as const) assert.equal(subjectCovers(f, sub), ok, `${f} covers ${sub}`);
  assert.equal(subjectProblem('nlmon.{host}.{event}'), undefined);
  assert.match(subjectProblem('nlmon.{pod}')!, /only the placeholders/);
  assert.match(subjectProblem('nlmon.>')!, /white space, \* or >/);
  assert.match(subjectProblem('.nlmon')!, /empty token/);
});

test('subjects are made once per host, namespace and event, and the kept ones stay bounded', () => {
  const subject = subjectFor('nlmon.{host}.{namespace}.{event}');
  const e = { ...syntheticEvent('eth0', 'ns1'), host: 'node7', event: 'link_down' as const };
  const first = subject(e);
  assert.equal(first, 'nlmon.node7.ns1.link_down');
  assert.equal(subject({ ...e, interface: 'eth1' }), first);
  assert.equal(subject({ ...e, event: 'link_up' }), 'nlmon.node7.ns1.link_up');
  assert.equal(subject({ ...e, host: 'node8' }), 'nlmon.node8.ns1.link_down', 'a new host');
  assert.equal(subject({ ...e, namespace: 'ns2' }), 'nlmon.node7.ns2.link_down');
  // Many namespaces, and events of any name, each still get their own subject.
  for (let i = 0; i < 3000; i++) assert.equal(subject({ ...e, namespace: `n${i}`, event: `x${i % 100}` as never }), `nlmon.node7.n${i}.x${i % 100}`);
  for (let i = 0; i < 200; i++) assert.equal(subject({ ...e, event: `y${i}` as never }), `nlmon.node7.ns1.y${i}`);
});
