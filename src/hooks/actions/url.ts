// The `url` action (docs/hooks.md, "Webhooks"): one HTTP(S) request per matching event, made by
// the daemon with Node's own client over kept-alive connections. The body is the event (or a
// CloudEvents 1.0 structured event), signed the Standard Webhooks way when the hook has a
// secret; connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and
// jitter (Retry-After honoured), other answers are final. One event is one run, with its final
// result; attempts are counted.
import http from 'node:http';
import { crypto, https } from '../../builtin.js';
import type { NlEvent } from '../../event/event.js';
import { formatEventJson } from '../../event/format.js';
import { isScalar, scalarText, type Checker, type Entries } from '../../config/checker.js';
import { redactUrl } from '../../config/redact.js';
import { readSecretFile } from '../../files/safe-path.js';
import type { ActionType, HookBase, RunSlot, WebhookRunResult } from '../action.js';
import { RetryWaits, backoffMs } from '../retry.js';
import { coalescedOf, type Coalesced } from '../gates.js';

export interface UrlHook extends HookBase {
  action: 'url';
  url: string;
  method: string;
  headers: Record<string, string>;
  format: 'json' | 'cloudevents';
  /** The HMAC key (the bytes of `whsec_<base64>`); empty: requests are not signed. */
  secret: Buffer;
  retries: number;
}

/** What a webhook run needs of its hook. */
export type WebhookSpec = Pick<UrlHook, 'name' | 'url' | 'method' | 'headers' | 'format' | 'secret' | 'retries' | 'timeout_ms'>;

/** How often a webhook is tried again after a failed attempt, when `retries` is not given. */
export const DEFAULT_RETRIES = 3;

/** A Retry-After longer than this is cut to it: the event must not wait for hours. */
const MAX_RETRY_AFTER_MS = 60_000;
/** The most of a response body kept for the run's stderr (the receiver's error message). */
const BODY_KEEP = 4096;

/** `whsec_<base64>` (or bare base64) as the HMAC key; undefined if it is not base64. */
export function webhookKey(secret: string): Buffer | undefined {
  const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const key = Buffer.from(b64, 'base64');
  return key.length ? key : undefined;
}

