// `nlmon monitor`: streams events to stdout until SIGINT/SIGTERM, one write per batch.
import { Monitor, MonitorError, type IntakeMode } from '../netlink/monitor.js';
import { containerAttribution } from '../containers/resolver.js';
import { formatEventHuman, formatEventJson } from '../event/format.js';
import type { NlEvent } from '../event/event.js';
import { onStopSignal } from '../signals.js';
import { DEFAULT_CONTAINER_WAIT_MS, DEFAULT_CRI_SOCKETS, DEFAULT_DOCKER_SOCKETS } from '../containers/config.js';
import { containerStage } from '../containers/attribution-stage.js';
import { DEFAULT_NETNS_DIRS, DEFAULT_RECEIVE_BUFFER } from '../netlink/config.js';

export interface MonitorCommandOptions {
  netns?: string[];
  allNetns?: boolean;
  netnsDir?: string[];
  json?: boolean;
  listExisting?: boolean;
  receiveBuffer?: number;
  intake?: IntakeMode;
  /** The families of events to print (default both). */
  events?: Array<'link' | 'addr'>;
  /** Set by later verbs (--filter): events that do not match are not printed. */
  match?: (e: NlEvent) => boolean;
}

/** Bytes of output that may wait for a slow reader before netlink reading pauses. */
const OUTPUT_LIMIT = 32 * 1024 * 1024;

export async function runMonitorCommand(opts: MonitorCommandOptions): Promise<number> {
  if (opts.allNetns && opts.netns?.length) {
    process.stderr.write('nlmon monitor: --netns and --all-netns do not go together\n');
    return 2;
  }
  const format = opts.json ? formatEventJson : formatEventHuman;
  const families = opts.events ?? ['link', 'addr'];
  const links = families.includes('link');
  const filter = opts.match;
  // Without link events the link table is still kept (address events take their link's fields).
  const match = links ? filter : (e: NlEvent) => (e.family !== '' || e.event === 'resync') && (!filter || filter(e));
  let stdoutBroken = false;
  let waiting = false;
  process.stdout.on('error', () => { stdoutBroken = true; stop(); });
  const containers = containerAttribution({
    dockerSockets: DEFAULT_DOCKER_SOCKETS, criSockets: DEFAULT_CRI_SOCKETS, waitMs: DEFAULT_CONTAINER_WAIT_MS,
    log: (level, message) => process.stderr.write(`nlmon: ${level}: ${message}\n`),
  });
  const monitor = new Monitor(
    {
      namespaces: opts.allNetns ? 'all' : (opts.netns?.length ? opts.netns : ['default']),
      netnsDirs: opts.netnsDir?.length ? opts.netnsDir : DEFAULT_NETNS_DIRS,
      receiveBuffer: opts.receiveBuffer ?? DEFAULT_RECEIVE_BUFFER,
      listExisting: opts.listExisting ?? false,
      addresses: families.includes('addr'),
      intake: opts.intake ?? 'auto',
      stage: containerStage(containers),
    },
    {
      events(events) {
        if (stdoutBroken) return;
        let out = '';
        for (const e of events) {
          if (match && !match(e)) continue;
          out += format(e) + '\n';
        }
        if (!out) return;
        process.stdout.write(Buffer.from(out));
        // A reader that stops reading: stop reading netlink rather than buffer without bound.
        // The kernel overruns meanwhile, and the resync after 'drain' sets the state right.
        if (process.stdout.writableLength > OUTPUT_LIMIT && !waiting) {
          waiting = true;
          monitor.pause();
          process.stdout.once('drain', () => {
            waiting = false;
            monitor.resume();
          });
        }
      },
      log(level, message) {
        process.stderr.write(`nlmon: ${level}: ${message}\n`);
      },
    },
  );
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => { done = resolve; });
  const offSignals = onStopSignal(() => stop());
  function stop(): void {
    offSignals();
    monitor.stop();
    containers.stop();
    done(0);
  }
  try {
    await containers.start();
    await monitor.start();
  } catch (err) {
    offSignals();
    containers.stop();
    if (err instanceof MonitorError) {
      process.stderr.write(`nlmon: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  process.stderr.write(`nlmon: monitoring ${monitor.namespaces().join(', ')}\n`);
  return finished;
}
