// The one place that loads the C++ addon: its surface as a typed interface, and the unpacking
// of packed batches into LinkMessage objects. Everything else depends on NativeBinding only.
import nodeModule from 'node:module';
import { PACKAGE_ROOT } from '../package.js';
import path from 'node:path';

import type { LinkState } from '../event/make.js';

/** A decoded RTM_NEWLINK / RTM_DELLINK message, as the kernel sent it. */
export interface LinkMessage extends LinkState {
  kind: 'link';
  message_type: number;
  /** nlmsg_seq: the dump request's sequence number on dump replies, 0 on notifications. */
  seq: number;
  /** Part of a dump reply (NLM_F_MULTI), not a notification. */
  dump: boolean;
  dump_interrupted: boolean;
  /** The id, in the socket's namespace, of the namespace a shared socket heard this from; -1 for
   * the socket's own namespace (and always on a per-namespace socket). */
  origin: number;
}

/** NLMSG_DONE closing a dump. */
export interface DumpDone {
  kind: 'done';
  seq: number;
  dump_interrupted: boolean;
  /** The errno NLMSG_DONE carries when the dump failed part way; 0 when it is complete. */
  errno: number;
}

/** NLMSG_ERROR answering one of our requests. */
export interface RequestError {
  kind: 'error';
  seq: number;
  errno: number;
}

/** RTM_NEWNSID answering requestNsid (its port is the socket's own): the id this socket's
 * namespace has for that one; or, on a shared socket, a notification that a namespace was given
 * an id (88, RTM_NEWNSID) or that its id is gone (89, RTM_DELNSID: the namespace is no more),
 * whose seq and port are those of the request that caused it (another program's, or 0). */
export interface NsidReply {
  kind: 'nsid';
  seq: number;
  /** nlmsg_pid. */
  port: number;
  message_type: number;
  /** -1 when the namespace has no id here (no link ties the two). */
  nsid: number;
}

/** A decoded RTM_NEWADDR / RTM_DELADDR message for IPv4 or IPv6, as the kernel sent it. */
export interface AddrMessage {
  kind: 'addr';
  /** 20 RTM_NEWADDR, 21 RTM_DELADDR. */
  message_type: number;
  seq: number;
  dump: boolean;
  dump_interrupted: boolean;
  /** As LinkMessage.origin. */
  origin: number;
  ifindex: number;
  family: 'inet' | 'inet6';
  prefixlen: number;
  /** RT_SCOPE_*: 0 global, 200 site, 253 link, 254 host, 255 nowhere. */
  scope: number;
  /** IFA_FLAGS (IFA_F_*). */
  flags: number;
  /** The address (IFA_LOCAL, or IFA_ADDRESS without it), canonical text. */
  ip: string;
  /** IFA_ADDRESS when it differs from IFA_LOCAL (the peer of a point-to-point link); ''. */
  peer: string;
  /** IFA_LABEL; '' if none. */
  label: string;
}

export type NativeRecord = LinkMessage | AddrMessage | DumpDone | RequestError | NsidReply;

export interface WatcherCallbacks {
  /** One call per drained batch, records in kernel order. */
  onBatch(records: NativeRecord[]): void;
  /** The socket overran (ENOBUFS): notifications were lost. */
  onOverrun(): void;
  onError(err: NodeJS.ErrnoException): void;
}

export interface WatcherOptions extends WatcherCallbacks {
  /** Path of a network namespace file; '' for the namespace nlmon runs in. */
  netns: string;
  receiveBuffer: number;
  /** Join the IPv4 and IPv6 address groups too. */
  addresses?: boolean;
  /** Listen to every namespace with an id in the socket's (NETLINK_LISTEN_ALL_NSID, needs
   * CAP_NET_BROADCAST) and to ids given and gone: the shared intake's socket. */
  allNsid?: boolean;
}

export interface NativeWatcherStats {
  datagrams: number;
  messages: number;
  malformed: number;
  ignored: number;
  /** Datagrams the reader thread read ahead of the event loop (docs/events.md, "Read-ahead"). */
  readAhead: number;
  /** The most bytes the socket's read-ahead queue held. */
  readAheadPeak: number;
}

