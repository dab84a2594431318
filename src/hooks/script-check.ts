// Where a hook's program is, and whether it is safe to run as root (docs/hooks.md, "Security").
// Checked when the config is loaded and again, off the event loop, before every run: the program
// and every file its argv names, and every directory above them, must be owned by root (or
// nlmon's user) and not writable by group or others (a sticky directory such as /tmp excepted),
// and each file must still be the one that was loaded (same device and inode).
import fs from 'node:fs';
import childProcess from 'node:child_process';
import path from 'node:path';
import { othersCanChange, realStat } from '../files/safe-path.js';
import { packageFile } from '../package.js';

export const HOOK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A file a hook runs or reads, as it was when the config was loaded. */
export interface CheckedFile {
  /** As written (resolved on PATH for the program). */
  path: string;
  /** With every symlink resolved. */
  real: string;
  dev: number;
  ino: number;
}

/** The file argv[0] names: itself when it has a '/', else the first match on HOOK_PATH. */
export function resolveProgram(program: string): string | undefined {
  if (program.includes('/')) return path.resolve(program);
  for (const dir of HOOK_PATH.split(':')) {
    const f = path.join(dir, program);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      if (fs.statSync(f).isFile()) return f;
    } catch {
      // not here
    }
  }
  return undefined;
}

const UNSAFE_HINT = 'refusing to run it (--allow-unsafe-scripts overrides)';

/** Why one file or directory (with its stat) may be changed by someone else, or undefined. */
function ownerProblem(what: string, p: string, st: { mode: number; uid: number }, dir: boolean): string | undefined {
  const why = othersCanChange(st, dir);
  return why && `${what} ${p} is ${why}; ${UNSAFE_HINT}`;
}

/** Why a file (`what`, with its stat) or a directory above it may be changed by someone else. */
function treeProblem(what: string, file: string, real: string, st: fs.Stats): string | undefined {
  const problem = ownerProblem(what, file, st, st.isDirectory());
  if (problem) return problem;
  for (const d of parents(real)) {
    const dp = ownerProblem('directory', `${d} (above ${file})`, fs.statSync(d), true);
    if (dp) return dp;
  }
  return undefined;
}

/** The directories above a real path, nearest first. */
function parents(real: string): string[] {
  const out: string[] = [];
  for (let d = path.dirname(real); ; d = path.dirname(d)) {
    out.push(d);
    if (d === '/') return out;
  }
}

/** The argv words that name files to check: the program, and every other word that names an
 * existing file (`/bin/sh /etc/nlmon/x.sh`: the script matters as much as the shell). A hook
 * runs in /, so relative words are relative to /. */
function fileWords(argv: readonly string[]): Array<{ word: string; file: string; program: boolean }> {
  const out: Array<{ word: string; file: string; program: boolean }> = [];
  argv.forEach((word, i) => {
    if (i === 0) {
      const file = resolveProgram(word);
      if (file) out.push({ word, file, program: true });
    } else if (word.includes('/')) {
      const file = path.resolve('/', word);
      if (fs.existsSync(file)) out.push({ word, file, program: false });
    }
  });
  return out;
}

/** At load: why the hook must not be run, or the files to check again at each run. */
export function checkScript(argv: readonly string[], allowUnsafe: boolean): { problem: string } | { files: CheckedFile[] } {
  const program = argv[0] ?? '';
  if (!resolveProgram(program)) return { problem: `script '${program}' not found on ${HOOK_PATH}` };
  const files: CheckedFile[] = [];
  for (const { file, program: isProgram } of fileWords(argv)) {
    const what = isProgram ? 'script' : 'file';
    let st: fs.Stats;
    let real: string;
    try {
      real = fs.realpathSync(file);
      st = fs.statSync(real);
    } catch {
      return { problem: `${what} ${file} does not exist` };
    }
    if (isProgram) {
      if (!st.isFile()) return { problem: `script ${file} is not a regular file` };
      try {
        fs.accessSync(real, fs.constants.X_OK);
      } catch {
        return { problem: `script ${file} is not executable (chmod +x)` };
      }
    }
    const problem = allowUnsafe ? undefined : treeProblem(what, file, real, st);
    if (problem) return { problem };
    files.push({ path: file, real, dev: st.dev, ino: st.ino });
  }
  return { files };
}

/** Checks under way, by the hook's list of files (one list per hook, made at load). */
const underway = new WeakMap<readonly CheckedFile[], Promise<string | undefined>>();

/** Before a run: why it must be refused, or undefined. The same checks as at load, with stat
 * calls on libuv's pool (never on the event loop), and the identity of every file compared with
 * the one loaded: a file replaced since (a symlink swapped in, a `mv` over it) is refused until
 * the config is reloaded. The runs of a hook that ask while a check of its files is under way
 * share that check's answer (docs/hooks.md, "Security"): ten runs started together cost one
 * check, not ten, and no answer is older than the check that gave it. */
export function recheckFiles(files: readonly CheckedFile[]): Promise<string | undefined> {
  let check = underway.get(files);
  if (!check) {
    check = checkFiles(files);
    underway.set(files, check);
    const done = () => underway.delete(files);
    check.then(done, done);
  }
  return check;
}

async function checkFiles(files: readonly CheckedFile[]): Promise<string | undefined> {
  const problems = await Promise.all(files.map(checkFile));
  return problems.find((p) => p !== undefined);
}

