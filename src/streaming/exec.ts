// Exec and Attach on Docker, driven by a client session (RemoteCommandIO): a hijacked
// connection per session, resizes applied, and on a vanished client nothing left behind.
import type { Duplex } from 'node:stream';
import type { ContainerRecord, Engine, ExecRecord } from '../docker/engine.js';
import { dockerMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { killProcessTree, processStartTime } from './process-tree.js';
import { pumpDockerOutput, pumpStdin } from './docker-io.js';
import type { CommandResult, RemoteCommandIO, StreamSpec, TerminalSize } from './remotecommand.js';

export interface ExecTarget {
  containerId: string;
  cmd: string[];
}

/**
 * Applies resizes in order, never two at once, starting with the size the client announced
 * before the process started. `initial` settles once that first size is applied. A client
 * sending sizes faster than Docker applies them only replaces the one waiting: at most one
 * call in flight and one size pending, however many arrive.
 */
function followResizes(io: RemoteCommandIO, apply: (size: TerminalSize) => Promise<unknown>, logger: Logger): { stop(): void; initial: Promise<unknown> } {
  let pending: TerminalSize | undefined;
  let running: Promise<void> | undefined;
  const drain = async () => {
    while (pending) {
      const size = pending;
      pending = undefined;
      try {
        await apply(size);
      } catch (err) {
        logger.debug({ err: dockerMessage(err) }, 'terminal resize failed');
      }
    }
    running = undefined;
  };
  const onResize = (size: TerminalSize) => {
    pending = size;
    running ??= drain();
  };
  if (io.resizes.latest) onResize(io.resizes.latest);
  const initial = running ?? Promise.resolve();
  io.resizes.on('resize', onResize);
  return { stop: () => io.resizes.off('resize', onResize), initial };
}

/** An exec of the Engine's, by id. */
export interface ExecHandle {
  readonly engine: Engine;
  readonly id: string;
}

/** Docker may report the exec as running for a moment after its output ended. */
export async function exitCodeOf(exec: ExecHandle): Promise<number | null> {
  for (let i = 0; i < 50; i++) {
    const info = await exec.engine.execInspect(exec.id);
    if (!info.Running) return info.ExitCode;
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

/**
 * The host process of a started exec. Docker reports its PID only some 0.1 s after the start
 * (0 until then) and forgets the exec when the container stops, so the PID is learnt early,
 * with its start time so that a reused PID is never mistaken for it.
 */
export class ExecProcess {
  pid: number | undefined;
  startTime: string | undefined;
  private learning: Promise<void> | undefined;

  constructor(readonly exec: ExecHandle) {}

  learnPid(): Promise<void> {
    this.learning ??= this.poll();
    return this.learning;
  }

  private async poll(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      let info: ExecRecord;
      try {
        info = await this.exec.engine.execInspect(this.exec.id);
      } catch {
        return;
      }
      if (info.Pid) {
        this.pid = info.Pid;
        this.startTime = await processStartTime(info.Pid);
        return;
      }
      if (!info.Running && info.ExitCode !== null) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Kills the exec's process tree (Docker has no call for it): timeouts, vanished clients, stopped containers. */
export async function killExec(proc: ExecProcess, logger: Logger): Promise<void> {
  await proc.learnPid();
  if (!proc.pid) return;
  try {
    if (!(await proc.exec.engine.execInspect(proc.exec.id)).Running) return;
  } catch (err) {
    logger.debug({ exec: proc.exec.id, err: dockerMessage(err) }, 'exec record gone; killing the process noted at start');
  }
  const n = await killProcessTree(proc.pid, proc.startTime);
  logger.debug({ exec: proc.exec.id, pid: proc.pid, killed: n }, 'killed exec process tree');
}

/**
 * Runs an exec session. `containerGone` fires when the container stops: an exec'd process
 * that shares the pod's PID namespace would outlive it, so the session ends it then.
 */
export async function runExec(
  docker: Engine,
  target: ExecTarget,
  spec: StreamSpec,
  io: RemoteCommandIO,
  containerGone: AbortSignal,
  logger: Logger,
): Promise<CommandResult> {
  const call = { signal: io.signal };
  const exec: ExecHandle = {
    engine: docker,
    id: await docker.execCreate(
      target.containerId,
      { Cmd: target.cmd, AttachStdin: spec.stdin, AttachStdout: spec.stdout, AttachStderr: spec.stderr, Tty: spec.tty },
      call,
    ),
  };
  // The hijacked stream lives as long as the session: the Engine keeps it out of the request queue.
  const sock: Duplex = await docker.execStart(exec.id, { stdin: spec.stdin, tty: spec.tty }, call);
  // Its end is seen by the output pump; an error must never go uncaught.
  sock.on('error', () => undefined);
  const proc = new ExecProcess(exec);
  void proc.learnPid();
  let finished = false;
  const resizes = spec.tty ? followResizes(io, (s) => docker.execResize(exec.id, s), logger) : undefined;
  const onAbort = () => {
    if (finished) return;
    void killExec(proc, logger)
      .catch((err: unknown) => logger.debug({ err: dockerMessage(err) }, 'could not kill the exec process tree'))
      .finally(() => sock.destroy());
  };
  io.signal.addEventListener('abort', onAbort, { once: true });
  containerGone.addEventListener('abort', onAbort, { once: true });
  if (io.signal.aborted || containerGone.aborted) onAbort();
  try {
    // Docker 20.10 cannot start an exec at a size: typed-ahead input waits for the first resize.
    const stdin = io.stdin;
    if (spec.stdin && stdin) void (resizes?.initial ?? Promise.resolve()).then(() => pumpStdin(stdin, sock));
    await pumpDockerOutput(sock, spec.tty, io.stdout, io.stderr).catch(() => undefined);
    finished = true;
    logger.debug({ exec: exec.id, container: target.containerId }, 'exec output ended');
    if (io.signal.aborted) return { kind: 'error', message: 'client went away' };
    if (containerGone.aborted) return { kind: 'error', message: `container ${target.containerId} stopped during the exec` };
    const code = await exitCodeOf(exec);
    if (code === null) return { kind: 'error', message: `exec in container ${target.containerId} ended without an exit code (container stopped?)` };
    return code === 0 ? { kind: 'success' } : { kind: 'exit', code };
  } finally {
    finished = true;
    resizes?.stop();
    io.signal.removeEventListener('abort', onAbort);
    containerGone.removeEventListener('abort', onAbort);
    sock.destroy();
  }
}

export async function runAttach(docker: Engine, container: ContainerRecord, spec: StreamSpec, io: RemoteCommandIO, logger: Logger): Promise<CommandResult> {
  // A container created without stdin takes none: the session is output only.
  const withStdin = spec.stdin && Boolean(container.Config.OpenStdin);
  const tty = Boolean(container.Config.Tty);
  const sock = await docker.attach(container.Id, { stdin: withStdin, stdout: spec.stdout, stderr: spec.stderr }, { signal: io.signal });
  sock.on('error', () => undefined);
  const resizes = tty ? followResizes(io, (s) => docker.resize(container.Id, s), logger) : undefined;
  const onAbort = () => sock.destroy();
  io.signal.addEventListener('abort', onAbort, { once: true });
  if (io.signal.aborted) onAbort();
  try {
    const stdin = io.stdin;
    if (withStdin && stdin) void (resizes?.initial ?? Promise.resolve()).then(() => pumpStdin(stdin, sock));
    else stdin?.resume();
    await pumpDockerOutput(sock, tty, io.stdout, io.stderr).catch(() => undefined);
    return io.signal.aborted ? { kind: 'error', message: 'client went away' } : { kind: 'success' };
  } finally {
    resizes?.stop();
    io.signal.removeEventListener('abort', onAbort);
    sock.destroy();
  }
}
