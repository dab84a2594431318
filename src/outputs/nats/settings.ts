// The keys of a `nats` output (docs/config.md, "nlmon.outputs"), their defaults and their reader.
import fs from 'node:fs';
import type { Checker, Entries, YAMLMap } from '../../config/checker.js';
import type { OutputBase, OutputReadContext } from '../output.js';
import { readSpoolKeys, SPOOL_KEYS, type SpoolSettings } from '../spool/settings.js';
import { subjectProblem } from './subject.js';
import { redactUrl } from '../../config/redact.js';
import { readSecretFile, secretFileProblem } from '../../files/safe-path.js';

export interface NatsOutputConfig extends OutputBase, SpoolSettings {
  type: 'nats';
  /** The servers, tried in turn. */
  url: string[];
  token: string;
  credentials_file: string;
  tls: { ca: string; cert: string; key: string } | undefined;
  stream: string;
  /** The subject template ({host}, {namespace}, {event}). */
  subject: string;
}

export const NATS_KEYS = ['url', 'token', 'token_file', 'credentials_file', 'tls', 'stream', 'subject', ...SPOOL_KEYS] as const;
export const TLS_KEYS = ['ca', 'cert', 'key'] as const;

export function readNats(c: Checker, e: Entries, item: YAMLMap, ctx: OutputReadContext): Omit<NatsOutputConfig, keyof OutputBase> | undefined {
  const before = c.issues.length;
  const { label } = ctx;
  const urlPair = e.get('url');
  const url = c.stringOrList(urlPair, 'url') ?? [];
  if (!urlPair) c.at(item, `${label} needs a url (nats://host:port, or a list of them)`);
  else {
    if (c.kindOf(urlPair.value) === 'seq' && url.length === 0) c.at(urlPair.value, `${label}: url must name at least one server`);
    for (const u of url) {
      let ok = false;
      try {
        const p = new URL(u.includes('://') ? u : `nats://${u}`);
        ok = ['nats:', 'tls:'].includes(p.protocol) && p.hostname !== '';
      } catch {
        ok = false;
      }
      if (!ok) c.at(urlPair.value, `${label}: '${u}' is not a server URL (nats://host:port or tls://host:port)`);
    }
  }
  const inlineToken = c.secret(e.get('token')?.value, c.scalar(e.get('token'), 'string', 'token'), `the token of ${label}`) ?? '';
  let token = inlineToken;
  let credentials = c.scalar(e.get('credentials_file'), 'string', 'credentials_file') ?? '';
  const ways = ['token', 'token_file', 'credentials_file'].filter((k) => e.has(k));
  if (ways.length > 1) c.at(e.get(ways[1]!)!.key as never, `${label}: ${ways.join(' and ')} are ways to log in: give one`);
  // The token from a file of its own (read at load, checked like every secret file), so that no
  // secret need be in the config file.
  const tokenFile = c.scalar(e.get('token_file'), 'string', 'token_file');
  if (tokenFile !== undefined) {
    const read = readSecretFile('token_file', c.relative(tokenFile));
    if ('problem' in read) c.at(e.get('token_file')!.value, `${label}: ${read.problem}`);
    else if (!read.text) c.at(e.get('token_file')!.value, `${label}: token_file ${c.relative(tokenFile)} is empty`);
    else token = read.text;
  }

  let tls: NatsOutputConfig['tls'];
  const tlsMap = c.map(e.get('tls'), 'tls');
  if (tlsMap) {
    const t = c.entries(tlsMap, `${label}'s tls`, TLS_KEYS);
    const read = (k: 'ca' | 'cert' | 'key'): string => {
      const v = c.scalar(t.get(k), 'string', k);
      if (v === undefined) return '';
      const abs = c.relative(v);
      if (!fs.existsSync(abs)) c.at(t.get(k)!.value, `${label}: tls ${k} ${abs}: no such file`);
      return abs;
    };
    tls = { ca: read('ca'), cert: read('cert'), key: read('key') };
    if (!tls.cert !== !tls.key) c.at(tlsMap, `${label}: tls cert and key go together`);
  }
  const stream = c.scalar(e.get('stream'), 'string', 'stream');
  if (!e.has('stream')) c.at(item, `${label} needs a stream (the JetStream stream to publish to)`);
  else if (stream !== undefined && !/^[^\s.*>/\\]{1,255}$/.test(stream)) c.at(e.get('stream')!.value, `${label}: stream '${stream}' must be a name without white space, '.', '*', '>', '/' or '\\'`);
  const subject = c.scalar(e.get('subject'), 'string', 'subject');
  if (!e.has('subject')) c.at(item, `${label} needs a subject (for example nlmon.{host}.{event})`);
  else if (subject !== undefined) {
    const bad = subjectProblem(subject);
    if (bad) c.at(e.get('subject')!.value, `${label}: subject '${subject}' ${bad}`);
  }
  if (credentials) {
    credentials = c.createdFile(e, 'credentials_file') ?? '';
    const unsafe = credentials ? secretFileProblem('credentials_file', credentials) : undefined;
    if (credentials && !fs.existsSync(credentials)) c.at(e.get('credentials_file')!.value, `${label}: credentials_file ${credentials}: no such file`);
    else if (unsafe) c.at(e.get('credentials_file')!.value, `${label}: ${unsafe}`);
  }
  const spool = readSpoolKeys(c, e, item, ctx);
  if (c.issues.length !== before || !spool) return undefined;
  return { url, token, credentials_file: credentials, tls, stream: stream ?? '', subject: subject ?? '', ...spool };
}

/** Where the servers, stream and subject are, as `outputs stats` shows them. */
export function natsTarget(c: NatsOutputConfig): string {
  return `${c.url.map(redactUrl).join(',')} ${c.stream} ${c.subject}`;
}
