// Workload containers: create (in a running pod), start, stop, remove, list, status, and the
// CRI log file every container's output is written to. Lists are answered from the container
// index; every change the shim makes refreshes the index before the RPC returns.
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import type Dockerode from 'dockerode';
import type { DockerClient } from '../docker/client.js';
import { LABEL_LOG_PATH, LABEL_SANDBOX_ID, LABEL_TYPE, matchesSelector, TYPE_CONTAINER, TYPE_SANDBOX } from '../docker/labels.js';
import { containerCreateOptions, validateContainerConfig } from '../docker/container-spec.js';
import {
  containerState,
  containerVerboseInfo,
  firstFileOfTar,
  toContainer,
  toContainerStatus,
  userFromConfig,
  userFromProcStatus,
} from '../docker/container-status.js';
import { capabilitiesFromAll, missingForPrivileged } from '../docker/capabilities.js';
import { clampOomScoreAdj, hostLimits } from '../docker/host-limits.js';
import {
  alreadyExists,
  Code,
  CriError,
  dockerMessage,
  failedPrecondition,
  invalidArgument,
  isDockerAlreadyDone,
  isDockerConflict,
  isDockerNotFound,
  isDockerNotModified,
  notFound,
  toCriError,
} from '../errors.js';
import type { Container } from '../generated/runtime/v1/Container.js';
import type { ContainerFilter__Output } from '../generated/runtime/v1/ContainerFilter.js';
import type { ContainerStatusResponse } from '../generated/runtime/v1/ContainerStatusResponse.js';
import type { ContainerUser } from '../generated/runtime/v1/ContainerUser.js';
import type { CreateContainerRequest__Output } from '../generated/runtime/v1/CreateContainerRequest.js';
import type { Logger } from '../logger.js';
import type { LogManager } from '../logs/log-manager.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';
import type { ImageService } from './image.js';
import { dockerLogConfig, type DockerLogConfig } from '../docker/log-config.js';

/** How long ContainerStatus of an exited container waits for its last output to reach the file. */
const LOG_SETTLE_MS = 2_000;

export class ContainerService {
  /** Users of stopped containers, read once from their files (a container's config never changes). */
  private readonly users = new Map<string, ContainerUser | null>();
  /** Capabilities of the bounding set that this dockerd refuses by name. */
  private readonly unknownCaps = new Set<string>();
  /** Docker's log settings for new containers (from docker info, once). */
  private logConfig: Promise<DockerLogConfig | undefined> | undefined;

  constructor(
    private readonly docker: DockerClient,
    private readonly index: ContainerIndex,
    private readonly images: ImageService,
    private readonly logs: LogManager,
    private readonly logger: Logger,
  ) {
    index.on('removed', (id) => this.users.delete(id));
  }

  /** Docker's log settings for new containers, from the daemon's default logging driver (asked once). */
  private dockerLogConfig(): Promise<DockerLogConfig | undefined> {
    this.logConfig ??= this.docker
      .call('system.info', (d) => d.info() as Promise<{ LoggingDriver?: string }>, 'docker info')
      .then((i) => dockerLogConfig(i.LoggingDriver))
      .catch((err: unknown) => {
        this.logConfig = undefined;
        throw err;
      });
    return this.logConfig;
  }

