// UpdateContainerResources / UpdatePodSandboxResources against the real dockerd: checked in
// Docker's inspect record, in the container's cgroup files and in ContainerStatus.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { dockerInspect, PodFixture } from '../helpers/containers.js';
import { startShim, type RunningShim } from '../helpers/shim.js';
import { expectLogShows } from '../helpers/log-wait.js';

const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait'];
const MiB = 1024 * 1024;

interface Hc {
  CpuShares: number;
  CpuQuota: number;
  CpuPeriod: number;
  CpusetCpus: string;
  Memory: number;
  MemorySwap: number;
}
const hostConfig = (id: string) => dockerInspect(id).HostConfig as unknown as Hc;

/** A cgroup file of the container's init process, v1 (per controller) or v2 (one directory). */
function cgroupFile(id: string, controller: string, v1File: string, v2File: string): string {
  const pid = dockerInspect(id).State.Pid;
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const v1 = new RegExp(`^\\d+:(?:[^:]*,)?${controller}(?:,[^:]*)?:(.*)$`, 'm').exec(lines);
  if (v1) return readFileSync(`/sys/fs/cgroup/${controller}${v1[1]}/${v1File}`, 'utf8').trim();
  const v2 = /^0::(.*)$/m.exec(lines)!;
  return readFileSync(`/sys/fs/cgroup${v2[1]}/${v2File}`, 'utf8').trim();
}

const isV2 = () => !readFileSync('/proc/self/cgroup', 'utf8').split('\n').some((l) => /^\d+:memory:/.test(l));

