// The NATS client libraries, loaded when a nats output first connects (or `nlmon events` reads a
// stream): a daemon without a nats output never loads them, which keeps its start-up and its
// idle memory down (README, "Measured").
import type { connect } from '@nats-io/transport-node';
import type { createInbox, credsAuthenticator } from '@nats-io/nats-core';
import type { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { importPackage } from '../../builtin.js';

export interface NatsLibrary {
  connect: typeof connect;
  createInbox: typeof createInbox;
  credsAuthenticator: typeof credsAuthenticator;
  jetstreamManager: typeof jetstreamManager;
  /** For `nlmon events`: a stream read as a consumer. */
  jetstream: typeof jetstream;
  DeliverPolicy: typeof DeliverPolicy;
}

let loading: Promise<NatsLibrary> | undefined;

export function natsLibrary(): Promise<NatsLibrary> {
  loading ??= Promise.all([
    importPackage<typeof import('@nats-io/transport-node')>('@nats-io/transport-node'),
    importPackage<typeof import('@nats-io/nats-core')>('@nats-io/nats-core'),
    importPackage<typeof import('@nats-io/jetstream')>('@nats-io/jetstream'),
  ]).then(
    ([transport, core, js]) => ({
      connect: transport.connect, createInbox: core.createInbox,
      credsAuthenticator: core.credsAuthenticator, jetstreamManager: js.jetstreamManager,
      jetstream: js.jetstream, DeliverPolicy: js.DeliverPolicy,
    }),
  );
  return loading;
}
