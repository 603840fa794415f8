// On-demand diagnostics for a running shim, so "why is it slow / big" needs no restart: a V8
// heap snapshot and a CPU profile, written under <root-directory>/diagnostics/ and opened in
// Chrome DevTools (Memory / Performance tabs). Triggered by SIGUSR2 or, when
// --metrics-bind-addr is set, by the loopback-only POST /debug/* endpoints (src/metrics/http.ts).
import { chmod, mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import type { Logger } from '../logger.js';

/** Length of the CPU profile a SIGUSR2 takes. */
export const SIGNAL_PROFILE_SECONDS = 30;
/** Longest profile an endpoint may ask for: the profiler slows every call while it runs. */
export const MAX_PROFILE_SECONDS = 300;
/** Least time between two heap snapshots: each stops the process for seconds and writes a heap-sized file. */
export const HEAP_SNAPSHOT_MIN_INTERVAL_MS = 60_000;
/** Files of each kind kept (the newest): two heap snapshots are what DevTools compares; older ones are removed. */
export const KEPT_DIAGNOSTICS_FILES = 2;
/** Free space a snapshot needs, as a multiple of the heap: a snapshot file runs to about the heap's size. */
const SNAPSHOT_SPACE_FACTOR = 2;

/** A diagnostics request refused for now (in progress, too soon, no space); `status` is its HTTP answer. */
export class DiagnosticsBusyError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'DiagnosticsBusyError';
  }
}

export class Diagnostics {
  private profiling: Promise<string> | undefined;
  private snapshotting = false;
  private lastSnapshotAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly rootDirectory: string,
    private readonly logger: Logger,
  ) {}

  private async dir(): Promise<string> {
    const dir = join(this.rootDirectory, 'diagnostics');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  private static stamp(): string {
    return new Date().toISOString().replace(/[:.]/g, '-');
  }

  /** Deletes all but the newest KEPT_DIAGNOSTICS_FILES - `room` files ending in `suffix`. */
  private async prune(dir: string, suffix: string, room: number): Promise<void> {
    // Names start with an ISO time stamp: sorted by name is sorted by age.
    const files = (await readdir(dir)).filter((f) => f.endsWith(suffix)).sort();
    for (const f of files.slice(0, Math.max(0, files.length - (KEPT_DIAGNOSTICS_FILES - room)))) {
      await rm(join(dir, f), { force: true });
    }
  }

  /**
   * Writes a heap snapshot (the process pauses while V8 walks the heap) and returns its path.
   * One at a time, only with room on the disk for it, and the oldest snapshots go so that
   * KEPT_DIAGNOSTICS_FILES remain; `rateLimited` (the HTTP endpoint) also allows at most one per
   * HEAP_SNAPSHOT_MIN_INTERVAL_MS. Root's SIGUSR2 is not rate-limited.
   */
  async heapSnapshot(rateLimited = true): Promise<string> {
    if (this.snapshotting) throw new DiagnosticsBusyError('a heap snapshot is already being written', 409);
    const wait = this.lastSnapshotAt + HEAP_SNAPSHOT_MIN_INTERVAL_MS - Date.now();
    if (rateLimited && wait > 0) {
      throw new DiagnosticsBusyError(`one heap snapshot per ${HEAP_SNAPSHOT_MIN_INTERVAL_MS / 1000} s (HEAP_SNAPSHOT_MIN_INTERVAL_MS): try again in ${Math.ceil(wait / 1000)} s`, 429, Math.ceil(wait / 1000));
    }
    this.snapshotting = true;
    try {
      const dir = await this.dir();
      const fs = await statfs(dir);
      const free = fs.bavail * fs.bsize;
      const needed = process.memoryUsage().heapTotal * SNAPSHOT_SPACE_FACTOR;
      if (free < needed) {
        throw new DiagnosticsBusyError(`not enough free space in ${dir} for a heap snapshot: ${Math.round(free / 2 ** 20)} MiB free, ${Math.round(needed / 2 ** 20)} MiB needed`, 507);
      }
      await this.prune(dir, '.heapsnapshot', 1);
      this.lastSnapshotAt = Date.now();
      const path = join(dir, `heap-${Diagnostics.stamp()}-${process.pid}.heapsnapshot`);
      const started = performance.now();
      writeHeapSnapshot(path);
      // A snapshot holds every secret in the heap: owner-only, like the CPU profile.
      await chmod(path, 0o600);
      this.logger.info({ path, ms: Math.round(performance.now() - started) }, 'heap snapshot written');
      return path;
    } finally {
      this.snapshotting = false;
    }
  }

  /** Records a CPU profile for `seconds` and returns its path; one profile at a time. */
  cpuProfile(seconds: number): Promise<string> {
    if (!(seconds > 0 && seconds <= MAX_PROFILE_SECONDS)) {
      return Promise.reject(new RangeError(`profile length must be between 0 and ${MAX_PROFILE_SECONDS} seconds, not ${seconds}`));
    }
    if (this.profiling) return Promise.reject(new Error('a CPU profile is already being recorded'));
    this.profiling = this.recordProfile(seconds).finally(() => {
      this.profiling = undefined;
    });
    return this.profiling;
  }

  private async recordProfile(seconds: number): Promise<string> {
    const dir = await this.dir();
    // Loaded when a profile is asked for: the inspector's modules cost a shim that never profiles ~1 MiB.
    const { Session } = await import('node:inspector/promises');
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      this.logger.info({ seconds }, 'CPU profile started');
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const { profile } = await session.post('Profiler.stop');
      await this.prune(dir, '.cpuprofile', 1);
      const path = join(dir, `cpu-${Diagnostics.stamp()}-${process.pid}.cpuprofile`);
      await writeFile(path, JSON.stringify(profile), { mode: 0o600 });
      this.logger.info({ path }, 'CPU profile written');
      return path;
    } finally {
      session.disconnect();
    }
  }

  /** SIGUSR2: a heap snapshot now, and a CPU profile of the next SIGNAL_PROFILE_SECONDS. */
  installSignalHandler(): () => void {
    const onSignal = () => {
      this.heapSnapshot(false).catch((err: unknown) => this.logger.error({ err }, 'heap snapshot failed'));
      this.cpuProfile(SIGNAL_PROFILE_SECONDS).catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'CPU profile not taken'));
    };
    process.on('SIGUSR2', onSignal);
    return () => process.off('SIGUSR2', onSignal);
  }
}