export interface NativeWatcher {
  readonly receiveBuffer: number;
  readonly receiveBufferForced: boolean;
  readonly portId: number;
  /** Sends RTM_GETLINK (or, with what 'addr', RTM_GETADDR for IPv4 and IPv6) NLM_F_DUMP; the
   * reply arrives through onBatch, then a DumpDone. */
  requestDump(seq: number, what?: 'link' | 'addr', target?: number): void;
  /** Sends RTM_GETNSID for the namespace open as fd (or, with fd -1, the one with id `peer` in
   * the socket's namespace); the id given is the one the namespace with id `target` has for it
   * (the socket's own namespace without). The NsidReply (or a RequestError) arrives through
   * onBatch. The fd may be closed once this returns. */
  requestNsid(seq: number, fd: number, target?: number, peer?: number): void;
  stats(): NativeWatcherStats;
  /** Stops reading the socket; the kernel queues and then overruns. Idempotent. */
  pause(): void;
  /** Reads again; an overrun meanwhile is reported by the next read. Idempotent. */
  resume(): void;
  /** Idempotent. */
  close(): void;
}

export interface DecodeResult {
  records: NativeRecord[];
  messages: number;
  malformed: number;
  ignored: number;
}

/** A hook process started by spawnHook. stdout/stderr are read ends of pipes, or -1. */
export interface SpawnedChild {
  pid: number;
  pidfd: number;
  stdout: number;
  stderr: number;
}

export interface SpawnRequest {
  /** Absolute path of the program. */
  file: string;
  argv: string[];
  /** NAME=value entries: the whole environment. */
  env: string[];
  stdin: string;
  capture: boolean;
  /** stderr to a pipe even without capture (its output shown when the run fails). */
  captureStderr?: boolean;
  /** Run as another identity: set in the child before exec (docs/hooks.md, "Identity"). */
  identity?: SpawnIdentity;
}

/** Who a hook runs as: its uid, gid and supplementary groups, the capabilities it keeps (their
 * numbers, raised as ambient capabilities), and whether it may gain privileges (setuid). */
export interface SpawnIdentity {
  uid: number;
  gid: number;
  groups: number[];
  caps: number[];
  noNewPrivs: boolean;
}

export interface NativeBinding {
  openWatcher(options: WatcherOptions): NativeWatcher;
  /** The id nlmon's namespace has for the namespace file at path, given one when it has none
   * (RTM_NEWNSID: CAP_NET_ADMIN), and the file's inode. Throws a Node-style error (ENOENT,
   * EINVAL when it is not a namespace, EPERM). */
  namespaceId(path: string): { nsid: number; ino: number };
  /** Decodes one datagram's bytes with the same decoder the sockets use. */
  decode(bytes: Uint8Array): DecodeResult;
  /** posix_spawn on the thread pool: own session, default signals, cwd /, stdin preloaded. */
  spawnHook(req: SpawnRequest): Promise<SpawnedChild>;
  /** Calls back once with the exit code (-1 if killed) and signal number (0 if none); closes pidfd. */
  watchExit(pid: number, pidfd: number, onExit: (code: number, signal: number) => void): void;
  /** Lifts the soft descriptor limit to the hard one; -1 stands for unlimited. */
  raiseFileLimit(): { before: number; soft: number; hard: number };
}

/** The spool's record check (native/crc32.hh): zlib's CRC-32, by carry-less multiplication where
 * the CPU has it. One call seals a whole batch of records (src/outputs/spool/record.ts). */
export interface RecordChecks {
  /** The CRC-32 of bytes[start, end). */
  crc32(bytes: Uint8Array, start: number, end: number): number;
  /** Writes the CRC of each record ([u32 LE length][u32 LE CRC][payload]) laid one after another
   * in bytes[start, end); returns how many, stopping at the first that does not fit. */
  sealRecords(bytes: Uint8Array, start: number, end: number): number;
}

interface RawAddon extends RecordChecks {
  LinkWatcher: new (opts: {
    netns: string;
    receiveBuffer: number;
    addresses: boolean;
    allNsid: boolean;
    onBatch(ints: Int32Array, strings: string, count: number): void;
    onOverrun(): void;
    onError(err: NodeJS.ErrnoException): void;
  }) => NativeWatcher;
  namespaceId(path: string): { nsid: number; ino: number };
  decode(bytes: Uint8Array): { ints: Int32Array; strings: string; count: number; messages: number; malformed: number; ignored: number };
  intsPerRecord: number;
  spawnHook(file: string, argv: string[], env: string[], stdin: string, capture: boolean,
    cb: (err: NodeJS.ErrnoException | null, child?: SpawnedChild) => void, identity?: SpawnIdentity | null, captureStderr?: boolean): void;
  watchExit(pid: number, pidfd: number, cb: (code: number, signal: number) => void): void;
  raiseFileLimit(): { before: number; soft: number; hard: number };
}

const INTS = 15; // mirrors kIntsPerRecord in native/record_pack.hh

