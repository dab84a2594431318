// Where a hook's program is, and whether it is safe to run as root (docs/hooks.md, "Script safety").
import fs from 'node:fs';
import path from 'node:path';

export const HOOK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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

/** Why the program must not be run, or undefined when it may. */
export function checkScript(program: string, allowUnsafe: boolean): string | undefined {
  const file = resolveProgram(program);
  if (!file) return `script '${program}' not found on ${HOOK_PATH}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return `script ${file} does not exist`;
  }
  if (!st.isFile()) return `script ${file} is not a regular file`;
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    return `script ${file} is not executable (chmod +x)`;
  }
  if (allowUnsafe) return undefined;
  if (st.mode & 0o002) return `script ${file} is world-writable; refusing to run it (chmod o-w, or --allow-unsafe-scripts)`;
  if (st.mode & 0o020) return `script ${file} is group-writable; refusing to run it (chmod g-w, or --allow-unsafe-scripts)`;
  const me = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== me) return `script ${file} is owned by uid ${st.uid}, not root or nlmon's user; refusing to run it (--allow-unsafe-scripts)`;
  return undefined;
}
