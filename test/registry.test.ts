// The seams of the plug-in architecture: an output type and an action added through their
// registries alone, in this test, are read from a config file like the built-in ones (their
// keys checked, their mistakes at their line and column) and run an event each.
import test from 'node:test';
import assert from 'node:assert/strict';
import { registerOutputType } from '../src/outputs/registry.js';
import type { Output, OutputBase, OutputStatusBase } from '../src/outputs/output.js';
import { Outputs } from '../src/outputs/fan-out.js';
import { registerAction, ActionRunners, hookTarget } from '../src/hooks/registry.js';
import type { HookBase, RunResult } from '../src/hooks/action.js';
import { HookScheduler } from '../src/hooks/scheduler.js';
import { HookLog } from '../src/hooks/log.js';
import { ConfigError, configKeys, parseConfig } from '../src/daemon/config-file.js';
import { syntheticEvent } from '../src/event/make.js';
import type { NlEvent } from '../src/event/event.js';
import { until, withTempDir } from './helpers/index.js';
import fs from 'node:fs';
import path from 'node:path';

/** A made-up output type: keeps the last `capacity` events in memory. */
interface MemoryConfig extends OutputBase {
  type: 'memory';
  capacity: number;
}

const kept: NlEvent[] = [];

class MemoryOutput implements Output<MemoryConfig> {
  private events = 0;
  constructor(readonly cfg: MemoryConfig) {}
  submit(events: readonly NlEvent[]): void {
    for (const e of events) {
      if (!this.cfg.match(e)) continue;
      this.events++;
      kept.push(e);
      if (kept.length > this.cfg.capacity) kept.shift();
    }
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  status(): OutputStatusBase & { capacity: number } {
    return {
      name: this.cfg.name, type: 'memory', target: `${this.cfg.capacity} events`, condition: this.cfg.condition, state: 'open',
      events: this.events, delivered: this.events, dropped: 0, last_error: '', last_error_at: '', capacity: this.cfg.capacity,
    };
  }
}

registerOutputType<MemoryConfig>({
  type: 'memory',
  keys: ['capacity'],
  read(c, e, item, ctx) {
    if (!e.has('capacity')) c.at(item, `${ctx.label} needs a capacity`);
    const capacity = c.positive(e.get('capacity'), 'capacity', 1, 1000);
    return capacity === undefined ? undefined : { capacity };
  },
  create: (cfg) => new MemoryOutput(cfg),
});

/** A made-up action: records the event's interface under a label. */
interface RecordHook extends HookBase {
  action: 'record';
  record: string;
}

const recorded: string[] = [];

registerAction<RecordHook>({
  key: 'record',
  keys: [],
  read(c, e, label) {
    const record = c.scalar(e.get('record'), 'string', 'record');
    if (record === '') c.at(e.get('record')!.value, `${label}: record needs a label`);
    return record ? { record } : undefined;
  },
  target: (h) => `record:${h.record}`,
  failure: 'record',
  runner: () => ({
    run(hook: RecordHook, event: NlEvent): Promise<RunResult> {
      recorded.push(`${hook.record}:${event.interface}`);
      return Promise.resolve({ outcome: 'success', duration_ms: 0, error: '', stdout: '', stderr: '' });
    },
  }),
});

const CONFIG = `nlmon:
  integration:
    hook_log: ""
    hooks:
      - name: rec
        record: seen
        condition: "event == link_added"
        async: true
  outputs:
    - name: mem
      type: memory
      capacity: 2
      condition: "interface =~ '^veth'"
`;

test('a made-up output type, registered in this test alone, is read from the config and gets the events its condition matches', async () => {
  const cfg = parseConfig(CONFIG, '/etc/nlmon/test.yaml');
  assert.deepEqual(cfg.outputs.map((o) => [o.name, o.type, (o as unknown as MemoryConfig).capacity]), [['mem', 'memory', 2]]);
  assert.ok(configKeys().output!.includes('capacity'), 'its keys are among the keys the file may hold');
  const outputs = new Outputs();
  assert.deepEqual(await outputs.set(cfg.outputs), []);
  const events = ['veth1', 'eth0', 'veth2', 'veth3'].map((n, i) => ({ ...syntheticEvent(n, 'default'), sequence: i + 1 }));
  outputs.submit(events);
  assert.deepEqual(kept.map((e) => e.interface), ['veth2', 'veth3'], 'the last two veths');
  const [st] = outputs.status();
  assert.deepEqual([st!.type, st!.events, st!.target], ['memory', 3, '2 events']);
  await outputs.close();
});

test('a made-up action, registered in this test alone, is read from the config and run by the scheduler', () => withTempDir(async (dir) => {
  const cfg = parseConfig(CONFIG, '/etc/nlmon/test.yaml');
  const hook = cfg.integration.hooks[0]!;
  assert.equal(hook.action, 'record');
  assert.equal(hookTarget(hook), 'record:seen');
  const log = new HookLog(path.join(dir, 'hook.log'));
  const runner = new ActionRunners();
  const s = new HookScheduler({ maxConcurrent: 2, queueLimit: 10 }, runner, { started: (h, e) => log.started(h, e), finished: (h, e, r) => log.done(h, e, r) });
  s.setHooks(cfg.integration.hooks);
  s.submit([{ ...syntheticEvent('veth9', 'default'), sequence: 1 }, { ...syntheticEvent('veth9', 'default'), sequence: 2, event: 'link_up', event_type: 3 }]);
  await until(() => s.status()[0]!.executions === 1, 'the run');
  await s.stop();
  await log.close();
  assert.deepEqual(recorded, ['seen:veth9'], 'run for link_added only');
  assert.deepEqual([s.status()[0]!.action, s.status()[0]!.target, s.status()[0]!.successes], ['record', 'record:seen', 1]);
  assert.match(fs.readFileSync(path.join(dir, 'hook.log'), 'utf8'), /link_added : 1 : done rec : default : record:seen OK\n$/);
}));

test('the registered types are in the config checker\'s messages: the type list, their keys, a misspelt key', () => {
  const errors = (text: string) => {
    try {
      parseConfig(text, 'c.yaml');
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    return '';
  };
  assert.match(errors('nlmon:\n  outputs:\n    - name: x\n      type: kafka\n'), /^c\.yaml:4:13: output 'x': type must be file, nats or memory, not 'kafka'$/m);
  assert.match(errors('nlmon:\n  outputs:\n    - name: x\n      type: memory\n      capasity: 3\n'), /^c\.yaml:5:7: unknown key 'capasity' in an output \(known: .*capacity\); did you mean 'capacity'\?$/m);
  assert.match(errors('nlmon:\n  outputs:\n    - name: x\n      type: memory\n'), /^c\.yaml:3:7: output 'x' needs a capacity$/m);
  assert.match(errors('nlmon:\n  outputs:\n    - name: x\n      type: file\n      path: /tmp/x\n      capacity: 3\n'), /^c\.yaml:6:7: output 'x': capacity is not a key of a file output$/m);
  assert.match(errors('nlmon:\n  integration:\n    hooks:\n      - name: h\n'), /hook 'h' needs one action: script, url, module or record$/m);
  assert.match(errors('nlmon:\n  integration:\n    hooks:\n      - name: h\n        record: a\n        url: http://127.0.0.1:1/\n'), /hook 'h' has url and record: a hook has exactly one action/m);
  assert.match(errors('nlmon:\n  integration:\n    hooks:\n      - name: h\n        record: ""\n'), /^c\.yaml:5:17: hook 'h': record needs a label$/m);
});