/** A stat, or undefined when it fails (gone, or not reachable: the same to a check). */
const statOf = (p: string) => fs.promises.stat(p).catch(() => undefined);
function statSyncOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

/** One file: its path resolved, the file and every directory above the real path it had at load
 * looked at all at once (one round of the pool, not one after another). */
async function checkFile(f: CheckedFile): Promise<string | undefined> {
  const dirs = parents(f.real);
  const [real, st, ...above] = await Promise.all([fs.promises.realpath(f.path).catch(() => undefined), statOf(f.real), ...dirs.map(statOf)]);
  // Gone: nothing can run from it (the spawn says "no such file").
  if (real === undefined) return undefined;
  return fileProblem(f, real, real === f.real ? st : await statOf(real), dirs, above);
}

/** The same checks with blocking calls, for a thread that may block: a module hook's worker
 * checks its files itself before the runs it is given (module-worker.ts), with no round trip
 * through the daemon's loop. */
export function recheckFilesSync(files: readonly CheckedFile[]): string | undefined {
  for (const f of files) {
    let real: string;
    try {
      real = fs.realpathSync.native(f.path);
    } catch {
      continue; // gone
    }
    const dirs = parents(f.real);
    const problem = fileProblem(f, real, statSyncOf(real), dirs, dirs.map(statSyncOf));
    if (problem) return problem;
  }
  return undefined;
}

/** The verdict on a file found at `real` now (`now` its stat), with the stats of the
 * directories above its real path at load (`dirs`; undefined where one is gone). */
function fileProblem(f: CheckedFile, real: string, now: fs.Stats | undefined, dirs: readonly string[], above: ReadonlyArray<fs.Stats | undefined>): string | undefined {
  if (now === undefined) return undefined; // gone between the two looks
  if (real !== f.real || now.dev !== f.dev || now.ino !== f.ino) {
    return `${f.path} was replaced since the config was loaded (now ${real}, inode ${now.ino}); reload to accept the new file`;
  }
  const problem = ownerProblem('file', f.path, now, false);
  if (problem) return problem;
  for (let i = 0; i < dirs.length; i++) {
    const ds = above[i];
    if (!ds) return `directory ${dirs[i]} is gone`;
    const dp = ownerProblem('directory', `${dirs[i]} (above ${f.path})`, ds, true);
    if (dp) return dp;
  }
  return undefined;
}

/** Why a file a module hook loads (the module, or any file it imports, at any depth) must not
 * be loaded as root, or undefined: the script rules, for module-guard.ts. */
export function loadProblem(file: string): string | undefined {
  const found = realStat(file);
  return found ? treeProblem('file', file, found.real, found.st) : undefined; // not there: the loader says so
}

/** The loader hooks that check every file a module loads (module-guard.ts). */
export const MODULE_GUARD = packageFile('dist/src/hooks/module-guard.js');

/** The loader's check of a module hook, run in a child Node: the module imported once (every
 * file it loads checked by the guard, unless --allow-unsafe-scripts), and its handler looked
 * for. It prints the loader's own message and exits non-zero on failure. */
const LOAD_CHECK = `
import { pathToFileURL } from 'node:url';
import { register } from 'node:module';
const file = process.argv.at(-1);
const guard = process.argv.at(-2);
if (guard !== '-') {
  register(guard);
  (await import(guard)).guardRequire();
}
let m;
try {
  m = await import(pathToFileURL(file).href);
} catch (e) {
  const where = String(e?.stack ?? '').split('\\n').find((l) => l.includes(file)) ?? '';
  console.error((e?.name ? e.name + ': ' : '') + (e?.message ?? String(e)) + (where && !String(e?.message).includes(file) ? ' (' + where.trim().replace(/^at /, '') + ')' : ''));
  process.exit(2);
}
if (typeof m.default !== 'function' && typeof m.handle !== 'function') {
  console.error('it has no default export or handle export that is a function');
  process.exit(2);
}
`;

/** At load: why a module hook must not be run (a file like a script's, which must also load), or
 * the file to check again at each run. */
export function checkModule(file: string, allowUnsafe: boolean): { problem: string } | { files: CheckedFile[] } {
  const found = realStat(file);
  if (!found) return { problem: `module ${file} does not exist` };
  const { real, st } = found;
  if (!st.isFile()) return { problem: `module ${file} is not a regular file` };
  const problem = allowUnsafe ? undefined : treeProblem('module', file, real, st);
  if (problem) return { problem };
  // A syntax error first, with its line (the loader's own message does not say where).
  const syntax = childProcess.spawnSync(process.execPath, ['--check', real], { encoding: 'utf8', timeout: 20_000 });
  if (syntax.status !== 0 && !syntax.error) {
    const lines = syntax.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    const where = lines[0]?.replace(/^file:\/\//, '') ?? real;
    const what = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.at(-1) ?? 'syntax error';
    return { problem: `module ${file} does not load: ${what} (${where})` };
  }
  const r = childProcess.spawnSync(process.execPath, ['--input-type=module', '-e', LOAD_CHECK, allowUnsafe ? '-' : MODULE_GUARD.href, real], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return { problem: `module ${file} could not be checked: ${r.error.message}` };
  if (r.status !== 0) {
    const why = r.stderr.trim().split('\n').filter(Boolean).slice(-3).join(' ') || `the check exited with ${r.status ?? r.signal}`;
    return { problem: `module ${file} does not load: ${why}` };
  }
  return { files: [{ path: file, real, dev: st.dev, ino: st.ino }] };
}
