// What a spool's segments say at start (spool.ts): each is read through and checked. A torn tail
// (a crash in the middle of a write) is cut and counted; a damaged stretch in the middle (a
// flipped bit, a bad sector, another writer) is skipped to the next record that checks, counted
// as corrupt and reported as damage, and the segment written again without it; segments whose
// every record is acknowledged are deleted.
import fs from 'node:fs';
import path from 'node:path';
import { salvageSegment, scanSegment } from './record.js';

const NOFOLLOW = fs.constants.O_NOFOLLOW;

export interface SpoolPos {
  seg: number;
  off: number;
}

/** Whether what ends at `off` in segment `seg` ends at or before `pos`. */
export function endsBy(seg: number, off: number, pos: SpoolPos): boolean {
  return seg < pos.seg || (seg === pos.seg && off <= pos.off);
}

export interface Segment {
  n: number;
  /** Bytes on disk (written and complete). */
  size: number;
  /** Records in it, and of those, acknowledged (from its start). */
  records: number;
  acked: number;
}

export interface SpoolRecovery {
  /** Records found not yet acknowledged. */
  records: number;
  /** Torn tails cut (a crash in the middle of a write), and their bytes. */
  torn: number;
  tornBytes: number;
  /** Damaged stretches in the middle of a segment (a flipped bit, a bad sector), skipped to the
   * next record that checks, and their bytes: the records in them are lost. */
  corrupt: number;
  corruptBytes: number;
}

/** What recovery reads and fills in: the spool's directory, segments, bytes and acknowledged
 * position, and where it reports damage. */
export interface RecoveryState {
  dir: string;
  segs: Segment[];
  bytes: number;
  ackPos: SpoolPos;
  error: (message: string) => void;
}

/** Rewrites a segment without its damaged stretches; undefined when it has none (only a torn
 * tail, cut by the caller). The acknowledged position moves with the records. */
function salvage(st: RecoveryState, file: string, n: number, out: SpoolRecovery): { size: number; records: number; before: number; total: number } | undefined {
  const s = salvageSegment(file);
  if (s.damaged.length === 0) return undefined;
  const old = fs.readFileSync(file);
  const kept = Buffer.concat(s.records.map(([a, b]) => old.subarray(a, b)));
  const ackOff = n === st.ackPos.seg ? st.ackPos.off : 0;
  let before = 0;
  let newAck = 0;
  for (const [a, b] of s.records) {
    if (b <= ackOff) {
      before++;
      newAck += b - a;
    }
  }
  const tmp = `${file}.salvage`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, kept);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  if (n === st.ackPos.seg) st.ackPos = { seg: n, off: newAck };
  const bytes = s.damaged.reduce((t, [a, b]) => t + b - a, 0);
  out.corrupt += s.damaged.length;
  out.corruptBytes += bytes;
  st.error(`the spool segment ${file} was damaged (${s.damaged.length} stretch(es), ${bytes} bytes, not from a crash: the disk or another writer): the events in them are lost; the ${s.records.length} records around them are kept`);
  return { size: kept.length, records: s.records.length, before, total: kept.length + (old.length - s.end) };
}

/** Reads every segment a previous run left, cutting torn tails; removes acknowledged ones. */
export function recoverSpool(st: RecoveryState): SpoolRecovery {
  const out: SpoolRecovery = { records: 0, torn: 0, tornBytes: 0, corrupt: 0, corruptBytes: 0 };
  const names = fs.readdirSync(st.dir).filter((f) => /^\d{12}\.seg$/.test(f)).sort();
  for (const name of names) {
    const n = Number(name.slice(0, 12));
    const file = path.join(st.dir, name);
    if (n < st.ackPos.seg) {
      fs.rmSync(file, { force: true });
      continue;
    }
    let { size, records, before } = scanSegment(file, n === st.ackPos.seg ? st.ackPos.off : 0);
    let total = fs.statSync(file).size;
    if (size < total) {
      // A record failed its check: damage in the middle (records check again after it) is
      // skipped and the segment written again without it; damage at the end is a torn tail.
      const salvaged = salvage(st, file, n, out);
      if (salvaged) ({ size, records, before, total } = salvaged);
    }
    if (size < total) {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | NOFOLLOW);
      try {
        fs.ftruncateSync(fd, size);
      } finally {
        fs.closeSync(fd);
      }
      out.torn++;
      out.tornBytes += total - size;
    }
    if (records === before) {
      // Nothing left to send in it.
      fs.rmSync(file, { force: true });
      continue;
    }
    st.segs.push({ n, size, records, acked: before });
    st.bytes += size;
    out.records += records - before;
  }
  if (st.segs.length === 0) st.ackPos = { seg: Math.max(st.ackPos.seg, Number(names.at(-1)?.slice(0, 12) ?? 0)), off: 0 };
  return out;
}