/** The Standard Webhooks signature header value: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`. */
export function webhookSignature(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${crypto().createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** An id stable for one event across the retries of a run, and unique on this host. */
export function eventId(e: NlEvent): string {
  return `msg_${e.host}_${e.timestamp}_${e.sequence}`;
}

/** The request body of an event for this hook. */
export function webhookBody(hook: Pick<WebhookSpec, 'format'>, e: NlEvent, id: string): string {
  const json = formatEventJson(e);
  if (hook.format !== 'cloudevents') return json;
  // CloudEvents 1.0, structured mode: the event is `data`, written once by the fixed writer.
  const envelope = JSON.stringify({
    specversion: '1.0', type: `io.nlmon.${e.event}`, source: `nlmon://${e.host}/${e.namespace}`, id,
    time: new Date(e.timestamp || Date.now()).toISOString(), datacontenttype: 'application/json',
  });
  return `${envelope.slice(0, -1)},"data":${json}}`;
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date); undefined if none. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

interface Attempt {
  status?: number;
  /** 'timeout' | 'connection' when there was no answer. */
  failed?: 'timeout' | 'connection';
  error?: string;
  retryAfter?: number;
  body: string;
}

const retryable = (a: Attempt) => a.failed !== undefined || a.status === 408 || a.status === 429 || (a.status !== undefined && a.status >= 500);

export class WebhookRunner {
  private readonly agents = new Map<string, http.Agent>();
  /** Runs waiting to retry: woken at close(), which ends them with their last answer. */
  private readonly waits = new RetryWaits();
  private readonly urls = new Map<string, URL>();

  /** Runs one event: attempts until an answer is final or the retries are spent. The run holds
   * its concurrency slot only while a request is in flight: it gives the slot back while it waits
   * to retry, and takes one again before the next attempt. */
  async run(hook: WebhookSpec, event: NlEvent, slot?: RunSlot): Promise<WebhookRunResult> {
    const t0 = performance.now();
    const id = eventId(event);
    // One parsed URL per hook, not per run: thousands of runs may wait to retry at once.
    let url = this.urls.get(hook.url);
    if (!url) {
      if (this.urls.size >= 1024) this.urls.clear();
      this.urls.set(hook.url, (url = new URL(hook.url)));
    }
    let attempts = 0;
    let last: Attempt;
    for (;;) {
      attempts++;
      // The body is made again for each attempt rather than kept: a run waiting to retry then
      // holds its event and little else (the same bytes: the body depends on the event alone).
      last = await this.attempt(hook, url, id, webhookBody(hook, event, id), coalescedOf(event));
      if (!retryable(last) || attempts > hook.retries || this.waits.closed) break;
      await this.waits.wait(Math.min(MAX_RETRY_AFTER_MS, last.retryAfter ?? backoffMs(attempts)), slot);
      if (this.waits.closed) break;
    }
    const duration_ms = performance.now() - t0;
    const base = { duration_ms, stdout: '', attempts };
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    if (last.status !== undefined && last.status >= 200 && last.status < 300) {
      return { ...base, outcome: 'success', http_status: last.status, error: '', stderr: '' };
    }
    if (last.failed === 'timeout') {
      return { ...base, outcome: 'timeout', http_status: null, error: `no answer within timeout_ms ${hook.timeout_ms}${tries}`, stderr: '' };
    }
    if (last.status !== undefined) {
      return { ...base, outcome: 'failure', http_status: last.status, error: `HTTP ${last.status}${tries}`, stderr: last.body };
    }
    return { ...base, outcome: 'failure', http_status: null, error: `${last.error ?? 'request failed'}${tries}`, stderr: '' };
  }

  /** Closes the kept-alive connections (a reload or a stop). */
  close(): void {
    this.waits.close();
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  private agent(url: URL): http.Agent {
    const key = url.origin;
    let a = this.agents.get(key);
    if (!a) {
      const opts = { keepAlive: true, maxSockets: 64, maxFreeSockets: 16 };
      a = url.protocol === 'https:' ? new (https().Agent)(opts) : new http.Agent(opts);
      this.agents.set(key, a);
    }
    return a;
  }

  private attempt(hook: WebhookSpec, url: URL, id: string, body: string, folded: Coalesced): Promise<Attempt> {
    const headers: Record<string, string> = {
      'user-agent': 'nlmon',
      ...hook.headers,
      // A run that debounce_ms made of several events says so (docs/hooks.md, "Debounce").
      ...(folded.count > 1 ? { 'nlmon-coalesced': String(folded.count), 'nlmon-first-sequence': String(folded.first_sequence) } : {}),
      'content-type': hook.format === 'cloudevents' ? 'application/cloudevents+json' : 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    };
    // The id always, so that a receiver can de-duplicate the retries of an event; the signature
    // with a secret.
    headers['webhook-id'] = id;
    if (hook.secret.length) {
      const ts = Math.floor(Date.now() / 1000);
      headers['webhook-timestamp'] = String(ts);
      headers['webhook-signature'] = webhookSignature(hook.secret, id, ts, body);
    }
    const client = url.protocol === 'https:' ? https() : http;
    return new Promise((resolve) => {
      let settled = false;
      const done = (a: Attempt) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(a);
      };
      const req = client.request(url, { method: hook.method, headers, agent: this.agent(url) }, (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (c: Buffer) => {
          if (kept < BODY_KEEP) chunks.push(c.subarray(0, BODY_KEEP - kept));
          kept += c.length;
        });
        res.on('end', () => done({
          status: res.statusCode ?? 0,
          retryAfter: retryAfterMs(res.headers['retry-after'] as string | undefined),
          body: Buffer.concat(chunks).toString('utf8'),
        }));
        res.on('error', (e) => done({ failed: 'connection', error: e.message, body: '' }));
      });
      // timeout_ms bounds the whole attempt: connecting, sending and the answer.
      const timer = setTimeout(() => {
        done({ failed: 'timeout', body: '' });
        req.destroy();
      }, hook.timeout_ms);
      req.on('error', (e: NodeJS.ErrnoException) => done({ failed: 'connection', error: `${e.code ?? 'error'}: ${e.message}`, body: '' }));
      req.end(body);
    });
  }
}

/** The keys of a `url` hook (docs/hooks.md, "Webhooks"). */
function readWebhook(c: Checker, e: Entries, label: string): Omit<UrlHook, keyof HookBase> | undefined {
  const before = c.issues.length;
  const url = c.scalar(e.get('url'), 'string', 'url');
  if (url !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(url);
    } catch {
      c.at(e.get('url')!.value, `${label}: url '${url}' is not a URL`);
    }
    if (u && u.protocol !== 'http:' && u.protocol !== 'https:') c.at(e.get('url')!.value, `${label}: url must be http:// or https://, not ${u.protocol}//`);
    if (u && (u.username || u.password)) c.at(e.get('url')!.value, `${label}: put credentials in headers, not in the url (it is written to the hook log)`);
  }
  const method = c.scalar(e.get('method'), 'string', 'method')?.toUpperCase() ?? 'POST';
  if (!/^(POST|PUT|PATCH)$/.test(method)) c.at(e.get('method')!.value, `${label}: method must be POST, PUT or PATCH (the event is the body)`);
  const headers: Record<string, string> = {};
  for (const p of c.pairs(e.get('headers'), 'headers')) {
    const k = isScalar(p.key) ? String(p.key.value) : '';
    const v = c.secret(p.value, scalarText(c, p.value, ['string', 'int']), `headers: ${k}`, false);
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) c.at(p.key, `headers: '${k}' is not a header name`);
    else if (/^(content-type|content-length|host|webhook-id|webhook-timestamp|webhook-signature)$/i.test(k)) c.at(p.key, `headers: ${k} is set by nlmon`);
    else if (v === undefined || /[\r\n\0]/.test(v)) c.at(p.value ?? p, `headers: ${k} must be a one-line string`);
    else headers[k.toLowerCase()] = v;
  }
  const format = c.scalar(e.get('format'), 'string', 'format') ?? 'json';
  if (format !== 'json' && format !== 'cloudevents') c.at(e.get('format')!.value, `${label}: format must be json or cloudevents, not '${format}'`);
  if (e.has('secret') && e.has('secret_file')) c.at(e.get('secret_file')!.key as never, `${label}: secret and secret_file do not go together`);
  let secretText = c.secret(e.get('secret')?.value, c.scalar(e.get('secret'), 'string', 'secret'), `the secret of ${label}`);
  const secretFile = c.scalar(e.get('secret_file'), 'string', 'secret_file');
  if (secretFile !== undefined) {
    const read = readSecretFile('secret_file', c.relative(secretFile));
    if ('problem' in read) c.at(e.get('secret_file')!.value, `${label}: ${read.problem}`);
    else secretText = read.text;
  }

  let secret: Buffer = Buffer.alloc(0);
  if (secretText !== undefined) {
    const key = webhookKey(secretText);
    if (!key) c.at(e.get('secret_file')?.value ?? e.get('secret')!.value, `${label}: the secret must be whsec_ followed by base64 (as the Standard Webhooks libraries make them)`);
    else secret = key;
  }
  if (c.issues.length !== before || url === undefined) return undefined;
  return { url, method, headers, format: format as 'json' | 'cloudevents', secret };
}

export const urlAction: ActionType<UrlHook> = {
  key: 'url',
  keys: ['method', 'headers', 'format', 'secret', 'secret_file'],
  retries: DEFAULT_RETRIES,
  read: readWebhook,
  // Shown in hooks list, the hook log and /api/hooks: a token in the query is not.
  target: (h) => redactUrl(h.url),
  failure: 'connect',
  runner: () => new WebhookRunner(),
};
