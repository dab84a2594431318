// deploy/prometheus: the alerting rules pass `promtool check rules`, and their unit tests (each
// alert fires on the series that should raise it, and only there) pass `promtool test rules`.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execaSync } from 'execa';
import { ROOT } from './helpers/index.js';

const noPromtool = execaSync('promtool', ['--version'], { reject: false }).exitCode === 0 ? false : 'promtool is not installed (Debian: prometheus)';
const dir = path.join(ROOT, 'deploy', 'prometheus');

test('the alerting rules check, and their unit tests pass', { skip: noPromtool }, () => {
  const check = execaSync('promtool', ['check', 'rules', 'nlmon-rules.yaml'], { cwd: dir, reject: false });
  assert.equal(check.exitCode, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: 7 rules found/);
  const unit = execaSync('promtool', ['test', 'rules', 'nlmon-rules.test.yaml'], { cwd: dir, reject: false });
  assert.equal(unit.exitCode, 0, unit.stdout + unit.stderr);
});
