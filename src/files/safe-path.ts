// Files nlmon writes as root (docs/hooks.md, "Threat model"): the hook log, the file output,
// the spool, the control socket, config edits. A local user who owned any directory on such a
// path could plant a symlink there and have root overwrite, truncate or append to any file. So
// every directory from / is checked as scripts are (owned by root or nlmon's user, not writable
// by group or others unless sticky), walked one component at a time with lstat (a symlink is
// followed only when root or nlmon's user made it), missing directories are made and checked,
// and the file itself is opened with O_NOFOLLOW and checked after the open (a regular file of
// root or nlmon's user, with one link).
import fs from 'node:fs';
import path from 'node:path';

/** A path nlmon cannot write through (not a directory, cannot be made): names it and why. */
export class PathError extends Error {
  constructor(readonly path: string, why: string) {
    super(`${path}: ${why}`);
  }
}

/** A path nlmon refuses to write through because another user could change it. */
export class UnsafePathError extends PathError {
  constructor(path: string, why: string) {
    super(path, `${why}; refusing to write there as ${process.getuid?.() === 0 ? 'root' : "nlmon's user"}`);
  }
}

const ME = process.getuid?.() ?? 0;
const trusted = (uid: number) => uid === 0 || uid === ME;
/** Symlinks followed on one path at most (as the kernel's limit). */
const MAX_LINKS = 40;

/** Why a file or a directory may be changed by someone other than root or nlmon's user, or
 * undefined: the rule every path nlmon trusts is held to (scripts, modules, the files it writes,
 * secret files). A sticky directory (/tmp) may be writable by others: only an entry's owner can
 * replace it, and entries are checked in turn. */
export function othersCanChange(st: { mode: number; uid: number }, dir: boolean): string | undefined {
  if (!trusted(st.uid)) return `owned by uid ${st.uid}, not root or nlmon's user`;
  const sticky = dir && (st.mode & 0o1000) !== 0;
  if (st.mode & 0o002 && !sticky) return 'world-writable';
  if (st.mode & 0o020 && !sticky) return 'group-writable';
  return undefined;
}

const dirProblem = (st: fs.Stats) => othersCanChange(st, true);

/** Checks (and with `create`, makes, mode `mode`) the directory `dir` and every one above it;
 * returns its real path. Throws UnsafePathError naming the first directory that fails. */
export function safeDirectory(dir: string, opts: { create?: boolean; mode?: number } = {}): string {
  if (!path.isAbsolute(dir)) throw new UnsafePathError(dir, 'not an absolute path');
  let todo = dir.split('/').filter(Boolean);
  let cur = '/';
  let links = 0;
  const root = fs.statSync('/');
  const bad = dirProblem(root);
  if (bad) throw new UnsafePathError('/', bad);
  while (todo.length) {
    const name = todo.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      cur = path.dirname(cur);
      continue;
    }
    const p = path.join(cur, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !opts.create) throw new PathError(p, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
      try {
        fs.mkdirSync(p, { mode: opts.mode ?? 0o750 });
      } catch (m) {
        if ((m as NodeJS.ErrnoException).code !== 'EEXIST') throw new PathError(p, `cannot make it: ${(m as NodeJS.ErrnoException).code ?? (m as Error).message}`);
      }
      st = fs.lstatSync(p); // what is there now, whoever made it
    }
    if (st.isSymbolicLink()) {
      // It lies in a directory only root, nlmon's user (or, sticky, its owner) can change: a link
      // made by anyone else there (a sticky /tmp) is refused, as fs.protected_symlinks would.
      if (!trusted(st.uid)) throw new UnsafePathError(p, `a symbolic link owned by uid ${st.uid}`);
      if (++links > MAX_LINKS) throw new UnsafePathError(dir, 'too many symbolic links');
      const target = fs.readlinkSync(p);
      todo = [...target.split('/').filter(Boolean), ...todo];
      if (target.startsWith('/')) cur = '/';
      continue;
    }
    if (!st.isDirectory()) throw new PathError(p, 'ENOTDIR: not a directory');
    const problem = dirProblem(st);
    if (problem) throw new UnsafePathError(p, problem);
    cur = p;
  }
  return cur;
}

