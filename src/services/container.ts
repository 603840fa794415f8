// Workload containers: create (in a running pod), start, stop, remove, list, status, and the
// CRI log file every container's output is written to. Lists are answered from the container
// index; every change the shim makes is in the index before the RPC returns (from the inspect
// the change's Docker event makes the index do, see ContainerIndex.changed).
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { clearLeftover, type CallOptions, type ContainerCreateOptions, type Engine } from '../docker/engine.js';
import { LABEL_LOG_PATH, LABEL_SANDBOX_ID, LABEL_TYPE, matchesSelector, TYPE_CONTAINER, TYPE_SANDBOX } from '../docker/labels.js';
import { cgroupWritesOf, containerCreateOptions, createWarningsOf, validateContainerConfig } from '../docker/container-spec.js';
import {
  containerState,
  ContainerFileTooLarge,
  containerVerboseInfo,
  firstFileOfTar,
  toContainer,
  toContainerStatus,
  userFromConfig,
  userFromProcStatus,
} from '../docker/container-status.js';
import { capabilitiesFromAll, privilegedMissing } from '../docker/capabilities.js';
import { clampOomScoreAdj, hostDevices, hostLimits } from '../docker/host-limits.js';
import { sandboxAllowsPrivileged } from '../docker/sandbox-spec.js';
import { applyCgroupWrites, readOptional, type CgroupReader } from '../stats/cgroup.js';
import type { ContainerWarnings } from '../store/container-warnings.js';
import {
  alreadyExists,
  Code,
  CriError,
  failedPrecondition,
  invalidArgument,
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
import { SerialByKey } from '../serial-by-key.js';
import { dockerLogConfig, type DockerLogConfig } from '../docker/log-config.js';

/** How long ContainerStatus of an exited container waits for its last output to reach the file. */
const LOG_SETTLE_MS = 2_000;
/** Docker ids in full: 64 hex digits (filters may also give a unique prefix). */
const FULL_CONTAINER_ID = /^[0-9a-f]{64}$/;
/**
 * Cap on /etc/passwd and /etc/group read out of a container: far above any real one (a
 * directory-backed node's are a few KiB), small enough that a container cannot balloon the shim.
 */
export const CONTAINER_FILE_CAP = 1024 * 1024;

/** The user a stopped container's process gets, or why its files could not tell (cached, once). */
interface UserFacts {
  user: ContainerUser | null;
  error?: string;
}

export class ContainerService {
  /**
   * Users of stopped containers, read once from their files (a container's config never
   * changes); a file that could not be read is remembered too, so it costs one attempt.
   */
  private readonly users = new Map<string, UserFacts>();
  /** Capabilities of the bounding set that this dockerd refuses by name. */
  private readonly unknownCaps = new Set<string>();
  /** CreateContainer calls, one at a time per container name. */
  private readonly createsByName = new SerialByKey();
  /**
   * Containers this process created and handed to a caller: one of them met again under its
   * name before it was started is the other caller's container, not a leftover to remove.
   */
  private readonly createdHere = new Set<string>();
  /** Whether the first privileged container built from the host's capabilities was logged. */
  private privilegedExplained = false;

  constructor(
    private readonly docker: Engine,
    private readonly index: ContainerIndex,
    private readonly images: ImageService,
    private readonly logs: LogManager,
    private readonly logger: Logger,
    private readonly cgroups: CgroupReader,
    private readonly warnings: ContainerWarnings,
  ) {
    index.on('removed', (id) => {
      this.users.delete(id);
      this.createdHere.delete(id);
      this.warnings.forget(id);
    });
  }

  /** Docker's log settings for new containers, from the daemon's default logging driver (cached `docker info`). */
  private async dockerLogConfig(call: CallOptions): Promise<DockerLogConfig | undefined> {
    return dockerLogConfig((await this.docker.info(call)).LoggingDriver);
  }

  async create(req: CreateContainerRequest__Output, call: CallOptions = {}): Promise<string> {
    if (!req.pod_sandbox_id) throw invalidArgument('pod_sandbox_id is empty');
    validateContainerConfig(req.config);
    const config = req.config;
    const sandbox = await this.index.current(req.pod_sandbox_id, TYPE_SANDBOX, 'pod sandbox', call);
    if (!sandbox.State?.Running) {
      throw failedPrecondition(`pod sandbox ${sandbox.Id} is not ready (its pause container is ${sandbox.State?.Status ?? 'unknown'})`);
    }
    const spec = config.image!.image;
    // Independent reads, at once: the image (from the event-fed image store when it is current),
    // Docker's logging driver (cached `docker info`) and the host paths the container binds.
    const [image, logConfig] = await Promise.all([
      this.images.lookup(spec, call),
      this.dockerLogConfig(call),
      ...config.mounts.map((m, i) => this.checkHostPath(m.host_path, `config.mounts[${i}].host_path`)),
      ...config.devices.map((d, i) => this.checkHostPath(d.host_path, `config.devices[${i}].host_path`)),
    ]);
    if (!image) throw notFound(`image "${spec}" not found: pull it before CreateContainer`);

    const limits = hostLimits();
    const privileged = config.linux?.security_context?.privileged ?? false;
    // As containerd: only a pod the kubelet made privileged may hold privileged containers.
    if (privileged && !sandboxAllowsPrivileged(sandbox)) {
      throw invalidArgument(`config.linux.security_context.privileged: pod sandbox ${sandbox.Id} is not privileged, so none of its containers may be`);
    }
    const missing = privilegedMissing(limits);
    if (privileged && missing.length > 0) this.explainPrivileged(missing);
    const logPath = criLogPath(req.sandbox_config?.log_directory ?? '', config.log_path);
    const options = containerCreateOptions(config, req.sandbox_config, {
      sandbox,
      image,
      logPath,
      boundingSet: limits.boundingSet,
      privileged: { dockerCanGrant: missing.length === 0, hostDevices },
      cgroupVersion: this.cgroups.version,
      clampOomScoreAdj: (n) => clampOomScoreAdj(n, this.logger, limits),
      logConfig,
    });
    // Capabilities a privileged container gets from the bounding set count as "ALL" (see createNamed).
    const fromAll =
      privileged && missing.length > 0
        ? new Set(limits.boundingSet)
        : capabilitiesFromAll(config.linux?.security_context?.capabilities, limits.boundingSet);

    // Two calls for one name would each take the other's fresh container for a leftover and
    // remove it: run them one after the other, so the second meets AlreadyExists instead.
    return this.createsByName.run(options.name!, async () => {
      let undoLogFile: (() => Promise<void>) | undefined;
      try {
        if (logPath) undoLogFile = await this.logs.prepare(logPath);
      } catch (err) {
        throw toCriError(err, `create log file ${logPath}`);
      }
      let id: string;
      try {
        id = await this.createNamed(options, fromAll, call);
      } catch (err) {
        // Nothing half-made stays behind: the container was not created, so neither is its log.
        await undoLogFile?.();
        throw err;
      }
      this.createdHere.add(id);
      for (const warning of createWarningsOf(options.Labels)) this.logger.warn({ id, name: options.name, warning }, 'container created without a setting this host cannot honour');
      // In the index before the caller hears of it: StartContainer finds it there.
      await this.reread(id, () => true);
      return id;
    });
  }

  private explainPrivileged(missing: readonly string[]): void {
    if (this.privilegedExplained) return;
    this.privilegedExplained = true;
    this.logger.info(
      { missing },
      "Docker's privileged mode cannot start here (the bounding set lacks capabilities); privileged containers get every capability, device and path this host has instead",
    );
  }

  /**
   * Writes what Docker could not set (memory.oom.group, hugepage limits, ...) into the cgroup of
   * a container that just started. Docker 20.10 (API 1.41) has no field for them and runc
   * creates the cgroup only as it starts the process, so they land after the process runs; the
   * verbose status says so for each one. A cgroup parent does not stand in: memory.oom.group is
   * not inherited, and the pod cgroup's hugetlb limits (the kubelet's) bound the pod already.
   */
  private applyStartWrites(id: string, labels: Record<string, string> | null | undefined): void {
    const writes = cgroupWritesOf(labels);
    if (writes.length === 0) return;
    const record = this.index.get(id);
    const dirs = record?.State?.Running ? this.cgroups.dirsOfPid(record.State.Pid ?? 0) : undefined;
    const warnings = dirs
      ? applyCgroupWrites(dirs, writes)
      : writes.filter((w) => !w.optional).map((w) => `${w.file} = "${w.value}" not applied: the container stopped before its cgroup could be written`);
    for (const warning of warnings) this.logger.warn({ id, warning }, 'a container setting Docker cannot hold was not applied');
    const late = dirs ? writes.filter((w) => !w.optional && !warnings.some((x) => x.startsWith(`${w.file} = `))) : [];
    if (late.length > 0) {
      const what = late.map((w) => `${w.file} = "${w.value}"`).join(', ');
      warnings.push(`${what} written right after the process started, not before: Docker 20.10 (API 1.41) has no field for them, so the container's first milliseconds ran without them`);
      this.logger.debug({ id, files: late.map((w) => w.file) }, 'cgroup settings Docker cannot hold written after start');
    }
    this.warnings.add(id, warnings);
  }

  /**
   * Waits until the index holds the container as a change that has happened left it (`shows`),
   * which the change's own Docker event brings; without it, inspects. Failing to read it back
   * must not fail the call (the change is done, and the event stream catches the index up).
   */
  private async reread(id: string, shows: (record: ContainerRecord) => boolean): Promise<void> {
    await this.index.changed(id, shows).catch((err: unknown) => this.logger.warn({ err, id }, 'could not read the container back after changing it'));
  }

  /** After a failed change: what Docker holds now, read at once (no event may announce it). */
  private async refreshAfterFailure(id: string): Promise<void> {
    await this.index.refresh(id).catch((err: unknown) => this.logger.warn({ err, id }, 'could not read the container back after a failed change'));
  }

  /**
   * Creates the container; a leftover exited one of the same name is removed first, a running
   * one is a conflict. Capabilities that came from expanding "ALL" but that this Docker does not
   * know (20.10 predates CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE) are left out and
   * remembered, so only the first such create pays a refused request.
   */
  private async createNamed(options: ContainerCreateOptions, fromAll: ReadonlySet<string>, call: CallOptions): Promise<string> {
    const name = options.name!;
    const hc = options.HostConfig!;
    let conflicts = 0;
    for (;;) {
      if (Array.isArray(hc.CapAdd)) hc.CapAdd = (hc.CapAdd as string[]).filter((c) => !(fromAll.has(c) && this.unknownCaps.has(c)));
      const sent = new Set(Array.isArray(hc.CapAdd) ? (hc.CapAdd as string[]) : []);
      const created = await this.docker.createContainer(options, call);
      if (created.kind === 'created') return created.id;
      // Retried once it is left out, also when a concurrent create learnt it first (this request
      // still carried it); one the retry no longer sends cannot come back, so this ends.
      if (created.kind === 'unknown-capability' && fromAll.has(created.capability) && sent.has(created.capability)) {
        if (!this.unknownCaps.has(created.capability)) {
          this.logger.info({ capability: created.capability }, 'Docker does not know this capability; leaving it out of "ALL"');
          this.unknownCaps.add(created.capability);
        }
        continue;
      }
      if (created.kind !== 'conflict' || conflicts++ > 0) {
        const fail = { conflict: alreadyExists, 'no-image': notFound, 'unknown-capability': invalidArgument }[created.kind];
        throw fail(`create container ${name}: ${created.message}`);
      }
      const leftover = await clearLeftover(this.docker, name, call, async (record) => {
        // Created by an earlier call and not started yet: the other caller's, not a leftover.
        if (record.State?.Status === 'created' && this.createdHere.has(record.Id)) {
          throw alreadyExists(`container ${name} already exists (${record.Id}, created by an earlier CreateContainer and not started)`);
        }
        this.logger.info({ name, id: record.Id }, 'removing a leftover container of the same name before creating');
        await this.docker.remove(record.Id, call);
        this.index.forget(record.Id);
      });
      if (leftover.kind === 'running') throw alreadyExists(`container ${name} already exists and is running (${leftover.record.Id})`);
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

  async start(idOrPrefix: string, call: CallOptions = {}): Promise<void> {
    const record = await this.index.current(idOrPrefix, TYPE_CONTAINER, 'container', call);
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
    let outcome;
    try {
      outcome = await this.docker.start(id, call);
      if (outcome.kind === 'absent') throw notFound(`start container ${id}: no such container`);
    } catch (err) {
      await this.refreshAfterFailure(id);
      throw err;
    }
    const logPath = record.Config?.Labels?.[LABEL_LOG_PATH];
    if (logPath) this.logs.follow(id, logPath, record.Config?.Tty ?? false);
    // A fresh start shows as a new StartedAt (the process may already have exited again).
    const startedAt = record.State?.StartedAt;
    await this.reread(id, (r) => outcome.kind !== 'started' || r.State?.StartedAt !== startedAt);
    // Already running is what the caller wants; only a fresh start gets the cgroup writes.
    if (outcome.kind === 'started') this.applyStartWrites(id, record.Config?.Labels);
  }

  /** Stops with the grace period (StopSignal, then SIGKILL); a gone or stopped container is success. */
  async stop(idOrPrefix: string, timeoutSeconds: number, call: CallOptions = {}): Promise<void> {
    const record = await this.findForCleanup(idOrPrefix, call);
    if (!record) return;
    // Stopped, already stopped or gone: all are success. The Engine gives a stop the grace
    // period plus the request timeout, outside its queue. The index record is as new as
    // Docker's events: a container it shows stopped can only run again through a start.
    if (!record.State?.Running) return;
    const stopped = await this.docker.stop(record.Id, timeoutSeconds, call);
    if (stopped.kind !== 'absent') await this.reread(record.Id, (r) => !r.State?.Running);
  }

  /** Removes the container, running or not; a gone one is success. Its CRI log file stays for the kubelet. */
  async remove(idOrPrefix: string, call: CallOptions = {}): Promise<void> {
    const record = await this.findForCleanup(idOrPrefix, call);
    if (!record) return;
    // Removed, gone, or being removed by another call: all are what we want.
    const removed = await this.docker.remove(record.Id, call);
    if (removed.kind === 'removal-in-progress') this.logger.debug({ id: record.Id }, 'container removal already in progress');
    // The output stream ends with the container; let the follower write what it still holds.
    await this.logs.settled(record.Id, LOG_SETTLE_MS);
    await this.logs.stop(record.Id);
    this.index.forget(record.Id);
  }

  /** The container for Stop/Remove, or undefined when it is already gone (both are idempotent). */
  private async findForCleanup(idOrPrefix: string, call?: CallOptions): Promise<ContainerRecord | undefined> {
    try {
      return await this.index.current(idOrPrefix, TYPE_CONTAINER, 'container', call);
    } catch (err) {
      if (err instanceof CriError && err.code === Code.NOT_FOUND && !/ambiguous/.test(err.message)) return undefined;
      throw err;
    }
  }

  async list(filter: ContainerFilter__Output | null | undefined, call?: CallOptions): Promise<Container[]> {
    const out: Container[] = [];
    // A full pod id (what the kubelet sends) reads that pod's containers alone; a prefix scans all.
    const sandbox = filter?.pod_sandbox_id;
    const records = sandbox && FULL_CONTAINER_ID.test(sandbox) ? await this.index.inSandbox(sandbox, call) : await this.index.all(call);
    for (const record of records) {
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

  async status(idOrPrefix: string, verbose: boolean, call?: CallOptions): Promise<ContainerStatusResponse> {
    let record = await this.index.current(idOrPrefix, TYPE_CONTAINER, 'container', call);
    if (containerState(record) === 'CONTAINER_EXITED' && this.logs.isFollowing(record.Id)) {
      // Whoever sees EXITED may read the log right away: let the last output reach the file.
      await this.logs.settled(record.Id, LOG_SETTLE_MS);
      record = this.index.get(record.Id) ?? record;
    }
    const facts = await this.userOf(record, call);
    const oom = liveOomScoreAdj(record);
    const status = toContainerStatus(record, facts.user, oom === record.HostConfig?.OomScoreAdj ? undefined : oom);
    if (!status) throw notFound(`container "${idOrPrefix}" not found`);
    const warnings = verbose ? [...createWarningsOf(record.Config?.Labels), ...this.warnings.get(record.Id)] : [];
    const info = verbose ? containerVerboseInfo(record, warnings) : {};
    if (verbose && facts.error) info.userError = facts.error;
    return { status, info };
  }

  /** The process's real ids while it runs; otherwise what runc would give it from the container's files. */
  private async userOf(record: ContainerRecord, call?: CallOptions): Promise<UserFacts> {
    if (record.State?.Running && record.State.Pid > 0) {
      // Read synchronously, as the cgroup files are: procfs answers from kernel memory, and a
      // thread-pool round trip would cost a status call more than the read.
      const proc = readOptional(`/proc/${record.State.Pid}/status`);
      const user = proc ? userFromProcStatus(proc) : null;
      if (user) return { user };
    }
    const cached = this.users.get(record.Id);
    if (cached) return cached;
    let facts: UserFacts;
    try {
      const passwd = await this.containerFile(record.Id, '/etc/passwd', call);
      const group = await this.containerFile(record.Id, '/etc/group', call);
      facts = { user: userFromConfig(record.Config?.User ?? '', record.HostConfig?.GroupAdd ?? [], passwd, group) };
    } catch (err) {
      // A caller that gave up gets its own error, and nothing is cached from a cut read.
      if (call?.signal?.aborted) throw call.signal.reason;
      if (!(err instanceof ContainerFileTooLarge)) {
        // The user is an optional part of the status, never a reason to fail it: Docker mounts a
        // stopped container's binds to read its files, and once the kubelet has removed a killed
        // pod's directory (etc-hosts) that fails for good, and with it the kubelet's garbage
        // collection, which asks ContainerStatus before RemoveContainer. Not cached: may be transient.
        this.logger.debug({ err, id: record.Id }, 'could not read the container user database; status without user');
        return { user: null };
      }
      // The status is still answered, without the user; the reason goes to the log and verbose info.
      this.logger.warn({ id: record.Id, reason: err.message }, 'cannot work out the user of the container from its files');
      facts = { user: null, error: err.message };
    }
    this.users.set(record.Id, facts);
    return facts;
  }

  /** A file of the container's filesystem (works stopped or created), read up to the cap; "" when it has none. */
  private async containerFile(id: string, path: string, call?: CallOptions): Promise<string> {
    const stream = await this.docker.getArchive(id, path, call);
    if (!stream) return '';
    // The deadline covers the answer's headers; a caller giving up also cuts the archive's body.
    if (call?.signal) addAbortSignal(call.signal, stream);
    // Stopping early (over the cap) closes the response: Docker stops producing the archive.
    return (await firstFileOfTar(stream as AsyncIterable<Buffer>, CONTAINER_FILE_CAP, path)) ?? '';
  }
}

/**
 * The running process's oom_score_adj: UpdateContainerResources writes it to the processes, and
 * Docker's record keeps the creation value, so the record alone would report a stale one.
 */
function liveOomScoreAdj(record: ContainerRecord): number | undefined {
  if (!record.State?.Running || !(record.State.Pid > 0)) return undefined;
  const text = readOptional(`/proc/${record.State.Pid}/oom_score_adj`);
  const value = Number(text?.trim());
  return text !== undefined && Number.isInteger(value) ? value : undefined;
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
