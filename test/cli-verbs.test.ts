// The verbs that need no daemon: filter check, hooks run, and monitor --filter's compile errors.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { NLMON, nlmonSync, script, withTempDir } from './helpers/index.js';
import { Fifo } from '../src/hooks/fifo.js';

const nlmon = (...args: string[]) => nlmonSync(args);

test('filter check: normalized form, match / no match, exit 2 with a caret on errors', () => {
  const ok = nlmon('filter', 'check', "interface =~ 'veth.*' and message_type == rtm_newlink");
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.stdout, "(interface =~ 'veth.*' AND message_type == 16)\n");
  const m = nlmon('filter', 'check', 'mtu > 1400 && kind == "veth"', '--event', '{"mtu":1500,"kind":"veth"}');
  assert.equal(m.exitCode, 0);
  assert.equal(m.stdout, 'match\n');
  const no = nlmon('filter', 'check', 'mtu > 1400', '--event', '{"mtu":1300}');
  assert.equal(no.exitCode, 1);
  assert.equal(no.stdout, 'no match\n');
  const bad = nlmon('filter', 'check', '(message_type == 17))');
  assert.equal(bad.exitCode, 2);
  assert.equal(bad.stderr, "condition: unexpected ')' at column 21\n  (message_type == 17))\n                      ^\n");
  const badEvent = nlmon('filter', 'check', 'up', '--event', '{nope');
  assert.equal(badEvent.exitCode, 2);
  assert.match(badEvent.stderr, /--event: not JSON/);
});

test('monitor --filter with a bad expression exits 2 before watching anything', () => {
  const r = nlmon('monitor', '--filter', 'frob == 1');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /^--filter: unknown field 'frob' at column 1\n {2}frob == 1\n {2}\^\n$/);
});

test('hooks run fires one hook by hand and prints exit code, duration and output', async () => {
  await withTempDir(async (dir) => {
    const s = script(dir, 'h.sh', 'echo "hello $NLMON_INTERFACE in $NLMON_NAMESPACE"\nread line\necho "$line" | grep -q \'"event":"link_added"\' || exit 9\necho oops >&2\nexit 3');
    const cfg = path.join(dir, 'c.yaml');
    fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hook_log: ""\n    hooks:\n      - name: h\n        script: ${s}\n`);
    const r = nlmon('hooks', 'run', 'h', '--config', cfg, '--interface', 'veth7', '--namespace', 'blue');
    assert.equal(r.exitCode, 1, r.stderr);
    assert.match(r.stdout, /^hook h: failure exit_code 3 duration [\d.]+ ms \(exit code 3\)\n--- stdout\nhello veth7 in blue\n--- stderr\noops\n$/);
    const j = nlmon('hooks', 'run', 'h', '--config', cfg, '--event', '{"interface":"x","event":"link_added"}', '--json');
    const out = JSON.parse(j.stdout);
    assert.equal(out.exit_code, 3);
    assert.equal(out.stdout, 'hello x in default\n');
    // --event -: a line of monitor --json on standard input.
    const line = JSON.stringify({ interface: 'veth9', namespace: 'red', event: 'link_added', event_type: 1 });
    const piped = execaSync(process.execPath, [NLMON, 'hooks', 'run', 'h', '--config', cfg, '--event', '-'], { input: `${line}\n`, reject: false });
    assert.equal(piped.exitCode, 1, piped.stderr);
    assert.match(piped.stdout, /--- stdout\nhello veth9 in red\n/);
    const missing = nlmon('hooks', 'run', 'nope', '--config', cfg);
    assert.equal(missing.exitCode, 2);
    assert.match(missing.stderr, /no hook named 'nope'/);
  });
});

test('a hand-written --event is checked against the event fields; every string reaches the hook as valid JSON', async () => {
  const badType = nlmon('filter', 'check', "changed == 'mtu'", '--event', '{"changed":"mtu"}');
  assert.equal(badType.exitCode, 2);
  assert.equal(badType.stderr, `--event: field 'changed' must be a list of strings, not "mtu"\n`);
  const object = nlmon('filter', 'check', 'up', '--event', '{"interface":{"a":1}}');
  assert.equal(object.exitCode, 2);
  assert.match(object.stderr, /field 'interface' must be a string/);
  assert.equal(nlmon('filter', 'check', 'up', '--event', '{"ifname":"x"}').exitCode, 2);
  assert.equal(nlmon('filter', 'check', 'up', '--event', '{"event":"link_exploded"}').exitCode, 2);
  await withTempDir(async (dir) => {
    const s = script(dir, 'h.sh', `cat > "${dir}/stdin"\nprintf '%s' "$NLMON_EVENT_JSON" > "${dir}/env"`);
    const cfg = path.join(dir, 'c.yaml');
    fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hook_log: ""\n    hooks:\n      - name: h\n        script: ${s}\n`);
    const given = { address: 'a"b\\c', alias: 'x\u0001\ud800', kind: 'k"', changed: ['mtu', 'q"'] };
    const r = nlmon('hooks', 'run', 'h', '--config', cfg, '--event', JSON.stringify(given));
    assert.equal(r.exitCode, 0, r.stderr + r.stdout);
    for (const f of ['stdin', 'env']) {
      const e = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      assert.equal(e.address, given.address);
      assert.equal(e.alias, given.alias);
      assert.deepEqual(e.changed, given.changed);
    }
    const bad = nlmon('hooks', 'run', 'h', '--config', cfg, '--event', '{"changed":{"0":"x"}}');
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /field 'changed'/);
  });
});

