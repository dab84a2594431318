// Loader hooks for module handlers (docs/hooks.md, "Module handlers"): every local file a
// module loads — the module itself, what it imports at any depth, statically or dynamically, and
// what it require()s — must pass the rules a script passes (owned by root or nlmon's user, not
// writable by others, nor any directory above it) before it is loaded. Registered (module.register)
// by the worker that runs a module hook and by the load check of `config check`, unless
// --allow-unsafe-scripts. A root-owned module importing ./lib/x.mjs from a directory a user owns
// would otherwise run the user's code as root.
import Module from 'node:module';
import { fileURLToPath } from 'node:url';
import { loadProblem } from './script-check.js';

type Resolved = { url: string; format?: string | null };
type NextResolve = (specifier: string, context: unknown) => Promise<Resolved>;

function refuse(file: string): void {
  const problem = loadProblem(file);
  if (problem) throw new Error(`refusing to load ${file}: ${problem}`);
}

/** The ESM resolve hook: the file a specifier resolves to is checked before it is loaded. */
export async function resolve(specifier: string, context: unknown, next: NextResolve): Promise<Resolved> {
  const r = await next(specifier, context);
  if (r.url.startsWith('file:')) refuse(fileURLToPath(r.url));
  return r;
}

/** The same for require() (CommonJS does not go through the ESM hooks): installed in the thread
 * that loads the module. */
export function guardRequire(): void {
  const M = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = M._resolveFilename;
  M._resolveFilename = function guarded(this: unknown, request: string, ...rest: unknown[]): string {
    const file = original.call(this, request, ...rest);
    if (file.startsWith('/')) refuse(file);
    return file;
  };
}