describe('resource updates against dockerd', () => {
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);
  let pod: Awaited<ReturnType<PodFixture['pod']>>;
  let id: string;

  beforeAll(async () => {
    shim = await startShim();
    pod = await fx.pod('res');
    id = await fx.run(
      pod,
      fx.containerConfig('res', {
        command: SLEEPER,
        linux: { resources: { cpu_shares: 256, memory_limit_in_bytes: 128 * MiB, oom_score_adj: 100 } },
      }),
    );
  });
  afterAll(async () => {
    await fx.cleanup();
    await shim?.stop();
  });

  it('changes CPU and memory in Docker, in the cgroup and in ContainerStatus', async () => {
    await shim.client.rt('UpdateContainerResources', {
      container_id: id,
      linux: { cpu_shares: 512, cpu_period: 100000, cpu_quota: 50000, memory_limit_in_bytes: 64 * MiB, cpuset_cpus: '0' },
    });
    const hc = hostConfig(id);
    expect(hc).toMatchObject({ CpuShares: 512, CpuPeriod: 100000, CpuQuota: 50000, Memory: 64 * MiB, MemorySwap: 64 * MiB, CpusetCpus: '0' });
    if (isV2()) {
      expect(cgroupFile(id, 'cpu', '', 'cpu.max')).toBe('50000 100000');
      expect(cgroupFile(id, 'memory', '', 'memory.max')).toBe(String(64 * MiB));
    } else {
      expect(cgroupFile(id, 'cpu', 'cpu.shares', '')).toBe('512');
      expect(cgroupFile(id, 'cpu', 'cpu.cfs_quota_us', '')).toBe('50000');
      expect(cgroupFile(id, 'cpu', 'cpu.cfs_period_us', '')).toBe('100000');
      expect(cgroupFile(id, 'memory', 'memory.limit_in_bytes', '')).toBe(String(64 * MiB));
      expect(cgroupFile(id, 'cpuset', 'cpuset.cpus', '')).toBe('0');
    }
    const st = (await shim.client.rt('ContainerStatus', { container_id: id, verbose: false })).status!;
    expect(st.resources!.linux).toMatchObject({ cpu_shares: '512', cpu_quota: '50000', cpu_period: '100000', memory_limit_in_bytes: String(64 * MiB) });
    // The kubelet's ContainerStats sees the new limit at once (available = limit - working set).
    const stats = (await shim.client.rt('ContainerStats', { container_id: id })).stats!;
    expect(Number(stats.memory!.available_bytes!.value)).toBeLessThanOrEqual(64 * MiB);
  });

  it('a quota of -1 lifts the CPU limit; fields left at 0 keep their value', async () => {
    await shim.client.rt('UpdateContainerResources', { container_id: id, linux: { cpu_quota: -1 } });
    const hc = hostConfig(id);
    expect(hc.CpuQuota).toBe(-1);
    expect(hc.CpuShares).toBe(512);
    expect(hc.Memory).toBe(64 * MiB);
    if (!isV2()) expect(cgroupFile(id, 'cpu', 'cpu.cfs_quota_us', '')).toBe('-1');
  });

  it('oom_score_adj reaches the running processes (Docker cannot update it) and ContainerStatus', async () => {
    await shim.client.rt('UpdateContainerResources', { container_id: id, linux: { oom_score_adj: 700 } });
    const pid = dockerInspect(id).State.Pid;
    expect(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim()).toBe('700');
    // Docker's record still holds the creation value (100): the status must not report that.
    const st = (await shim.client.rt('ContainerStatus', { container_id: id, verbose: false })).status!;
    expect(st.resources!.linux!.oom_score_adj).toBe('700');
  });

  it('takes the kubelet\'s hugepage and unified fields: applied where the host can, else warnings in verbose status, never refused', async () => {
    const verboseWarnings = async () =>
      ((JSON.parse((await shim.client.rt('ContainerStatus', { container_id: id, verbose: true })).info.info) as { warnings?: string[] }).warnings ?? []);
    const before = await verboseWarnings();
    // Zero limits are what the kubelet sends for page sizes a pod does not use: quiet everywhere.
    await shim.client.rt('UpdateContainerResources', { container_id: id, linux: { hugepage_limits: [{ page_size: '2MB', limit: 0 }] } });
    expect(await verboseWarnings()).toEqual(before);
    const hugetlb = readFileSync(`/proc/${dockerInspect(id).State.Pid}/cgroup`, 'utf8').includes('hugetlb:') || isV2();
    await shim.client.rt('UpdateContainerResources', { container_id: id, linux: { hugepage_limits: [{ page_size: '2MB', limit: 2 * MiB }] } });
    if (hugetlb && isV2()) expect(cgroupFile(id, 'hugetlb', '', 'hugetlb.2MB.max')).toBe(String(2 * MiB));
    if (!hugetlb) expect((await verboseWarnings()).at(-1)).toMatch(/hugetlb\.2MB\..* not applied: the container's cgroup has no such file/);
    // What a kubelet sends on cgroup v2 (calculateLinuxResources, ConfigureNoSwap).
    await shim.client.rt('UpdateContainerResources', { container_id: id, linux: { unified: { 'memory.oom.group': '1', 'memory.high': String(48 * MiB) } } });
    if (!isV2()) {
      expect((await verboseWarnings()).slice(-2)).toEqual([
        'linux.unified["memory.oom.group"] = "1" not applied: unified resources need cgroup v2 and this host runs cgroup v1',
        `linux.unified["memory.high"] = "${48 * MiB}" not applied: unified resources need cgroup v2 and this host runs cgroup v1`,
      ]);
      await expectLogShows(() => shim.logs(), 'a resource update this host cannot honour was not applied');
    } else {
      expect(cgroupFile(id, 'memory', '', 'memory.high')).toBe(String(48 * MiB));
      expect(cgroupFile(id, 'memory', '', 'memory.oom.group')).toBe('1');
    }
    const bad = await expectCode(shim.client.rt('UpdateContainerResources', { container_id: id, linux: { unified: { '../cgroup.procs': '1' } } }), status.INVALID_ARGUMENT);
    expect(bad.details).toContain('unified["../cgroup.procs"]');
    await expectCode(shim.client.rt('UpdateContainerResources', { container_id: id, linux: { cpu_shares: -5 } }), status.INVALID_ARGUMENT);
    // Nothing half-applied by a rejected request.
    expect(hostConfig(id).CpuShares).toBe(512);
  });

  it('unknown ids are NotFound; a sandbox id is not a container', async () => {
    await expectCode(shim.client.rt('UpdateContainerResources', { container_id: 'f'.repeat(64), linux: { cpu_shares: 2 } }), status.NOT_FOUND);
    await expectCode(shim.client.rt('UpdateContainerResources', { container_id: pod.id, linux: { cpu_shares: 2 } }), status.NOT_FOUND);
    await expectCode(shim.client.rt('UpdatePodSandboxResources', { pod_sandbox_id: id, resources: { cpu_shares: 2 } }), status.NOT_FOUND);
  });

  it('UpdatePodSandboxResources gives the pause container the pod-level CPU and memory', async () => {
    await shim.client.rt('UpdatePodSandboxResources', {
      pod_sandbox_id: pod.id,
      overhead: { cpu_shares: 10 },
      resources: { cpu_shares: 1024, memory_limit_in_bytes: 256 * MiB },
    });
    expect(hostConfig(pod.id)).toMatchObject({ CpuShares: 1024, Memory: 256 * MiB });
    // Hugepage and unified fields are the pod cgroup's, which the kubelet has written itself
    // (generateUpdatePodSandboxResourcesRequest copies unified): accepted, nothing to apply.
    await shim.client.rt('UpdatePodSandboxResources', {
      pod_sandbox_id: pod.id,
      overhead: { hugepage_limits: [{ page_size: '1GB', limit: 1 << 30 }] },
      resources: { cpu_shares: 1024, memory_limit_in_bytes: 256 * MiB, unified: { 'memory.oom.group': '1' } },
    });
    expect(hostConfig(pod.id)).toMatchObject({ CpuShares: 1024, Memory: 256 * MiB });
    await expectCode(shim.client.rt('UpdatePodSandboxResources', { pod_sandbox_id: pod.id, resources: { cpu_shares: -1 } }), status.INVALID_ARGUMENT);
  });
});
