// The output types, one registry entry each (output.ts says what an entry is): the config
// reader looks a type up by its name, the fan-out makes outputs through it. Adding an output
// type is one file (or folder) here and one line in BUILT_IN.
import type { OutputBase, OutputType } from './output.js';
import { fileOutputType, type FileOutputConfig, type FileOutputStatus } from './file.js';
import { natsOutputType, type NatsOutputStatus } from './nats/nats.js';
import type { NatsOutputConfig } from './nats/settings.js';

/** An output of one of the built-in types: a field of another type is a compile error. */
export type OutputConfig = FileOutputConfig | NatsOutputConfig;
export type OutputStatus = FileOutputStatus | NatsOutputStatus;

const BUILT_IN: readonly OutputType<never>[] = [fileOutputType, natsOutputType] as never;
const registered = new Map<string, OutputType>(BUILT_IN.map((t) => [t.type, t as OutputType]));

/** Adds an output type (a test's made-up one, or a later built-in). */
export function registerOutputType<C extends OutputBase>(type: OutputType<C>): void {
  if (registered.has(type.type)) throw new Error(`output type ${type.type} is registered already`);
  registered.set(type.type, type as unknown as OutputType);
}

/** Every output type, the built-in ones first. */
export function outputTypes(): OutputType[] {
  return [...registered.values()];
}

export function outputType(type: string): OutputType | undefined {
  return registered.get(type);
}
