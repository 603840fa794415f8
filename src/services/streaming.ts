// Exec, Attach, PortForward and ExecSync. The three streaming RPCs check their request and
// hand out a single-use URL on the shim's streaming server; the session itself runs there.
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import type { Engine } from '../docker/engine.js';
import { TYPE_CONTAINER, TYPE_SANDBOX } from '../docker/labels.js';
import { failedPrecondition, invalidArgument, unavailable } from '../errors.js';
import type { ExecRequest__Output } from '../generated/runtime/v1/ExecRequest.js';
import type { AttachRequest__Output } from '../generated/runtime/v1/AttachRequest.js';
import type { PortForwardRequest__Output } from '../generated/runtime/v1/PortForwardRequest.js';
import type { ExecSyncRequest__Output } from '../generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../generated/runtime/v1/ExecSyncResponse.js';
import type { Logger } from '../logger.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';
import { runAttach, runExec } from '../streaming/exec.js';
import { execSync } from '../streaming/exec-sync.js';
import { MAX_PORTS_PER_REQUEST } from '../streaming/limits.js';
import { forwardPort, missingHelpers } from '../streaming/portforward.js';
import type { CommandResult, RemoteCommandIO, StreamSpec } from '../streaming/remotecommand.js';
import { StreamingServer, type SessionObserver, type AttachStreamRequest, type ExecStreamRequest, type PortForwardStreamRequest } from '../streaming/server.js';

function requireRunning(record: ContainerRecord, what: string, id: string): void {
  if (!record.State.Running || record.State.Paused) {
    throw failedPrecondition(`${what} ${id} is not running (state: ${record.State.Status})`);
  }
}

function streamSpec(req: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): StreamSpec {
  if (req.tty && req.stderr) throw invalidArgument('tty and stderr cannot both be true: a terminal has one output stream');
  if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument('one of stdin, stdout or stderr must be true');
  return { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty };
}

export class StreamingService {
  private readonly server: StreamingServer;
  private listening: Promise<void> | undefined;
  private readonly missing: string[];

  constructor(
    private readonly config: Config,
    private readonly docker: Engine,
    private readonly index: ContainerIndex,
    private readonly logger: Logger,
  ) {
    this.server = new StreamingServer(
      {
        remoteCommand: (req, io) => this.runSession(req, io),
        forward: (req, port, data, session) => this.forward(req, port, data, session),
      },
      logger,
    );
    this.missing = missingHelpers();
    if (this.missing.length) {
      logger.warn(
        { missing: this.missing },
        `port forwarding is unavailable: ${this.missing.join(' and ')} not found on PATH (Debian: apt-get install socat util-linux)`,
      );
    }
  }

  /** Listens on --streaming-bind-addr; start-up awaits it, so an address that cannot be had stops the shim. */
  start(): Promise<void> {
    this.listening ??= this.server.listen(this.config.streamingBindAddr);
    return this.listening;
  }

  private async url(req: ExecStreamRequest | AttachStreamRequest | PortForwardStreamRequest): Promise<string> {
    try {
      await this.start();
    } catch (err) {
      throw unavailable(`streaming server is not listening: ${(err as Error).message}`);
    }
    return this.server.url(req);
  }

  private async runningContainer(id: string): Promise<ContainerRecord> {
    const record = await this.index.resolve(id, TYPE_CONTAINER, 'container');
    requireRunning(record, 'container', id);
    return record;
  }

  async exec(req: ExecRequest__Output): Promise<string> {
    if (!req.cmd?.length) throw invalidArgument('cmd is empty: Exec needs a command');
    const spec = streamSpec(req);
    const record = await this.runningContainer(req.container_id);
    return this.url({ kind: 'exec', containerId: record.Id, cmd: req.cmd, spec });
  }

  async attach(req: AttachRequest__Output): Promise<string> {
    const spec = streamSpec(req);
    const record = await this.runningContainer(req.container_id);
    return this.url({ kind: 'attach', containerId: record.Id, spec });
  }

  async portForward(req: PortForwardRequest__Output): Promise<string> {
    if (this.missing.length) {
      throw failedPrecondition(`port forwarding needs ${this.missing.join(' and ')} on the node (Debian: apt-get install socat util-linux)`);
    }
    if ((req.port?.length ?? 0) > MAX_PORTS_PER_REQUEST) {
      throw invalidArgument(`${req.port!.length} ports requested; port forwarding takes at most ${MAX_PORTS_PER_REQUEST} per request (cap MAX_PORTS_PER_REQUEST)`);
    }
    for (const p of req.port ?? []) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalidArgument(`port ${p} is out of range 1-65535`);
    }
    const record = await this.index.resolve(req.pod_sandbox_id, TYPE_SANDBOX, 'pod sandbox');
    requireRunning(record, 'pod sandbox', req.pod_sandbox_id);
    return this.url({ kind: 'portforward', sandboxId: record.Id, ports: req.port ?? [] });
  }

  async execSync(req: ExecSyncRequest__Output, signal: AbortSignal): Promise<ExecSyncResponse> {
    if (!req.cmd?.length) throw invalidArgument('cmd is empty: ExecSync needs a command');
    const timeoutS = Number(req.timeout || 0);
    if (!Number.isFinite(timeoutS) || timeoutS < 0) throw invalidArgument(`timeout ${req.timeout} is not a number of seconds >= 0`);
    const record = await this.runningContainer(req.container_id);
    const r = await execSync(this.docker, record.Id, req.cmd, timeoutS * 1000, signal, this.logger);
    return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
  }

  private async runSession(req: ExecStreamRequest | AttachStreamRequest, io: RemoteCommandIO): Promise<CommandResult> {
    // The container may have stopped since the URL was handed out.
    const record = await this.runningContainer(req.containerId);
    if (req.kind === 'attach') return runAttach(this.docker, record, req.spec, io, this.logger);
    const gone = new AbortController();
    const onUpdated = (r: ContainerRecord) => {
      if (r.Id === record.Id && !r.State.Running) gone.abort();
    };
    const onRemoved = (id: string) => {
      if (id === record.Id) gone.abort();
    };
    this.index.on('updated', onUpdated);
    this.index.on('removed', onRemoved);
    try {
      return await runExec(this.docker, { containerId: record.Id, cmd: req.cmd }, req.spec, io, gone.signal, this.logger);
    } finally {
      this.index.off('updated', onUpdated);
      this.index.off('removed', onRemoved);
    }
  }

  private async forward(req: PortForwardStreamRequest, port: number, data: Duplex, session: AbortSignal): Promise<string | undefined> {
    let pid: number;
    try {
      const record = await this.index.resolve(req.sandboxId, TYPE_SANDBOX, 'pod sandbox');
      requireRunning(record, 'pod sandbox', req.sandboxId);
      pid = record.State.Pid;
    } catch (err) {
      data.destroy();
      return `error forwarding port ${port} to pod ${req.sandboxId}: ${(err as Error).message}`;
    }
    const error = await forwardPort(pid, port, data, session);
    return error ? `error forwarding port ${port} to pod ${req.sandboxId}: ${error}` : undefined;
  }

  /** Exec, attach and port-forward sessions opening and ending; metrics hook in here. */
  onSession(observer: SessionObserver): void {
    this.server.onSession(observer);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
