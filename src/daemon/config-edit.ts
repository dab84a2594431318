// Edits the hooks list of a config file in place, keeping its comments and layout (yaml's
// Document API), validates the result as a whole, and replaces the file atomically.
import fs from 'node:fs';
import path from 'node:path';
import { crypto } from '../builtin.js';
import { isMap, isScalar, isSeq, parseDocument, YAMLMap, YAMLSeq, type Document } from 'yaml';
import { parseConfig, type LoadOptions, type NlmonConfig } from './config-file.js';

export interface NewHook {
  name: string;
  /** Exactly one of script, url and module. */
  script?: string;
  url?: string;
  /** A url hook's secret (`whsec_…`), written into the file (then made 0600), or the file that
   * holds it (written as `secret_file`). */
  secret?: string;
  secret_file?: string;
  module?: string;
  condition?: string;
  timeout_ms?: number;
  async?: boolean;
}

export class ConfigEditError extends Error {}

/** The nlmon.integration.hooks sequence, created if the file has none. */
function hooksSeq(doc: Document): YAMLSeq {
  let nl = doc.get('nlmon');
  if (!isMap(nl)) {
    nl = new YAMLMap();
    doc.set('nlmon', nl);
  }
  let integ = (nl as YAMLMap).get('integration');
  if (!isMap(integ)) {
    integ = new YAMLMap();
    (nl as YAMLMap).set('integration', integ);
  }
  let hooks = (integ as YAMLMap).get('hooks');
  if (!isSeq(hooks)) {
    hooks = new YAMLSeq();
    (integ as YAMLMap).set('hooks', hooks);
  }
  const seq = hooks as YAMLSeq;
  seq.flow = false; // `hooks: []` becomes a block list once it has an item
  return seq;
}

function hookName(item: unknown): string | undefined {
  if (!isMap(item)) return undefined;
  const n = item.get('name', true);
  return isScalar(n) ? String(n.value) : undefined;
}

/** Why nlmon must not rewrite a file in this directory, or undefined: a directory that others
 * can write lets them swap files under the root-owned config. */
function unsafeDirectory(dir: string): string | undefined {
  const st = fs.statSync(dir);
  const me = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== me) return `its directory ${dir} is owned by uid ${st.uid}`;
  if (st.mode & 0o022) return `its directory ${dir} is writable by ${st.mode & 0o002 ? 'every user' : 'its group'}`;
  return undefined;
}

/** Applies edit to the file's text, validates the whole result, then writes it: a temp file with
 * a random name created exclusively (never through a symlink someone planted), synced, then
 * renamed over the config. A config that is a symlink is edited at its target. */
function editFile(file: string, opts: LoadOptions, edit: (doc: Document) => void): NlmonConfig {
  const target = fs.realpathSync(file);
  const dir = path.dirname(target);
  const unsafe = unsafeDirectory(dir);
  if (unsafe) throw new ConfigEditError(`refusing to rewrite ${target}: ${unsafe} (chmod go-w ${dir})`);
  const text = fs.readFileSync(target, 'utf8');
  const doc = parseDocument(text);
  if (doc.errors.length) throw new ConfigEditError(`${file} does not parse: ${doc.errors[0]!.message}`);
  edit(doc);
  const next = doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
  const cfg = parseConfig(next, file, opts); // throws ConfigError, nothing written
  const tmp = path.join(dir, `.${path.basename(target)}.nlmon-${crypto().randomBytes(8).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    const st = fs.statSync(target);
    const c = fs.constants;
    // A file that holds a secret itself is written readable by its owner only.
    const mode = cfg.inline_secrets.length ? 0o600 : st.mode & 0o777;
    fd = fs.openSync(tmp, c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, mode);
    fs.writeSync(fd, next);
    fs.fchownSync(fd, st.uid, st.gid);
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
    const dfd = fs.openSync(dir, c.O_RDONLY | c.O_DIRECTORY);
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new ConfigEditError(`cannot write ${target}: ${(e as Error).message}`);
  }
  return cfg;
}

export function addHookToFile(file: string, hook: NewHook, opts: LoadOptions): NlmonConfig {
  return editFile(file, opts, (doc) => {
    const seq = hooksSeq(doc);
    if (seq.items.some((i) => hookName(i) === hook.name)) throw new ConfigEditError(`a hook named '${hook.name}' exists already`);
    const fields: Record<string, unknown> = { name: hook.name };
    if (hook.script !== undefined) fields.script = hook.script;
    if (hook.url !== undefined) fields.url = hook.url;
    if (hook.secret !== undefined) fields.secret = hook.secret;
    if (hook.secret_file !== undefined) fields.secret_file = hook.secret_file;
    if (hook.module !== undefined) fields.module = hook.module;
    if (hook.condition !== undefined && hook.condition !== '') fields.condition = hook.condition;
    if (hook.timeout_ms !== undefined) fields.timeout_ms = hook.timeout_ms;
    if (hook.async !== undefined) fields.async = hook.async;
    seq.items.push(doc.createNode(fields));
  });
}

export function deleteHookFromFile(file: string, name: string, opts: LoadOptions): NlmonConfig {
  return editFile(file, opts, (doc) => {
    const seq = hooksSeq(doc);
    const i = seq.items.findIndex((item) => hookName(item) === name);
    if (i < 0) throw new ConfigEditError(`no hook named '${name}' in ${file}`);
    seq.items.splice(i, 1);
  });
}
