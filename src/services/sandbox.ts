// Pod sandboxes: one pause container per pod. Run creates it (pulling the pause image when
// absent), writes the checkpoint while it starts, then sets the network up and writes the
// pod's resolv.conf; Stop stops the pod's containers, tears the network down and stops the
// pause container; Remove removes them all and the checkpoint. Every step that does not need
// the one before runs beside it. List/Status, and the write paths' view of the pod, read the
// ContainerIndex (event-fed): Docker is asked only to change things.
import type { Config } from '../config.js';
import { clearLeftover, type CallOptions, type ContainerCreateOptions, type Engine } from '../docker/engine.js';
import { clampOomScoreAdj } from '../docker/host-limits.js';
import { newestFirst, toContainerStatus } from '../docker/container-status.js';
import { LABEL_SANDBOX_ID, LABEL_TYPE, TYPE_CONTAINER, TYPE_SANDBOX, matchesSelector } from '../docker/labels.js';
import { hasDnsConfig, writeResolvConf } from '../docker/resolv-conf.js';
import {
  PAUSE_OOM_SCORE_ADJ,
  cgroupParentFor,
  dockerPort,
  namespaceModes,
  sandboxCreateOptions,
} from '../docker/sandbox-spec.js';
import {
  checkpointPodSandbox,
  checkpointPodSandboxStatus,
  nowNs,
  sandboxIp,
  sandboxVerboseInfo,
  toPodSandbox,
  toPodSandboxStatus,
} from '../docker/sandbox-status.js';
import { sandboxName } from '../docker/naming.js';
import type { ContainerStatus } from '../generated/runtime/v1/ContainerStatus.js';
import type { PodSandbox } from '../generated/runtime/v1/PodSandbox.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { PodSandboxFilter__Output } from '../generated/runtime/v1/PodSandboxFilter.js';
import type { PodSandboxNetworkStatus } from '../generated/runtime/v1/PodSandboxNetworkStatus.js';
import type { PodSandboxStatusResponse } from '../generated/runtime/v1/PodSandboxStatusResponse.js';
import type { RunPodSandboxRequest__Output } from '../generated/runtime/v1/RunPodSandboxRequest.js';
import { alreadyExists, Code, CriError, failedPrecondition, invalidArgument, notFound, toCriError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NetworkManager, PodNetworkContext } from '../network/types.js';
import type { CheckpointStore, SandboxCheckpoint } from '../store/checkpoint.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';
import type { ImageService } from './image.js';
import { SerialByKey } from '../serial-by-key.js';

/**
 * Seconds between SIGTERM and SIGKILL in StopPodSandbox. The CRI says containers still running
 * then "must be forcibly terminated": the kubelet has already given each its own grace period
 * through StopContainer, so a leftover one is killed at once, as containerd does. The pause
 * container exits on SIGTERM; its short grace only covers a wedged one.
 */
const WORKLOAD_STOP_GRACE_SECONDS = 0;
const PAUSE_STOP_GRACE_SECONDS = 2;
/** Docker network of pods that do not use the host's, while no CNI plugin is configured. */
const DOCKER_POD_NETWORK = 'bridge';

export interface SandboxServiceDeps {
  config: Config;
  docker: Engine;
  index: ContainerIndex;
  images: ImageService;
  checkpoints: CheckpointStore;
  network: NetworkManager;
  logger: Logger;
}

/** Kubernetes names never contain "_" (it separates the fields of our Docker names). */
function requireNameField(value: string, field: string): void {
  if (!value) throw invalidArgument(`${field} is empty`);
  if (value.includes('_')) throw invalidArgument(`${field} "${value}" must not contain "_"`);
}

