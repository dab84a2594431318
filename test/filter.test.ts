// The filter language: seeds, every operator, precedence, errors with columns, and a property
// test against a plain reference evaluator on random expressions and events.
import test from 'node:test';
import assert from 'node:assert/strict';
import { compileCondition, FIELDS, FilterError, parseCondition, type Node } from '../src/event/filter.js';
import { syntheticEvent } from '../src/event/make.js';
import type { NlEvent } from '../src/event/event.js';

function ev(over: Partial<NlEvent> = {}): NlEvent {
  return { ...syntheticEvent('eth0', 'default'), ...over };
}

test('the documented seed examples work verbatim', () => {
  const del = ev({ message_type: 17, event_type: 2, event: 'link_removed' });
  const vethAdd = ev({ interface: 'veth12', message_type: 16, event_type: 1 });
  assert.equal(compileCondition('message_type == 17')(del), true);
  assert.equal(compileCondition('message_type == 17')(vethAdd), false);
  assert.equal(compileCondition("interface =~ 'veth.*'")(vethAdd), true);
  assert.equal(compileCondition("interface == 'eth0'")(ev()), true);
  const c = compileCondition("(interface =~ 'veth.*' AND message_type == 16) OR event_type == 1");
  assert.equal(c(vethAdd), true);
  assert.equal(c(ev({ event_type: 1 })), true);
  assert.equal(c(ev({ event_type: 3 })), false);
  assert.equal(compileCondition('message_type IN [16, 17, 20, 21]')(del), true);
  assert.equal(compileCondition('message_type IN [16, 17, 20, 21]')(ev({ message_type: 18 })), false);
});

test('every comparison operator, on integers and strings', () => {
  const e = ev({ mtu: 1500, interface: 'veth0', flags: 0x1003 });
  const cases: Array<[string, boolean]> = [
    ['mtu == 1500', true], ['mtu != 1500', false], ['mtu < 1501', true], ['mtu > 1500', false], ['mtu <= 1500', true],
    ['mtu >= 1501', false], ["interface =~ 'th'", true], ["interface =~ '^th'", false], ["interface !~ '^v'", false],
    ["interface IN ['a', 'veth0']", true], ["interface IN []", false], ['flags == 0x1003', true], ['flags == 4099', true],
    ['link_netnsid == -1', true], ['link_netnsid > -2', true], ["interface == 'VETH0'", false],
    ['up == false', true], ['NOT up', true], ['!up', true], ['resync', false], ['event == link_added', true],
    ['event_type == link_added', true], ['message_type == RTM_NEWLINK', true], ['message_type == rtm_dellink', false],
    ["changed == 'mtu'", false], ["MTU == 1500", true], ['mtu == 1500 and not mtu == 1', true], ['mtu == 1 || mtu == 1500', true],
    ['mtu == 1 or mtu == 2 or mtu == 1500', true], ['', true], ["alias == \"\"", true], ["kind IN ['veth', 'bridge']", false],
  ];
  for (const [src, want] of cases) assert.equal(compileCondition(src)(e), want, src);
  const ch = ev({ changed: ['mtu', 'operstate'] });
  assert.equal(compileCondition("changed == 'mtu'")(ch), true);
  assert.equal(compileCondition("changed IN ['up', 'operstate']")(ch), true);
  assert.equal(compileCondition("changed =~ '^oper'")(ch), true);
  assert.equal(compileCondition("changed != 'mtu'")(ch), false);
});

test('string escapes and quotes', () => {
  assert.equal(compileCondition(String.raw`interface == 'it\'s'`)(ev({ interface: "it's" })), true);
  assert.equal(compileCondition(String.raw`interface == "say \"hi\""`)(ev({ interface: 'say "hi"' })), true);
  assert.equal(compileCondition(String.raw`interface == 'a\\b'`)(ev({ interface: 'a\\b' })), true);
});

