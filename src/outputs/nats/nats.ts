// The `nats` output (docs/config.md, "nlmon.outputs"; docs/fleet.md): events published to a
// NATS JetStream stream with at-least-once delivery.
//
// Every matching event is appended to the output's spool (../spool/) first; a sender reads the
// spool in order and publishes with JetStream's publish protocol: a core publish whose reply
// subject is our inbox and the publish's number, answered by the stream with a PubAck
// ({"stream":…,"seq":…}) or an error. (The client's js.publish, a promise and a timer per
// message, did a quarter of the rate.) A turn's publishes are written as protocol bytes and
// queued on the connection in one piece (frames.ts); the acknowledgements are read from the
// server's bytes before the client's parser (acks.ts). Up to WINDOW publishes are in flight at
// once (pipelined, not one round trip each; kept as numbers, their payloads copied, flights.ts);
// the acknowledged prefix is forgotten by the spool. On a failure (a disconnect, an error answer, no answer within ACK_WAIT_MS) sending
// pauses and, when it resumes, the unacknowledged records are sent again in their order. Each
// message carries `Nats-Msg-Id: host/boot id/run/sequence`, unique per event across restarts,
// so the stream stores a record sent twice once (within its duplicate window, two minutes
// unless the stream says otherwise).
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { JetStreamManager } from '@nats-io/jetstream';
import { natsLibrary, type NatsLibrary } from './library.js';
import type { NlEvent } from '../../event/event.js';
import { RecordBatch, Spool, type SpoolPos } from '../spool/spool.js';
import { RecordsAhead } from '../spool/record.js';
import { Flights } from './flights.js';
import { subjectFilter, subjectFor } from './subject.js';
import { LastError } from '../last-error.js';
import type { Output, OutputLog, OutputStatusBase, OutputType } from '../output.js';
import { NATS_KEYS, natsTarget, readNats, TLS_KEYS, type NatsOutputConfig } from './settings.js';
import { connectionOptions, describeError, ensureStream, isPubAck, publishError, runIdentity, storedInFlight } from './client.js';
import { flightNumber, TurnPublishes } from './frames.js';
import { listenForReplies, type AckFilter } from './acks.js';
import { redactUrl } from '../../config/redact.js';

export interface NatsOutputStatus extends OutputStatusBase {
  type: 'nats';
  /** Events in the spool not yet acknowledged, and the spool's bytes on disk. */
  spooled: number;
  spool_bytes: number;
  /** Bytes in memory waiting for the spool's disk. */
  queued_bytes: number;
  /** Torn tails cut from the spool at start (a crash in the middle of a write). */
  torn: number;
  /** Damaged stretches skipped in the spool at start (the disk, not a crash): events lost. */
  corrupt: number;
  /** Seconds since the oldest event not yet delivered was received; 0 when none waits. */
  lag_seconds: number;
}

/** Publishes in flight at most. */
export const WINDOW = 2048;
/** How long sending waits for more to send with it (see schedulePump). */
const PUMP_DELAY_MS = 1;
/** Records read from the spool and not yet sent below which the next read starts. */
const PREFETCH = 1024;
/** A publish not acknowledged in this time counts as failed; the unacknowledged are sent again. */
const ACK_WAIT_MS = 10_000;
/** Pauses before trying again after a failure: growing, at most the last. */
const BACKOFF_MS = [500, 1000, 2000, 5000];

type State = 'connecting' | 'connected' | 'disconnected' | 'error' | 'closed';