function validateConfig(config: PodSandboxConfig__Output | null): asserts config is PodSandboxConfig__Output {
  if (!config) throw invalidArgument('config is required');
  const meta = config.metadata;
  if (!meta) throw invalidArgument('config.metadata is required');
  requireNameField(meta.name, 'config.metadata.name');
  requireNameField(meta.namespace, 'config.metadata.namespace');
  requireNameField(meta.uid, 'config.metadata.uid');
  // Docker has one user namespace remapping for the whole daemon, none per pod: running the pod
  // without the namespace it asked for would quietly give its root the host's root.
  if (config.linux?.security_context?.namespace_options?.userns_options?.mode === 'POD') {
    throw invalidArgument('config.linux.security_context.namespace_options.userns_options: pod user namespaces are not supported on Docker Engine');
  }
  const modes = namespaceModes(config);
  for (const [kind, mode] of Object.entries(modes)) {
    if (mode === 'TARGET') {
      throw invalidArgument(`config.linux.security_context.namespace_options.${kind} TARGET applies to containers, not to a pod sandbox`);
    }
  }
}

/**
 * Promise.all that waits for every step to settle before it rejects with the first failure: a
 * failed step's undo must not run beside a sibling that is still writing (a checkpoint, say).
 */
async function settleAll<T extends readonly unknown[]>(steps: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(steps);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** Who a network call is about; on teardown the checkpoint (if any) names the pod. */
function podIdentity(id: string, checkpoint: SandboxCheckpoint | undefined): Pick<PodNetworkContext, 'sandboxId' | 'name' | 'namespace' | 'uid'> {
  return { sandboxId: id, name: checkpoint?.name ?? '', namespace: checkpoint?.namespace ?? '', uid: checkpoint?.uid ?? '' };
}

export class SandboxService {
  /** RunPodSandbox calls, one at a time per pause container name. */
  private readonly runsByName = new SerialByKey();
  /** Pause containers being run now: their checkpoint precedes their index record. */
  private readonly starting = new Set<string>();

  constructor(private readonly deps: SandboxServiceDeps) {
    // Once the index knows every pause container: networks this shim set up for sandboxes that
    // are gone without a checkpoint (a teardown that failed before a restart) are released.
    deps.index.once('resynced', () => {
      deps.network
        .releaseOrphans(async (id) => this.index.get(id) !== undefined || (await deps.checkpoints.read(id)) !== undefined)
        .catch((err: unknown) => deps.logger.warn({ err: toCriError(err).message }, 'could not sweep the CNI cache for sandboxes that are gone'));
    });
  }

  private get docker(): Engine {
    return this.deps.docker;
  }

  private get index(): ContainerIndex {
    return this.deps.index;
  }

  // ---- RunPodSandbox ----

  /** Runs the pod's pause container and returns its id (the sandbox id). */
  async run(req: RunPodSandboxRequest__Output, call: CallOptions = {}): Promise<string> {
    const config = req.config;
    validateConfig(config);
    // Two calls for the same pod would each take the other's fresh container for a leftover
    // and remove it: run them one after the other, so the second meets AlreadyExists instead.
    return this.runsByName.run(sandboxName(config.metadata!), () => this.runOnce(req.runtime_handler, config, call));
  }

  private async runOnce(runtimeHandler: string, config: PodSandboxConfig__Output, call: CallOptions): Promise<string> {
    const meta = config.metadata!;
    const what = `pod sandbox ${meta.namespace}/${meta.name}`;
    const hostNetwork = namespaceModes(config).network === 'NODE';
    const [, cgroupParent] = await Promise.all([
      hostNetwork ? undefined : this.requireNetworkReady(what),
      this.prepareDockerFacts(runtimeHandler, config.linux?.cgroup_parent ?? '', call),
    ]);

    const pauseImage = this.deps.config.podInfraContainerImage;
    const options = sandboxCreateOptions(config, {
      image: pauseImage,
      podNetworkMode: this.podNetworkMode(),
      runtimeHandler,
      oomScoreAdj: clampOomScoreAdj(PAUSE_OOM_SCORE_ADJ, this.deps.logger),
      cgroupParent,
    });
    // Under CNI the portmap plugin owns host ports; Docker would only half-publish them.
    if (!this.deps.network.dockerPublishesPorts) options.HostConfig!.PortBindings = {};

    const id = await this.createPause(options, what, call);
    this.starting.add(id);
    try {
      return await this.startPause(id, config, what, hostNetwork, call);
    } finally {
      this.starting.delete(id);
    }
  }

  /** Checkpoint, start, network and DNS of a created pause container; undone on failure. */
  private async startPause(id: string, config: PodSandboxConfig__Output, what: string, hostNetwork: boolean, call: CallOptions): Promise<string> {
    const meta = config.metadata!;
    const checkpoint: SandboxCheckpoint = {
      version: 'v1',
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      attempt: meta.attempt,
      data: {
        host_network: hostNetwork,
        port_mappings: config.port_mappings.map((pm) => ({
          protocol: dockerPort(pm).protocol,
          container_port: pm.container_port,
          host_port: pm.host_port,
          host_ip: pm.host_ip,
        })),
      },
    };
    try {
      // The checkpoint is on disk before any network is set up, and both settle before an undo.
      const [started] = await settleAll([this.docker.start(id, call), this.deps.checkpoints.write(id, checkpoint)]);
      // The start's event brings the started record (its address on Docker's bridge, its pid).
      const record = started.kind === 'absent' ? undefined : await this.index.changed(id, (r) => r.State?.Status !== 'created', call);
      if (!record) throw notFound(`pause container ${id} of ${what} vanished while starting`);
      await settleAll([
        this.setUpNetwork(record, config, checkpoint),
        hasDnsConfig(config.dns_config) ? writeResolvConf(record.ResolvConfPath, config.dns_config) : undefined,
      ]);
    } catch (err) {
      // Not with the call's signal: a cancelled RunPodSandbox still leaves nothing behind.
      await this.undoRun(id, checkpoint);
      throw toCriError(err, `run ${what}`);
    }
    return id;
  }

  /**
   * Checks the runtime handler against Docker's runtimes and converts the cgroup parent for
   * Docker's cgroup driver, from the Engine's cached `docker info` (asked again when the
   * handler is not among its runtimes: dockerd may have been reloaded); asks only when either
   * is set.
   */
  private async prepareDockerFacts(runtimeHandler: string, cgroupParent: string, call: CallOptions): Promise<string> {
    if (!runtimeHandler && !cgroupParent) return '';
    const runtimesOf = (info: { Runtimes?: Record<string, unknown> }) => Object.keys(info.Runtimes ?? {}).sort();
    let info = await this.docker.info(call);
    if (runtimeHandler && !runtimesOf(info).includes(runtimeHandler)) {
      info = await this.docker.info({ ...call, fresh: true });
      if (!runtimesOf(info).includes(runtimeHandler)) {
        throw invalidArgument(`runtime_handler "${runtimeHandler}" is not a Docker runtime (available: ${runtimesOf(info).join(', ')})`);
      }
    }
    return cgroupParentFor(cgroupParent, info.CgroupDriver === 'systemd' ? 'systemd' : 'cgroupfs');
  }

  /**
   * Creates the pause container. The pause image is pulled only when Docker says it has none
   * (404), which saves an image lookup on every pod. A leftover of the same name (an earlier
   * attempt that died, or one the kubelet lost track of) is removed and the create retried once
   * if it is not running; a running one is a real conflict.
   */
  private async createPause(options: ContainerCreateOptions, what: string, call: CallOptions): Promise<string> {
    let pulled = false;
    let clearedName = false;
    for (;;) {
      const created = await this.docker.createContainer(options, call);
      if (created.kind === 'created') return created.id;
      if (created.kind === 'no-image' && !pulled) {
        pulled = true;
        await this.deps.images.ensure(options.Image!, undefined, call);
      } else if (created.kind === 'conflict' && !clearedName) {
        clearedName = true;
        const leftover = await clearLeftover(this.docker, options.name!, call, (record) => {
          this.deps.logger.info({ id: record.Id, name: options.name }, 'removing a leftover exited pause container of the same name');
          return this.removeSandbox(record.Id, record);
        });
        if (leftover.kind === 'running') {
          throw alreadyExists(`${what}: container ${options.name} already exists and is running (id ${leftover.record.Id})`);
        }
      } else {
        const fail = { conflict: alreadyExists, 'no-image': notFound, 'unknown-capability': invalidArgument }[created.kind];
        throw fail(`create pause container of ${what}: ${created.message}`);
      }
    }
  }

  /** Undoes a RunPodSandbox that failed half-way: no container, network or checkpoint stays. */
  private async undoRun(id: string, checkpoint: SandboxCheckpoint): Promise<void> {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['tear down network', () => this.tearDownNetwork(id, checkpoint)],
      ['remove pause container', () => this.removeContainer(id)],
      ['remove checkpoint', () => this.deps.checkpoints.remove(id)],
    ];
    for (const [step, fn] of steps) {
      try {
        await fn();
      } catch (err) {
        this.deps.logger.error({ id, err: toCriError(err).message }, `after a failed RunPodSandbox, could not ${step}`);
      }
    }
  }

  // ---- Networking: Docker's bridge, or the network manager's plugins (CNI) ----

  /** Fails before anything is created when no pod can be networked now (no valid CNI config). */
  private async requireNetworkReady(what: string): Promise<void> {
    const network = await this.deps.network.status();
    if (!network.ready) throw failedPrecondition(`${what}: ${network.message}`);
  }

  /** Docker network mode of the pause container of a pod that does not use the host network. */
  private podNetworkMode(): string {
    return this.deps.network.podNetworkMode;
  }

  /**
   * Connects the started pause container to the pod network. On Docker's bridge, dockerd
   * already did it when the container started: checks that it got an address. Otherwise the
   * plugins run into the pause container's namespace, and the addresses they gave are kept in
   * the checkpoint.
   */
  private async setUpNetwork(record: ContainerRecord, config: PodSandboxConfig__Output, checkpoint: SandboxCheckpoint): Promise<void> {
    if (checkpoint.data.host_network) return;
    if (this.deps.network.podNetworkMode === DOCKER_POD_NETWORK) {
      const ip = record.NetworkSettings?.Networks?.[DOCKER_POD_NETWORK]?.IPAddress;
      if (!ip) throw new Error(`Docker's ${DOCKER_POD_NETWORK} network gave pod ${config.metadata!.name} no IP address`);
      return;
    }
    const pid = record.State?.Pid;
    if (!pid) throw new Error(`pause container ${record.Id} has no process whose network namespace the plugins could set up`);
    const pod: PodNetworkContext = {
      ...podIdentity(record.Id, checkpoint),
      portMappings: config.port_mappings,
      dns: config.dns_config,
      annotations: config.annotations,
    };
    const { ips } = await this.deps.network.setUpPod(pod, `/proc/${pid}/ns/net`);
    checkpoint.data.network = { plugin: this.deps.network.name, ips };
    await this.deps.checkpoints.write(record.Id, checkpoint);
  }

  /**
   * Disconnects the pod from its network; works from the checkpoint alone (the pause container
   * may be gone; the network manager keeps what its plugins need). Docker's bridge releases
   * the endpoint itself when the pause container stops.
   */
  private async tearDownNetwork(id: string, checkpoint: SandboxCheckpoint | undefined): Promise<void> {
    if (checkpoint?.data.host_network) return;
    const record = this.index.get(id);
    const netns = record?.State?.Running && record.State.Pid ? `/proc/${record.State.Pid}/ns/net` : undefined;
    await this.deps.network.tearDownPod({ ...podIdentity(id, checkpoint), portMappings: [], annotations: {} }, netns);
  }

  /**
   * For the verbose status only (it runs the plugins): whether the pod's network is still as
   * set up (CNI CHECK); "ok" or what is wrong. Undefined when no plugin networks the pod.
   */
  private async networkCheck(record: ContainerRecord, checkpoint: SandboxCheckpoint | undefined, call?: CallOptions): Promise<string | undefined> {
    const pid = record.State?.Running ? record.State.Pid : undefined;
    if (!pid || (await this.deps.network.podIps(record.Id)) === undefined) return undefined;
    try {
      await this.deps.network.checkPod({ ...podIdentity(record.Id, checkpoint), portMappings: [], annotations: {} }, `/proc/${pid}/ns/net`, call?.signal);
      return 'ok';
    } catch (err) {
      if (call?.signal?.aborted) throw call.signal.reason;
      return toCriError(err).message;
    }
  }

  /** The pod's addresses: what the plugins gave (remembered, nothing is run), else Docker's. */
  private async networkStatus(record: ContainerRecord): Promise<PodSandboxNetworkStatus> {
    const ips = record.State?.Running ? await this.deps.network.podIps(record.Id) : undefined;
    if (ips === undefined) return { ip: sandboxIp(record), additional_ips: [] };
    return { ip: ips[0] ?? '', additional_ips: ips.slice(1).map((ip) => ({ ip })) };
  }

  // ---- StopPodSandbox / RemovePodSandbox ----

  /**
   * The sandbox of a full id or unique prefix; undefined when Docker has none (Stop and Remove
   * are idempotent). An ambiguous prefix is still an error: we cannot tell which pod is meant.
   */
  private async lookup(idOrPrefix: string, call?: CallOptions): Promise<ContainerRecord | undefined> {
    if (!idOrPrefix) throw invalidArgument('pod_sandbox_id is empty');
    try {
      return await this.index.current(idOrPrefix, TYPE_SANDBOX, 'pod sandbox', call);
    } catch (err) {
      if (err instanceof CriError && err.code === Code.NOT_FOUND && !/ambiguous/.test(err.message)) return undefined;
      throw err;
    }
  }

  /**
   * Workload containers of the pod (id, running or not), found by the sandbox id label they
   * carry, in the index: CreateContainer returns only once its container is there, and while
   * the event stream is down the index lists Docker live.
   */
  private async podContainers(sandboxId: string): Promise<Array<{ id: string; running: boolean }>> {
    const out = [];
    for (const r of await this.index.all()) {
      const labels = r.Config?.Labels;
      if (labels?.[LABEL_TYPE] !== TYPE_CONTAINER || labels[LABEL_SANDBOX_ID] !== sandboxId) continue;
      out.push({ id: r.Id, running: Boolean(r.State?.Running || r.State?.Paused || r.State?.Restarting) });
    }
    return out;
  }

  /**
   * Stops the container (stopped, already stopped or gone: all are what the caller wants).
   * Resolves once Docker has stopped it; `recorded` once the index shows it stopped too.
   */
  private async stopContainer(id: string, graceSeconds: number, call?: CallOptions): Promise<{ recorded: Promise<unknown> }> {
    const stopped = await this.docker.stop(id, graceSeconds, call);
    return { recorded: stopped.kind === 'absent' ? Promise.resolve() : this.index.changed(id, (r) => !r.State?.Running, call) };
  }

  /** Stops each container at once; resolves when Docker has stopped them all, `recorded` when the index shows it. */
  private async stopAll(ids: string[], graceSeconds: number, call?: CallOptions): Promise<{ recorded: Promise<unknown> }> {
    const stops = await settleAll(ids.map((id) => this.stopContainer(id, graceSeconds, call)));
    return { recorded: Promise.all(stops.map((s) => s.recorded)) };
  }

  /** Removed, already gone or being removed by another call: gone all the same. */
  private async removeContainer(id: string, call?: CallOptions): Promise<void> {
    await this.docker.remove(id, call);
    this.index.forget(id);
  }

  /** Stops every container of the pod, tears its network down, stops the pause container. */
  async stop(idOrPrefix: string, call: CallOptions = {}): Promise<void> {
    const record = await this.lookup(idOrPrefix, call);
    if (!record) {
      // The pause container is gone; a checkpoint still says what network to release, and the
      // pod's own containers may still run.
      const orphan = await this.orphan(idOrPrefix);
      if (!orphan) return;
      const workloads = (await this.podContainers(orphan.id)).filter((c) => c.running);
      const stopped = await this.stopAll(workloads.map((c) => c.id), WORKLOAD_STOP_GRACE_SECONDS, call);
      await settleAll([this.tearDownNetwork(orphan.id, orphan.checkpoint), stopped.recorded]);
      return;
    }
    await this.stopSandbox(record, call);
  }

  /**
   * Kills the pod's containers (all at once) while its network is torn down and then its pause
   * container stopped. On Docker the pause container holds the pod's network namespace, so the
   * plugins undo their setup before it stops (cri-dockerd's order; it leaves the containers
   * running). The containers need not be gone first: containerd tears down after stopping them
   * only because its sandbox owns the netns apart from the pause process, and a pod's own
   * containers, killed with no grace, lose nothing by losing the network a moment early.
   */
  private async stopSandbox(record: ContainerRecord, call?: CallOptions): Promise<void> {
    const id = record.Id;
    const [workloads, checkpoint] = await settleAll([this.podContainers(id), this.deps.checkpoints.read(id)]);
    const stopped = this.stopAll(workloads.filter((c) => c.running).map((c) => c.id), WORKLOAD_STOP_GRACE_SECONDS, call);
    const pause = (async () => {
      await this.tearDownNetwork(id, checkpoint);
      // The index is as new as Docker's events: a pause container it shows stopped stays so.
      if (this.index.get(id)?.State?.Running ?? record.State?.Running) await (await this.stopContainer(id, PAUSE_STOP_GRACE_SECONDS, call)).recorded;
    })();
    await settleAll([pause, stopped.then((s) => s.recorded)]);
  }

  /** Removes every container of the pod, the pause container and the checkpoint. */
  async remove(idOrPrefix: string, call: CallOptions = {}): Promise<void> {
    const record = await this.lookup(idOrPrefix, call);
    const id = record?.Id ?? (await this.orphan(idOrPrefix))?.id ?? idOrPrefix;
    await this.removeSandbox(id, record, call);
  }

  /**
   * Sandboxes known only from their checkpoint: the pause container is gone (removed behind the
   * shim, or never made it), and nothing else would release the network the checkpoint names.
   */
  private async orphans(): Promise<Array<{ id: string; checkpoint: SandboxCheckpoint }>> {
    const out = [];
    for (const id of await this.deps.checkpoints.list()) {
      if (this.starting.has(id) || this.index.get(id) !== undefined) continue;
      const checkpoint = await this.deps.checkpoints.read(id);
      if (checkpoint) out.push({ id, checkpoint });
    }
    return out;
  }

  /** The checkpoint-only sandbox of a full id or unique prefix. */
  private async orphan(idOrPrefix: string): Promise<{ id: string; checkpoint: SandboxCheckpoint } | undefined> {
    const matches = (await this.orphans()).filter((o) => o.id.startsWith(idOrPrefix));
    if (matches.length > 1) throw notFound(`pod sandbox id prefix "${idOrPrefix}" is ambiguous (${matches.length} matches)`);
    return matches[0];
  }

  private async removeSandbox(id: string, record?: ContainerRecord, call?: CallOptions): Promise<void> {
    // Stop first so the network is torn down while the pause container still holds it.
    if (record?.State?.Running) await this.stopSandbox(record, call);
    const [workloads, checkpoint] = await settleAll([this.podContainers(id), this.deps.checkpoints.read(id)]);
    await settleAll([
      ...workloads.map((c) => this.removeContainer(c.id, call)),
      // Also when the pause container is gone, or was never stopped through us (crictl rmp, the
      // leftover of a crashed RunPodSandbox): a network still held is released here; a no-op
      // when StopPodSandbox already did it. The pause container is stopped by now.
      this.tearDownNetwork(id, checkpoint),
    ]);
    if (record) await this.removeContainer(id, call);
    await this.deps.checkpoints.remove(id);
  }

  // ---- PodSandboxStatus / ListPodSandbox ----

  async status(idOrPrefix: string, verbose: boolean, call?: CallOptions): Promise<PodSandboxStatusResponse> {
    if (!idOrPrefix) throw invalidArgument('pod_sandbox_id is empty');
    const record = await this.index.current(idOrPrefix, TYPE_SANDBOX, 'pod sandbox', call).catch(async (err: unknown) => {
      if (!(err instanceof CriError) || err.code !== Code.NOT_FOUND || /ambiguous/.test(err.message)) throw err;
      return (await this.orphan(idOrPrefix)) ?? Promise.reject(err);
    });
    if ('checkpoint' in record) {
      const info: Record<string, string> = verbose ? { info: JSON.stringify({ pauseContainer: 'gone', checkpoint: record.checkpoint }) } : {};
      return { status: checkpointPodSandboxStatus(record.id, record.checkpoint), info, containers_statuses: await this.containerStatuses(record.id, call), timestamp: nowNs() };
    }
    const status = toPodSandboxStatus(record, await this.networkStatus(record));
    if (!status) throw notFound(`pod sandbox "${idOrPrefix}" not found`);
    const checkpoint = verbose ? await this.deps.checkpoints.read(record.Id) : undefined;
    const info = verbose ? sandboxVerboseInfo(record, checkpoint ?? null) : {};
    if (verbose) {
      const check = await this.networkCheck(record, checkpoint, call);
      if (check !== undefined) info.networkCheck = check;
    }
    return { status, info, containers_statuses: await this.containerStatuses(record.Id, call), timestamp: nowNs() };
  }

  /**
   * Status of every workload container of the pod (the kubelet's evented PLEG reads them), from
   * the index records alone: no Docker call per container, so no process user is reported.
   */
  private async containerStatuses(sandboxId: string, call?: CallOptions): Promise<ContainerStatus[]> {
    const out: ContainerStatus[] = [];
    for (const record of await this.index.inSandbox(sandboxId, call)) {
      const status = toContainerStatus(record, null);
      if (status) out.push(status);
    }
    return newestFirst(out);
  }

  /** Sandboxes matching the filter (id or id prefix, state, label selector), from the index. */
  async list(filter: PodSandboxFilter__Output | null, call?: CallOptions): Promise<PodSandbox[]> {
    const out: PodSandbox[] = [];
    for (const record of await this.index.all(call)) {
      if (record.Config?.Labels?.[LABEL_TYPE] !== TYPE_SANDBOX) continue;
      if (filter?.id && !record.Id.startsWith(filter.id)) continue;
      const sandbox = toPodSandbox(record);
      if (!sandbox) continue;
      if (filter?.state && sandbox.state !== filter.state.state) continue;
      if (!matchesSelector(sandbox.labels ?? {}, filter?.label_selector)) continue;
      out.push(sandbox);
    }
    for (const { id, checkpoint } of await this.orphans()) {
      if (filter?.id && !id.startsWith(filter.id)) continue;
      if (filter?.state && filter.state.state !== 'SANDBOX_NOTREADY') continue;
      if (!matchesSelector({}, filter?.label_selector)) continue;
      out.push(checkpointPodSandbox(id, checkpoint));
    }
    return out;
  }
}
