// `nlmon monitor`: streams events to stdout until SIGINT/SIGTERM, one write per batch.
import { Monitor, MonitorError, type IntakeMode } from '../netlink/monitor.js';
import { containerAttribution } from '../containers/resolver.js';
import { formatEventHuman } from '../event/format.js';
import { EventLines } from '../event/json.js';
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
  /** Stop after printing this many events (exit 0). */
  count?: number;
  /** Human lines start with the event's time of receipt, as `ip -ts monitor` does. */
  timestamp?: boolean;
  /** Colour the event name of human lines: 'auto' (a terminal, unless NO_COLOR is set). */
  color?: 'auto' | 'always' | 'never';
}

const COLORS: Record<string, string> = {
  link_added: '32', addr_added: '32', link_up: '32',
  link_removed: '31', addr_removed: '31', link_down: '31',
  link_renamed: '33', link_changed: '33', addr_changed: '33', resync: '35',
};

/** The human line of an event, with its time and colour as asked. */
function humanLine(e: NlEvent, timestamp: boolean, color: boolean): string {
  let line = formatEventHuman(e);
  if (color && COLORS[e.event]) line = line.replace(` ${e.event}`, ` \x1b[${COLORS[e.event]}m${e.event}\x1b[0m`);
  return timestamp ? `${new Date(e.timestamp).toISOString()} ${line}` : line;
}

/** Bytes of output that may wait for a slow reader before netlink reading pauses. */
const OUTPUT_LIMIT = 32 * 1024 * 1024;

export async function runMonitorCommand(opts: MonitorCommandOptions): Promise<number> {
  if (opts.allNetns && opts.netns?.length) {
    process.stderr.write('nlmon monitor: --netns and --all-netns do not go together\n');
    return 2;
  }
  const color = opts.color === 'always' || (opts.color !== 'never' && process.stdout.isTTY === true && !process.env.NO_COLOR);
  const timestamp = opts.timestamp ?? false;
  // JSON lines are written straight into one buffer per batch; human lines are joined.
  const lines = opts.json ? new EventLines() : undefined;
  let left = opts.count ?? Infinity;
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
          if (lines) lines.add(e);
          else out += `${humanLine(e, timestamp, color)}\n`;
          if (--left <= 0) break;
        }
        const chunk = lines ? lines.take() : Buffer.from(out);
        if (chunk.length === 0) return;
        process.stdout.write(chunk);
        if (left <= 0) {
          // --count reached: stop once what was written has gone out.
          stdoutBroken = true;
          process.stdout.write('', () => stop());
          return;
        }
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
