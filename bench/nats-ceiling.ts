// Bench (README, "Measured"): what the local nats-server itself can store of the nats output's
// messages, as the reference for the output's catch-up (issue 23 asks 5× the arrival rate). A
// minimal publisher with none of nlmon's work: the NATS protocol over a plain socket, the
// output's own messages (its subjects, its ids with a tag, its event JSON), a reply per message
// and 2 048 in flight, as the output sends them (docs/fleet.md), the acknowledgements counted,
// not parsed. Its frames are all made before it is timed.
import net from 'node:net';
import { cpuSeconds } from '../test/helpers/index.js';

export interface CeilingRun {
  /** Messages stored per second, first publish to last acknowledgement. */
  rate: number;
  /** CPU µs per message: the server's (all its threads), and this publisher's. */
  serverUs: number;
  publisherUs: number;
}

/** A message as the output sends it: subject, id and body. */
export interface SampleMessage { subject: string; id: string; body: string }

const IN_FLIGHT = 2048;
/** A run that takes longer has lost its server: it fails rather than wait for ever. */
const DEADLINE_MS = 120_000;
/** Frames are sent in pieces of at most this many messages. */
const PIECE = 256;

/** Publishes `count` messages shaped like `samples` (taken in turn; each id made unique with
 * `tag` and its number) to the server on 127.0.0.1:port, whose process is serverPid. */
export async function publishCeiling(port: number, serverPid: number, samples: readonly SampleMessage[], count: number, tag: string): Promise<CeilingRun> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    let acked = 0;
    let errors = 0;
    const ack = counter('"seq":', () => acked++);
    const error = counter('"error"', () => errors++);
    let wake: (() => void) | undefined;
    sock.on('data', (d: Buffer) => {
      ack(d);
      error(d);
      wake?.();
    });
    sock.on('error', () => wake?.());
    sock.on('close', () => wake?.());
    timer = setTimeout(() => sock.destroy(), DEADLINE_MS);
    sock.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}\r\nSUB _CEILING.* 1\r\nPING\r\n');
    const frames: Buffer[] = [];
    for (let from = 0; from < count; from += PIECE) {
      const parts: string[] = [];
      for (let i = from; i < Math.min(count, from + PIECE); i++) {
        const m = samples[i % samples.length]!;
        // The output's id is its run's and a number: here the run's with the tag, and a number.
        const head = `NATS/1.0\r\nNats-Msg-Id: ${m.id.slice(0, m.id.lastIndexOf('/'))}.${tag}/${i}\r\n\r\n`;
        parts.push(`HPUB ${m.subject} _CEILING.${i} ${head.length} ${head.length + Buffer.byteLength(m.body)}\r\n${head}${m.body}\r\n`);
      }
      frames.push(Buffer.from(parts.join('')));
    }
    const server0 = cpuSeconds(serverPid);
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    let sent = 0;
    let piece = 0;
    while (acked < count) {
      while (piece < frames.length && sent - acked + PIECE <= IN_FLIGHT) {
        sock.write(frames[piece++]!);
        sent = Math.min(count, sent + PIECE);
      }
      if (sock.destroyed || errors) throw new Error(errors ? `the server refused ${errors} publish(es)` : `the connection closed after ${acked} of ${count} acknowledgements`);
      await new Promise<void>((resolve) => { wake = resolve; });
    }
    const seconds = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    return { rate: count / seconds, serverUs: ((cpuSeconds(serverPid) - server0) * 1e6) / count, publisherUs: (self.user + self.system) / count };
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
}

/** Calls found() for each time `pattern` occurs in the bytes fed to it, one read after another
 * (a pattern may straddle two: all but its last byte of each read are looked at again). */
function counter(pattern: string, found: () => void): (d: Buffer) => void {
  const p = Buffer.from(pattern);
  let tail = Buffer.alloc(0);
  return (d) => {
    const b = tail.length ? Buffer.concat([tail, d]) : d;
    for (let i = b.indexOf(p); i >= 0; i = b.indexOf(p, i + p.length)) found();
    tail = Buffer.from(b.subarray(Math.max(0, b.length - (p.length - 1))));
  };
}
