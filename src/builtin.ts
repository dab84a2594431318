// Node's built-in modules that only some configurations use (TLS and HMAC for webhooks, worker
// threads for module hooks, random names for config edits), loaded on first use: a daemon that
// never uses them does not carry them (1.7 MB of the idle daemon's resident memory, measured
// with zlib among them; README, "Measured").
import nodeModule from 'node:module';
import type Crypto from 'node:crypto';
import type Https from 'node:https';
import type WorkerThreads from 'node:worker_threads';

const load = nodeModule.createRequire(import.meta.url);

function lazy<T>(name: string): () => T {
  let m: T | undefined;
  return () => (m ??= load(name) as T);
}

export const crypto = lazy<typeof Crypto>('node:crypto');
export const https = lazy<typeof Https>('node:https');
export const workerThreads = lazy<typeof WorkerThreads>('node:worker_threads');

const LENT_IMPORT = Symbol.for('nlmon.import');

/** import() of a package the command's bundle leaves out (the NATS client, prom-client, gRPC).
 * When bin/nlmon.js runs the bundle from V8's code cache, it lends its own import(): Node 20
 * gives code compiled from a cache no way to import (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).
 * tools/bundle.mjs refuses a bundle that imports a package any other way. */
export function importPackage<T>(name: string): Promise<T> {
  const lent = (globalThis as { [LENT_IMPORT]?: (specifier: string) => Promise<unknown> })[LENT_IMPORT];
  return (lent ? lent(name) : import(name)) as Promise<T>;
}