/** Turns a packed batch (see PackRecords in native/record_pack.cc) into records. */
export function unpackRecords(ints: Int32Array, strings: string, count: number): NativeRecord[] {
  const strs = strings.split('\0');
  const out: NativeRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const b = i * INTS;
    const s = i * 4;
    const kind = ints[b]!;
    if (kind === 0) {
      out[i] = {
        kind: 'link',
        message_type: ints[b + 1]!,
        seq: ints[b + 4]! >>> 0,
        dump: ints[b + 2] === 1,
        dump_interrupted: ints[b + 3] === 1,
        origin: ints[b + 14]!,
        ifindex: ints[b + 6]!,
        flags: ints[b + 7]! >>> 0,
        mtu: ints[b + 8]! >>> 0,
        txqlen: ints[b + 9]! >>> 0,
        master: ints[b + 10]!,
        link: ints[b + 11]!,
        link_netnsid: ints[b + 12]!,
        operstate: ints[b + 13]!,
        interface: strs[s]!,
        address: strs[s + 1]!,
        link_kind: strs[s + 2]!,
        alias: strs[s + 3]!,
      };
    } else if (kind === 4) {
      // Address records carry prefixlen, family and scope where links carry mtu, txqlen, master.
      out[i] = {
        kind: 'addr',
        message_type: ints[b + 1]!,
        seq: ints[b + 4]! >>> 0,
        dump: ints[b + 2] === 1,
        dump_interrupted: ints[b + 3] === 1,
        origin: ints[b + 14]!,
        ifindex: ints[b + 6]!,
        flags: ints[b + 7]! >>> 0,
        prefixlen: ints[b + 8]!,
        family: ints[b + 9] === 2 ? 'inet' : 'inet6',
        scope: ints[b + 10]!,
        ip: strs[s + 1]!,
        peer: strs[s + 2]!,
        label: strs[s]!,
      };
    } else if (kind === 3) {
      out[i] = { kind: 'nsid', seq: ints[b + 4]! >>> 0, port: ints[b + 6]! >>> 0, message_type: ints[b + 1]!, nsid: ints[b + 12]! };
    } else if (kind === 1) {
      out[i] = { kind: 'done', seq: ints[b + 4]! >>> 0, dump_interrupted: ints[b + 3] === 1, errno: ints[b + 5]! };
    } else {
      out[i] = { kind: 'error', seq: ints[b + 4]! >>> 0, errno: ints[b + 5]! };
    }
  }
  return out;
}

let raw: RawAddon | undefined;
let loaded: NativeBinding | undefined;

/** The addon file (build/Release/nlmon.node), loaded once. */
function rawAddon(): RawAddon {
  if (raw) return raw;
  const file = process.env.NLMON_ADDON ?? path.join(PACKAGE_ROOT, 'build', 'Release', 'nlmon.node');
  const addon = nodeModule.createRequire(import.meta.url)(file) as RawAddon;
  if (addon.intsPerRecord !== INTS || typeof addon.sealRecords !== 'function') {
    throw new Error(`nlmon addon ${file} is of another version (it packs ${addon.intsPerRecord} ints per record, expected ${INTS}): rebuild it (npm run build)`);
  }
  return (raw = addon);
}

/** The record check of the real addon. */
export function recordChecks(): RecordChecks {
  return rawAddon();
}

/** The real addon, loaded once. */
export function nativeBinding(): NativeBinding {
  if (loaded) return loaded;
  const addon = rawAddon();
  loaded = {
    openWatcher(o) {
      return new addon.LinkWatcher({
        netns: o.netns,
        receiveBuffer: o.receiveBuffer,
        addresses: o.addresses ?? false,
        allNsid: o.allNsid ?? false,
        onBatch: (ints, strings, count) => o.onBatch(unpackRecords(ints, strings, count)),
        onOverrun: () => o.onOverrun(),
        onError: (err) => o.onError(err),
      });
    },
    namespaceId: (file) => addon.namespaceId(file),
    decode(bytes) {
      const r = addon.decode(bytes);
      return { records: unpackRecords(r.ints, r.strings, r.count), messages: r.messages, malformed: r.malformed, ignored: r.ignored };
    },
    spawnHook(req) {
      return new Promise((resolve, reject) => {
        addon.spawnHook(req.file, req.argv, req.env, req.stdin, req.capture, (err, child) => (err ? reject(err) : resolve(child!)), req.identity ?? null, req.captureStderr ?? false);
      });
    },
    watchExit: (pid, pidfd, onExit) => addon.watchExit(pid, pidfd, onExit),
    raiseFileLimit: () => addon.raiseFileLimit(),
  };
  return loaded;
}
