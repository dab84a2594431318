// `nlmon events -c FILE [--output NAME]` (docs/cli.md, docs/fleet.md): the events a fleet's
// daemons shipped to a JetStream stream, read back as an ordered consumer and printed as
// `monitor` prints them, narrowed by time, host, container, pod and a filter expression; with
// --follow, then what arrives. The server, stream and login are those of a `nats` output of the
// config file, so what can publish can read. Nothing is acknowledged or kept: the consumer is
// ephemeral.
import type { NlEvent } from '../event/event.js';
import { formatEventHuman, formatEventJson, printable } from '../event/format.js';
import { EventError, parseEventJson } from '../event/schema.js';
import type { NlmonConfig } from '../daemon/config-file.js';
import type { NatsOutputConfig } from '../outputs/nats/settings.js';
import { onStopSignal } from '../signals.js';

export interface EventsOptions {
  output?: string;
  since?: string;
  host?: string;
  container?: string;
  pod?: string;
  match?: (e: NlEvent) => boolean;
  follow?: boolean;
  json?: boolean;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `1h`, `2d`, or an ISO time: the moment events are read from. */
export function parseSince(text: string, now = Date.now()): Date | undefined {
  const m = /^(\d+)([smhd])$/.exec(text.trim());
  if (m) return new Date(now - Number(m[1]) * UNITS[m[2]!]!);
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** Whether an event is one the options ask for. */
export function wanted(e: NlEvent, o: EventsOptions): boolean {
  if (o.host !== undefined && e.host !== o.host) return false;
  if (o.container !== undefined && e.container_name !== o.container && !(o.container.length >= 12 && e.container_id.startsWith(o.container))) return false;
  if (o.pod !== undefined) {
    const [ns, name] = o.pod.includes('/') ? o.pod.split('/', 2) : [undefined, o.pod];
    if (e.pod_name !== name || (ns !== undefined && e.pod_namespace !== ns)) return false;
  }
  return !o.match || o.match(e);
}

/** The config's nats output named, or its only one; or why not. */
function pickOutput(config: NlmonConfig, name: string | undefined): NatsOutputConfig | string {
  const nats = config.outputs.filter((o): o is NatsOutputConfig => o.type === 'nats');
  if (name !== undefined) return nats.find((o) => o.name === name) ?? `no nats output named '${name}' in ${config.file}`;
  if (nats.length === 1) return nats[0]!;
  return nats.length ? `${config.file} has ${nats.length} nats outputs: name one with --output (${nats.map((o) => o.name).join(', ')})` : `${config.file} has no nats output`;
}

export async function eventsCommand(config: NlmonConfig, opts: EventsOptions): Promise<number> {
  const out = pickOutput(config, opts.output);
  if (typeof out === 'string') {
    process.stderr.write(`nlmon events: ${out}\n`);
    return 2;
  }
  let since: Date | undefined;
  if (opts.since !== undefined) {
    since = parseSince(opts.since);
    if (!since) {
      process.stderr.write(`nlmon events: --since '${opts.since}' is neither a duration (90s, 30m, 1h, 2d) nor a time\n`);
      return 2;
    }
  }
  // Loaded here: the other verbs never pay for the NATS client.
  const [{ connect, jetstream, DeliverPolicy }, { connectionOptions }] = await Promise.all([
    import('../outputs/nats/library.js').then((m) => m.natsLibrary()), import('../outputs/nats/client.js'),
  ]);
  const nc = await connect({ ...(await connectionOptions(out)), reconnect: opts.follow ?? false, name: 'nlmon events' }).catch((e: Error) => e);
  if (nc instanceof Error) {
    process.stderr.write(`nlmon events: cannot connect to ${out.url.join(', ')}: ${nc.message}\n`);
    return 1;
  }
  let stop = false;
  const off = onStopSignal(() => { stop = true; void nc.close(); });
  process.stdout.on('error', () => { stop = true; void nc.close(); });
  try {
    const consumer = await jetstream(nc).consumers.get(out.stream, since ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString() } : {});
    if (!opts.follow && (await consumer.info()).num_pending === 0) return 0;
    const messages = await consumer.consume();
    let bad = 0;
    for await (const m of messages) {
      let e: NlEvent | undefined;
      try {
        e = parseEventJson(m.string(), 'event');
      } catch (err) {
        if (!(err instanceof EventError)) throw err;
        if (bad++ < 10) process.stderr.write(`nlmon events: ${out.stream} message ${m.seq} on ${printable(m.subject)} is not an nlmon event (${err.message}); skipped\n`);
      }
      if (e && wanted(e, opts)) {
        process.stdout.write(`${opts.json ? formatEventJson(e) : `${printable(e.host)} ${new Date(e.timestamp).toISOString()} ${formatEventHuman(e)}`}\n`);
      }
      if (stop || (!opts.follow && m.info.pending === 0)) break;
    }
    await messages.close();
    return 0;
  } catch (e) {
    if (stop) return 0;
    process.stderr.write(`nlmon events: stream ${out.stream}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    off();
    await nc.close().catch(() => {});
  }
}