test('precedence: OR < AND < NOT < comparison; parentheses group', () => {
  assert.equal(compileCondition('mtu == 1 OR mtu == 1500 AND up').normalized, '(mtu == 1 OR (mtu == 1500 AND up))');
  assert.equal(compileCondition('NOT mtu == 1 AND up').normalized, '(NOT mtu == 1 AND up)');
  assert.equal(compileCondition('(mtu == 1 OR mtu == 1500) AND up').normalized, '((mtu == 1 OR mtu == 1500) AND up)');
  assert.equal(compileCondition('mtu == 1 OR mtu == 1500 AND up')(ev({ mtu: 1 })), true);
  assert.equal(compileCondition('(mtu == 1 OR mtu == 1500) AND up')(ev({ mtu: 1 })), false);
  assert.equal(compileCondition('not not up')(ev({ up: true })), true);
});

test('errors say what and where, with a caret under the column', () => {
  const cases: Array<[string, RegExp, number]> = [
    ['(message_type == 17))', /unexpected '\)'/, 21],
    ['foo == 1', /unknown field 'foo'/, 1],
    ["mtu == 'x'", /cannot compare integer field 'mtu' with a string/, 8],
    ['interface == 3', /cannot compare string field 'interface' with a number/, 14],
    ['up == 1', /cannot compare boolean field 'up' with a number/, 7],
    ['mtu == 1 == 2', /comparisons do not chain/, 10],
    ["interface =~ '(('", /invalid regular expression/, 14],
    ['(mtu == 1', /missing '\)'/, 10],
    ['mtu ==', /expected a value, found end of input/, 7],
    ['mtu', /expected a comparison after 'mtu'/, 4],
    ["interface < 'a'", /'<' needs an integer field/, 11],
    ['mtu =~ 1', /'=~' needs a string field, 'mtu' is an integer/, 5],
    ["interface == 'abc", /unterminated string/, 14],
    ['mtu == 1 AND', /expected a field name|unexpected end of input/, 13],
    ['mtu IN 1500', /IN needs a list/, 8],
    ['mtu IN [1, 2', /missing '\]'/, 13],
    ['mtu == nonsense', /unknown constant 'nonsense'/, 8],
    ['mtu == 1 @', /unexpected character '@'/, 10],
    ["kind == link_up", /cannot compare string field 'kind' with the number link_up/, 9],
    ['mtu == 99999999999999999999', /integer out of range/, 8],
    [String.raw`interface == 'a\n'`, /unknown escape/, 16],
  ];
  for (const [src, re, col] of cases) {
    let err: unknown;
    try { compileCondition(src); } catch (e) { err = e; }
    assert.ok(err instanceof FilterError, `${src}: expected a FilterError`);
    assert.match(err.message, re, src);
    assert.equal(err.column, col, `${src}: ${err.message}`);
    const lines = err.format().split('\n');
    assert.match(lines[0]!, new RegExp(`^condition: .* at column ${col}$`));
    assert.equal(lines[1], `  ${src}`);
    assert.equal(lines[2], `  ${' '.repeat(col - 1)}^`);
  }
});

// --- property test: compiled closures against a reference evaluator ---------------------

function rng(seed: number) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

const NAMES = ['eth0', 'veth1', 'veth22', 'br0', 'lo', "q'x", 'wé'];
const INT_FIELDS = Object.keys(FIELDS).filter((f) => FIELDS[f] === 'int');
const STR_FIELDS = ['interface', 'namespace', 'kind', 'operstate', 'event', 'alias'];
const BOOL_FIELDS = Object.keys(FIELDS).filter((f) => FIELDS[f] === 'bool');

function randomEvent(r: () => number): NlEvent {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const int = () => pick([-1, 0, 1, 2, 16, 17, 1500, 9000]);
  return ev({
    sequence: int(), message_type: pick([16, 17]), event_type: Math.ceil(r() * 7), ifindex: int(), flags: int(), mtu: int(),
    txqlen: int(), master: int(), link: int(), link_netnsid: int(), interface: pick(NAMES), namespace: pick(['default', 'ns1']),
    kind: pick(['veth', 'bridge', '']), operstate: pick(['up', 'down']), event: pick(['link_added', 'link_down']), alias: pick(['', 'x']),
    up: r() < 0.5, running: r() < 0.5, lower_up: r() < 0.5, resync: r() < 0.5,
  });
}

