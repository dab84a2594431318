// `nlmon events`' narrowing (events-command.ts): --since's durations and times, and which events
// --host, --container and --pod keep.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseSince, wanted } from '../src/cli/events-command.js';
import { syntheticEvent } from '../src/event/make.js';
import { compileCondition } from '../src/event/filter.js';
import type { NlEvent } from '../src/event/event.js';

const ev = (extra: Partial<NlEvent>): NlEvent => ({ ...syntheticEvent('eth0', 'default'), ...extra });

test('--since takes 90s, 30m, 1h, 2d or an ISO time; anything else is refused', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  assert.equal(parseSince('90s', now)!.toISOString(), '2026-12-06T11:58:30.000Z');
  assert.equal(parseSince('30m', now)!.toISOString(), '2026-12-06T11:30:00.000Z');
  assert.equal(parseSince('1h', now)!.toISOString(), '2026-12-06T11:00:00.000Z');
  assert.equal(parseSince('2d', now)!.toISOString(), '2026-12-04T12:00:00.000Z');
  assert.equal(parseSince('2026-12-01T08:00:00Z', now)!.toISOString(), '2026-12-01T08:00:00.000Z');
  assert.equal(parseSince('yesterday', now), undefined);
  assert.equal(parseSince('5 minutes', now), undefined);
});

test('--host, --container (name or 12+ hex of the id), --pod ([namespace/]name) and --filter keep only what they name', () => {
  const id = 'ab'.repeat(32);
  const web = ev({ host: 'node7', container_name: 'web-1', container_id: id, pod_name: 'web-1', pod_namespace: 'shop', event: 'link_down' });
  const other = ev({ host: 'node8', container_name: 'db', container_id: 'cd'.repeat(32), pod_name: 'db-0', pod_namespace: 'shop' });
  assert.deepEqual([wanted(web, { host: 'node7' }), wanted(other, { host: 'node7' })], [true, false]);
  assert.deepEqual([wanted(web, { container: 'web-1' }), wanted(other, { container: 'web-1' })], [true, false]);
  assert.equal(wanted(web, { container: id.slice(0, 12) }), true, 'an id prefix of 12');
  assert.equal(wanted(web, { container: id.slice(0, 8) }), false, 'not a shorter one');
  assert.deepEqual([wanted(web, { pod: 'shop/web-1' }), wanted(web, { pod: 'web-1' }), wanted(web, { pod: 'other/web-1' }), wanted(other, { pod: 'web-1' })], [true, true, false, false]);
  const downs = compileCondition('event == link_down');
  assert.deepEqual([wanted(web, { match: downs }), wanted(other, { match: downs })], [true, false]);
  assert.equal(wanted(web, { host: 'node7', pod: 'shop/web-1', match: downs }), true, 'all together');
  assert.equal(wanted(ev({}), {}), true, 'nothing asked: everything');
});
