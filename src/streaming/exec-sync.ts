// ExecSync: run a command to completion and hand back its output and exit code. Output is
// capped per stream so a chatty probe cannot grow the shim without bound; a timeout ends the
// process for real (Docker cannot kill an exec: we kill its host process tree).
import { Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { Engine } from '../docker/engine.js';
import { deadlineExceeded, CriError, Code } from '../errors.js';
import type { Logger } from '../logger.js';
import { pumpDockerOutput } from './docker-io.js';
import { ExecProcess, exitCodeOf, killExec, type ExecHandle } from './exec.js';

/**
 * Most bytes kept of each of stdout and stderr; the rest is read and dropped. Both together
 * must fit one gRPC message of the kubelet, which takes at most 16 MiB.
 */
export const EXEC_SYNC_OUTPUT_CAP = 8 * 1024 * 1024 - 1024;

/** Keeps the first `cap` bytes written to it and counts the rest. */
export class CappedSink extends Writable {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  dropped = 0;

  constructor(private readonly cap: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const room = this.cap - this.kept;
    if (room > 0) {
      const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(piece);
      this.kept += piece.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(room, 0));
    cb();
  }

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export async function execSync(
  docker: Engine,
  containerId: string,
  cmd: string[],
  timeoutMs: number,
  signal: AbortSignal,
  logger: Logger,
  cap = EXEC_SYNC_OUTPUT_CAP,
): Promise<ExecSyncResult> {
  const exec: ExecHandle = {
    engine: docker,
    id: await docker.execCreate(containerId, { Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false }, { signal }),
  };
  const sock: Duplex = await docker.execStart(exec.id, { stdin: false, tty: false }, { signal });
  const stdout = new CappedSink(cap);
  const stderr = new CappedSink(cap);
  let timedOut = false;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    // Only a timeout or a cancelled call pays for the inspects that find the process.
    stopping ??= killExec(new ExecProcess(exec), logger).finally(() => sock.destroy());
  };
  const timer = timeoutMs > 0 ? setTimeout(() => ((timedOut = true), stop()), timeoutMs) : undefined;
  signal.addEventListener('abort', stop, { once: true });
  try {
    await pumpDockerOutput(sock, false, stdout, stderr).catch(() => undefined);
    if (stopping) await stopping;
    if (timedOut) throw deadlineExceeded(`command ${JSON.stringify(cmd)} in container ${containerId} timed out after ${timeoutMs / 1000}s and was killed`);
    if (signal.aborted) throw new CriError(Code.CANCELLED, 'ExecSync cancelled by the client; the command was killed');
    const exitCode = await exitCodeOf(exec);
    if (stdout.dropped || stderr.dropped) {
      logger.warn({ container: containerId, droppedStdout: stdout.dropped, droppedStderr: stderr.dropped, cap }, 'ExecSync output over the cap was dropped');
    }
    return { stdout: stdout.data, stderr: stderr.data, exitCode: exitCode ?? -1 };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
    sock.destroy();
  }
}
