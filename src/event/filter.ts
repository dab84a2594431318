// The filter language (docs/filter.md): lexer, parser, type checks, and compilation of a condition
// to a closure over the event, once; evaluating it allocates nothing.
import v8 from 'node:v8';
import net from 'node:net';
import { FilterError, lex, type Token } from './lex.js';

export { FilterError } from './lex.js';
import { EVENT_NAMES, EventType, RTM_DELADDR, RTM_DELLINK, RTM_NEWADDR, RTM_NEWLINK, type NlEvent } from './event.js';

// `=~` runs on V8's linear-time regular expression engine (the 'l' flag): a pattern such as
// `^(a+)+$` against a long alias a container sets would otherwise backtrack for seconds and
// freeze intake. Patterns it cannot run (backreferences, lookaround) are compile errors.
v8.setFlagsFromString('--enable-experimental-regexp-engine');

export type FieldType = 'int' | 'string' | 'bool' | 'list';

/** Every event field (docs/events.md) and its type. */
export const FIELDS: Readonly<Record<string, FieldType>> = {
  sequence: 'int', timestamp: 'int', namespace: 'string', message_type: 'int', event_type: 'int',
  event: 'string', interface: 'string', ifindex: 'int', flags: 'int', up: 'bool', running: 'bool',
  lower_up: 'bool', operstate: 'string', mtu: 'int', txqlen: 'int', address: 'string', kind: 'string',
  master: 'int', link: 'int', link_netnsid: 'int', peer_namespace: 'string', alias: 'string',
  family: 'string', ip: 'string', prefixlen: 'int', scope: 'string', addr_flags: 'string', changed: 'list', old_interface: 'string',
  resync: 'bool', container_id: 'string', container_name: 'string', container_image: 'string', container_runtime: 'string',
  pod_name: 'string', pod_namespace: 'string', pod_uid: 'string', host: 'string',
};

const CONSTANTS: Readonly<Record<string, number>> = {
  rtm_newlink: RTM_NEWLINK, rtm_dellink: RTM_DELLINK, rtm_newaddr: RTM_NEWADDR, rtm_deladdr: RTM_DELADDR,
  ...Object.fromEntries(EVENT_NAMES.map((n) => [n, EventType[n]])),
};

export type CompareOp = '==' | '!=' | '<' | '>' | '<=' | '>=' | '=~' | '!~' | 'IN' | 'HAS';
/** A value: a number, a string, a boolean, or an address block ({cidr}). */
export type Literal = number | string | boolean | { cidr: string };

export type Node =
  | { type: 'or' | 'and'; left: Node; right: Node }
  | { type: 'not'; operand: Node }
  | { type: 'cmp'; field: string; op: CompareOp; value: Literal | Literal[]; regex?: RegExp }
  | { type: 'bool'; field: string }
  | { type: 'true' };

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'has', 'true', 'false']);

/** Nesting a condition may have (parentheses, NOT, and chained AND/OR together): deeper ones are
 * an error, not a stack overflow in the daemon. */
export const MAX_DEPTH = 256;

class Parser {
  private pos = 0;
  private depth = 0;

  /** Counts one level of nesting at token t; fails past MAX_DEPTH. */
  private deeper(t: Token, n = 1): void {
    this.depth += n;
    if (this.depth > MAX_DEPTH) this.fail(t, `condition nested too deeply (more than ${MAX_DEPTH} levels of parentheses, NOT, AND and OR)`);
  }
  constructor(private readonly src: string, private readonly toks: Token[]) {}

  private peek(): Token { return this.toks[this.pos]!; }
  private next(): Token { return this.toks[this.pos++]!; }
  private fail(t: Token, reason?: string): never {
    const what = t.kind === 'end' ? 'end of input' : `'${t.text}'`;
    throw new FilterError(reason ?? `unexpected ${what}`, t.col, this.src);
  }
  private isWord(t: Token, w: string): boolean { return t.kind === 'ident' && t.value === w; }

  parse(): Node {
    if (this.peek().kind === 'end') return { type: 'true' };
    const n = this.or();
    const t = this.peek();
    if (t.kind !== 'end') this.fail(t, t.kind === 'op' && isCompare(t.text) ? `comparisons do not chain: unexpected '${t.text}'` : undefined);
    return n;
  }