/** A symlink where the file should be is refused by name before the open (the kernel's
 * fs.protected_symlinks would say only EACCES); O_NOFOLLOW closes the race after the check. */
function refuseLink(file: string, real: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(real);
  } catch {
    return; // not there: it is made by the open
  }
  if (st.isSymbolicLink()) throw new UnsafePathError(file, `a symbolic link (owned by uid ${st.uid})`);
}

function openError(file: string, e: unknown): PathError {
  const err = e as NodeJS.ErrnoException;
  return err.code === 'ELOOP' ? new UnsafePathError(file, 'a symbolic link') : new PathError(file, `cannot open it: ${err.code ?? err.message}`);
}

/** Why an open file may not be written as root, or undefined: a regular file of root or
 * nlmon's user, with one link (a hard link to another file is refused). */
function fileProblem(st: fs.Stats): string | undefined {
  if (!st.isFile()) return 'not a regular file';
  if (!trusted(st.uid)) return `owned by uid ${st.uid}, not root or nlmon's user`;
  if (st.nlink > 1) return `has ${st.nlink} hard links`;
  return undefined;
}

/** Opens `file` for writing without following a symlink, in a checked directory (made when
 * missing, mode `dirMode`). `flags` are added to O_WRONLY|O_CREAT|O_NOFOLLOW (O_APPEND,
 * O_TRUNC, O_RDWR…). Throws UnsafePathError. */
export function openSafe(file: string, opts: { flags?: number; mode?: number; dirMode?: number; create?: boolean } = {}): number {
  const c = fs.constants;
  const dir = safeDirectory(path.dirname(file), { create: opts.create ?? true, mode: opts.dirMode ?? 0o750 });
  const real = path.join(dir, path.basename(file));
  refuseLink(file, real);
  let fd: number;
  const rw = (opts.flags ?? 0) & c.O_RDWR ? 0 : c.O_WRONLY;
  try {
    fd = fs.openSync(real, rw | c.O_CREAT | c.O_NOFOLLOW | (opts.flags ?? 0), opts.mode ?? 0o640);
  } catch (e) {
    throw openError(file, e);
  }
  const problem = fileProblem(fs.fstatSync(fd));
  if (problem) {
    fs.closeSync(fd);
    throw new UnsafePathError(file, problem);
  }
  return fd;
}

/** A path with every symlink resolved, and what it is; undefined when it is not there. */
export function realStat(file: string): { real: string; st: fs.Stats } | undefined {
  try {
    const real = fs.realpathSync(file);
    return { real, st: fs.statSync(real) };
  } catch {
    return undefined;
  }
}

/** Why a file holding a secret (a webhook's secret_file, a nats credentials_file) must not be
 * used, or undefined: it must be owned by root or nlmon's user, writable by no one else and not
 * readable by every user, and every directory above it must pass the checks above (another
 * user could otherwise swap it). A file that is not there is the reader's to report. */
export function secretFileProblem(key: string, file: string): string | undefined {
  const found = realStat(file);
  if (!found) return undefined;
  const { real, st } = found;
  if (!st.isFile()) return `${key} ${file} is not a regular file`;
  if (!trusted(st.uid)) return `${key} ${file} is owned by uid ${st.uid}, not root or nlmon's user`;
  if (st.mode & 0o002) return `${key} ${file} is writable by every user (chmod 600 ${file})`;
  if (st.mode & 0o020) return `${key} ${file} is writable by its group (chmod 600 ${file})`;
  if (st.mode & 0o004) return `${key} ${file} is readable by every user (chmod 600 ${file})`;
  for (let d = path.dirname(real); ; d = path.dirname(d)) {
    const problem = dirProblem(fs.statSync(d));
    if (problem) return `${key} ${file}: directory ${d} is ${problem}`;
    if (d === '/') return undefined;
  }
}

/** A secret file's content, trimmed, once secretFileProblem has nothing against it; or why it
 * cannot be used (unsafe, missing, unreadable). What `secret_file` and `token_file` read. */
export function readSecretFile(key: string, file: string): { text: string } | { problem: string } {
  const unsafe = secretFileProblem(key, file);
  if (unsafe) return { problem: unsafe };
  try {
    return { text: fs.readFileSync(file, 'utf8').trim() };
  } catch (err) {
    return { problem: `${key} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}` };
  }
}
