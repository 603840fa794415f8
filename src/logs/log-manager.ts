// One ContainerLog per started container: created at StartContainer, gone when the
// container's output has ended (or the container was removed).
import { mkdir, open, rmdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Engine } from '../docker/engine.js';
import type { Logger } from '../logger.js';
import { ContainerLog, LOG_FILE_MODE } from './container-log.js';

/** The kubelet makes /var/log/pods/<pod> itself with 0755; we match it for what we create. */
const LOG_DIR_MODE = 0o755;

export class LogManager {
  private readonly logs = new Map<string, ContainerLog>();

  constructor(
    private readonly docker: Engine,
    private readonly logger: Logger,
  ) {}

  /**
   * Makes sure the CRI log file exists (empty if new) so the kubelet can open it right after
   * CreateContainer. Returns an undo that removes what this call made (the file, and the
   * directories it created while they are empty), for a create that fails after it.
   */
  async prepare(path: string): Promise<() => Promise<void>> {
    const firstDir = await mkdir(dirname(path), { recursive: true, mode: LOG_DIR_MODE });
    let madeFile = false;
    try {
      await (await open(path, 'wx', LOG_FILE_MODE)).close();
      madeFile = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return async () => {
      if (madeFile) await unlink(path).catch(() => undefined);
      if (!firstDir) return;
      // Deepest first; rmdir leaves a directory another container's log already uses.
      for (let dir = dirname(path); ; dir = dirname(dir)) {
        const removed = await rmdir(dir).then(
          () => true,
          () => false,
        );
        if (!removed || dir === firstDir || dir === dirname(dir)) break;
      }
    };
  }

  /**
   * Starts writing the container's output to path (idempotent per container); `since` (Docker's
   * unix seconds.nanoseconds) starts later in the output, for resuming a file after a restart.
   */
  follow(containerId: string, path: string, tty: boolean, since?: string): void {
    if (this.logs.has(containerId)) return;
    const log = new ContainerLog({ docker: this.docker, containerId, path, tty, since, logger: this.logger });
    this.logs.set(containerId, log);
    void log.done.finally(() => {
      if (this.logs.get(containerId) === log) this.logs.delete(containerId);
    });
  }

  isFollowing(containerId: string): boolean {
    return this.logs.has(containerId);
  }

  /**
   * Waits (at most timeoutMs) until the output of an exited container is all in its file,
   * so that a caller who sees EXITED can read the complete log.
   */
  async settled(containerId: string, timeoutMs: number): Promise<void> {
    const log = this.logs.get(containerId);
    if (!log) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([log.done, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** For ReopenContainerLog: the follower of a running container writes to a fresh file at its path. */
  async reopen(containerId: string): Promise<boolean> {
    const log = this.logs.get(containerId);
    if (!log) return false;
    await log.reopen();
    return true;
  }

  async stop(containerId: string): Promise<void> {
    const log = this.logs.get(containerId);
    this.logs.delete(containerId);
    await log?.stop();
  }
}
