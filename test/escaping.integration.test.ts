// Terminal and log injection (docs/hooks.md, "Threat model"): names others choose — a
// container's, a pod's, an interface's, a server's error text — reach nlmon's tables and its
// text log. A control character in one (a carriage return or newline forging a line, an escape
// sequence setting the terminal's title or clearing it) is printed as \xNN.
import test from 'node:test';
import assert from 'node:assert/strict';
import { statusText, outputsTable } from '../src/cli/tables.js';
import { stderrLogger } from '../src/daemon/logger.js';
import type { StatusReport } from '../src/daemon/control-api.js';
import { config, ip, needsRoot, script, startDaemon, until, withNetns, withTempDir } from './helpers/index.js';

const ESC = '\u001b';
const OSC_TITLE = `${ESC}]0;you are pwned\u0007`;

function report(container: string): StatusReport {
  return {
    pid: 1, version: 'x', config: '/etc/nlmon/nlmon.yaml', started_at: '', uptime_s: 0, intake: 'per_namespace', events: 0, overruns: 0, resyncs: 0,
    namespaces: [{ name: 'cni-1', links: 1, addresses: 0, events: 0, overruns: 0, resyncs: 0, reopens: 0, malformed: 0, receive_buffer: 0, read_ahead: 0, read_ahead_peak: 0, container }],
    hooks: { total: 0, enabled: 0, running: 0, queued: 0, backlog: 0, backlog_dropped: 0, discarded: 0 }, hook_log_lost: 0, hook_log: '',
    outputs: [{
      name: 'fleet', type: 'nats', target: 'nats://h', condition: '', state: 'error', events: 0, delivered: 0, dropped: 0,
      last_error: `stream S: ${ESC}[2Jgone\rforged (10077)`, last_error_at: 't',
    }],
  };
}

test('nlmon status escapes a container name and a server\'s error: no forged line, no escape sequence reaches the terminal', () => {
  const text = statusText(report(`web${OSC_TITLE}\nevents 0, overruns 0 (forged)`));
  assert.ok(!text.includes(ESC), 'no ESC in the output');
  assert.ok(!text.includes('\r'), 'no carriage return');
  assert.ok(!text.includes('\u0007'));
  assert.match(text, /web\\x1b\]0;you are pwned\\x07\\x0aevents 0, overruns 0 \(forged\)/);
  assert.equal(text.split('\n').filter((l) => l.startsWith('events ')).length, 1, 'one events line, not a forged second');
  assert.match(outputsTable(report('').outputs), /stream S: \\x1b\[2Jgone\\x0dforged/);
});

test('the text log escapes control characters in a message, keeping its own line breaks', () => {
  let out = '';
  const log = stderrLogger('text', { write: (l: string) => { out += l; }, on: () => {} });
  log('warn', `hook h: failure on link_added ${ESC}[31mred\rforged #1: exit code 1\nsecond line`);
  assert.ok(!out.includes(ESC) && !out.includes('\r'));
  assert.match(out, /link_added \\x1b\[31mred\\x0dforged #1: exit code 1\n {2}second line\n$/);
});

test('an interface named with an escape sequence reaches the daemon\'s log escaped in a failing hook\'s warning', { skip: needsRoot, timeout: 60000 }, () => withNetns(1, (ns) => withTempDir(async (dir) => {
  const fail = script(dir, 'fail.sh', 'exit 3');
  const d = await startDaemon(dir, config(ns, dir, `    hooks:\n      - name: h\n        script: ${fail}\n        condition: "event == link_added AND interface != 'v1'"\n        async: true\n`));
  try {
    ip('-n', ns, 'link', 'add', `v${ESC}[2J`, 'type', 'veth', 'peer', 'name', 'v1');
    await until(() => d.stderr().includes('hook h: failure'), 'the failing hook\'s warning');
    assert.ok(!d.stderr().includes(ESC), 'no ESC in the daemon\'s log');
    assert.match(d.stderr(), /hook h: failure on link_added v\\x1b\[2J/);
  } finally {
    await d.stop();
  }
})));
