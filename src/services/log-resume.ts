// After a shim restart nobody writes the CRI log files of the containers that were already
// started. Once the container index has synced, this resumes each one from where its file ends:
// Docker's log stream from just after the newest record's time, so no line is lost and none is
// written twice. Containers that exited meanwhile are caught up too (their stream then ends).
// Only pods with a checkpoint in this shim's root directory are resumed: those are the ones this
// shim (or its predecessor on the same root) ran; another shim on the same dockerd (tests run
// several) keeps writing its own files.
import { open, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LABEL_LOG_PATH, LABEL_SANDBOX_ID, LABEL_TYPE, TYPE_CONTAINER } from '../docker/labels.js';
import type { Logger } from '../logger.js';
import type { LogManager } from '../logs/log-manager.js';
import type { CheckpointStore } from '../store/checkpoint.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';

/** A record is at most 16 KiB of text plus its prefix: the tail holds the last one whole. */
const TAIL_BYTES = 64 * 1024;
/** How long one exited container's catch-up may hold up the next one. */
const CATCH_UP_MS = 5_000;

/**
 * The time of the last complete record of a CRI log file (undefined for an empty file), or
 * 'absent' when there is no file.
 */
export async function lastRecordTime(path: string): Promise<string | undefined | 'absent'> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return 'absent';
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return undefined;
    const line = text.slice(text.lastIndexOf('\n', end - 1) + 1, end);
    const space = line.indexOf(' ');
    const time = space < 0 ? line : line.slice(0, space);
    return /^\d{4}-\d\d-\d\dT/.test(time) ? time : undefined;
  } finally {
    await fh.close();
  }
}

/** The kubelet's name for a rotated log: <path>.<YYYYMMDD-HHMMSS> (gzipped ones end in .gz). */
const ROTATED = /^\.\d{8}-\d{6}$/;

/**
 * The time of the last record of the newest rotated copy of a CRI log file (the kubelet keeps
 * the newest one uncompressed); undefined when there is none. After a rotation and a
 * ReopenContainerLog the file itself is empty until the container prints again: where the
 * output stands is in the copy.
 */
export async function lastRotatedRecordTime(path: string): Promise<string | undefined> {
  const base = basename(path);
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  const rotated = names.filter((n) => n.startsWith(base) && ROTATED.test(n.slice(base.length))).sort();
  for (const name of rotated.reverse()) {
    const time = await lastRecordTime(join(dirname(path), name));
    if (time !== undefined && time !== 'absent') return time;
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
    const since = last ? sinceAfter(last) : undefined;
    // A file with records we cannot date would be doubled from the start: leave it alone.
    if (last && !since) {
      this.logger.warn({ id: record.Id, path }, 'cannot tell where the CRI log ends; not resuming it');
      return;
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