  private or(): Node {
    return this.binary('or', '||', () => this.and());
  }

  private and(): Node {
    return this.binary('and', '&&', () => this.not());
  }

  /** A left-associative chain of `operand (WORD|alias operand)*`. */
  private binary(word: 'or' | 'and', alias: string, operand: () => Node): Node {
    let left = operand();
    let chained = 0;
    for (;;) {
      const t = this.peek();
      if (!(this.isWord(t, word) || (t.kind === 'op' && t.text === alias))) {
        this.depth -= chained;
        return left;
      }
      this.deeper(t); // a chain builds a tree as deep as it is long
      chained++;
      this.next();
      left = { type: word, left, right: operand() };
    }
  }

  private not(): Node {
    const t = this.peek();
    if (this.isWord(t, 'not') || (t.kind === 'op' && t.text === '!')) {
      this.next();
      this.deeper(t);
      const operand = this.not();
      this.depth--;
      return { type: 'not', operand };
    }
    return this.primary();
  }

  private primary(): Node {
    const t = this.next();
    if (t.kind === 'punct' && t.text === '(') {
      this.deeper(t);
      const n = this.or();
      this.depth--;
      const close = this.next();
      if (!(close.kind === 'punct' && close.text === ')')) this.fail(close, close.kind === 'end' ? `missing ')' to close the '(' of column ${t.col}` : undefined);
      return n;
    }
    if (t.kind !== 'ident' || KEYWORDS.has(t.value as string)) {
      if (t.kind === 'ident' || t.kind === 'int' || t.kind === 'string') this.fail(t, `expected a field name, found '${t.text}'`);
      this.fail(t);
    }
    const field = t.value as string;
    const type = FIELDS[field];
    if (!type) this.fail(t, `unknown field '${t.text}'`);
    const opTok = this.peek();
    const op = opTok.kind === 'op' && isCompare(opTok.text) ? opTok.text as CompareOp
      : this.isWord(opTok, 'in') ? 'IN' : this.isWord(opTok, 'has') ? 'HAS' : undefined;
    if (!op) {
      if (type === 'bool') return { type: 'bool', field };
      this.fail(opTok, `expected a comparison after '${t.text}', found ${opTok.kind === 'end' ? 'end of input' : `'${opTok.text}'`}`);
    }
    this.next();
    if (op === 'HAS') {
      // `changed HAS mtu`: a list field holds the name (a bare word, or a string).
      if (type !== 'list') this.fail(opTok, `HAS needs a list field ('changed'), '${field}' is ${type === 'int' ? 'an integer' : `a ${type}`}`);
      const vt = this.next();
      if (vt.kind !== 'ident' && vt.kind !== 'string') this.fail(vt, `HAS needs a name, found ${vt.kind === 'end' ? 'end of input' : `'${vt.text}'`}`);
      return { type: 'cmp', field, op, value: vt.kind === 'ident' ? vt.text : vt.value as string };
    }
    if (op === 'IN' && this.peek().kind === 'cidr') {
      // `ip IN 10.0.0.0/8`: one address block.
      if (type !== 'string') this.fail(this.peek(), `an address block needs an address field ('ip'), '${field}' is ${type === 'int' ? 'an integer' : `a ${type}`}`);
      return { type: 'cmp', field, op, value: [{ cidr: this.next().text }] };
    }
    if (op === 'IN') {
      const open = this.next();
      if (!(open.kind === 'punct' && open.text === '[')) this.fail(open, `IN needs a list '[…]' or an address block (10.0.0.0/8)`);
      const items: Literal[] = [];
      if (!(this.peek().kind === 'punct' && this.peek().text === ']')) {
        for (;;) {
          items.push(this.literal(field, type === 'list' ? 'string' : type, this.next()));
          const sep = this.next();
          if (sep.kind === 'punct' && sep.text === ']') break;
          if (!(sep.kind === 'punct' && sep.text === ',')) this.fail(sep, sep.kind === 'end' ? `missing ']' to close the '[' of column ${open.col}` : undefined);
        }
      } else {
        this.next();
      }
      if (type === 'bool') this.fail(opTok, `IN does not apply to the boolean field '${field}'`);
      return { type: 'cmp', field, op, value: items };
    }
    const vt = this.next();
    const value = this.literal(field, type === 'list' ? 'string' : type, vt);
    if (typeof value === 'object') this.fail(vt, `an address block goes after IN ('${field} IN ${vt.text}')`);
    checkOperator(field, type, op, opTok, this.src);
    const node: Node = { type: 'cmp', field, op, value };
    if (op === '=~' || op === '!~') {
      try {
        node.regex = new RegExp(value as string, 'l');
      } catch (e) {
        const msg = (e as Error).message.replace(/^Invalid regular expression: /, '');
        if (/Cannot be executed in linear time/.test(msg)) {
          throw new FilterError(`regular expression needs backtracking, which nlmon does not run (backreferences, lookaround, large {n} counts): ${JSON.stringify(value)}`, vt.col, this.src);
        }
        throw new FilterError(`invalid regular expression: ${msg}`, vt.col, this.src);
      }
    }
    return node;
  }

