// A spool's lock file: "<pid> <start time>" of the process using the spool, so that a second
// daemon on the same spool_dir is refused while the first runs, and a stale lock is taken over.
import fs from 'node:fs';
import path from 'node:path';

const LOCK_FILE = 'lock';

/** A process's start time (clock ticks since boot), which tells it from a later one given the
 * same pid; undefined if it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Marks dir as this process's: a spool written by two daemons at once would be garbled. A lock
 * left by a process that is gone (its pid free, or taken by a process started later) is taken
 * over. */
export function takeLock(dir: string): void {
  const file = path.join(dir, LOCK_FILE);
  let held = '';
  try {
    held = fs.readFileSync(file, 'utf8').trim();
  } catch {
    // no lock
  }
  const [pid, started] = held.split(' ');
  if (pid && Number(pid) !== process.pid && started && startTime(Number(pid)) === started) {
    throw new Error(`the spool ${dir} is in use by process ${pid} (another nlmon?); give each daemon's output its own spool_dir`);
  }
  const c = fs.constants;
  const fd = fs.openSync(file, c.O_WRONLY | c.O_CREAT | c.O_TRUNC | c.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, `${process.pid} ${startTime(process.pid) ?? ''}\n`);
  } finally {
    fs.closeSync(fd);
  }
}

/** Lets go of the spool (a clean close). */
export function releaseLock(dir: string): void {
  fs.rmSync(path.join(dir, LOCK_FILE), { force: true });
}
