// The nats output's client side (nats.ts): the run's identity in message ids, the connection's
// options, the stream's check, and the question asked after a lost connection.
import fs from 'node:fs';
import os from 'node:os';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import type { JetStreamManager, StorageType } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/nats-core';
import { natsLibrary } from './library.js';
import type { SpoolRecord } from '../spool/spool.js';
import { eventHost } from '../../event/make.js';
import { subjectCovers } from './subject.js';
import type { NatsOutputConfig } from './settings.js';

const STARTED = Date.now();

/** What names this daemon's run in every message id: the host events carry (the config's `host`,
 * so that daemons of one machine each have their own), the kernel's boot id (a reboot restarts
 * nothing else), the run's start and pid (restarts within one boot, daemons started together). */
export function runIdentity(): string {
  let boot = 'noboot';
  try {
    boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '').slice(0, 16);
  } catch {
    // not Linux' procfs: the run's start alone
  }
  // Printable ASCII only (a kernel host name may hold any byte): it goes in a header line as is.
  return `${eventHost()}/${boot}/${STARTED.toString(36)}.${process.pid.toString(36)}`.replace(/[^\x21-\x7e]/g, '_');
}

/** The client's options: every server, reconnecting for ever, the output's credentials. */
export async function connectionOptions(c: NatsOutputConfig): Promise<NodeConnectionOptions> {
  const o: NodeConnectionOptions = {
    servers: c.url, name: `nlmon ${os.hostname()}`, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1000,
    timeout: 5000, pingInterval: 10_000, maxPingOut: 3, ignoreAuthErrorAbort: true,
  };
  if (c.token) o.token = c.token;
  if (c.credentials_file) o.authenticator = (await natsLibrary()).credsAuthenticator(fs.readFileSync(c.credentials_file));
  if (c.tls) o.tls = { ...(c.tls.ca ? { caFile: c.tls.ca } : {}), ...(c.tls.cert ? { certFile: c.tls.cert } : {}), ...(c.tls.key ? { keyFile: c.tls.key } : {}) };
  return o;
}

/** The stream named in the config, created with the output's subjects (`filter`) if it is
 * missing; one that exists is used as it is, if it takes every subject the output publishes to. */
export async function ensureStream(jsm: JetStreamManager, cfg: NatsOutputConfig, filter: string, log: (message: string) => void): Promise<void> {
  const { stream } = cfg;
  let subjects: string[];
  try {
    subjects = (await jsm.streams.info(stream)).config.subjects ?? [];
  } catch (e) {
    if ((e as { name?: string }).name !== 'StreamNotFoundError') throw e;
    await jsm.streams.add({ name: stream, subjects: [filter], storage: 'file' satisfies StorageType });
    log(`created stream ${stream} with subjects ${filter}`);
    return;
  }
  if (!subjects.some((f) => subjectCovers(f, filter))) {
    throw new Error(`stream ${stream} takes subjects ${subjects.join(', ') || '(none)'}, not ${cfg.subject}${filter !== cfg.subject ? ` (${filter})` : ''}: change the output's subject or the stream's subjects`);
  }
}

/** Before what was in flight when the connection went is sent again: asks the stream for the
 * last message on each subject in flight and, when that is one of ours, returns how many of
 * `waiting` (in flight, in order) are stored: that one and every earlier one. The server stores
 * one connection's messages in order, so what it stored of them is a prefix, unless it refused
 * one (an error answer): the prefix ends before that. A server back after longer than its
 * duplicate window so does not get twice what it had stored without answering. Any doubt (an
 * answer missing, another host's message last on a shared subject) leaves the rest to be sent
 * again. */
export async function storedInFlight(jsm: JetStreamManager, stream: string, waiting: readonly SpoolRecord[]): Promise<number> {
  const index = new Map(waiting.map((f, i) => [f.id, i]));
  let last = -1;
  for (const subject of new Set(waiting.map((f) => f.key))) {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
    const i = index.get(m?.header?.get('Nats-Msg-Id') ?? '');
    if (i !== undefined && i > last) last = i;
  }
  const refused = waiting.findIndex((f) => f.refused);
  if (refused >= 0 && refused <= last) last = refused - 1;
  return last + 1;
}

/** Whether the stream's reply is a PubAck: it starts {"stream": (most replies are that, and
 * nothing more is read of them); anything else is for publishError to look at closely. */
export function isPubAck(m: Msg): boolean {
  return pubAckAt(m.data, 0, m.data.length);
}

/** Whether bytes d[from, to) are a PubAck as isPubAck reads one (acks.ts reads them in place). */
export function pubAckAt(d: Uint8Array, from: number, to: number): boolean {
  return to - from > 10 && d[from] === 0x7b && d[from + 2] === 0x73 && d[from + 3] === 0x74;
}

/** What the stream's reply to the publish on subject `key` says, for a reply isPubAck did not
 * take; '' when it is an acknowledgement after all (no `error` in it). */
export function publishError(m: Msg, stream: string, key: string): string {
  if (m.headers?.code === 503) return `no JetStream stream takes subject ${key}`;
  try {
    const a = m.json<{ error?: { description?: string; code?: number } }>();
    return a.error ? `stream ${stream}: ${a.error.description ?? 'error'} (${a.error.code ?? '?'})` : '';
  } catch {
    return `a reply that is not a publish acknowledgement: ${m.string().slice(0, 200)}`;
  }
}

export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: string }).code;
  const msg = e.message || code || e.name;
  // The client's causes (ECONNREFUSED, a TLS failure) say more than its wrapper.
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message && !msg.includes(cause.message) ? `${msg}: ${cause.message}` : msg;
}
