// Credentials in URLs are never shown (docs/hooks.md, "Threat model"): a password in
// `nats://user:pass@host` (a user alone, which NATS takes as a token), and every value of a webhook URL's query (`?token=…`) are written
// `***` wherever a URL is shown — `outputs stats`, `hooks list`, the hook log, /api/status and
// /api/hooks (which anyone who can reach the metrics listener reads), the daemon's log.

/** The URL as it may be shown: its password and its query's values as `***`. A text that does
 * not parse as a URL is shown only up to any '@' or '?'. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url.includes('://') ? url : `nats://${url}`);
  } catch {
    return url.replace(/[^/]*@/, '***@').replace(/\?.*$/, '?***');
  }
  const scheme = url.slice(0, url.indexOf('://') + 3);
  // A user alone may be a token (`nats://TOKEN@host`): it is hidden too.
  const auth = u.username ? `${u.password ? `${u.username}:***` : '***'}@` : '';
  const query = u.search ? `?${[...u.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=***`).join('&')}` : '';
  const shownScheme = url.includes('://') ? scheme : '';
  return `${shownScheme}${auth}${u.host}${u.pathname === '/' && !url.includes('://') ? '' : u.pathname}${query}${u.hash ? '#***' : ''}`;
}

/** Every URL in a text (an error message naming servers) with its credentials hidden. */
export function redactUrls(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s,;'"]+/gi, (m) => redactUrl(m));
}
