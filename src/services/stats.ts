// Container and pod stats and metrics, read from the cgroup filesystem and /proc for the
// containers in the index: a List call costs no Docker request and a few file reads per container.
import type { CallOptions, Engine } from '../docker/engine.js';
import { fromDockerLabels, LABEL_SANDBOX_ID, matchesSelector, TYPE_CONTAINER, TYPE_SANDBOX, LABEL_TYPE } from '../docker/labels.js';
import { parseName } from '../docker/naming.js';
import { dockerTimeToNs } from '../docker/sandbox-status.js';
import type { ContainerStats } from '../generated/runtime/v1/ContainerStats.js';
import type { ContainerStatsFilter__Output } from '../generated/runtime/v1/ContainerStatsFilter.js';
import type { CpuUsage } from '../generated/runtime/v1/CpuUsage.js';
import type { FilesystemUsage } from '../generated/runtime/v1/FilesystemUsage.js';
import type { MemoryUsage } from '../generated/runtime/v1/MemoryUsage.js';
import type { MetricDescriptor } from '../generated/runtime/v1/MetricDescriptor.js';
import type { NetworkUsage } from '../generated/runtime/v1/NetworkUsage.js';
import type { PodSandboxMetrics } from '../generated/runtime/v1/PodSandboxMetrics.js';
import type { PodSandboxStats } from '../generated/runtime/v1/PodSandboxStats.js';
import type { PodSandboxStatsFilter__Output } from '../generated/runtime/v1/PodSandboxStatsFilter.js';
import type { SwapUsage } from '../generated/runtime/v1/SwapUsage.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';
import type { CgroupSample, InterfaceCounters } from '../stats/cgroup-parse.js';
import { parseNetDev } from '../stats/cgroup-parse.js';
import { CgroupReader, parentDirs, readOptional, type CgroupDirs } from '../stats/cgroup.js';
import { CpuRateTracker } from '../stats/cpu-rate.js';
import { WritableLayerUsage } from '../stats/fs-usage.js';
import { MetricWriter, metricDescriptors, type BaseLabels } from '../stats/cadvisor-metrics.js';

/** The interface the kubelet treats as the pod's (its network.DefaultInterfaceName). */
const DEFAULT_INTERFACE = 'eth0';

/** One collection's clock: every figure of a response carries the same timestamp. */
interface Clock {
  ns: number;
  wire: string;
}

function now(): Clock {
  const ns = Math.round((performance.timeOrigin + performance.now()) * 1e6);
  return { ns, wire: BigInt(ns).toString() };
}

const u64 = (value: number) => ({ value: Math.max(0, Math.round(value)) });

const isRunning = (r: ContainerRecord) => Boolean(r.State?.Running);
const kindOf = (r: ContainerRecord) => r.Config?.Labels?.[LABEL_TYPE];

export class StatsService {
  readonly cgroups: CgroupReader;
  private readonly cpuRates = new CpuRateTracker();
  private readonly layers = new WritableLayerUsage();
  /** Per container id, the cgroup found from its init pid (re-resolved when the pid changes). */
  private readonly dirs = new Map<string, { pid: number; dirs: CgroupDirs | undefined }>();

  constructor(
    private readonly docker: Engine,
    private readonly index: ContainerIndex,
    cgroups?: CgroupReader,
  ) {
    this.cgroups = cgroups ?? new CgroupReader();
    index.on('removed', (id) => this.forget(id));
  }

  get cgroupVersion(): string {
    return this.cgroups.version;
  }

  /** Entries kept per container; for leak checks. */
  get trackedEntries(): number {
    return this.dirs.size + this.cpuRates.size + this.layers.size;
  }

  async containerStats(containerId: string, call?: CallOptions): Promise<ContainerStats> {
    const record = await this.index.current(containerId, TYPE_CONTAINER, 'container', call);
    return this.statsOf(record, now(), call);
  }

  async listContainerStats(filter: ContainerStatsFilter__Output | null, call?: CallOptions): Promise<ContainerStats[]> {
    const clock = now();
    const records = (await this.index.all(call)).filter(
      (r) =>
        kindOf(r) === TYPE_CONTAINER &&
        isRunning(r) &&
        (!filter?.id || r.Id.startsWith(filter.id)) &&
        (!filter?.pod_sandbox_id || (r.Config?.Labels?.[LABEL_SANDBOX_ID] ?? '').startsWith(filter.pod_sandbox_id)) &&
        matchesSelector(fromDockerLabels(r.Config?.Labels).labels, filter?.label_selector),
    );
    return Promise.all(records.map((r) => this.statsOf(r, clock, call)));
  }