function quoteStr(s: string): string {
  return r2() < 0.5 ? `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
let r2 = rng(7);

function randomExpr(r: () => number, depth: number): string {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const x = r();
  if (depth > 0 && x < 0.3) return `${randomExpr(r, depth - 1)} ${pick(['AND', 'and', '&&', 'OR', 'or', '||'])} ${randomExpr(r, depth - 1)}`;
  if (depth > 0 && x < 0.4) return `${pick(['NOT ', 'not ', '!'])}${randomExpr(r, depth - 1)}`;
  if (depth > 0 && x < 0.5) return `(${randomExpr(r, depth - 1)})`;
  const kind = r();
  if (kind < 0.4) {
    const f = pick(INT_FIELDS);
    if (r() < 0.2) return `${f} IN [${[pick([0, 1, 16, 1500]), pick([-1, 17, 9000])].join(', ')}]`;
    return `${f} ${pick(['==', '!=', '<', '>', '<=', '>='])} ${pick(['0', '1', '-1', '16', '0x10', '1500', 'RTM_DELLINK', 'link_up'])}`;
  }
  if (kind < 0.8) {
    const f = pick(STR_FIELDS);
    const op = pick(['==', '!=', '=~', '!~', 'IN']);
    if (op === 'IN') return `${f} IN [${quoteStr(pick(NAMES))}, ${quoteStr(pick(['veth', 'up', 'default']))}]`;
    if (op === '=~' || op === '!~') return `${f} ${op} ${quoteStr(pick(['^veth', 'th', '0$', '.', 'x|y']))}`;
    return `${f} ${op} ${quoteStr(pick([...NAMES, 'veth', 'up', 'default', 'link_added']))}`;
  }
  const f = pick(BOOL_FIELDS);
  return r() < 0.5 ? f : `${f} ${pick(['==', '!='])} ${pick(['true', 'false'])}`;
}

/** Evaluates the parse tree directly, the obvious way, as the reference. */
function reference(n: Node, e: NlEvent): boolean {
  const rec = e as unknown as Record<string, unknown>;
  switch (n.type) {
    case 'true': return true;
    case 'or': return reference(n.left, e) || reference(n.right, e);
    case 'and': return reference(n.left, e) && reference(n.right, e);
    case 'not': return !reference(n.operand, e);
    case 'bool': return rec[n.field] === true;
    case 'cmp': {
      const v = rec[n.field];
      const lit = n.value;
      switch (n.op) {
        case '==': return v === lit;
        case '!=': return v !== lit;
        case '<': return (v as number) < (lit as number);
        case '>': return (v as number) > (lit as number);
        case '<=': return (v as number) <= (lit as number);
        case '>=': return (v as number) >= (lit as number);
        case '=~': return new RegExp(lit as string).test(v as string);
        case '!~': return !new RegExp(lit as string).test(v as string);
        case 'IN': return (lit as unknown[]).includes(v);
        case 'HAS': return (v as string[]).includes(lit as string);
      }
    }
  }
}

test('property: compiled conditions agree with the reference evaluator', () => {
  const r = rng(20261122);
  r2 = rng(99);
  let matched = 0;
  for (let i = 0; i < 400; i++) {
    const src = randomExpr(r, 4);
    const cond = compileCondition(src);
    const ast = parseCondition(src);
    assert.equal(compileCondition(cond.normalized).normalized, cond.normalized, `normalizing is stable: ${src}`);
    for (let j = 0; j < 20; j++) {
      const e = randomEvent(r);
      const want = reference(ast, e);
      if (want) matched++;
      assert.equal(cond(e), want, `${src} on ${JSON.stringify(e)}`);
    }
  }
  assert.ok(matched > 400 && matched < 7600, `the generator exercises both outcomes (${matched} of 8000 matched)`);
});

test('=~ runs in linear time: catastrophic patterns against 255-byte values return at once; backtracking-only syntax is a compile error', () => {
  const long = 'a'.repeat(255) + 'b';
  for (const p of ['^(a+)+$', '^(((a+)+)+)+$', '(a|aa)+$']) {
    const c = compileCondition(`alias =~ '${p}'`);
    assert.equal(c(ev({ alias: long })), false, p);
    assert.equal(c(ev({ alias: 'a'.repeat(255) })), true, p);
  }
  for (const [p, col] of [["alias =~ '(?=a)b'", 10], ["interface !~ '(a)\\\\1'", 14]] as const) {
    assert.throws(() => compileCondition(p), (e: unknown) => e instanceof FilterError && /needs backtracking/.test(e.message) && e.column === col, p);
  }
});

test('human lines escape control characters and backslashes in names; JSON stays JSON', async () => {
  const { formatEventHuman, formatEventJson, printable } = await import('../src/event/format.js');
  assert.equal(printable('a\nb\x1b[31m\\c\x7f'), 'a\\x0ab\\x1b[31m\\x5cc\\x7f');
  const e = ev({ namespace: 'ns\nforged line', interface: 'eth\x1b]0;x\x07', alias: 'a\nb' });
  const line = formatEventHuman(e);
  assert.equal(line.includes('\n'), false);
  assert.equal(line.includes('\x1b'), false);
  assert.match(line, /^\[ns\\x0aforged line\] #\d+ link_added \d+: eth\\x1b\]0;x\\x07 /);
  assert.deepEqual(JSON.parse(formatEventJson(e)).namespace, 'ns\nforged line');
});

test('ip IN an address block (IPv4 and IPv6, one or a list with exact addresses); changed HAS a name; a bad escape says what to write', () => {
  const ev = (ip: string, family: string) => ({ ...syntheticEvent('d0', 'default'), ip, family });
  const v4 = compileCondition('ip IN 10.0.0.0/8');
  assert.equal(v4(ev('10.200.3.4', 'inet')), true);
  assert.equal(v4(ev('11.0.0.1', 'inet')), false);
  assert.equal(v4(ev('', '')), false, 'a link event has no address');
  assert.equal(v4.normalized, 'ip IN [10.0.0.0/8]');
  const mixed = compileCondition("ip IN [192.168.0.0/16, fd00::/8, '2001:db8::1']");
  assert.equal(mixed(ev('fd12:3456::9', 'inet6')), true);
  assert.equal(mixed(ev('2001:db8::1', 'inet6')), true, 'an exact address in the same list');
  assert.equal(mixed(ev('2001:db8::2', 'inet6')), false);
  assert.equal(mixed(ev('192.168.7.7', 'inet')), true);
  const has = compileCondition('changed HAS mtu');
  assert.equal(has({ ...syntheticEvent('d0', 'default'), changed: ['operstate', 'mtu'] }), true);
  assert.equal(has({ ...syntheticEvent('d0', 'default'), changed: ['operstate'] }), false);
  assert.equal(compileCondition("changed HAS 'mtu'").normalized, "changed HAS 'mtu'");
  const err = (src: string) => {
    try {
      compileCondition(src);
    } catch (e) {
      return (e as FilterError).format();
    }
    return '';
  };
  assert.equal(err("interface =~ '\\.'"), "condition: unknown escape '\\.' (a backslash is written '\\\\': '\\\\.') at column 15\n  interface =~ '\\.'\n                ^");
  assert.match(err('mtu IN 10.0.0.0/8'), /an address block needs an address field \('ip'\), 'mtu' is an integer at column 8/);
  assert.match(err('ip IN 10.0.0.0/33'), /'10\.0\.0\.0\/33' is not an address block/);
  assert.match(err('ip == 10.0.0.0/8'), /an address block goes after IN/);
  assert.match(err('interface HAS x'), /HAS needs a list field \('changed'\), 'interface' is a string/);
});
