// The user reference in docs/ (and the man page) covers what the code has: every event field,
// every config key, every CLI verb and option, every hook variable and metric. Each list is read
// from the code, so a field, key, verb or metric added without its documentation fails here.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { execaSync } from 'execa';
import { FIELDS } from '../src/event/filter.js';
import { EVENT_NAMES } from '../src/event/event.js';
import { syntheticEvent } from '../src/event/make.js';
import { formatEventJson } from '../src/event/format.js';
import { parseEventJson } from '../src/event/schema.js';
import { configKeys } from '../src/daemon/config-file.js';
import { buildProgram } from '../src/cli/cli.js';
import { hookEnvironment } from '../src/hooks/actions/script.js';
import { Metrics } from '../src/daemon/metrics.js';
import { ROOT } from './helpers/index.js';

const doc = (name: string) => fs.readFileSync(path.join(ROOT, 'docs', name), 'utf8');
const missing = (text: string, words: Iterable<string>) => [...words].filter((w) => !text.includes(w));

test('docs/events.md and docs/filter.md name every event field and event', () => {
  const fields = Object.keys(FIELDS).map((f) => `\`${f}\``);
  assert.deepEqual(missing(doc('events.md'), fields), []);
  assert.deepEqual(missing(doc('filter.md'), fields), []);
  const events = EVENT_NAMES.map((e) => `\`${e}\``);
  assert.deepEqual(missing(doc('events.md'), events), []);
  assert.deepEqual(missing(doc('filter.md'), EVENT_NAMES), []);
});

test('docs/config.md names every config key', () => {
  const { top, nlmon, ...sections } = configKeys();
  const wanted = [
    ...top!.map((k) => `${k}:`),
    ...nlmon!.map((k) => `\`nlmon.${k}\``),
    ...Object.values(sections).flat().map((k) => `\`${k}\``),
  ];
  assert.deepEqual(missing(doc('config.md'), wanted), []);
});

/** Every command of the CLI as `nlmon a b`, with its long options. */
function commands(c: Command, prefix = 'nlmon'): Array<{ name: string; options: string[] }> {
  return c.commands.flatMap((sub) => {
    const name = `${prefix} ${sub.name()}`;
    const own = sub.commands.length ? [] : [{ name, options: sub.options.map((o) => o.long!).filter(Boolean) }];
    return [...own, ...commands(sub, name)];
  });
}

test('docs/cli.md and the man page have every verb and option', () => {
  const all = commands(buildProgram(() => {}));
  assert.ok(all.length >= 12, `found only ${all.length} commands`);
  const cli = doc('cli.md');
  const man = fs.readFileSync(path.join(ROOT, 'nlmon.1'), 'utf8').replace(/\\-/g, '-').replace(/\\f[BIR]/g, '');
  for (const c of all) {
    assert.ok(cli.includes(`## \`${c.name}`) || cli.includes(`\`${c.name} `) || cli.includes(`\`${c.name}\``), `docs/cli.md has no section for ${c.name}`);
    assert.ok(man.includes(c.name), `nlmon.1 does not mention ${c.name}`);
    assert.deepEqual(missing(cli, c.options.map((o) => `\`${o}`)), [], `options of ${c.name} in docs/cli.md`);
    assert.deepEqual(missing(man, c.options), [], `options of ${c.name} in nlmon.1`);
  }
});

test('docs/hooks.md lists every variable a hook gets; docs/config.md every nlmon_ metric', async () => {
  const env = hookEnvironment({ name: 'h', argv: ['/bin/true'], env: {}, timeout_ms: 1, capture_output: false }, syntheticEvent('x', 'default'));
  assert.deepEqual(missing(doc('hooks.md'), Object.keys(env).map((k) => `\`${k}\``)), []);
  const empty = { intake: 'per_namespace' as const, events: 0, overruns: 0, resyncs: 0, namespaces: [] };
  const metrics = new Metrics({ monitorStats: () => empty, queueDepth: () => 0, running: () => 0, backlog: () => 0, discarded: () => 0, hookLogLost: () => 0 });
  const names = (await (await metrics.load()).registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('nlmon_'));
  assert.ok(names.length >= 8);
  assert.deepEqual(missing(doc('config.md'), names.map((n) => `\`${n}`)), []);
});

test('man -l nlmon.1 renders without warnings', (t) => {
  const man = execaSync('sh', ['-c', 'command -v man'], { reject: false });
  if (man.exitCode !== 0) {
    t.skip('man is not installed (Debian: apt-get install man-db)');
    return;
  }
  const r = execaSync('man', ['--warnings', '-l', path.join(ROOT, 'nlmon.1')], { env: { MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat' }, reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^NLMON\(1\)/);
  assert.match(r.stdout, /nlmon hooks reset-stats/);
});

test('the README links every page of docs/, and docs/ cites no file outside the repository', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const page of fs.readdirSync(path.join(ROOT, 'docs')).filter((n) => n.endsWith('.md'))) {
    assert.ok(readme.includes(`docs/${page}`), `README.md does not link docs/${page}`);
    assert.doesNotMatch(doc(page), /\bSPEC\b/, `docs/${page} cites SPEC`);
  }
});

test('docs/events.md lists the fields in the order of the JSON, and its sample lines are what nlmon writes byte for byte', () => {
  const text = doc('events.md');
  const listed = [...text.matchAll(/^\| ((?:`[a-z_]+`(?:, )?)+) \| (?:integer|string|boolean|string\[\])/gm)].flatMap((m) => [...m[1]!.matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!));
  const json = formatEventJson(syntheticEvent('x', 'default'));
  assert.deepEqual(listed, Object.keys(JSON.parse(json)));
  const samples = text.split('\n').filter((l) => l.startsWith('{"sequence":'));
  assert.ok(samples.length >= 5);
  for (const line of samples) assert.equal(formatEventJson(parseEventJson(line)), line);
});