  async podSandboxStats(sandboxId: string, call?: CallOptions): Promise<PodSandboxStats> {
    const sandbox = await this.index.current(sandboxId, TYPE_SANDBOX, 'pod sandbox', call);
    return this.podStatsOf(sandbox, this.containersOf(await this.index.all(call), sandbox.Id), now(), call);
  }

  async listPodSandboxStats(filter: PodSandboxStatsFilter__Output | null, call?: CallOptions): Promise<PodSandboxStats[]> {
    const clock = now();
    const all = await this.index.all(call);
    const sandboxes = all.filter(
      (r) =>
        kindOf(r) === TYPE_SANDBOX &&
        isRunning(r) &&
        (!filter?.id || r.Id.startsWith(filter.id)) &&
        matchesSelector(fromDockerLabels(r.Config?.Labels).labels, filter?.label_selector),
    );
    return Promise.all(sandboxes.map((s) => this.podStatsOf(s, this.containersOf(all, s.Id), clock, call)));
  }

  metricDescriptors(): MetricDescriptor[] {
    return metricDescriptors();
  }

  async listPodSandboxMetrics(call?: CallOptions): Promise<PodSandboxMetrics[]> {
    const clock = now();
    const all = await this.index.all(call);
    const device = await this.dockerRootDir(call);
    const out: PodSandboxMetrics[] = [];
    for (const sandbox of all.filter((r) => kindOf(r) === TYPE_SANDBOX && isRunning(r))) {
      const pod = parseName(sandbox.Name);
      if (!pod) continue;
      const podLabels = (container: string, r: ContainerRecord): BaseLabels => ({
        container,
        id: r.Id,
        image: r.Config?.Image ?? '',
        name: r.Name.replace(/^\//, ''),
        namespace: pod.podNamespace,
        pod: pod.podName,
      });
      // The pod's network and its pause container's usage, under cAdvisor's container="POD".
      const podWriter = new MetricWriter(podLabels('POD', sandbox));
      const pauseSample = this.sample(sandbox, 'metrics');
      if (pauseSample) podWriter.cgroup(pauseSample);
      podWriter.network(this.podNetwork(sandbox) ?? []);
      podWriter.lastSeen(clock.ns / 1e6);
      const containers = [];
      for (const c of this.containersOf(all, sandbox.Id)) {
        const w = new MetricWriter(podLabels(parseName(c.Name)?.containerName ?? '', c));
        const s = this.sample(c, 'metrics');
        if (s) w.cgroup(s);
        const fs = await this.layerUsage(c, call);
        if (fs) w.filesystem(device, fs.bytes, fs.inodes);
        w.lastSeen(clock.ns / 1e6);
        containers.push({ container_id: c.Id, metrics: w.out });
      }
      out.push({ pod_sandbox_id: sandbox.Id, metrics: podWriter.out, container_metrics: containers });
    }
    return out;
  }

  private containersOf(all: ContainerRecord[], sandboxId: string): ContainerRecord[] {
    return all.filter((r) => kindOf(r) === TYPE_CONTAINER && isRunning(r) && r.Config?.Labels?.[LABEL_SANDBOX_ID] === sandboxId);
  }

  /** `sample`: the container's cgroup already read by the caller (pod stats read each one once). */
  private async statsOf(record: ContainerRecord, clock: Clock, call?: CallOptions, sample = isRunning(record) ? this.sample(record) : undefined): Promise<ContainerStats> {
    const parsed = parseName(record.Name);
    const { labels, annotations } = fromDockerLabels(record.Config?.Labels);
    const stats: ContainerStats = {
      attributes: {
        id: record.Id,
        metadata: { name: parsed?.containerName ?? '', attempt: parsed?.attempt ?? 0 },
        labels,
        annotations,
      },
    };
    if (sample) {
      stats.cpu = this.cpuUsage(record.Id, sample, clock, startedNs(record));
      stats.memory = memoryUsage(sample, clock);
      stats.swap = swapUsage(sample, clock);
    }
    stats.writable_layer = await this.writableLayer(record, call);
    return stats;
  }

  private async podStatsOf(sandbox: ContainerRecord, containers: ContainerRecord[], clock: Clock, call?: CallOptions): Promise<PodSandboxStats> {
    const parsed = parseName(sandbox.Name);
    const { labels, annotations } = fromDockerLabels(sandbox.Config?.Labels);
    const samples = new Map(containers.map((c) => [c.Id, this.sample(c)]));
    const containerStats = await Promise.all(containers.map((c) => this.statsOf(c, clock, call, samples.get(c.Id))));
    const stats: PodSandboxStats = {
      attributes: {
        id: sandbox.Id,
        metadata: {
          name: parsed?.podName ?? '',
          namespace: parsed?.podNamespace ?? '',
          uid: parsed?.podUid ?? '',
          attempt: parsed?.attempt ?? 0,
        },
        labels,
        annotations,
      },
      linux: { containers: containerStats },
    };
    const sample = isRunning(sandbox) ? this.podSample(sandbox, [...samples.values()]) : undefined;
    if (sample && stats.linux) {
      stats.linux.cpu = this.cpuUsage(`pod:${sandbox.Id}`, sample, clock, startedNs(sandbox));
      stats.linux.memory = memoryUsage(sample, clock);
      if (sample.pids !== undefined) stats.linux.process = { timestamp: clock.wire, process_count: u64(sample.pids) };
    }
    const net = this.podNetwork(sandbox);
    if (net && stats.linux) stats.linux.network = networkUsage(net, clock);
    return stats;
  }

  /**
   * The pod's usage. When the kubelet gave the pod its own cgroup parent, that cgroup holds every
   * container of the pod (and keeps counting what exited containers used, so cumulative CPU never
   * goes backwards); otherwise the pod is the sum of its running containers.
   */
  private podSample(sandbox: ContainerRecord, containerSamples: (CgroupSample | undefined)[]): CgroupSample | undefined {
    const pause = this.dirsOf(sandbox);
    if (pause && sandbox.HostConfig?.CgroupParent) {
      const pod = this.cgroups.read(parentDirs(pause));
      if (pod) return pod;
    }
    const samples = [this.sample(sandbox), ...containerSamples].filter((s): s is CgroupSample => s !== undefined);
    return samples.length ? sumSamples(samples) : undefined;
  }

  /** Interfaces of the pod's network namespace; none for host-network pods (those are the node's). */
  private podNetwork(sandbox: ContainerRecord): InterfaceCounters[] | undefined {
    if (sandbox.HostConfig?.NetworkMode === 'host' || !sandbox.State?.Pid) return undefined;
    const text = readOptional(`/proc/${sandbox.State.Pid}/net/dev`);
    return text === undefined ? undefined : parseNetDev(text);
  }

  private sample(record: ContainerRecord, detail: 'stats' | 'metrics' = 'stats'): CgroupSample | undefined {
    const dirs = this.dirsOf(record);
    return dirs ? this.cgroups.read(dirs, detail) : undefined;
  }

  private dirsOf(record: ContainerRecord): CgroupDirs | undefined {
    const pid = record.State?.Pid ?? 0;
    if (!pid) return undefined;
    const cached = this.dirs.get(record.Id);
    if (cached && cached.pid === pid && cached.dirs) return cached.dirs;
    const dirs = this.cgroups.dirsOfPid(pid);
    this.dirs.set(record.Id, { pid, dirs });
    return dirs;
  }

  private cpuUsage(key: string, s: CgroupSample, clock: Clock, startedAtNs: number | undefined): CpuUsage {
    return {
      timestamp: clock.wire,
      usage_core_nano_seconds: u64(s.cpu.usageNs),
      usage_nano_cores: u64(this.cpuRates.rate(key, s.cpu.usageNs, clock.ns, startedAtNs)),
    };
  }

  private async layerUsage(record: ContainerRecord, call?: CallOptions) {
    // overlay2 (and fuse-overlayfs) name the writable layer UpperDir; the typings predate it.
    const upper = (record.GraphDriver?.Data as { UpperDir?: string } | undefined)?.UpperDir;
    return upper ? this.layers.get(record.Id, upper, call?.signal) : undefined;
  }

  private async writableLayer(record: ContainerRecord, call?: CallOptions): Promise<FilesystemUsage | undefined> {
    const usage = await this.layerUsage(record, call);
    if (!usage) return undefined;
    return {
      timestamp: String(BigInt(Math.round(usage.atNs))),
      fs_id: { mountpoint: await this.dockerRootDir(call) },
      used_bytes: u64(usage.bytes),
      inodes_used: u64(usage.inodes),
    };
  }

  /** The filesystem writable layers live on: Docker's root directory, as ImageFsInfo reports it. */
  private async dockerRootDir(call?: CallOptions): Promise<string> {
    return (await this.docker.info(call)).DockerRootDir ?? '/var/lib/docker';
  }

  private forget(id: string): void {
    this.dirs.delete(id);
    this.cpuRates.forget(id);
    this.cpuRates.forget(`pod:${id}`);
    this.layers.forget(id);
  }
}

function startedNs(record: ContainerRecord): number | undefined {
  const ns = Number(dockerTimeToNs(record.State?.StartedAt));
  return ns > 0 ? ns : undefined;
}

function memoryUsage(s: CgroupSample, clock: Clock): MemoryUsage {
  const m = s.memory;
  const out: MemoryUsage = {
    timestamp: clock.wire,
    working_set_bytes: u64(m.workingSet),
    usage_bytes: u64(m.usage),
    rss_bytes: u64(m.rss),
    page_faults: u64(m.pageFaults),
    major_page_faults: u64(m.majorPageFaults),
  };
  if (m.limit !== undefined) out.available_bytes = u64(m.limit - m.workingSet);
  return out;
}

function swapUsage(s: CgroupSample, clock: Clock): SwapUsage {
  const out: SwapUsage = { timestamp: clock.wire, swap_usage_bytes: u64(s.memory.swap) };
  if (s.memory.swapLimit !== undefined) out.swap_available_bytes = u64(s.memory.swapLimit - s.memory.swap);
  return out;
}

function networkUsage(interfaces: InterfaceCounters[], clock: Clock): NetworkUsage {
  const toUsage = (i: InterfaceCounters) => ({
    name: i.name,
    rx_bytes: u64(i.rxBytes),
    rx_errors: u64(i.rxErrors),
    tx_bytes: u64(i.txBytes),
    tx_errors: u64(i.txErrors),
  });
  const def = interfaces.find((i) => i.name === DEFAULT_INTERFACE) ?? interfaces[0];
  return {
    timestamp: clock.wire,
    default_interface: def ? toUsage(def) : undefined,
    interfaces: interfaces.filter((i) => i !== def).map(toUsage),
  };
}

/** A pod without a cgroup of its own: the sum of its containers (limits summed only when all have one). */
export function sumSamples(samples: CgroupSample[]): CgroupSample {
  const sum = (f: (s: CgroupSample) => number) => samples.reduce((acc, s) => acc + f(s), 0);
  const sumLimit = (f: (s: CgroupSample) => number | undefined) =>
    samples.every((s) => f(s) !== undefined) ? sum((s) => f(s) ?? 0) : undefined;
  return {
    cpu: {
      usageNs: sum((s) => s.cpu.usageNs),
      userNs: sum((s) => s.cpu.userNs),
      systemNs: sum((s) => s.cpu.systemNs),
      periods: sum((s) => s.cpu.periods),
      throttledPeriods: sum((s) => s.cpu.throttledPeriods),
      throttledNs: sum((s) => s.cpu.throttledNs),
    },
    memory: {
      usage: sum((s) => s.memory.usage),
      workingSet: sum((s) => s.memory.workingSet),
      rss: sum((s) => s.memory.rss),
      cache: sum((s) => s.memory.cache),
      mappedFile: sum((s) => s.memory.mappedFile),
      swap: sum((s) => s.memory.swap),
      pageFaults: sum((s) => s.memory.pageFaults),
      majorPageFaults: sum((s) => s.memory.majorPageFaults),
      limit: sumLimit((s) => s.memory.limit),
      swapLimit: sumLimit((s) => s.memory.swapLimit),
      failcnt: sum((s) => s.memory.failcnt),
      oomKills: sum((s) => s.memory.oomKills),
    },
    pids: samples.some((s) => s.pids !== undefined) ? sum((s) => s.pids ?? 0) : undefined,
  };
}
