// On-demand diagnostics for a running shim, so "why is it slow / big" needs no restart: a V8
// heap snapshot and a CPU profile, written under <root-directory>/diagnostics/ and opened in
// Chrome DevTools (Memory / Performance tabs). Triggered by SIGUSR2 or, when
// --metrics-bind-addr is set, by the loopback-only POST /debug/* endpoints (src/metrics/http.ts).
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import type { Logger } from '../logger.js';

/** Length of the CPU profile a SIGUSR2 takes. */
export const SIGNAL_PROFILE_SECONDS = 30;
/** Longest profile an endpoint may ask for: the profiler slows every call while it runs. */
export const MAX_PROFILE_SECONDS = 300;

export class Diagnostics {
  private profiling: Promise<string> | undefined;

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

  /** Writes a heap snapshot (the process pauses while V8 walks the heap) and returns its path. */
  async heapSnapshot(): Promise<string> {
    const path = join(await this.dir(), `heap-${Diagnostics.stamp()}-${process.pid}.heapsnapshot`);
    const started = performance.now();
    writeHeapSnapshot(path);
    // A snapshot holds every secret in the heap: owner-only, like the CPU profile.
    await chmod(path, 0o600);
    this.logger.info({ path, ms: Math.round(performance.now() - started) }, 'heap snapshot written');
    return path;
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
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      this.logger.info({ seconds }, 'CPU profile started');
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const { profile } = await session.post('Profiler.stop');
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
      this.heapSnapshot().catch((err: unknown) => this.logger.error({ err }, 'heap snapshot failed'));
      this.cpuProfile(SIGNAL_PROFILE_SECONDS).catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'CPU profile not taken'));
    };
    process.on('SIGUSR2', onSignal);
    return () => process.off('SIGUSR2', onSignal);
  }
}
