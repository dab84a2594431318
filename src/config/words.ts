// Splits a hook's `script` into argv the way a POSIX shell splits words (quotes and
// backslashes honoured) without any expansion: the result is never given to a shell.

export class WordsError extends Error {}

export function splitWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new WordsError(`unterminated ' quote at column ${i + 1}`);
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= s.length) throw new WordsError(`unterminated " quote at column ${i + 1}`);
        const d = s[j]!;
        if (d === '"') break;
        if (d === '\\' && j + 1 < s.length && '"\\$`\n'.includes(s[j + 1]!)) {
          if (s[j + 1] !== '\n') cur += s[j + 1];
          j += 2;
          continue;
        }
        cur += d;
        j++;
      }
      inWord = true;
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= s.length) throw new WordsError(`trailing backslash at column ${i + 1}`);
      if (s[i + 1] !== '\n') cur += s[i + 1];
      inWord = true;
      i += 2;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}
