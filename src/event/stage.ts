// A stage between the namespaces' sockets and the numbering of events (netlink/monitor.ts): it
// takes each namespace's events in order and gives them out in the same order, and may hold
// them a while (containers/attribution-stage.ts holds them for a container lookup). The
// monitor knows a stage only through this interface.
import type { NlEvent } from './event.js';

/** What a stage may ask of the monitor about a namespace, by nlmon's name for it. */
export interface NamespaceLocator {
  /** The namespace's nsfs inode and when it was first seen (0: at start); undefined if nlmon
   * knows no file for it. */
  locate(namespace: string): { ino: number; since: number } | undefined;
}

export interface EventStage {
  /** One namespace's events, in order. */
  submit(namespace: string, events: NlEvent[]): void;
  /** The namespace is no longer watched (gone, dropped by a reload, failed): what it holds goes
   * on now, and its state is forgotten. */
  closeNamespace(namespace: string): void;
  /** A namespace file's inode is gone: the kernel may give it to a new namespace. */
  forgetInode(ino: number): void;
  /** What the stage knows of a namespace, for `nlmon status` (its container); '' if nothing. */
  describe(namespace: string): string;
}

/** Makes a stage that hands what it gives out to `next`. */
export type EventStageFactory = (next: (events: NlEvent[]) => void, namespaces: NamespaceLocator) => EventStage;
