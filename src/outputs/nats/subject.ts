// A nats output's subject (docs/config.md, "nlmon.outputs"): a template that may hold {host},
// {namespace} and {event}, filled in per event, and the subject filter a stream needs to take
// every subject it can produce.
import type { NlEvent } from '../../event/event.js';

/** A subject token from a value: what a subject cannot hold ('.', '*', '>', white space) becomes
 * '_', and an empty value '-'. */
function subjectToken(v: string): string {
  return v === '' ? '-' : v.replace(/[.*>\s]/g, '_');
}

/** `subject` with {host}, {namespace} and {event} filled in for one event. */
export function subjectFor(template: string): (e: NlEvent) => string {
  if (!template.includes('{')) return () => template;
  const parts = template.split(/(\{host\}|\{namespace\}|\{event\})/);
  return (e) => {
    let s = '';
    for (const p of parts) {
      if (p === '{host}') s += subjectToken(e.host);
      else if (p === '{namespace}') s += subjectToken(e.namespace);
      else if (p === '{event}') s += e.event;
      else s += p;
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