  async create(req: CreateContainerRequest__Output): Promise<string> {
    if (!req.pod_sandbox_id) throw invalidArgument('pod_sandbox_id is empty');
    validateContainerConfig(req.config);
    const config = req.config;
    const sandbox = await this.index.resolve(req.pod_sandbox_id, TYPE_SANDBOX, 'pod sandbox');
    if (!sandbox.State?.Running) {
      throw failedPrecondition(`pod sandbox ${sandbox.Id} is not ready (its pause container is ${sandbox.State?.Status ?? 'unknown'})`);
    }
    const spec = config.image!.image;
    const image = await this.images.inspect(spec);
    if (!image) throw notFound(`image "${spec}" not found: pull it before CreateContainer`);
    await Promise.all([
      ...config.mounts.map((m, i) => this.checkHostPath(m.host_path, `config.mounts[${i}].host_path`)),
      ...config.devices.map((d, i) => this.checkHostPath(d.host_path, `config.devices[${i}].host_path`)),
    ]);

    const limits = hostLimits();
    if (config.linux?.security_context?.privileged) await this.checkPrivileged(limits.boundingSet);
    const logPath = criLogPath(req.sandbox_config?.log_directory ?? '', config.log_path);
    const options = containerCreateOptions(config, req.sandbox_config, {
      sandbox,
      image,
      logPath,
      boundingSet: limits.boundingSet,
      clampOomScoreAdj: (n) => clampOomScoreAdj(n, this.logger, limits),
      logConfig: await this.dockerLogConfig(),
    });

    let undoLogFile: (() => Promise<void>) | undefined;
    try {
      if (logPath) undoLogFile = await this.logs.prepare(logPath);
    } catch (err) {
      throw toCriError(err, `create log file ${logPath}`);
    }
    let id: string;
    try {
      id = await this.createNamed(options, capabilitiesFromAll(config.linux?.security_context?.capabilities, limits.boundingSet));
    } catch (err) {
      // Nothing half-made stays behind: the container was not created, so neither is its log.
      await undoLogFile?.();
      throw err;
    }
    await this.reread(id);
    return id;
  }

  /**
   * Refreshes the index after a change that has happened: failing to read it back must not fail
   * the call (the change is done, and the event stream catches the index up).
   */
  private async reread(id: string): Promise<void> {
    await this.index.refresh(id).catch((err: unknown) => this.logger.warn({ err, id }, 'could not read the container back after changing it'));
  }

  /**
   * Creates the container; a leftover exited one of the same name is removed first, a running
   * one is a conflict. Capabilities that came from expanding "ALL" but that this Docker does not
   * know (20.10 predates CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE) are left out and
   * remembered, so only the first such create pays a refused request.
   */
  private async createNamed(options: Dockerode.ContainerCreateOptions, fromAll: ReadonlySet<string>): Promise<string> {
    const name = options.name!;
    const hc = options.HostConfig!;
    let conflicts = 0;
    for (;;) {
      if (Array.isArray(hc.CapAdd)) hc.CapAdd = (hc.CapAdd as string[]).filter((c) => !(fromAll.has(c) && this.unknownCaps.has(c)));
      try {
        const c = await this.docker.raw('container.create', (d) => d.createContainer(options));
        return c.id;
      } catch (err) {
        const unknownCap = /unknown capability: "?(CAP_[A-Z_0-9]+)/.exec(dockerMessage(err))?.[1];
        if (unknownCap && fromAll.has(unknownCap) && !this.unknownCaps.has(unknownCap)) {
          this.logger.info({ capability: unknownCap }, 'Docker does not know this capability; leaving it out of "ALL"');
          this.unknownCaps.add(unknownCap);
          continue;
        }
        if (!isDockerConflict(err) || conflicts++ > 0) throw toCriError(err, `create container ${name}`);
      }
      const existing = await this.docker
        .raw('container.inspect', (d) => d.getContainer(name).inspect())
        .catch((err: unknown) => {
          if (isDockerNotFound(err)) return undefined;
          throw toCriError(err, `inspect container ${name}`);
        });
      if (existing?.State?.Running) throw alreadyExists(`container ${name} already exists and is running (${existing.Id})`);
      if (existing) {
        this.logger.info({ name, id: existing.Id }, 'removing a leftover container of the same name before creating');
        await this.docker
          .raw('container.remove', (d) => d.getContainer(existing.Id).remove({ force: true, v: true }))
          .catch((err: unknown) => {
            if (!isDockerNotFound(err)) throw toCriError(err, `remove leftover container ${name}`);
          });
        this.index.forget(existing.Id);
      }
    }
  }

