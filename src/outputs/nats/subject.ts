// A nats output's subject (docs/config.md, "nlmon.outputs"): a template that may hold {host},
// {namespace} and {event}, filled in per event, and the subject filter a stream needs to take
// every subject it can produce.
import type { NlEvent } from '../../event/event.js';

/** A subject token from a value: what a subject cannot hold ('.', '*', '>', white space) becomes
 * '_', and an empty value '-'. */
function subjectToken(v: string): string {
  return v === '' ? '-' : v.replace(/[.*>\s]/g, '_');
}

/** Namespaces whose subjects are kept (subjectFor), and event names per namespace (nlmon makes
 * ten; an event from elsewhere may carry any); past these the kept ones are let go. */
const KEPT_NAMESPACES = 1024;
const KEPT_EVENTS = 64;

/** `subject` with {host}, {namespace} and {event} filled in for one event. Subjects repeat (one
 * host, a handful of event names, the namespaces watched): each is made once and kept, per
 * namespace, within the bounds above. */
export function subjectFor(template: string): (e: NlEvent) => string {
  if (!template.includes('{')) return () => template;
  const parts = template.split(/(\{host\}|\{namespace\}|\{event\})/);
  const make = (e: NlEvent) => {
    let s = '';
    for (const p of parts) {
      if (p === '{host}') s += subjectToken(e.host);
      else if (p === '{namespace}') s += subjectToken(e.namespace);
      else if (p === '{event}') s += e.event;
      else s += p;
    }
    return s;
  };
  let host = '';
  const kept = new Map<string, Map<string, string>>();
  return (e) => {
    if (e.host !== host) {
      kept.clear();
      host = e.host;
    }
    let byEvent = kept.get(e.namespace);
    if (byEvent === undefined) {
      if (kept.size >= KEPT_NAMESPACES) kept.clear();
      byEvent = new Map();
      kept.set(e.namespace, byEvent);
    }
    let s = byEvent.get(e.event);
    if (s === undefined) {
      if (byEvent.size >= KEPT_EVENTS) byEvent.clear();
      s = make(e);
      byEvent.set(e.event, s);
    }
    return s;
  };
}

/** The subjects a template can produce, as a filter: a token with a placeholder becomes '*'. */
export function subjectFilter(template: string): string {
  return template.split('.').map((t) => (t.includes('{') ? '*' : t)).join('.');
}

/** Whether stream subject `filter` takes every subject `subject` (itself a filter) stands for. */
export function subjectCovers(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] === '*') continue;
    if (f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

/** A problem with what the subject template may hold; undefined if it is fine. */
export function subjectProblem(template: string): string | undefined {
  if (template.length > 1024) return 'must be at most 1024 characters';
  const rest = template.replace(/\{(host|namespace|event)\}/g, 'x');
  if (/[{}]/.test(rest)) return 'may contain only the placeholders {host}, {namespace} and {event}';
  if (/[\s*>]/.test(rest)) return 'must not contain white space, * or > (it is published to, not subscribed)';
  if (rest.split('.').some((t) => t === '')) return 'must not have an empty token (a leading, trailing or double dot)';
  return undefined;
}
