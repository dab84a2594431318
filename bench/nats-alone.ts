// Bench (README, "Measured"): the nats output alone, in a process of its own with the daemon's
// Node flags, with no intake, no daemon work and no generator on the cores: the daemon's events
// (taken from the stream) made beforehand and handed to the output at a set rate, in batches as
// the intake hands them. Its CPU per event, set against the daemon's with the output (nats.ts),
// says how much of that is the output's own work and how much the machine's (the generator, the
// server and the daemon on 2 cores). Not the bench's process: it holds the streams it read, and
// collecting that heap would be counted.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { DAEMON_NODE_OPTIONS } from '../src/daemon/node-options.js';
import { loadConfigFile } from '../src/daemon/config-file.js';
import { Outputs } from '../src/outputs/fan-out.js';
import type { NatsOutputStatus } from '../src/outputs/nats/nats.js';
import type { NlEvent } from '../src/event/event.js';
import { cpuSeconds, sleep, until } from '../test/helpers/index.js';
import { median } from './context.js';

export interface AloneRun {
  /** Events handed to the output per second, and in each batch. */
  rate: number;
  batch: number;
  /** CPU µs per event (median of the runs): the process's, all threads; its main thread's. */
  usPerEvent: number;
  mainUs: number;
}

const RUNS = 3;
/** A run that takes longer has lost its server. */
const DEADLINE_MS = 120_000;

/** `count` events shaped like `samples` (taken in turn, each numbered and stamped as received
 * when handed over) to a nats output on `url`, stream `stream`, RUNS times, in a child process. */
export async function natsOutputAlone(url: string, tmp: string, stream: string, samples: readonly NlEvent[], count: number, rate: number, batch: number): Promise<AloneRun> {
  const dir = fs.mkdtempSync(path.join(tmp, 'alone-'));
  try {
    fs.writeFileSync(path.join(dir, 'samples.json'), JSON.stringify(samples));
    const args = [...DAEMON_NODE_OPTIONS.split(' '), fileURLToPath(import.meta.url), url, dir, stream, String(count), String(rate), String(batch)];
    const { stdout } = await execa(process.execPath, args, { stdin: 'ignore', stderr: 'inherit', timeout: 10 * DEADLINE_MS });
    return JSON.parse(stdout) as AloneRun;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The child's part: the output in this process, fed the samples in `dir`. */
async function runAlone(url: string, dir: string, stream: string, count: number, rate: number, batch: number): Promise<AloneRun> {
  const samples = JSON.parse(fs.readFileSync(path.join(dir, 'samples.json'), 'utf8')) as NlEvent[];
  const cfg = path.join(dir, 'alone.yaml');
  fs.writeFileSync(cfg, `nlmon:\n  outputs:\n    - name: alone\n      type: nats\n      url: ${url}\n      stream: ${stream}\n      subject: alone.{host}.{event}\n      spool_dir: ${dir}/spool\n`);
  const outputs = new Outputs((name, level, msg) => { if (level !== 'info') process.stderr.write(`bench: output ${name}: ${msg}\n`); });
  const errors = await outputs.set(loadConfigFile(cfg).outputs);
  if (errors.length) throw new Error(errors.join('; '));
  const status = () => outputs.status()[0] as NatsOutputStatus;
  let sequence = 0;
  const made = (): NlEvent[] => {
    const out: NlEvent[] = new Array(batch);
    for (let i = 0; i < batch; i++) out[i] = { ...samples[sequence % samples.length]!, sequence: ++sequence, timestamp: Date.now() };
    return out;
  };
  try {
    await until(() => status().state === 'connected', 'the output alone to connect', 20000);
    const runs: Array<{ all: number; main: number }> = [];
    for (let r = 0; r < RUNS; r++) {
      const delivered = status().delivered;
      const cpu0 = cpuSeconds(process.pid);
      const main0 = cpuSeconds(process.pid, process.pid); // the main thread's task has the process's id
      const t0 = Date.now();
      for (let sent = 0; sent < count; sent += batch) {
        outputs.submit(made());
        const wait = t0 + ((sent + batch) / rate) * 1000 - Date.now();
        await (wait > 0 ? sleep(wait) : new Promise((resolve) => setImmediate(resolve)));
      }
      while (status().delivered < delivered + count) {
        if (Date.now() - t0 > DEADLINE_MS) throw new Error(`the output alone delivered ${status().delivered - delivered} of ${count} in ${DEADLINE_MS / 1000} s`);
        await sleep(5);
      }
      runs.push({ all: ((cpuSeconds(process.pid) - cpu0) * 1e6) / count, main: ((cpuSeconds(process.pid, process.pid) - main0) * 1e6) / count });
    }
    return { rate, batch, usPerEvent: median(runs.map((x) => x.all)), mainUs: median(runs.map((x) => x.main)) };
  } finally {
    await outputs.set([]);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [url, dir, stream, count, rate, batch] = process.argv.slice(2) as [string, string, string, string, string, string];
  process.stdout.write(JSON.stringify(await runAlone(url, dir, stream, Number(count), Number(rate), Number(batch))) + '\n');
}