  private async checkHostPath(path: string, field: string): Promise<void> {
    try {
      await stat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw invalidArgument(`${field} "${path}" does not exist on the host`);
      throw invalidArgument(`${field} "${path}" cannot be used: ${(err as Error).message}`);
    }
  }

  /** Docker's privileged mode asks for every capability the kernel has; say why it cannot work here. */
  private async checkPrivileged(boundingSet: readonly string[]): Promise<void> {
    const last = Number((await readFile('/proc/sys/kernel/cap_last_cap', 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(last)) return;
    const missing = missingForPrivileged(boundingSet, last);
    if (missing.length > 0) {
      throw failedPrecondition(
        `privileged containers cannot run on this host: Docker grants them every capability, and the capability bounding set of root here lacks ${missing.join(', ')} (an environment limit; add the capabilities a container needs with add_capabilities instead)`,
      );
    }
  }

  async start(idOrPrefix: string): Promise<void> {
    const record = await this.index.resolve(idOrPrefix, TYPE_CONTAINER, 'container');
    const id = record.Id;
    if (containerState(record) === 'CONTAINER_EXITED') {
      throw failedPrecondition(`container ${id} has exited; create a new one instead of starting it again`);
    }
    // Docker would fail to join the namespaces of a pause container that is not running.
    const sandboxId = record.Config?.Labels?.[LABEL_SANDBOX_ID] ?? '';
    const sandbox = this.index.get(sandboxId);
    if (!sandbox?.State?.Running) {
      throw failedPrecondition(`pod sandbox ${sandboxId} of container ${id} is ${sandbox ? 'not ready' : 'gone'}`);
    }
    try {
      await this.docker.raw('container.start', (d) => d.getContainer(id).start());
    } catch (err) {
      // 304: already running, which is what the caller wants.
      if (!isDockerNotModified(err)) {
        await this.reread(id);
        throw toCriError(err, `start container ${id}`);
      }
    }
    const logPath = record.Config?.Labels?.[LABEL_LOG_PATH];
    if (logPath) this.logs.follow(id, logPath, record.Config?.Tty ?? false);
    await this.reread(id);
  }

  /** Stops with the grace period (StopSignal, then SIGKILL); a gone or stopped container is success. */
  async stop(idOrPrefix: string, timeoutSeconds: number): Promise<void> {
    const record = await this.findForCleanup(idOrPrefix);
    if (!record) return;
    if (record.State?.Running) {
      await this.docker.apiVersion();
      // Not through the request queue: a grace period may outlast the per-request timeout.
      try {
        await this.docker.docker.getContainer(record.Id).stop({ t: Math.max(0, Math.floor(timeoutSeconds)) });
      } catch (err) {
        if (!isDockerAlreadyDone(err)) throw toCriError(err, `stop container ${record.Id}`);
      }
    }
    await this.reread(record.Id);
  }

  /** Removes the container, running or not; a gone one is success. Its CRI log file stays for the kubelet. */
  async remove(idOrPrefix: string): Promise<void> {
    const record = await this.findForCleanup(idOrPrefix);
    if (!record) return;
    try {
      await this.docker.raw('container.remove', (d) => d.getContainer(record.Id).remove({ force: true, v: true }));
    } catch (err) {
      // 409 "removal already in progress": someone else is removing it, which is what we want.
      if (!isDockerNotFound(err) && !isDockerConflict(err)) throw toCriError(err, `remove container ${record.Id}`);
      if (isDockerConflict(err)) this.logger.debug({ id: record.Id, reason: dockerMessage(err) }, 'container removal already in progress');
    }
    // The output stream ends with the container; let the follower write what it still holds.
    await this.logs.settled(record.Id, LOG_SETTLE_MS);
    await this.logs.stop(record.Id);
    this.index.forget(record.Id);
  }

  /** The container for Stop/Remove, or undefined when it is already gone (both are idempotent). */
  private async findForCleanup(idOrPrefix: string): Promise<ContainerRecord | undefined> {
    try {
      return await this.index.resolve(idOrPrefix, TYPE_CONTAINER, 'container');
    } catch (err) {
      if (err instanceof CriError && err.code === Code.NOT_FOUND && !/ambiguous/.test(err.message)) return undefined;
      throw err;
    }
  }

  async list(filter: ContainerFilter__Output | null | undefined): Promise<Container[]> {
    const out: Container[] = [];
    for (const record of await this.index.all()) {
      if (record.Config?.Labels?.[LABEL_TYPE] !== TYPE_CONTAINER) continue;
      if (filter?.id && !record.Id.startsWith(filter.id)) continue;
      const c = toContainer(record);
      if (!c) continue;
      if (filter?.state && c.state !== filter.state.state) continue;
      if (filter?.pod_sandbox_id && !(c.pod_sandbox_id ?? '').startsWith(filter.pod_sandbox_id)) continue;
      if (!matchesSelector(c.labels ?? {}, filter?.label_selector)) continue;
      out.push(c);
    }
    return out;
  }

  async status(idOrPrefix: string, verbose: boolean): Promise<ContainerStatusResponse> {
    let record = await this.index.resolve(idOrPrefix, TYPE_CONTAINER, 'container');
    if (containerState(record) === 'CONTAINER_EXITED' && this.logs.isFollowing(record.Id)) {
      // Whoever sees EXITED may read the log right away: let the last output reach the file.
      await this.logs.settled(record.Id, LOG_SETTLE_MS);
      record = this.index.get(record.Id) ?? record;
    }
    const status = toContainerStatus(record, await this.userOf(record));
    if (!status) throw notFound(`container "${idOrPrefix}" not found`);
    return { status, info: verbose ? containerVerboseInfo(record) : {} };
  }

  /** The process's real ids while it runs; otherwise what runc would give it from the container's files. */
  private async userOf(record: ContainerRecord): Promise<ContainerUser | null> {
    if (record.State?.Running && record.State.Pid > 0) {
      const proc = await readFile(`/proc/${record.State.Pid}/status`, 'utf8').catch(() => undefined);
      const user = proc ? userFromProcStatus(proc) : null;
      if (user) return user;
    }
    if (this.users.has(record.Id)) return this.users.get(record.Id)!;
    let passwd: string;
    let group: string;
    try {
      passwd = await this.containerFile(record.Id, '/etc/passwd');
      group = await this.containerFile(record.Id, '/etc/group');
    } catch (err) {
      // The user is an optional part of the status, never a reason to fail it: Docker mounts a
      // stopped container's binds to read its files, and once the kubelet has removed a killed
      // pod's directory (etc-hosts) that fails for good, and with it the kubelet's garbage
      // collection, which asks ContainerStatus before RemoveContainer. Not cached: may be transient.
      this.logger.debug({ err, id: record.Id }, 'could not read the container user database; status without user');
      return null;
    }
    const user = userFromConfig(record.Config?.User ?? '', record.HostConfig?.GroupAdd ?? [], passwd, group);
    this.users.set(record.Id, user);
    return user;
  }

  /** A file of the container's filesystem (works stopped or created); "" when it has none. */
  private async containerFile(id: string, path: string): Promise<string> {
    try {
      const stream = await this.docker.raw('container.archive', (d) => d.getContainer(id).getArchive({ path }));
      const chunks: Buffer[] = [];
      for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
      return firstFileOfTar(Buffer.concat(chunks)) ?? '';
    } catch (err) {
      if (isDockerNotFound(err)) return '';
      throw toCriError(err, `read ${path} of container ${id}`);
    }
  }
}

/** log_directory + log_path, or "" when either is missing; the file must stay inside the directory. */
export function criLogPath(dir: string, path: string): string {
  if (!dir || !path) return '';
  if (!isAbsolute(dir)) throw invalidArgument(`sandbox_config.log_directory "${dir}" is not an absolute path`);
  const full = join(dir, path);
  if (isAbsolute(path) || relative(dir, full).startsWith('..')) {
    throw invalidArgument(`config.log_path "${path}" must be a relative path inside log_directory`);
  }
  return full;
}
