// nlmon's version and where its own files are. This module sits two folders below the package's
// root both as compiled (dist/src/package.js) and in the bundle the command runs (dist/bin/cli.cjs,
// tools/bundle.mjs), so paths to the package's files are made from here, never from another
// module's own place (which is not the same in the bundle).
import fs from 'node:fs';
import path from 'node:path';
import url from 'node:url';

export const PACKAGE_ROOT = url.fileURLToPath(new URL('../../', import.meta.url));

export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** A file of the package, by its path from the root. */
export function packageFile(rel: string): URL {
  return url.pathToFileURL(path.join(PACKAGE_ROOT, rel));
}
