// The Monitor's (monitor.ts) options, listener, statistics and error: what its users see.
import type { NativeBinding } from '../native/addon.js';
import type { NlEvent } from '../event/event.js';
import type { EventStageFactory } from '../event/stage.js';
import type { NamespaceStats } from './namespace-watcher.js';
import type { IntakeMode } from './shared-intake.js';

export type { IntakeMode } from './shared-intake.js';

export interface MonitorOptions {
  /** `all`, or namespace names (`default`, a file name in a netns dir, or a path). */
  namespaces: 'all' | string[];
  /** Directories whose files name namespaces (`netns_dirs`). */
  netnsDirs: readonly string[];
  /** Bytes of receive buffer to ask for, per socket (`receive_buffer`). */
  receiveBuffer: number;
  listExisting?: boolean;
  /** Watch IPv4 and IPv6 addresses too (addr_* events, the address tables); default true. */
  addresses?: boolean;
  binding?: NativeBinding;
  /** The stage each namespace's events go through before they are numbered (the containers
   * stage); none if absent. */
  stage?: EventStageFactory;
  /** How often the netns directories themselves are checked (made, removed) besides inotify (ms). */
  rescanMs?: number;
  /** Which intake (default auto). */
  intake?: IntakeMode;
  /** The capabilities `auto` decides by (this process's when absent). */
  capabilities?: bigint;
}

export type LogLevel = 'info' | 'warn' | 'error';

export interface MonitorListener {
  /** Each batch of events, numbered and time-stamped, in order. */
  events(events: NlEvent[]): void;
  log?(level: LogLevel, message: string): void;
  /** A namespace is no longer watched (gone, dropped by a reload, or failed). */
  namespaceClosed?(name: string): void;
}

/** A problem the operator must fix before the monitor can run (exit 1, one line). */
export class MonitorError extends Error {}

export interface MonitorStats {
  /** The intake running. */
  intake: 'per_namespace' | 'shared';
  events: number;
  overruns: number;
  resyncs: number;
  namespaces: Array<NamespaceStats & {
    /** What the stage knows of the namespace: the container or pod that owns it; ''. */
    container: string;
  }>;
}

