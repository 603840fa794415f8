// The resource requests a kubelet 1.36 sends on a cgroup v2 node, which these cgroup v1 machines
// cannot produce. Each shape is built as the kubelet builds it (k8s.io/kubernetes@v1.36.3,
// pkg/kubelet/kuberuntime/kuberuntime_container_linux.go), cited per test:
//  - calculateLinuxResources: cpu_shares/quota/period, memory limit, and on cgroup v2 (with
//    singleProcessOOMKill false, the v2 default in kubelet.go) unified["memory.oom.group"] = "1";
//  - configureContainerSwapResources -> ConfigureNoSwap -> configureSwap(0): where the swap
//    controller exists, unified["memory.swap.max"] = "0";
//  - GetHugepageLimitsFromResources: one entry per page size of the node, limit 0 unless the
//    container asks hugepages-<size>;
//  - generateLinuxContainerResources with MemoryQoS: unified memory.min / memory.low / memory.high;
//  - updateContainerResources (kuberuntime_container.go) sends the same LinuxContainerResources
//    from generateContainerResources in UpdateContainerResourcesRequest.linux (cri-client).
// The cgroup writer is checked against a v2 container cgroup in fixtures/cgroup-v2.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCri } from '../../src/proto.js';
import type { ContainerConfig__Output } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { UpdateContainerResourcesRequest__Output } from '../../src/generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { ContainerRecord, ContainerIndex } from '../../src/store/container-index.js';
import type { Engine } from '../../src/docker/engine.js';
import type { Logger } from '../../src/logger.js';
import { containerCreateOptions, cgroupWritesOf, createWarningsOf, LABEL_CGROUP_WRITES, LABEL_WARNINGS } from '../../src/docker/container-spec.js';
import { containerVerboseInfo } from '../../src/docker/container-status.js';
import { cgroupPlan } from '../../src/docker/resource-limits.js';
import { ResourcesService } from '../../src/services/resources.js';
import { ContainerService } from '../../src/services/container.js';
import type { ImageService } from '../../src/services/image.js';
import type { LogManager } from '../../src/logs/log-manager.js';
import { applyCgroupWrites, CgroupReader } from '../../src/stats/cgroup.js';
import { ContainerWarnings } from '../../src/store/container-warnings.js';
import { Code } from '../../src/errors.js';

