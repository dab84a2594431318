// The tree shows the pipeline: each folder of src/ is a stage, and imports point only down the
// pipeline and into event/. This test reads every import in src/ and fails on a wrong-way arrow,
// a folder it has no rule for, or more than three files left at the root of src/.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, withTempDir } from './helpers/index.js';

/** For each stage, the stages its modules may import (itself and the root files always). */
export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  event: [],
  native: ['event'],
  files: [],
  netlink: ['event', 'native'],
  containers: ['event'],
  hooks: ['event', 'native', 'files'],
  outputs: ['event', 'files'],
  config: ['event', 'hooks', 'outputs'],
  daemon: ['event', 'native', 'netlink', 'containers', 'hooks', 'outputs', 'config'],
  cli: ['event', 'native', 'netlink', 'containers', 'hooks', 'outputs', 'config', 'daemon'],
};

const IMPORT = /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

/** The relative module specifiers a TypeScript file imports (static, re-exports and dynamic). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec && spec.startsWith('.')) out.push(spec);
  }
  return out;
}

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every rule broken in the tree under src, as readable lines. */
export function layoutViolations(src: string): string[] {
  const problems: string[] = [];
  const stageOf = (file: string) => {
    const rel = path.relative(src, file).split(path.sep);
    return rel.length > 1 ? rel[0]! : '';
  };
  const rootFiles = fs.readdirSync(src).filter((n) => n.endsWith('.ts'));
  if (rootFiles.length > 3) problems.push(`${rootFiles.length} files at the root of src/ (at most 3): ${rootFiles.join(', ')}`);
  for (const file of tsFiles(src)) {
    const from = stageOf(file);
    const rel = path.relative(src, file);
    if (from && !(from in MAY_IMPORT)) {
      problems.push(`${rel}: folder ${from}/ has no rule in MAY_IMPORT; say which stages it may import`);
      continue;
    }
    for (const spec of importsOf(fs.readFileSync(file, 'utf8'))) {
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(src + path.sep)) {
        problems.push(`${rel} imports ${spec}, outside src/`);
        continue;
      }
      const to = stageOf(target);
      if (to === from || to === '') continue;
      if (from === '') problems.push(`${rel} (a root file) imports ${spec}: root files import no stage`);
      else if (!MAY_IMPORT[from]!.includes(to)) problems.push(`${rel} imports ${spec}: ${from}/ may not import ${to}/ (it may import ${MAY_IMPORT[from]!.join(', ') || 'only itself'})`);
    }
  }
  return problems;
}

test('src/ is grouped by stage and every import points down the pipeline or into event/', () => {
  const src = path.join(ROOT, 'src');
  assert.deepEqual(layoutViolations(src), []);
  const folders = fs.readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  assert.deepEqual(folders, Object.keys(MAY_IMPORT).sort());
});

test('the layout check finds wrong-way imports, unknown folders and a crowded root', () => withTempDir(async (dir) => {
  const src = path.join(dir, 'src');
  const put = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), text);
  };
  put('event/event.ts', `export const A = 1;\n`);
  put('hooks/runner.ts', `import { A } from '../event/event.js';\nexport const B = A;\n`);
  put('netlink/monitor.ts', `import type { B } from '../hooks/runner.js';\nexport { A } from '../event/event.js';\n`);
  put('event/format.ts', `const m = await import('../cli/cli.js');\n`);
  put('cli/cli.ts', `import '../daemon/daemon.js';\nimport x from 'node:fs';\n`);
  put('daemon/daemon.ts', `export {};\n`);
  put('plugins/p.ts', `export {};\n`);
  for (const n of ['a', 'b', 'c', 'd']) put(`${n}.ts`, `export {};\n`);
  const v = layoutViolations(src);
  assert.equal(v.length, 4, v.join('\n'));
  assert.ok(v.some((l) => l.startsWith('netlink/monitor.ts imports ../hooks/runner.js: netlink/ may not import hooks/')), v.join('\n'));
  assert.ok(v.some((l) => l.startsWith('event/format.ts imports ../cli/cli.js: event/ may not import cli/')), v.join('\n'));
  assert.ok(v.some((l) => l.startsWith('plugins/p.ts: folder plugins/ has no rule')), v.join('\n'));
  assert.ok(v.some((l) => l.startsWith('4 files at the root of src/')), v.join('\n'));
}));

test('importsOf reads static, type-only, re-export, side-effect and dynamic imports', () => {
  const text = `import a from './a.js';\nimport type { B } from "../b.js";\nexport * from './c.js';\nimport './d.js';\nconst e = await import('./e.js');\nimport fs from 'node:fs';\n// not an import: from './f.js'\n`;
  assert.deepEqual(importsOf(text), ['./a.js', '../b.js', './c.js', './d.js', './e.js']);
});
