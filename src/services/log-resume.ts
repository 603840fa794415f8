// After a shim restart nobody writes the CRI log files of the containers that were already
// started. Once the container index has synced, this resumes each one from where its file ends:
// Docker's log stream from just after the newest record's time, so no line is lost and none is
// written twice. Containers that exited meanwhile are caught up too (their stream then ends).
// Only pods with a checkpoint in this shim's root directory are resumed: those are the ones this
// shim (or its predecessor on the same root) ran; another shim on the same dockerd (tests run
// several) keeps writing its own files.
import { createReadStream } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { LABEL_LOG_PATH, LABEL_SANDBOX_ID, LABEL_TYPE, TYPE_CONTAINER } from '../docker/labels.js';
import type { Logger } from '../logger.js';
import type { LogManager } from '../logs/log-manager.js';
import type { CheckpointStore } from '../store/checkpoint.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';

/** A record is at most 16 KiB of text plus its prefix: the tail holds the last one whole. */
const TAIL_BYTES = 64 * 1024;
/**
 * How far back from a file's end the last dated record is looked for, past lines that carry no
 * time (garbled by a full disk or another writer); beyond it, the file counts as undated.
 */
const SCAN_BYTES = 1024 * 1024;
/**
 * Inflated bytes of a gzipped rotated copy read to reach its end (the kubelet's default
 * containerLogMaxSize is 10 MiB): past it the copy counts as undated, its rest unread.
 */
export const MAX_INFLATED_LOG_BYTES = 128 * 1024 * 1024;
/** How long one exited container's catch-up may hold up the next one. */
const CATCH_UP_MS = 5_000;

/**
 * Where a CRI log file ends: the time of its last dated record, undefined when it holds no
 * complete record (empty, or one piece cut mid-write), 'undated' when it holds records but none
 * within SCAN_BYTES of its end carries a time, 'absent' when there is no file.
 */
export type LogEnd = string | undefined | 'undated' | 'absent';

/**
 * The time of the last complete line of `tail` (a file's last bytes) that starts with one
 * Docker's `since` can take. `cut`: the tail does not start at the file's start, so its first
 * line may be a fragment and is not read.
 */
function lastDatedLine(tail: Buffer, cut: boolean): LogEnd {
  // latin1: one char per byte, and the times are ASCII; the text of a record is never decoded.
  const lines = tail.toString('latin1').split('\n');
  // After the last newline: a record cut mid-write, not complete.
  lines.pop();
  if (cut) lines.shift();
  // Nothing complete: an empty file, or one cut mid-record; a cut window only saw too little.
  if (lines.length === 0) return cut ? 'undated' : undefined;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i];
    const space = line.indexOf(' ');
    const time = space < 0 ? line : line.slice(0, space);
    if (/^\d{4}-\d\d-\d\dT/.test(time) && sinceAfter(time) !== undefined) return time;
  }
  return 'undated';
}

/** Where the CRI log file at `path` ends (see LogEnd): its tail read, further back past garbage. */
export async function lastRecordTime(path: string): Promise<LogEnd> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return 'absent';
  }
  try {
    const { size } = await fh.stat();
    let end: LogEnd = undefined;
    for (const want of [TAIL_BYTES, SCAN_BYTES]) {
      const len = Math.min(size, want);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, size - len);
      end = lastDatedLine(buf.subarray(0, bytesRead), len < size);
      if (end !== 'undated' || len === size) return end;
    }
    return end;
  } finally {
    await fh.close();
  }
}

/**
 * Where a gzipped rotated copy ends: inflated as a stream, only its last SCAN_BYTES kept, at most
 * MAX_INFLATED_LOG_BYTES inflated. A copy that does not inflate (cut short, not gzip) is
 * 'undated': what it holds cannot be known.
 */
export async function lastGzipRecordTime(path: string): Promise<LogEnd> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let total = 0;
  const input = createReadStream(path);
  input.on('error', () => undefined);
  const opened = await new Promise<boolean>((resolve) => {
    input.once('open', () => resolve(true));
    input.once('error', () => resolve(false));
  });
  if (!opened) return 'absent';
  const gunzip = createGunzip();
  try {
    input.pipe(gunzip);
    input.once('error', (err) => gunzip.destroy(err));
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_INFLATED_LOG_BYTES) return 'undated';
      kept.push(chunk);
      keptBytes += chunk.length;
      while (keptBytes - kept[0].length >= SCAN_BYTES) keptBytes -= kept.shift()!.length;
    }
  } catch {
    return 'undated';
  } finally {
    input.destroy();
    gunzip.destroy();
  }
  const tail = Buffer.concat(kept);
  const start = Math.max(0, tail.length - SCAN_BYTES);
  return lastDatedLine(tail.subarray(start), total > tail.length - start);
}