class NatsOutput implements Output<NatsOutputConfig> {
  private readonly spool: Spool;
  private readonly subject: (e: NlEvent) => string;
  /** The first part of every message id (client.ts): this run of this host's daemon. */
  private readonly run = runIdentity();
  private readonly idPrefix = `${this.run}/`;
  private readonly filter: string;
  private readonly batch = new RecordBatch();
  private nc: NatsConnection | undefined;
  /** Gathers a turn's publishes on nc and sends them (frames.ts). */
  private publishes: TurnPublishes | undefined;
  private sub: Subscription | undefined;
  /** Takes the acknowledgements out of the client's bytes; without it the subscription does. */
  private acks: AckFilter | undefined;
  private inbox = '';
  private state: State = 'connecting';
  /** Publishes in flight, by number (flights.ts). */
  private readonly flights = new Flights(WINDOW);
  private lib: NatsLibrary | undefined;
  /** Records read from the spool and not yet sent, and where reading goes on. */
  private readonly ahead = new RecordsAhead();
  private pumpTimer: NodeJS.Timeout | undefined;
  private cursor: SpoolPos;
  private reading = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly tick: NodeJS.Timeout;
  private closing = false;
  /** When the oldest event waiting in the spool, not yet read from it, was received. */
  private waitingSince = 0;
  events = 0;
  delivered = 0;
  private readonly lastError: LastError;

  constructor(readonly cfg: NatsOutputConfig, private readonly log: OutputLog) {
    this.lastError = new LastError(cfg.name, log);
    this.subject = subjectFor(cfg.subject);
    this.filter = subjectFilter(cfg.subject);
    try {
      this.spool = new Spool(cfg.spool_dir, cfg.spool_limit, {
        written: () => this.schedulePump(),
        error: (m) => this.note(m),
        heldFrom: () => this.ahead.nextPos() ?? this.cursor,
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new Error(`cannot open its spool_dir ${cfg.spool_dir}: ${err.code ? `${err.code} (${err.syscall ?? 'open'} ${err.path ?? ''})` : err.message}`);
    }
    const r = this.spool.recovery;
    if (r.torn) this.note(`the spool ${cfg.spool_dir} had ${r.torn} torn tail(s) (${r.tornBytes} bytes, from a crash in the middle of a write): cut`, 'warn');
    if (r.records) {
      this.log(cfg.name, 'info', `${r.records} event(s) from the spool ${cfg.spool_dir} not yet acknowledged: sending them first`);
      this.waitingSince = Date.now();
    }
    this.cursor = this.spool.head;
    this.tick = setInterval(() => this.onTick(), 200);
    this.tick.unref();
    void this.connect();
  }

  submit(events: readonly NlEvent[]): void {
    const batch = this.batch;
    let first = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (!this.cfg.match(e)) continue;
      first ||= e.timestamp;
      batch.add(e.timestamp, this.subject(e), this.idPrefix, e.sequence, e);
    }
    const n = batch.count;
    if (n === 0) return;
    this.events += n;
    if (this.spool.spooled <= 0) this.waitingSince = first;
    this.spool.append(batch.take(), n);
  }

  /** Connects (again and again until it works), checks the stream, then sends. */
  private async connect(): Promise<void> {
    while (!this.closing) {
      this.state = 'connecting';
      try {
        const lib = (this.lib ??= await natsLibrary());
        const nc = await lib.connect(await connectionOptions(this.cfg));
        if (this.closing) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.inbox = lib.createInbox();
        this.publishes = new TurnPublishes(nc, this.inbox);
        ({ sub: this.sub, acks: this.acks } = listenForReplies(nc, this.inbox, {
          onReply: (m) => this.onReply(m),
          onAck: (n) => this.onAck(n),
          onError: (e) => this.note(`internal error on a reply: ${(e as Error).stack ?? String(e)}`),
        }));
        void this.watch(nc);
        this.failures = 0;
        await this.ready();
        return;
      } catch (e) {
        this.fail(`cannot connect to ${this.cfg.url.join(', ')}: ${describeError(e)}`);
        await new Promise<void>((resolve) => {
          this.retryTimer = setTimeout(resolve, this.backoff());
        });
      }
    }
  }

  /** Follows the connection: pauses on a disconnect, resumes on a reconnect, starts over if
   * the client gives up. */
  private async watch(nc: NatsConnection): Promise<void> {
    void nc.closed().then((err) => {
      if (this.nc !== nc || this.closing) return;
      this.nc = undefined;
      this.fail(`the connection closed${err ? `: ${describeError(err)}` : ''}`);
      void this.connect();
    });
    for await (const s of nc.status()) {
      if (this.nc !== nc) return;
      if (s.type === 'disconnect') {
        this.state = 'disconnected';
        this.note(`disconnected from ${s.server}; events are kept in the spool`, 'warn');
      } else if (s.type === 'reconnect') {
        this.log(this.cfg.name, 'info', `reconnected to ${redactUrl(s.server)}`);
        void this.ready();
      } else if (s.type === 'error') {
        this.note(describeError(s.error));
      }
    }
  }

  /** Checks (or creates) the stream and resends what is unacknowledged. */
  private async ready(): Promise<void> {
    const nc = this.nc;
    if (!nc || this.closing) return;
    clearTimeout(this.retryTimer);
    try {
      const jsm = await this.lib!.jetstreamManager(nc, { timeout: 5000 });
      await ensureStream(jsm, this.cfg, this.filter, (m) => this.log(this.cfg.name, 'info', m));
      await this.skipStored(jsm);
    } catch (e) {
      this.fail(describeError(e));
      this.retryLater();
      return;
    }
    if (this.nc !== nc || nc.isClosed()) return;
    this.state = 'connected';
    this.failures = 0;
    this.resend();
    this.pump();
  }

  /** Takes as acknowledged what the stream stored of the flights when the connection went. */
  private async skipStored(jsm: JetStreamManager): Promise<void> {
    const fl = this.flights;
    const { records: waiting, numbers } = fl.unacknowledged((seg) => this.spool.isDropped(seg));
    if (waiting.length === 0) return;
    const stored = await storedInFlight(jsm, this.cfg.stream, waiting);
    // A flight acknowledged and forgotten meanwhile (another ready() that went on) is left be:
    // its slot may hold a newer one.
    for (let i = 0; i < stored; i++) if (fl.holds(numbers[i]!)) fl.ack(numbers[i]!);
    if (stored) this.log(this.cfg.name, 'info', `${stored} event(s) in flight when the connection went are in the stream: not sent again`);
  }

  private backoff(): number {
    return BACKOFF_MS[Math.min(this.failures++, BACKOFF_MS.length - 1)]!;
  }

  /** Pauses sending; ready() runs again after a backoff. */
  private retryLater(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.ready(), this.backoff());
  }

