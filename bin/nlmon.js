#!/usr/bin/env node
'use strict';
// The command: runs the bundle (dist/bin/cli.cjs, tools/bundle.mjs) from V8's code cache of it
// when one fits this Node and its V8 flags, so that the half-megabyte bundle is not parsed again
// at every start (about 10 ms of `nlmon status`'s CPU, README "Measured"). The build writes a
// cache for no flags and for the daemon's (tools/code-cache.mjs), named by V8's version and the
// flags. One that does not fit is rejected by V8 and the bundle compiled as usual; one that is
// not a regular file owned by the bundle's owner, that others can write, or that is older than
// the bundle (edited since) is not read: it is code, trusted as the bundle is. A cache is written
// and read with V8's checksum of its bytes on (withChecksum): without it V8 checks only a
// cache's version, flags, source length and size, and a cache damaged in the middle aborts Node.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const v8 = require('node:v8');

const BUNDLE = path.join(__dirname, '..', 'dist', 'bin', 'cli.cjs');

/** The cache for this V8 and the flags this process was started with (NODE_OPTIONS, then the
 * command line's): one file per set of flags, undefined for a set no file is named after. */
function cacheFile() {
  const flags = [process.env.NODE_OPTIONS ?? '', ...process.execArgv].join(' ').trim();
  if (flags.length > 80 || /[^\w =.,-]/.test(flags)) return undefined;
  return `${BUNDLE}.${process.versions.v8}${flags ? `.${flags.replace(/ +/g, '_')}` : ''}.v8cache`;
}

function readCache(file) {
  let fd = -1;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    const bundle = fs.statSync(BUNDLE);
    if (!st.isFile() || st.uid !== bundle.uid || (st.mode & 0o022) !== 0 || st.mtimeMs < bundle.mtimeMs) return undefined;
    return fs.readFileSync(fd);
  } catch {
    return undefined; // none: compiled as usual
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** This process's cache, when there is one to trust (else undefined). */
function cachedData() {
  const file = cacheFile();
  return file ? readCache(file) : undefined;
}

/** Runs f with V8 checking code caches against their checksum, and computing it when it makes
 * one; off again after, since the flag is part of what a cache must match and Node's own
 * built-in modules carry caches made without it. */
function withChecksum(f) {
  v8.setFlagsFromString('--verify-snapshot-checksum');
  try {
    return f();
  } finally {
    v8.setFlagsFromString('--no-verify-snapshot-checksum');
  }
}

/** The bundle compiled as the module wrapper would, from `data` when given. */
function script(data) {
  return new vm.Script(Module.wrap(fs.readFileSync(BUNDLE, 'utf8')), { filename: BUNDLE, cachedData: data });
}

/** The bundle's exports: without a cache, as any module (require() compiles it faster than a
 * script compiled here without one). */
function load() {
  const data = cachedData();
  if (!data) return require(BUNDLE);
  const compiled = withChecksum(() => script(data));
  // The bundle's packages left out of it (src/builtin.ts, importPackage) are imported from here:
  // code compiled from a cache cannot import on Node 20.
  globalThis[Symbol.for('nlmon.import')] = (specifier) => import(specifier);
  const mod = { exports: {} };
  compiled.runInThisContext()(mod.exports, Module.createRequire(BUNDLE), mod, BUNDLE, path.dirname(BUNDLE));
  return mod.exports;
}

/** Writes the cache for this process's flags (tools/code-cache.mjs): the bundle compiled, not
 * run, so the cache holds its top level and each function is still compiled when first called.
 * Returns the file, or undefined when these flags have none. */
function writeCodeCache() {
  const file = cacheFile();
  if (!file) return undefined;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, withChecksum(() => script(undefined).createCachedData()), { mode: 0o644, flag: 'wx' });
  fs.renameSync(tmp, file);
  return file;
}

/** Whether V8 takes this process's cache (a test of the build): false when there is none, it is
 * not to be trusted, or V8 rejects it. */
function codeCacheTaken() {
  const data = cachedData();
  return data ? !withChecksum(() => script(data)).cachedDataRejected : false;
}

if (require.main === module) {
  const { main } = load();

  // A reader that stops reading (`nlmon hooks list | head -1`) is not an error: exit quietly.
  process.stdout.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });

  main(process.argv).then(
    (code) => { process.exitCode = code; },
    (err) => { process.stderr.write(`nlmon: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 1; },
  );
} else {
  module.exports = { writeCodeCache, codeCacheTaken };
}