  /** A literal for a field of the given type; constants resolve by the field's type. */
  private literal(field: string, type: FieldType, t: Token): Literal {
    if (t.kind === 'punct' && t.text === '[') this.fail(t, `a list only goes after IN`);
    if (t.kind === 'cidr') {
      if (type !== 'string') this.fail(t, `an address block needs an address field ('ip'), '${field}' is ${type === 'int' ? 'an integer' : `a ${type}`}`);
      return { cidr: t.text };
    }
    if (t.kind === 'ident') {
      const w = t.value as string;
      if (w === 'true' || w === 'false') {
        if (type !== 'bool') this.fail(t, `cannot compare ${type === 'int' ? 'integer' : 'string'} field '${field}' with a boolean`);
        return w === 'true';
      }
      const c = CONSTANTS[w];
      if (c === undefined) this.fail(t, FIELDS[w] ? `expected a value, found the field '${t.text}'` : `unknown constant '${t.text}'`);
      if (type === 'int') return c;
      if (type === 'string' && field === 'event' && EVENT_NAMES.includes(w as never)) return w;
      this.fail(t, `cannot compare ${type === 'bool' ? 'boolean' : 'string'} field '${field}' with the number ${t.text}`);
    }
    if (t.kind === 'int') {
      if (type !== 'int') this.fail(t, `cannot compare ${type === 'bool' ? 'boolean' : 'string'} field '${field}' with a number`);
      return t.value as number;
    }
    if (t.kind === 'string') {
      if (type !== 'string') this.fail(t, `cannot compare ${type === 'bool' ? 'boolean' : 'integer'} field '${field}' with a string`);
      return t.value as string;
    }
    this.fail(t, t.kind === 'end' ? 'expected a value, found end of input' : `expected a value, found '${t.text}'`);
  }
}

function isCompare(op: string): boolean {
  return ['==', '!=', '<', '>', '<=', '>=', '=~', '!~'].includes(op);
}

function checkOperator(field: string, type: FieldType, op: CompareOp, t: Token, src: string): void {
  const ordering = op === '<' || op === '>' || op === '<=' || op === '>=';
  const regex = op === '=~' || op === '!~';
  if (ordering && type !== 'int') throw new FilterError(`'${op}' needs an integer field, '${field}' is a ${type}`, t.col, src);
  if (regex && type !== 'string' && type !== 'list') throw new FilterError(`'${op}' needs a string field, '${field}' is ${type === 'int' ? 'an integer' : 'a boolean'}`, t.col, src);
}

export function parseCondition(src: string): Node {
  return new Parser(src, lex(src)).parse();
}

/** A compiled condition: call it on an event. */
export type Condition = ((e: NlEvent) => boolean) & { readonly source: string; readonly normalized: string };

type Pred = (e: NlEvent) => boolean;
type Rec = Record<string, unknown>;

function compileNode(n: Node): Pred {
  switch (n.type) {
    case 'true': return () => true;
    case 'or': { const a = compileNode(n.left), b = compileNode(n.right); return (e) => a(e) || b(e); }
    case 'and': { const a = compileNode(n.left), b = compileNode(n.right); return (e) => a(e) && b(e); }
    case 'not': { const a = compileNode(n.operand); return (e) => !a(e); }
    case 'bool': { const f = n.field; return (e) => (e as unknown as Rec)[f] === true; }
    case 'cmp': return compileCompare(n);
  }
}