test('Fifo keeps order across its compaction', () => {
  const q = new Fifo<number>();
  for (let i = 0; i < 10000; i++) q.push(i);
  for (let i = 0; i < 6000; i++) assert.equal(q.shift(), i);
  for (let i = 10000; i < 12000; i++) q.push(i);
  assert.equal(q.length, 6000);
  for (let i = 6000; i < 12000; i++) assert.equal(q.shift(), i);
  assert.equal(q.shift(), undefined);
  assert.equal(q.length, 0);
});

test('captured output of a failing hook is complete, and capped at 64 KiB', async () => {
  await withTempDir(async (dir) => {
    const fail = script(dir, 'fail.sh', 'yes a | tr -d "\\n" | head -c 60000\nexit 1');
    const big = script(dir, 'big.sh', 'yes b | tr -d "\\n" | head -c 200000\nexit 0');
    const cfg = path.join(dir, 'c.yaml');
    fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hooks:\n      - name: fail\n        script: ${fail}\n      - name: big\n        script: ${big}\n`);
    for (let i = 0; i < 3; i++) {
      const f = JSON.parse(nlmon('hooks', 'run', 'fail', '--config', cfg, '--json').stdout);
      assert.equal(f.exit_code, 1);
      assert.ok(f.stdout === 'a'.repeat(60000), `complete output, got ${f.stdout.length} bytes`);
    }
    const b = JSON.parse(nlmon('hooks', 'run', 'big', '--config', cfg, '--json').stdout);
    assert.equal(b.outcome, 'success');
    assert.ok(b.stdout === 'b'.repeat(65536), `capped output, got ${b.stdout.length} bytes`);
  });
});

test('a hook starts with no signal ignored or blocked, in its own session, in /', async () => {
  await withTempDir(async (dir) => {
    const s = script(dir, 'sig.sh', 'grep -E "^(SigIgn|SigBlk):" /proc/self/status\nps -o sid= -o pgid= -p $$ | tr -s " " "\\n" | grep -c "^$$$"\npwd');
    const cfg = path.join(dir, 'c.yaml');
    fs.writeFileSync(cfg, `nlmon:\n  integration:\n    hooks:\n      - name: sig\n        script: ${s}\n`);
    const r = JSON.parse(nlmon('hooks', 'run', 'sig', '--config', cfg, '--json').stdout);
    assert.equal(r.outcome, 'success', r.stderr);
    const [blk, ign, sessionAndGroup, cwd] = r.stdout.trim().split('\n');
    // Node ignores SIGPIPE, which a hook must not inherit. glibc's posix_spawn leaves its two
    // internal signals (32, 33: bits 0x180000000) ignored, as for any posix_spawn caller.
    const ignored = BigInt(`0x${ign!.split('\t')[1]}`) & ~0x180000000n;
    assert.equal(ignored, 0n, ign);
    assert.equal(blk, 'SigBlk:\t0000000000000000');
    assert.equal(sessionAndGroup, '2', 'the hook leads its own session and process group');
    assert.equal(cwd, '/');
  });
});

test('numbers on the command line are checked: out of range or not a number is a usage error, not a wrap or a busy loop', () => {
  for (const [args, what] of [
    [['monitor', '--receive-buffer', '4294967296'], /--receive-buffer <bytes>' argument '4294967296' is invalid/],
    [['hooks', 'stats', '--watch', '--interval', 'abc'], /--interval <ms>' argument 'abc' is invalid/],
    [['hooks', 'stats', '--watch', '--interval', '-5'], /--interval/],
    [['hooks', 'add', '--name', 'x', '--script', '/bin/true', '--timeout-ms', '1e300'], /--timeout-ms <n>' argument '1e300' is invalid/],
  ] as const) {
    const r = nlmon(...args);
    assert.equal(r.exitCode, 2, args.join(' '));
    assert.match(r.stderr, what);
  }
});

test('a daemon verb waits for a slow answer, reads at most 64 MB from the control socket, and says so when what answers is not the daemon', async () => {
  const net = await import('node:net');
  const { execa } = await import('execa');
  await withTempDir(async (dir) => {
    const sock = path.join(dir, 's.sock');
    let mode = '';
    // Without allowHalfOpen, as Node's HTTP server: a client that ended its side once it had
    // asked would get no answer that comes later ('slow').
    const server = net.createServer((c) => {
      c.on('error', () => {});
      c.once('data', () => {
        if (mode === 'slow') setTimeout(() => c.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"ok":true}'), 300);
        else if (mode === 'garbage') c.end('SSH-2.0-OpenSSH\r\n');
        else if (mode === 'refused') c.end('HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n\r\n{"error":"busy"}');
        else if (mode === 'endless') {
          const mb = Buffer.alloc(1024 * 1024, 0x20);
          c.write('HTTP/1.1 200 OK\r\n\r\n{"a":"');
          const pump = () => { while (!c.destroyed && c.write(mb)); };
          c.on('drain', pump);
          pump();
        }
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const status = async (m: string, ...more: string[]) => {
        mode = m;
        return execa(process.execPath, [NLMON, 'status', '--socket', sock, ...more], { reject: false, timeout: 60000 });
      };
      const slow = await status('slow', '--json');
      assert.equal(slow.stderr, '');
      assert.equal(slow.stdout, '{"ok":true}');
      assert.equal(slow.exitCode, 0);
      const garbage = await status('garbage');
      assert.equal(garbage.exitCode, 1);
      assert.equal(garbage.stderr, `nlmon: the daemon on ${sock} answered something that is not JSON`);
      const refused = await status('refused');
      assert.equal(refused.exitCode, 2);
      assert.equal(refused.stderr, 'nlmon: busy');
      const endless = await status('endless');
      assert.equal(endless.exitCode, 1);
      assert.equal(endless.stderr, `nlmon: the daemon on ${sock} answered more than 64 MB`);
    } finally {
      server.close();
    }
  });
});

test('a daemon verb gives up on an answer that does not come whole within its time, however it trickles, and says so', { timeout: 20_000 }, async () => {
  const net = await import('node:net');
  const { request, ClientError, ANSWER_TIMEOUT_MS } = await import('../src/cli/control-client.js');
  assert.equal(ANSWER_TIMEOUT_MS, 30_000); // docs/cli.md
  await withTempDir(async (dir) => {
    const sock = path.join(dir, 's.sock');
    let trickle = false;
    const open = new Set<import('node:net').Socket>();
    const server = net.createServer((c) => {
      open.add(c);
      c.on('error', () => {});
      c.on('close', () => open.delete(c));
      c.resume(); // reads what is asked, and so hears the client go
      if (!trickle) return; // accepts, reads, never answers
      c.write('HTTP/1.1 200 OK\r\n\r\n');
      const t = setInterval(() => (c.destroyed ? clearInterval(t) : c.write(' ')), 50);
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      for (const mode of [false, true]) {
        trickle = mode;
        const started = Date.now();
        await assert.rejects(request(sock, 'GET', '/v1/status', undefined, 400), (e: unknown) => {
          assert.ok(e instanceof ClientError);
          assert.equal(e.message, `the daemon on ${sock} did not answer within 0.4 s`);
          assert.equal(e.exitCode, 1);
          return true;
        });
        const took = Date.now() - started;
        assert.ok(took >= 390 && took < 5000, `gave up after ${took} ms`);
        // The connection is closed, not left open.
        for (let i = 0; i < 50 && open.size; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(open.size, 0);
      }
    } finally {
      server.close();
    }
  });
});
