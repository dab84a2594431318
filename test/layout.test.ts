// The tree shows the pipeline: each folder of src/ is a stage (or a room the stages share), and
// imports point only down the pipeline and into event/. This test reads every import in src/ and fails on a wrong-way arrow,
// a folder it has no rule for, or more than three files left at the root of src/.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, withTempDir } from './helpers/index.js';

/** For each folder, the folders its modules may import (itself and the root files always).
 * The stages of the pipeline (netlink → containers → hooks, outputs) import none of each other:
 * only event/ and the rooms below them (native/: the addon; files/: files nlmon writes;
 * config/: the YAML checker each stage reads its own section with). daemon/ wires the stages;
 * cli/ is the shell around it. */
export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  event: [],
  native: ['event'],
  files: [],
  config: ['event'],
  netlink: ['event', 'native', 'config'],
  containers: ['event', 'config'],
  hooks: ['event', 'native', 'files', 'config'],
  outputs: ['event', 'native', 'files', 'config'],
  daemon: ['event', 'native', 'files', 'config', 'netlink', 'containers', 'hooks', 'outputs'],
  cli: ['event', 'native', 'files', 'config', 'netlink', 'containers', 'hooks', 'outputs', 'daemon'],
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

/** The import cycles among the files under src (type-only imports count: a cycle of types is
 * still two files that cannot be read one without the other), each as a list of paths. */
export function importCycles(src: string): string[][] {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(src)) {
    const deps = importsOf(fs.readFileSync(file, 'utf8'))
      .map((spec) => path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'))
      .filter((t) => t.startsWith(src + path.sep));
    graph.set(file, deps);
  }
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 'open') cycles.push(stack.slice(stack.indexOf(d)).map((x) => path.relative(src, x)));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  }
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

/** The most lines a file of src/ may have: past it, a file holds more than one job. */
const MAX_LINES = 400;

test('no import cycle among the files of src/, and no file over 400 lines', () => {
  const src = path.join(ROOT, 'src');
  assert.deepEqual(importCycles(src), []);
  const long = tsFiles(src).map((f) => [path.relative(src, f), fs.readFileSync(f, 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > MAX_LINES);
  assert.deepEqual(long, []);
});

test('the cycle check finds a cycle of three files, type-only imports included', () => withTempDir(async (dir) => {
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'outputs'), { recursive: true });
  fs.writeFileSync(path.join(src, 'outputs', 'a.ts'), `import { B } from './b.js';\nexport const A = B;\n`);
  fs.writeFileSync(path.join(src, 'outputs', 'b.ts'), `import type { C } from './c.js';\nexport const B = 1 as C;\n`);
  fs.writeFileSync(path.join(src, 'outputs', 'c.ts'), `import type { A } from './a.js';\nexport type C = typeof A;\n`);
  fs.writeFileSync(path.join(src, 'outputs', 'd.ts'), `import { A } from './a.js';\nexport const D = A;\n`);
  assert.deepEqual(importCycles(src), [['outputs/a.ts', 'outputs/b.ts', 'outputs/c.ts']]);
}));

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
