// UpdateContainerResources and UpdatePodSandboxResources (the kubelet's in-place pod resize).
// CPU shares/quota/period, cpusets and memory (+swap) go through Docker's container update, so
// `docker inspect` agrees with the cgroup. Docker has no update for the rest; of those:
//  - oom_score_adj (the kubelet recomputes it when a memory request changes) is written to the
//    container's live processes, clamped to what this host allows; Docker's record keeps the
//    creation value, which only matters if Docker itself restarted the container;
//  - unified (cgroup v2 files, memory.swap.max through Docker's swap where it can) and hugepage
//    limits are written into the running container's cgroup (docker/resource-limits.ts plans
//    them as at create). What this host cannot take is a warning in the log and in verbose
//    ContainerStatus, never a refused resize.
//  - a pod sandbox's unified and hugepage fields are the pod cgroup's, which the kubelet has
//    already written itself; the pause container takes only Docker's fields.
import { writeFileSync } from 'node:fs';
import type { HostConfig } from '../docker/engine.js';
import type { CallOptions, Engine } from '../docker/engine.js';
import { clampOomScoreAdj } from '../docker/host-limits.js';
import { cgroupPlan } from '../docker/resource-limits.js';
import { TYPE_CONTAINER, TYPE_SANDBOX } from '../docker/labels.js';
import { failedPrecondition, internal, invalidArgument } from '../errors.js';
import type { ContainerWarnings } from '../store/container-warnings.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { UpdateContainerResourcesRequest__Output } from '../generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdatePodSandboxResourcesRequest__Output } from '../generated/runtime/v1/UpdatePodSandboxResourcesRequest.js';
import type { Logger } from '../logger.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';
import { applyCgroupWrites, procsOf, type CgroupReader } from '../stats/cgroup.js';

/** The fields of Docker's POST /containers/{id}/update this shim sets. */
export type DockerUpdate = Pick<
  HostConfig,
  'CpuShares' | 'CpuPeriod' | 'CpuQuota' | 'CpusetCpus' | 'CpusetMems' | 'Memory' | 'MemorySwap'
>;

const num = (v: string | number | undefined): number => Number(v ?? 0);

/**
 * Docker's update for the CPU and memory fields that are set (0 / "" means "not specified" in
 * the CRI). Swap follows memory as at create time: equal to it (no swap) unless asked, or
 * `memorySwap` when unified memory.swap.max set it. Throws InvalidArgument naming a bad field.
 */
export function dockerUpdateOf(r: LinuxContainerResources__Output, where: string, memorySwap?: number): DockerUpdate {
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
    out.MemorySwap = memorySwap ?? (swap > 0 ? swap : memory);
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
    private readonly warnings: ContainerWarnings,
    private readonly logger: Logger,
  ) {}

  async updateContainer(req: UpdateContainerResourcesRequest__Output, call: CallOptions = {}): Promise<void> {
    const record = await this.index.resolve(req.container_id, TYPE_CONTAINER, 'container', call);
    if (req.windows) throw invalidArgument('windows: Windows resources on a Linux container');
    if (!req.linux) return;
    const r = req.linux;
    const plan = cgroupPlan(r, 'linux', this.cgroups.version, num(r.memory_limit_in_bytes));
    await this.apply(record, dockerUpdateOf(r, 'linux', plan.memorySwap), call);
    if (num(r.oom_score_adj)) this.applyOomScoreAdj(record, num(r.oom_score_adj));
    const warnings = [...plan.warnings];
    if (plan.writes.length > 0) {
      // After Docker's update, which rewrites memory.swap.max from MemorySwap on cgroup v2.
      const dirs = record.State?.Running ? this.cgroups.dirsOfPid(record.State.Pid ?? 0) : undefined;
      if (dirs) warnings.push(...applyCgroupWrites(dirs, plan.writes));
      else warnings.push(...plan.writes.filter((w) => !w.optional).map((w) => `linux: ${w.file} = "${w.value}" not applied: container ${record.Id} is not running`));
    }
    for (const warning of warnings) this.logger.warn({ id: record.Id, warning }, 'a resource update this host cannot honour was not applied');
    this.warnings.add(record.Id, warnings);
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
