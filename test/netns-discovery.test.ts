// Namespace discovery's plan, on made-up directory contents: which namespaces to open, which
// to close, and which files are the same namespace under a second name.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { NetnsDiscovery, type NetnsFile } from '../src/netlink/netns-discovery.js';
import { withTempDir } from './helpers/index.js';

const file = (dir: string, name: string, ino: number): NetnsFile => ({ name, path: `${dir}/${name}`, ino });
const found = (...files: NetnsFile[]) => new Map(files.map((f) => [f.name, f]));
const all = () => true;

test('discovery plan: new files opened, vanished and replaced ones closed, the default kept', () => {
  const d = new NetnsDiscovery(['/run/netns'], () => {});
  const watched = [
    { name: 'default', path: '', ino: 1 },
    { name: 'a', path: '/run/netns/a', ino: 10 },
    { name: 'gone', path: '/run/netns/gone', ino: 11 },
    { name: 'swapped', path: '/run/netns/swapped', ino: 12 },
    { name: 'elsewhere', path: '/tmp/ns/elsewhere', ino: 13 },
  ];
  const plan = d.plan(found(file('/run/netns', 'a', 10), file('/run/netns', 'swapped', 22), file('/run/netns', 'new', 23)), watched, all);
  assert.deepEqual(plan.close.sort(), ['gone', 'swapped']);
  assert.deepEqual(plan.open.map((f) => f.name).sort(), ['new', 'swapped'], 'a file with a new inode is another namespace: reopened');
  assert.deepEqual(plan.aliases, []);
});

test('discovery plan: a second file of a watched namespace is not opened twice; unwanted files are left alone', () => {
  const d = new NetnsDiscovery(['/run/netns', '/run/docker/netns'], () => {});
  const watched = [{ name: 'default', path: '', ino: 1 }, { name: 'a', path: '/run/netns/a', ino: 10 }];
  const plan = d.plan(
    found(file('/run/netns', 'a', 10), file('/run/docker/netns', 'a-alias', 10), file('/run/docker/netns', 'host', 1),
      file('/run/netns', 'twin1', 30), file('/run/netns', 'twin2', 30), file('/run/netns', 'skip', 31)),
    watched, (name) => name !== 'skip');
  assert.deepEqual(plan.close, []);
  assert.deepEqual(plan.open.map((f) => f.name), ['twin1']);
  assert.deepEqual(plan.aliases.map((f) => f.name).sort(), ['a-alias', 'host', 'twin2']);
});

test('discovery scan: the first directory wins a name; directories that do not exist are skipped', () => withTempDir(async (dir) => {
  const one = path.join(dir, 'one');
  const two = path.join(dir, 'two');
  fs.mkdirSync(one);
  fs.mkdirSync(two);
  fs.writeFileSync(path.join(one, 'x'), '');
  fs.writeFileSync(path.join(two, 'x'), '');
  fs.writeFileSync(path.join(two, 'y'), '');
  const d = new NetnsDiscovery([path.join(dir, 'absent'), one, two], () => {});
  const f = d.scan();
  assert.deepEqual([...f.keys()].sort(), ['x', 'y']);
  assert.equal(f.get('x')!.path, path.join(one, 'x'));
  assert.equal(f.get('x')!.ino, fs.statSync(path.join(one, 'x')).ino);
  assert.ok(d.contains(path.join(two, 'y')));
  assert.ok(!d.contains(path.join(dir, 'y')));
}));
