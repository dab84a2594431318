// The filter language's lexer (docs/filter.md): words, numbers, strings, address blocks,
// operators; and the error every mistake is, with its column.
import net from 'node:net';

export class FilterError extends Error {
  constructor(readonly reason: string, readonly column: number, readonly source: string) {
    super(`${reason} at column ${column}`);
  }

  /** `condition: <reason> at column N`, the expression, and a caret under the column. */
  format(label = 'condition'): string {
    return `${label}: ${this.message}\n  ${this.source}\n  ${' '.repeat(Math.max(0, this.column - 1))}^`;
  }
}

export type TokenKind = 'ident' | 'int' | 'string' | 'cidr' | 'op' | 'punct' | 'end';
export interface Token { kind: TokenKind; text: string; value: string | number; col: number }

const OPS = ['==', '!=', '<=', '>=', '=~', '!~', '&&', '||', '<', '>', '!'];

export function lex(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const col = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if ('()[],'.includes(c)) { out.push({ kind: 'punct', text: c, value: c, col }); i++; continue; }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) { out.push({ kind: 'op', text: op, value: op, col }); i += op.length; continue; }
    if (c === '"' || c === "'") {
      let s = '';
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw new FilterError('unterminated string', col, src);
        const d = src[j]!;
        if (d === c) break;
        if (d === '\\') {
          const e = src[j + 1];
          if (e === '\\' || e === "'" || e === '"') { s += e; j += 2; continue; }
          throw new FilterError(e === undefined ? 'unterminated string' : `unknown escape '\\${e}' (a backslash is written '\\\\': '\\\\${e}')`, j + 1, src);
        }
        s += d;
        j++;
      }
      out.push({ kind: 'string', text: src.slice(i, j + 1), value: s, col });
      i = j + 1;
      continue;
    }
    // An address block: 10.0.0.0/8, fd00::/8 (for `ip IN …`).
    const cidr = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}:[0-9a-fA-F:.]*)\/\d{1,3}(?![\w.:/])/.exec(src.slice(i));
    if (cidr) {
      const [addr, bits] = cidr[0].split('/') as [string, string];
      const v = net.isIPv4(addr) ? 4 : net.isIPv6(addr) ? 6 : 0;
      if (!v || Number(bits) > (v === 4 ? 32 : 128)) throw new FilterError(`'${cidr[0]}' is not an address block (10.0.0.0/8, fd00::/8)`, col, src);
      out.push({ kind: 'cidr', text: cidr[0], value: cidr[0], col });
      i += cidr[0].length;
      continue;
    }
    const num = /^-?(0[xX][0-9a-fA-F]+|[0-9]+)/.exec(src.slice(i));
    if (num && !/[A-Za-z0-9_]/.test(src[i + num[0].length] ?? '')) {
      const t = num[0];
      const neg = t.startsWith('-');
      const body = neg ? t.slice(1) : t;
      const v = body.toLowerCase().startsWith('0x') ? parseInt(body.slice(2), 16) : parseInt(body, 10);
      if (!Number.isSafeInteger(v)) throw new FilterError(`integer out of range: ${t}`, col, src);
      out.push({ kind: 'int', text: t, value: neg ? -v : v, col });
      i += t.length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) { out.push({ kind: 'ident', text: id[0], value: id[0].toLowerCase(), col }); i += id[0].length; continue; }
    throw new FilterError(`unexpected character '${c}'`, col, src);
  }
  out.push({ kind: 'end', text: 'end of input', value: '', col: src.length + 1 });
  return out;
}