/**
 * The kubelet's names for rotated logs: <path>.<YYYYMMDD-HHMMSS>, and <path>.<YYYYMMDD-HHMMSS>.gz
 * once compressed (it compresses all but the newest copy; a .tmp is a compression under way).
 */
const ROTATED = /^\.(\d{8}-\d{6})(\.gz)?$/;

/**
 * Where the newest rotated copy of a CRI log file that holds records ends (gzipped ones
 * included); undefined when there is none. After a rotation and a ReopenContainerLog the file
 * itself is empty until the container prints again: where the output stands is in the copy.
 */
export async function lastRotatedRecordTime(path: string): Promise<LogEnd> {
  const base = basename(path);
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  const rotated = names
    .map((name) => ({ name, m: name.startsWith(base) ? ROTATED.exec(name.slice(base.length)) : null }))
    .filter((r): r is { name: string; m: RegExpExecArray } => r.m !== null)
    // Newest first; of one copy both plain and gzipped (compression just done), the plain one.
    .sort((a, b) => (a.m[1] === b.m[1] ? Number(!!a.m[2]) - Number(!!b.m[2]) : a.m[1] < b.m[1] ? 1 : -1));
  for (const { name, m } of rotated) {
    const file = join(dirname(path), name);
    const end = m[2] ? await lastGzipRecordTime(file) : await lastRecordTime(file);
    // An empty copy (or one gone meanwhile) says nothing: the one before it may.
    if (end !== undefined && end !== 'absent') return end;
  }
  return undefined;
}

/**
 * Docker's `since` (unix seconds with nanoseconds) one nanosecond after an RFC 3339 time: Docker
 * includes entries at exactly `since`, and the one at that time is already in the file.
 */
export function sinceAfter(rfc3339: string): string | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  // Before 1970 is no time a container wrote (and would make a negative, malformed `since`).
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  const ns = BigInt(ms / 1000) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0')) + 1n;
  return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
}

export class LogResumeService {
  private done = false;

  constructor(
    private readonly index: ContainerIndex,
    private readonly logs: LogManager,
    private readonly checkpoints: CheckpointStore,
    private readonly logger: Logger,
  ) {
    index.on('resynced', () => {
      if (this.done) return;
      this.done = true;
      void this.resumeAll().catch((err: unknown) => logger.warn({ err }, 'could not resume container logs'));
    });
  }

  private async resumeAll(): Promise<void> {
    const records = (await this.index.all()).filter(
      (r) => r.Config?.Labels?.[LABEL_TYPE] === TYPE_CONTAINER && r.Config.Labels[LABEL_LOG_PATH] && started(r),
    );
    const ours = new Set(await this.checkpoints.list());
    for (const r of records) if (ours.has(r.Config.Labels[LABEL_SANDBOX_ID] ?? '')) await this.resume(r);
  }

  private async resume(record: ContainerRecord): Promise<void> {
    if (this.logs.isFollowing(record.Id)) return;
    const path = record.Config.Labels[LABEL_LOG_PATH];
    let last = await lastRecordTime(path);
    // Gone: removed or rotated away by the kubelet; writing the whole output again is wrong.
    if (last === 'absent') return;
    // Empty (rotated and reopened): on from the end of the rotated copy, not from the start.
    last ??= await lastRotatedRecordTime(path);
    let since = last && last !== 'undated' ? sinceAfter(last) : undefined;
    if (last === 'undated') {
      // Records we cannot date would be doubled from the start: on from now instead, and the
      // output of the time the shim was down is not written.
      since = sinceAfter(new Date().toISOString());
      this.logger.warn({ id: record.Id, path }, 'cannot tell where the CRI log ends (no dated record near its end); resuming from now');
    }
    this.logs.follow(record.Id, path, record.Config.Tty ?? false, since);
    this.logger.info({ id: record.Id, path, since: since ?? 'start' }, 'resumed writing the container log');
    // An exited container's stream ends at once: catch those up one at a time, not all at once.
    if (!record.State?.Running) await this.logs.settled(record.Id, CATCH_UP_MS);
  }
}

function started(r: ContainerRecord): boolean {
  return Boolean(r.State?.StartedAt) && !r.State.StartedAt.startsWith('0001-');
}
