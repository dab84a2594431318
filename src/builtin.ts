// Node's built-in modules that only some configurations use (TLS and HMAC for webhooks, worker
// threads for module hooks, CRC32 for an output's spool, random names for config edits), loaded
// on first use: a daemon that never uses them does not carry them (1.7 MB of the idle daemon's
// resident memory, measured; README, "Measured").
import nodeModule from 'node:module';
import type Crypto from 'node:crypto';
import type Https from 'node:https';
import type WorkerThreads from 'node:worker_threads';
import type Zlib from 'node:zlib';

const load = nodeModule.createRequire(import.meta.url);

function lazy<T>(name: string): () => T {
  let m: T | undefined;
  return () => (m ??= load(name) as T);
}

export const crypto = lazy<typeof Crypto>('node:crypto');
export const https = lazy<typeof Https>('node:https');
export const workerThreads = lazy<typeof WorkerThreads>('node:worker_threads');
export const zlib = lazy<typeof Zlib>('node:zlib');
