// UpdateContainerResources and UpdatePodSandboxResources (the kubelet's in-place pod resize).
// CPU shares/quota/period, cpusets and memory (+swap) go through Docker's container update, so
// `docker inspect` agrees with the cgroup. Docker has no update for the rest; of those:
//  - oom_score_adj (the kubelet recomputes it when a memory request changes) is written to the
//    container's live processes, clamped to what this host allows; Docker's record keeps the
//    creation value, which only matters if Docker itself restarted the container;
//  - unified (cgroup v2 files) is written into the container's cgroup, on cgroup v2 hosts only;
//  - hugepage limits cannot be set at all: a non-zero one is InvalidArgument. Zero is what the
//    kubelet sends for every page size a pod does not ask for, and matches what Docker applies.
import { writeFileSync } from 'node:fs';
import type { HostConfig } from '../docker/engine.js';
import type { CallOptions, Engine } from '../docker/engine.js';
import { clampOomScoreAdj } from '../docker/host-limits.js';
import { refuseHugepageLimits } from '../docker/resource-limits.js';
import { TYPE_CONTAINER, TYPE_SANDBOX } from '../docker/labels.js';
import { failedPrecondition, internal, invalidArgument } from '../errors.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { UpdateContainerResourcesRequest__Output } from '../generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdatePodSandboxResourcesRequest__Output } from '../generated/runtime/v1/UpdatePodSandboxResourcesRequest.js';
import type { Logger } from '../logger.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';
import { hasV2File, procsOf, writeV2File, type CgroupReader } from '../stats/cgroup.js';

/** The fields of Docker's POST /containers/{id}/update this shim sets. */
export type DockerUpdate = Pick<
  HostConfig,
  'CpuShares' | 'CpuPeriod' | 'CpuQuota' | 'CpusetCpus' | 'CpusetMems' | 'Memory' | 'MemorySwap'
>;

const num = (v: string | number | undefined): number => Number(v ?? 0);

/**
 * Docker's update for the CPU and memory fields that are set (0 / "" means "not specified" in
 * the CRI). Swap follows memory as at create time: equal to it (no swap) unless asked.
 * Throws InvalidArgument, naming the field, for what neither Docker nor the shim can apply.
 */
export function dockerUpdateOf(r: LinuxContainerResources__Output, where: string): DockerUpdate {
  refuseHugepageLimits(r, where);
  const out: DockerUpdate = {};
  const shares = num(r.cpu_shares);
  const period = num(r.cpu_period);
  const quota = num(r.cpu_quota);
  const memory = num(r.memory_limit_in_bytes);
  const swap = num(r.memory_swap_limit_in_bytes);
  if (shares < 0) throw invalidArgument(`${where}.cpu_shares must not be negative (got ${shares})`);
  if (period < 0) throw invalidArgument(`${where}.cpu_period must not be negative (got ${period})`);
  if (memory < 0) throw invalidArgument(`${where}.memory_limit_in_bytes must not be negative (got ${memory})`);
  if (shares) out.CpuShares = shares;
  if (period) out.CpuPeriod = period;
  // -1 is meaningful: no quota (a resize that removes the CPU limit).
  if (quota) out.CpuQuota = quota;
  if (r.cpuset_cpus) out.CpusetCpus = r.cpuset_cpus;
  if (r.cpuset_mems) out.CpusetMems = r.cpuset_mems;
  if (memory) {
    out.Memory = memory;
    out.MemorySwap = swap > 0 ? swap : memory;
  } else if (swap) {
    out.MemorySwap = swap;
  }
  return out;
}

export class ResourcesService {
  constructor(
    private readonly docker: Engine,
    private readonly index: ContainerIndex,
    private readonly cgroups: CgroupReader,
    private readonly logger: Logger,
  ) {}

  async updateContainer(req: UpdateContainerResourcesRequest__Output, call: CallOptions = {}): Promise<void> {
    const record = await this.index.resolve(req.container_id, TYPE_CONTAINER, 'container', call);
    if (req.windows) throw invalidArgument('windows: Windows resources on a Linux container');
    if (!req.linux) return;
    const r = req.linux;
    const update = dockerUpdateOf(r, 'linux');
    const unified = Object.entries(r.unified ?? {});
    if (unified.length) this.checkUnified(record, unified, 'linux');
    await this.apply(record, update, call);
    if (num(r.oom_score_adj)) this.applyOomScoreAdj(record, num(r.oom_score_adj));
    for (const [key, value] of unified) this.writeUnified(record, key, value);
    await this.index.refresh(record.Id, call);
  }

  /**
   * Called after the kubelet resized the pod's cgroup itself; the pause container gets the pod's
   * CPU and memory settings so Docker's view of the pod matches. The overhead is already in the
   * pod cgroup the kubelet sized; it is validated, not applied twice.
   */
  async updateSandbox(req: UpdatePodSandboxResourcesRequest__Output, call: CallOptions = {}): Promise<void> {
    const sandbox = await this.index.resolve(req.pod_sandbox_id, TYPE_SANDBOX, 'pod sandbox', call);
    if (req.overhead) dockerUpdateOf(req.overhead, 'overhead');
    if (!req.resources) return;
    await this.apply(sandbox, dockerUpdateOf(req.resources, 'resources'), call);
    await this.index.refresh(sandbox.Id, call);
  }

  private async apply(record: ContainerRecord, update: DockerUpdate, call?: CallOptions): Promise<void> {
    if (Object.keys(update).length === 0) return;
    const res = await this.docker.update(record.Id, update as Record<string, unknown>, call);
    for (const w of res?.Warnings ?? []) this.logger.warn({ id: record.Id, warning: w }, 'Docker warned about a resource update');
  }

  private liveDirs(record: ContainerRecord, field: string) {
    const dirs = record.State?.Running ? this.cgroups.dirsOfPid(record.State.Pid ?? 0) : undefined;
    if (!dirs) throw failedPrecondition(`${field}: container ${record.Id} is not running, and Docker cannot store this field`);
    return dirs;
  }

  private checkUnified(record: ContainerRecord, entries: [string, string][], where: string): void {
    if (this.cgroups.version !== 'v2') {
      throw invalidArgument(`${where}.unified["${entries[0][0]}"]: unified resources need cgroup v2; this host runs cgroup v1`);
    }
    const dirs = this.liveDirs(record, `${where}.unified`);
    for (const [key] of entries) {
      if (!hasV2File(dirs, key)) throw invalidArgument(`${where}.unified["${key}"]: no such cgroup v2 file for this container`);
    }
  }

  private writeUnified(record: ContainerRecord, key: string, value: string): void {
    const dirs = this.liveDirs(record, 'linux.unified');
    if (dirs.version !== 'v2') throw invalidArgument('linux.unified: unified resources need cgroup v2');
    try {
      writeV2File(dirs, key, value);
    } catch (err) {
      throw invalidArgument(`linux.unified["${key}"] = "${value}": ${(err as Error).message}`);
    }
  }

  private applyOomScoreAdj(record: ContainerRecord, wanted: number): void {
    const value = clampOomScoreAdj(wanted, this.logger);
    // A container that is not running will start with Docker's value: fine when it is this one.
    if (!record.State?.Running && value === (record.HostConfig?.OomScoreAdj ?? 0)) return;
    for (const pid of procsOf(this.liveDirs(record, 'linux.oom_score_adj'))) {
      try {
        writeFileSync(`/proc/${pid}/oom_score_adj`, String(value));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ESRCH') continue; // exited meanwhile
        throw internal(`linux.oom_score_adj: could not set ${value} on process ${pid} of ${record.Id}: ${(err as Error).message}`);
      }
    }
  }
}