function compileCompare(n: Extract<Node, { type: 'cmp' }>): Pred {
  const f = n.field;
  const get = (e: NlEvent) => (e as unknown as Rec)[f];
  if (FIELDS[f] === 'list') {
    const list = (e: NlEvent) => get(e) as readonly string[];
    switch (n.op) {
      case '==': { const v = n.value as string; return (e) => list(e).includes(v); }
      case '!=': { const v = n.value as string; return (e) => !list(e).includes(v); }
      case 'IN': { const s = new Set(n.value as string[]); return (e) => list(e).some((x) => s.has(x)); }
      case 'HAS': { const v = n.value as string; return (e) => list(e).includes(v); }
      case '=~': { const r = n.regex!; return (e) => list(e).some((x) => r.test(x)); }
      case '!~': { const r = n.regex!; return (e) => !list(e).some((x) => r.test(x)); }
      default: throw new Error(`internal: operator ${n.op} on a list field`);
    }
  }
  const v = n.value;
  switch (n.op) {
    case '==': return (e) => get(e) === v;
    case '!=': return (e) => get(e) !== v;
    case '<': return (e) => (get(e) as number) < (v as number);
    case '>': return (e) => (get(e) as number) > (v as number);
    case '<=': return (e) => (get(e) as number) <= (v as number);
    case '>=': return (e) => (get(e) as number) >= (v as number);
    case '=~': { const m = lastMatch(n.regex!); return (e) => m(get(e) as string); }
    case '!~': { const m = lastMatch(n.regex!); return (e) => !m(get(e) as string); }
    case 'IN': {
      const items = n.value as Literal[];
      const s = new Set<unknown>(items.filter((x) => typeof x !== 'object'));
      const blocks = items.filter((x): x is { cidr: string } => typeof x === 'object');
      if (!blocks.length) return (e) => s.has(get(e));
      const list = new net.BlockList();
      for (const b of blocks) {
        const [addr, bits] = b.cidr.split('/') as [string, string];
        list.addSubnet(addr, Number(bits), net.isIPv4(addr) ? 'ipv4' : 'ipv6');
      }
      return (e) => {
        const v = get(e);
        if (s.has(v)) return true;
        if (typeof v !== 'string') return false;
        const family = net.isIPv4(v) ? 'ipv4' : net.isIPv6(v) ? 'ipv6' : undefined;
        return family !== undefined && list.check(v, family);
      };
    }
    case 'HAS': return () => false;
  }
}

/** r.test with the last value and its answer kept: the events of a burst repeat a link's name
 * and alias, and the linear-time engine, though never exponential, is slow on nested quantifiers
 * over a 255-byte alias (milliseconds). Keeping one string reference allocates nothing. */
function lastMatch(r: RegExp): (s: string) => boolean {
  let last: string | undefined;
  let answer = false;
  return (s) => {
    if (s !== last) {
      answer = r.test(s);
      last = s;
    }
    return answer;
  };
}

function quote(v: Literal): string {
  if (typeof v === 'object') return v.cidr;
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return String(v);
}

/** The expression written back fully parenthesized, with canonical keywords and literals. */
export function normalize(n: Node): string {
  switch (n.type) {
    case 'true': return 'true';
    case 'or': return `(${normalize(n.left)} OR ${normalize(n.right)})`;
    case 'and': return `(${normalize(n.left)} AND ${normalize(n.right)})`;
    case 'not': return `NOT ${normalize(n.operand)}`;
    case 'bool': return n.field;
    case 'cmp': return `${n.field} ${n.op} ${Array.isArray(n.value) ? `[${n.value.map(quote).join(', ')}]` : quote(n.value)}`;
  }
}

/** Compiles a condition once; throws FilterError with the column on any mistake. */
export function compileCondition(src: string): Condition {
  const ast = parseCondition(src);
  const pred = compileNode(ast);
  return Object.assign(pred, { source: src, normalized: normalize(ast) });
}