  private fail(message: string): void {
    if (this.state !== 'closed') this.state = 'error';
    this.note(message);
  }

  /** Sends again, in order, every record in flight not yet acknowledged. */
  private resend(): void {
    const now = Date.now();
    const fl = this.flights;
    for (let n = fl.first; n < fl.next; n++) {
      if (!fl.acked(n) && !this.spool.isDropped(fl.seg(n))) this.publish(n, now);
    }
    this.send();
    this.advance();
  }

  private publish(n: number, now: number): void {
    const fl = this.flights;
    fl.markSent(n, now);
    this.publishes!.add(fl.buf(n), fl.payloadAt(n), fl.payloadLength(n), n);
  }

  /** Sends the publishes gathered in this turn. */
  private send(): void {
    try {
      this.publishes?.send();
    } catch (e) {
      this.fail(`cannot publish: ${describeError(e)}`);
      this.retryLater();
    }
  }

  /** Sends from the spool once what this turn of the event loop brought (spool writes, batches
   * of acknowledgements) is in: one write to the server for many events, not one each. */
  private schedulePump(): void {
    if (this.pumpTimer) return;
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = undefined;
      this.pump();
    }, PUMP_DELAY_MS);
  }

  /** Sends records from the spool while the window has room; reads on before what was read
   * runs out, so sending does not wait for the disk. */
  private pump(): void {
    const now = Date.now();
    const { flights, ahead } = this;
    while (this.state === 'connected' && flights.count < WINDOW && ahead.take()) {
      if (this.spool.isDropped(ahead.seg)) continue;
      this.publish(flights.push(ahead.buf, ahead.p, ahead.len, ahead.seg, ahead.end), now);
    }
    this.send();
    if (ahead.count < PREFETCH) this.readAhead();
  }

  private readAhead(): void {
    if (this.reading || this.closing) return;
    this.reading = true;
    this.spool.read(this.cursor).then(({ runs, next }) => {
      this.reading = false;
      this.cursor = next;
      if (runs.length === 0) return;
      this.ahead.add(runs);
      this.pump();
    }, (e: Error) => {
      this.reading = false;
      this.note(`cannot read the spool: ${e.message}`);
    });
  }

  /** A reply the AckFilter left to the subscription (or, without one, every reply). */
  private onReply(m: Msg): void {
    const fl = this.flights;
    const n = flightNumber(m.subject);
    if (!fl.holds(n) || fl.acked(n)) return;
    const error = isPubAck(m) ? '' : publishError(m, this.cfg.stream, fl.record(n).key);
    if (!error) return this.onAck(n);
    fl.refuse(n);
    if (this.state === 'connected') {
      this.fail(`${error}; events are kept in the spool and sent again`);
      this.retryLater();
    }
  }

  private onAck(n: number): void {
    const fl = this.flights;
    if (!fl.holds(n) || fl.acked(n)) return;
    fl.ack(n);
    this.advance();
  }

  /** Forgets the acknowledged records at the front, and those the spool dropped (counted there)
   * while they waited for an acknowledgement. */
  private advance(): void {
    const fl = this.flights;
    let acked = 0;
    for (; fl.count > 0; fl.shift()) {
      const n = fl.first;
      const seg = fl.seg(n);
      if (this.spool.isDropped(seg)) continue;
      if (!fl.acked(n)) break;
      this.spool.ack(seg, fl.end(n));
      acked++;
    }
    this.delivered += acked;
    if (acked) this.schedulePump();
  }

  private onTick(): void {
    this.spool.tick();
    const fl = this.flights;
    if (this.state === 'connected' && fl.count > 0 && Date.now() - fl.sentAt(fl.first) > ACK_WAIT_MS) {
      this.fail(`no acknowledgement from the server in ${ACK_WAIT_MS / 1000} s; events are kept in the spool and sent again`);
      this.retryLater();
    }
  }

  /** Seconds since the oldest event not yet acknowledged was received; 0 when none waits. */
  lagSeconds(): number {
    if (this.spool.spooled <= 0) return 0;
    const fl = this.flights;
    const t = (fl.count > 0 ? fl.time(fl.first) : this.ahead.nextTime()) || this.waitingSince;
    return t ? Math.max(0, (Date.now() - t) / 1000) : 0;
  }

  /** Writes the spool, waits a little for acknowledgements in flight, and disconnects. What is
   * not acknowledged stays in the spool for the next start. */
  async close(): Promise<void> {
    const deadline = Date.now() + 2000;
    await this.spool.whenWritten();
    while (this.state === 'connected' && this.spool.spooled > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.closing = true;
    this.state = 'closed';
    clearInterval(this.tick);
    clearTimeout(this.retryTimer);
    clearTimeout(this.pumpTimer);
    const nc = this.nc;
    this.nc = undefined;
    this.acks?.stop();
    this.sub?.unsubscribe();
    await nc?.close().catch(() => {});
    await this.spool.close();
  }

  status(): NatsOutputStatus {
    const c = this.cfg;
    return {
      name: c.name, type: 'nats', target: natsTarget(c), condition: c.condition,
      state: this.state, events: this.events, delivered: this.delivered, dropped: this.spool.dropped,
      spooled: this.spool.spooled, spool_bytes: this.spool.bytes, queued_bytes: this.spool.queuedBytes, torn: this.spool.recovery.torn, corrupt: this.spool.recovery.corrupt,
      lag_seconds: Math.round(this.lagSeconds() * 1000) / 1000, last_error: this.lastError.message, last_error_at: this.lastError.time,
    };
  }

  private note(message: string, level: 'warn' | 'error' = 'error'): void {
    this.lastError.note(message, level);
  }
}

export const natsOutputType: OutputType<NatsOutputConfig> = {
  type: 'nats',
  keys: NATS_KEYS,
  nested: { tls: TLS_KEYS },
  read: readNats,
  create: (cfg, deps) => new NatsOutput(cfg, deps.log),
};
