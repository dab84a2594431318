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
