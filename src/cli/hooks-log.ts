// `nlmon hooks log [NAME] [-n N] [-f]` (docs/cli.md): the hook log, one hook's lines or all, the
// last N, then (with -f) what is appended, across a rotation (a new file at the path). The path
// is the config's `hook_log` with -c, else the running daemon's, else the default.
import fs from 'node:fs';
import { ConfigError, loadConfigFile } from '../daemon/config-file.js';
import { DEFAULT_HOOK_LOG } from '../hooks/config.js';
import { terminalSafe } from '../event/format.js';
import { onStopSignal } from '../signals.js';
import { api, socketPath, type SocketOptions } from './control-client.js';

export interface HooksLogOptions extends SocketOptions {
  lines?: number;
  follow?: boolean;
}

/** How much of the end of the file is read for the last lines (a huge log is not read whole). */
const TAIL_BYTES = 4 * 1024 * 1024;

async function logPath(opts: HooksLogOptions): Promise<string> {
  if (opts.config) return loadConfigFile(opts.config, { allowUnsafeScripts: true }).integration.hook_log;
  try {
    return (await api.status(await socketPath(opts))).hook_log;
  } catch {
    return DEFAULT_HOOK_LOG; // no daemon running: where it would be
  }
}

/** A line of the hook log that belongs to the hook (its start, end, output or drop). */
function ofHook(line: string, name: string | undefined): boolean {
  if (!name) return true;
  return / : (started|done|stderr|stdout) ([^ ]+) : /.exec(line)?.[2] === name;
}

export async function hooksLogCommand(name: string | undefined, opts: HooksLogOptions): Promise<number> {
  let file: string;
  try {
    file = await logPath(opts);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return e instanceof ConfigError ? 2 : 1;
  }
  if (!file) {
    process.stderr.write('nlmon: the hook log is off (hook_log: "")\n');
    return 1;
  }
  const mine = (lines: string[]) => lines.filter((l) => l && ofHook(l, name));
  const print = (lines: string[]) => {
    if (lines.length) process.stdout.write(lines.map(terminalSafe).join('\n') + '\n');
  };
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    process.stderr.write(`nlmon: cannot read the hook log ${file}: ${(e as Error).message}\n`);
    return 1;
  }
  let st = fs.fstatSync(fd);
  const from = Math.max(0, st.size - TAIL_BYTES);
  const buf = Buffer.alloc(st.size - from);
  fs.readSync(fd, buf, 0, buf.length, from);
  const text = buf.toString('utf8').split('\n');
  if (from > 0) text.shift(); // a partial first line
  const last = mine(text);
  print(last.slice(Math.max(0, last.length - (opts.lines ?? 20))));
  if (!opts.follow) {
    fs.closeSync(fd);
    return 0;
  }
  let pos = st.size;
  let partial = '';
  let stop = false;
  const off = onStopSignal(() => { stop = true; });
  process.stdout.on('error', () => { stop = true; });
  try {
    while (!stop) {
      await new Promise((r) => setTimeout(r, 200));
      // Rotated (another file at the path) or cut: read the new one from its start.
      let now: fs.Stats | undefined;
      try {
        now = fs.statSync(file);
      } catch {
        continue; // between logrotate's rename and nlmon's reopen
      }
      if (now.ino !== st.ino || now.size < pos) {
        fs.closeSync(fd);
        fd = fs.openSync(file, 'r');
        st = fs.fstatSync(fd);
        pos = 0;
        partial = '';
      }
      const size = fs.fstatSync(fd).size;
      if (size <= pos) continue;
      const chunk = Buffer.alloc(Math.min(size - pos, TAIL_BYTES));
      const n = fs.readSync(fd, chunk, 0, chunk.length, pos);
      pos += n;
      const lines = (partial + chunk.subarray(0, n).toString('utf8')).split('\n');
      // A line longer than what is read at once is not kept whole (the daemon writes none).
      partial = lines.pop()!.slice(-TAIL_BYTES);
      print(mine(lines));
    }
  } finally {
    off();
    fs.closeSync(fd);
  }
  return 0;
}