const MiB = 1024 * 1024;
const FIX = resolve(import.meta.dirname, 'fixtures/cgroup-v2');
const tmp = mkdtempSync(join(tmpdir(), 'kubelet-resources-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Hugepage entries for a node with 2Mi and 1Gi pages (GetHugepageLimitsFromResources). */
const nodePageSizes = (asked: Record<string, number> = {}) => ['2MB', '1GB'].map((page_size) => ({ page_size, limit: asked[page_size] ?? 0 }));

/**
 * LinuxContainerResources of a Guaranteed container (cpu 500m, memory 128Mi) on a cgroup v2
 * node with swap controller: calculateLinuxResources + ConfigureNoSwap + hugepages, OOM score
 * from qos.GetContainerOOMScoreAdjust (-997 for Guaranteed).
 */
const guaranteed = () => ({
  cpu_shares: 512,
  cpu_quota: 50000,
  cpu_period: 100000,
  memory_limit_in_bytes: 128 * MiB,
  oom_score_adj: -997,
  hugepage_limits: nodePageSizes(),
  unified: { 'memory.oom.group': '1', 'memory.swap.max': '0' },
});

/** A BestEffort container: minimum shares, no quota, no memory limit, OOM score 1000. */
const bestEffort = () => ({
  cpu_shares: 2,
  cpu_quota: 0,
  cpu_period: 100000,
  oom_score_adj: 1000,
  hugepage_limits: nodePageSizes(),
  unified: { 'memory.oom.group': '1', 'memory.swap.max': '0' },
});

/** A ContainerConfig__Output exactly as the server receives it (through the wire format). */
function config(resources: object): ContainerConfig__Output {
  const method = loadCri().runtime.v1.RuntimeService.service.CreateContainer;
  const wire = method.requestSerialize({ config: { metadata: { name: 'app', attempt: 0 }, image: { image: 'busybox' }, linux: { resources } } });
  return (method.requestDeserialize(wire) as { config: ContainerConfig__Output }).config;
}

function updateRequest(linux: object): UpdateContainerResourcesRequest__Output {
  const method = loadCri().runtime.v1.RuntimeService.service.UpdateContainerResources;
  return method.requestDeserialize(method.requestSerialize({ container_id: 'c'.repeat(64), linux })) as UpdateContainerResourcesRequest__Output;
}

const sandbox = {
  Id: 'a'.repeat(64),
  Name: '/k8s_POD_web_default_uid1_0',
  Config: { Labels: { 'io.kubernetes.docker.type': 'podsandbox' } },
  HostConfig: { NetworkMode: 'bridge', IpcMode: 'shareable', PidMode: '', CgroupParent: 'kubepods-pod1.slice' },
  State: { Running: true, Status: 'running' },
} as unknown as ContainerRecord;

const createOptions = (resources: object, cgroupVersion: 'v1' | 'v2') =>
  containerCreateOptions(config(resources), null, {
    sandbox,
    image: { Id: 'sha256:img', RepoTags: ['busybox:latest'] },
    logPath: '',
    boundingSet: [],
    privileged: { dockerCanGrant: true, hostDevices: () => [] },
    cgroupVersion,
    clampOomScoreAdj: (n) => n,
  });

/** Throws the CriError of `code` (an InvalidArgument naming the field, here). */
const refused = (fn: () => unknown, code = Code.INVALID_ARGUMENT) => expect(fn).toThrow(expect.objectContaining({ code }));

/** A fake /proc whose pid 42 lives in a copy of the fixture's container cgroup; returns the reader and that directory. */
function fakeV2Host(): { reader: CgroupReader; dir: string } {
  const root = mkdtempSync(join(tmp, 'host-'));
  const proc = join(root, 'proc');
  const cg = join(root, 'cg');
  mkdirSync(join(proc, 'self'), { recursive: true });
  mkdirSync(join(proc, '42'), { recursive: true });
  writeFileSync(join(proc, 'self/mountinfo'), readFileSync(join(FIX, 'mountinfo'), 'utf8').replaceAll(' /sys/fs/cgroup', ` ${cg}`));
  const procCgroup = readFileSync(join(FIX, 'proc-cgroup'), 'utf8');
  writeFileSync(join(proc, '42/cgroup'), procCgroup);
  const dir = join(cg, procCgroup.trim().slice('0::'.length));
  mkdirSync(dir, { recursive: true });
  cpSync(join(FIX, 'container'), dir, { recursive: true });
  return { reader: new CgroupReader(proc), dir };
}

const file = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8').trim();

describe('CreateContainer with the kubelet\'s cgroup v2 resources', () => {
  it('Guaranteed (calculateLinuxResources + ConfigureNoSwap + GetHugepageLimitsFromResources) is accepted; swap.max 0 goes through Docker as swap = memory', () => {
    const o = createOptions(guaranteed(), 'v2');
    expect(o.HostConfig).toMatchObject({ CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, Memory: 128 * MiB, MemorySwap: 128 * MiB, OomScoreAdj: -997 });
    expect(cgroupWritesOf(o.Labels)).toEqual([
      { file: 'memory.oom.group', value: '1' },
      { file: 'hugetlb.2MB.max', value: '0', optional: true },
      { file: 'hugetlb.1GB.max', value: '0', optional: true },
    ]);
    expect(o.Labels?.[LABEL_WARNINGS]).toBeUndefined();
  });

  it('BestEffort (no memory limit): Docker cannot say "no swap" without a memory limit, so memory.swap.max is written at start', () => {
    const o = createOptions(bestEffort(), 'v2');
    expect(o.HostConfig).toMatchObject({ CpuShares: 2, Memory: 0, MemorySwap: 0, OomScoreAdj: 1000 });
    expect(cgroupWritesOf(o.Labels).map((w) => `${w.file}=${w.value}`)).toEqual(['memory.oom.group=1', 'memory.swap.max=0', 'hugetlb.2MB.max=0', 'hugetlb.1GB.max=0']);
  });

  it('LimitedSwap (configureSwap with a computed amount) and "max" become Docker swap limits above memory', () => {
    expect(createOptions({ ...guaranteed(), unified: { 'memory.swap.max': String(64 * MiB) } }, 'v2').HostConfig?.MemorySwap).toBe(192 * MiB);
    expect(createOptions({ ...guaranteed(), unified: { 'memory.swap.max': 'max' } }, 'v2').HostConfig?.MemorySwap).toBe(-1);
    refused(() => createOptions({ ...guaranteed(), unified: { 'memory.swap.max': 'lots' } }, 'v2'));
  });

  it('MemoryQoS (generateLinuxContainerResources): memory.min, memory.low and memory.high are written at start', () => {
    const o = createOptions({ ...guaranteed(), memory_limit_in_bytes: 256 * MiB, unified: { 'memory.oom.group': '1', 'memory.min': '0', 'memory.low': String(128 * MiB), 'memory.high': String(241 * MiB) } }, 'v2');
    expect(cgroupWritesOf(o.Labels).filter((w) => w.file.startsWith('memory.')).map((w) => w.file)).toEqual(['memory.oom.group', 'memory.min', 'memory.low', 'memory.high']);
  });

  it('a container asking hugepages-2Mi gets its limit written; other page sizes stay 0', () => {
    const o = createOptions({ ...guaranteed(), hugepage_limits: nodePageSizes({ '2MB': 4 * 2 * MiB }) }, 'v2');
    expect(cgroupWritesOf(o.Labels).filter((w) => w.file.startsWith('hugetlb.'))).toEqual([
      { file: 'hugetlb.2MB.max', value: String(8 * MiB) },
      { file: 'hugetlb.1GB.max', value: '0', optional: true },
    ]);
  });

  it('on a cgroup v1 host unified is a warning carried by the container, never a refusal; hugepages use the v1 file names', () => {
    const o = createOptions(guaranteed(), 'v1');
    expect(o.HostConfig).toMatchObject({ Memory: 128 * MiB, MemorySwap: 128 * MiB });
    expect(createWarningsOf(o.Labels)).toEqual([
      'config.linux.resources.unified["memory.oom.group"] = "1" not applied: unified resources need cgroup v2 and this host runs cgroup v1',
      'config.linux.resources.unified["memory.swap.max"] = "0" not applied: unified resources need cgroup v2 and this host runs cgroup v1',
    ]);
    expect(cgroupWritesOf(o.Labels).map((w) => w.file)).toEqual(['hugetlb.2MB.limit_in_bytes', 'hugetlb.1GB.limit_in_bytes']);
    // And verbose ContainerStatus shows them.
    const info = JSON.parse(containerVerboseInfo({ Id: 'c', Config: { Labels: o.Labels } } as unknown as ContainerRecord, createWarningsOf(o.Labels)).info) as {
      warnings: string[];
    };
    expect(info.warnings).toHaveLength(2);
  });

  it('refuses only keys and page sizes that are not cgroup file names (they would name files outside the cgroup)', () => {
    refused(() => cgroupPlan({ unified: { '../../../etc/passwd': 'x' }, hugepage_limits: [] }, 'c', 'v2', 0));
    refused(() => cgroupPlan({ unified: { 'memory.high/../x': '1' }, hugepage_limits: [] }, 'c', 'v2', 0));
    refused(() => cgroupPlan({ unified: { 'memory.high': '1\nmemory.max' }, hugepage_limits: [] }, 'c', 'v2', 0));
    refused(() => cgroupPlan({ unified: {}, hugepage_limits: [{ page_size: '2MB/../x', limit: '0' }] }, 'c', 'v2', 0));
    expect(() => cgroupPlan({ unified: {}, hugepage_limits: [{ page_size: '64KB', limit: '0' }] }, 'c', 'v2', 0)).not.toThrow();
  });
});

describe('the cgroup writer on a cgroup v2 container cgroup (fixture)', () => {
  it('writes the planned files; a missing page size is quiet at 0 and a warning otherwise', () => {
    const { reader, dir } = fakeV2Host();
    expect(reader.version).toBe('v2');
    const dirs = reader.dirsOfPid(42)!;
    expect(dirs).toEqual({ version: 'v2', dir });
    const writes = cgroupWritesOf(createOptions(bestEffort(), 'v2').Labels);
    expect(applyCgroupWrites(dirs, writes)).toEqual([]);
    expect(file(dir, 'memory.oom.group')).toBe('1');
    expect(file(dir, 'memory.swap.max')).toBe('0');
    expect(file(dir, 'hugetlb.2MB.max')).toBe('0');
    const asked = cgroupWritesOf(createOptions({ ...bestEffort(), hugepage_limits: nodePageSizes({ '1GB': 1024 * MiB }) }, 'v2').Labels);
    expect(applyCgroupWrites(dirs, asked)).toEqual([`hugetlb.1GB.max = "${1024 * MiB}" not applied: the container's cgroup has no such file (controller not enabled)`]);
  });

  it('a file the kernel refuses is a warning naming it, and the other files are still written', () => {
    const { reader, dir } = fakeV2Host();
    rmSync(join(dir, 'memory.high'));
    mkdirSync(join(dir, 'memory.high')); // writing a directory fails as the kernel's EINVAL would
    const warnings = applyCgroupWrites(reader.dirsOfPid(42)!, [
      { file: 'memory.high', value: '1000' },
      { file: 'memory.oom.group', value: '1' },
    ]);
    expect(warnings).toEqual([expect.stringMatching(/^memory\.high = "1000" not applied: E/)]);
    expect(file(dir, 'memory.oom.group')).toBe('1');
  });
});

describe('StartContainer writes what Docker could not set into the new container\'s cgroup', () => {
  it('a kubelet BestEffort container on cgroup v2: memory.oom.group and memory.swap.max land in its cgroup; verbose status says they came after the process started', async () => {
    const { reader, dir } = fakeV2Host();
    const labels = createOptions(bestEffort(), 'v2').Labels!;
    const id = 'c'.repeat(64);
    let started = false;
    const record = () =>
      ({
        Id: id,
        Config: { Labels: { ...labels, 'io.kubernetes.sandbox.id': sandbox.Id } },
        State: started ? { Status: 'running', Running: true, Pid: 42 } : { Status: 'created', Running: false, Pid: 0 },
      }) as unknown as ContainerRecord;
    const docker = { start: async () => ((started = true), { kind: 'started' }) } as unknown as Engine;
    const index = {
      on: () => {},
      current: async () => record(),
      get: (i: string) => (i === sandbox.Id ? sandbox : record()),
      changed: async () => record(),
    } as unknown as ContainerIndex;
    const logged: string[] = [];
    const logger = { warn: (o: { warning: string }) => logged.push(o.warning), info: () => {}, debug: () => {} } as unknown as Logger;
    const warnings = new ContainerWarnings();
    const svc = new ContainerService(docker, index, {} as ImageService, { follow: () => {} } as unknown as LogManager, logger, reader, warnings);
    await svc.start(id);
    expect(file(dir, 'memory.oom.group')).toBe('1');
    expect(file(dir, 'memory.swap.max')).toBe('0');
    expect(file(dir, 'hugetlb.2MB.max')).toBe('0');
    // hugetlb.1GB.max is absent from the fixture: a zero limit there is not worth a warning.
    expect(logged).toEqual([]);
    // Docker 20.10 cannot set them before the process runs: not faked, said (zero hugepage limits
    // are the pod cgroup's already and not worth it).
    expect(warnings.get(id)).toEqual([
      'memory.oom.group = "1", memory.swap.max = "0" written right after the process started, not before: Docker 20.10 (API 1.41) has no field for them, so the container\'s first milliseconds ran without them',
    ]);
  });
});

describe('UpdateContainerResources with the kubelet\'s resize request (updateContainerResources)', () => {
  function service(reader: CgroupReader, record: ContainerRecord) {
    const updates: unknown[] = [];
    const logged: string[] = [];
    const docker = { update: async (_id: string, u: unknown) => (updates.push(u), { Warnings: [] }) } as unknown as Engine;
    const index = { resolve: async () => record, refresh: async () => record } as unknown as ContainerIndex;
    const logger = { warn: (o: { warning: string }) => logged.push(o.warning), info: () => {}, debug: () => {} } as unknown as Logger;
    const warnings = new ContainerWarnings();
    return { svc: new ResourcesService(docker, index, reader, warnings, logger), updates, logged, warnings };
  }
  const running = { Id: 'c'.repeat(64), State: { Running: true, Pid: 42 }, HostConfig: { OomScoreAdj: 1000 } } as unknown as ContainerRecord;

  it('a resize to 256Mi on cgroup v2: Docker gets CPU, memory and swap = memory, the cgroup gets memory.oom.group, nothing is refused', async () => {
    const { reader, dir } = fakeV2Host();
    const { svc, updates, warnings } = service(reader, running);
    // oom_score_adj equal to the current one: a resize that keeps the QoS class.
    await svc.updateContainer(updateRequest({ ...guaranteed(), memory_limit_in_bytes: 256 * MiB, cpu_quota: 100000, cpu_shares: 1024, oom_score_adj: 0 }));
    expect(updates).toEqual([{ CpuShares: 1024, CpuPeriod: 100000, CpuQuota: 100000, Memory: 256 * MiB, MemorySwap: 256 * MiB }]);
    expect(file(dir, 'memory.oom.group')).toBe('1');
    expect(file(dir, 'memory.swap.max')).toBe('max'); // left to Docker (runc writes it from MemorySwap)
    expect(warnings.get(running.Id)).toEqual([]);
  });

  it('on a cgroup v1 host the same request succeeds with warnings in the log and in the container\'s warnings', async () => {
    const v1 = mkdtempSync(join(tmp, 'v1-'));
    mkdirSync(join(v1, 'self'), { recursive: true });
    writeFileSync(join(v1, 'self/mountinfo'), readFileSync(resolve(import.meta.dirname, 'fixtures/stats/v1/mountinfo'), 'utf8'));
    const { svc, updates, logged, warnings } = service(new CgroupReader(v1), running);
    await svc.updateContainer(updateRequest({ ...guaranteed(), oom_score_adj: 0 }));
    expect(updates).toEqual([{ CpuShares: 512, CpuPeriod: 100000, CpuQuota: 50000, Memory: 128 * MiB, MemorySwap: 128 * MiB }]);
    expect(logged).toEqual([
      'linux.unified["memory.oom.group"] = "1" not applied: unified resources need cgroup v2 and this host runs cgroup v1',
      'linux.unified["memory.swap.max"] = "0" not applied: unified resources need cgroup v2 and this host runs cgroup v1',
    ]);
    expect(warnings.get(running.Id)).toEqual(logged);
  });

  it('a container that is not running takes Docker\'s fields and warns about the files it cannot get', async () => {
    const { reader } = fakeV2Host();
    const stopped = { ...running, State: { Running: false, Pid: 0 } } as unknown as ContainerRecord;
    const { svc, updates, logged } = service(reader, stopped);
    await svc.updateContainer(updateRequest({ ...bestEffort(), oom_score_adj: 0 }));
    expect(updates).toEqual([{ CpuShares: 2, CpuPeriod: 100000 }]);
    expect(logged).toEqual([
      `linux: memory.oom.group = "1" not applied: container ${running.Id} is not running`,
      `linux: memory.swap.max = "0" not applied: container ${running.Id} is not running`,
    ]);
  });
});

describe('container warnings', () => {
  it('keeps the latest per container and forgets removed ones', () => {
    const w = new ContainerWarnings();
    w.add('x', []);
    expect(w.get('x')).toEqual([]);
    for (let i = 0; i < 40; i++) w.add('x', [`w${i}`]);
    expect(w.get('x')).toHaveLength(32);
    expect(w.get('x').at(-1)).toBe('w39');
    w.forget('x');
    expect(w.get('x')).toEqual([]);
  });
  it('labels carry plans and warnings as JSON; a foreign value is ignored', () => {
    expect(cgroupWritesOf({ [LABEL_CGROUP_WRITES]: 'not json' })).toEqual([]);
    expect(cgroupWritesOf({ [LABEL_CGROUP_WRITES]: '[{"file":"memory.oom.group","value":"1"},{"file":1}]' })).toEqual([{ file: 'memory.oom.group', value: '1' }]);
    expect(createWarningsOf({ [LABEL_WARNINGS]: '["a",2]' })).toEqual(['a']);
  });
});
