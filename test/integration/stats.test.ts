// Container and pod stats and metrics against the real dockerd: numbers are checked against
// what the containers do (burn CPU, hold 50 MiB in tmpfs, serve HTTP) and against the cgroup.
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { ContainerStats__Output } from '../../src/generated/runtime/v1/ContainerStats.js';
import { expectCode } from '../helpers/cri-client.js';
import { dockerInspect, PodFixture } from '../helpers/containers.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stats against dockerd', () => {
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);
  let pod: Awaited<ReturnType<PodFixture['pod']>>;
  let burner: string;
  let holder: string;
  let web: string;

  beforeAll(async () => {
    shim = await startShim();
    pod = await fx.pod('stats', { labels: { 'test-run': fx.runId, role: 'stats-pod' } });
    burner = await fx.run(pod, fx.containerConfig('burner', { command: ['sh', '-c', 'while :; do :; done'], labels: { 'test-run': fx.runId, kind: 'cpu' } }));
    holder = await fx.run(
      pod,
      fx.containerConfig('holder', { command: ['sh', '-c', 'head -c 50m /dev/zero > /dev/shm/hold; sleep 600'], labels: { 'test-run': fx.runId, kind: 'mem' } }),
    );
    web = await fx.run(pod, fx.containerConfig('web', { command: ['httpd', '-f', '-p', '8080', '-h', '/var/www'] }));
  });
  afterAll(async () => {
    await fx.cleanup();
    await shim?.stop();
  });

  const containerStats = async (id: string) => (await shim.client.rt('ContainerStats', { container_id: id })).stats!;

  it('a CPU burner shows rising cumulative CPU and non-zero nano-cores', async () => {
    const first = await containerStats(burner);
    await sleep(1500);
    const second = await containerStats(burner);
    expect(Number(second.cpu!.usage_core_nano_seconds!.value)).toBeGreaterThan(Number(first.cpu!.usage_core_nano_seconds!.value));
    // The rate between the two samples, as the two samples themselves say (load on a shared
    // machine decides how much CPU the loop gets, so no fixed floor beyond "busy").
    const du = Number(second.cpu!.usage_core_nano_seconds!.value) - Number(first.cpu!.usage_core_nano_seconds!.value);
    const dt = Number(BigInt(second.cpu!.timestamp) - BigInt(first.cpu!.timestamp));
    const cores = Number(second.cpu!.usage_nano_cores!.value);
    expect(cores).toBeGreaterThan(0.02e9);
    expect(cores).toBeLessThan(2.5e9);
    expect(Math.abs(cores - (du / dt) * 1e9)).toBeLessThan(0.01e9);
    expect(BigInt(second.cpu!.timestamp)).toBeGreaterThan(BigInt(first.cpu!.timestamp));
    expect(second.attributes!.metadata).toEqual({ name: 'burner', attempt: 0 });
    expect(second.attributes!.labels).toEqual({ 'test-run': fx.runId, kind: 'cpu' });
  });

  it('50 MiB held in tmpfs shows in the working set, which matches the cgroup', async () => {
    let s: ContainerStats__Output | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      s = await containerStats(holder);
      if (Number(s.memory!.working_set_bytes!.value) >= 50 * MiB) break;
      await sleep(200);
    }
    const ws = Number(s!.memory!.working_set_bytes!.value);
    expect(ws).toBeGreaterThanOrEqual(50 * MiB);
    expect(Number(s!.memory!.usage_bytes!.value)).toBeGreaterThanOrEqual(ws);
    // Working set as the kubelet defines it, read straight from the cgroup.
    const pid = dockerInspect(holder).State.Pid;
    const memPath = /^\d+:memory:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    if (memPath) {
      const dir = `/sys/fs/cgroup/memory${memPath[1]}`;
      const usage = Number(readFileSync(`${dir}/memory.usage_in_bytes`, 'utf8'));
      const inactive = Number(/^total_inactive_file (\d+)$/m.exec(readFileSync(`${dir}/memory.stat`, 'utf8'))![1]);
      expect(Math.abs(ws - (usage - inactive))).toBeLessThan(4 * MiB);
    }
    expect(s!.writable_layer!.fs_id!.mountpoint).toBeTruthy();
    expect(Number(s!.writable_layer!.inodes_used!.value)).toBeGreaterThan(0);
  });

  it('ListContainerStats filters by id, pod sandbox id and label selector; StreamContainerStats agrees', async () => {
    const all = (await shim.client.rt('ListContainerStats', { filter: { pod_sandbox_id: pod.id } })).stats;
    expect(all.map((s) => s.attributes!.id).sort()).toEqual([burner, holder, web].sort());
    const byId = (await shim.client.rt('ListContainerStats', { filter: { id: burner.slice(0, 12) } })).stats;
    expect(byId.map((s) => s.attributes!.id)).toEqual([burner]);
    const byLabel = (await shim.client.rt('ListContainerStats', { filter: { label_selector: { 'test-run': fx.runId, kind: 'mem' } } })).stats;
    expect(byLabel.map((s) => s.attributes!.id)).toEqual([holder]);
    const none = (await shim.client.rt('ListContainerStats', { filter: { pod_sandbox_id: 'f'.repeat(64) } })).stats;
    expect(none).toEqual([]);
    const streamed = (await shim.client.rtStream('StreamContainerStats', { filter: { pod_sandbox_id: pod.id } })).flatMap((m) => m.container_stats);
    expect(streamed.map((s) => s.attributes!.id).sort()).toEqual([burner, holder, web].sort());
  });

  it('PodSandboxStats: pod CPU, memory, processes, network counters that rise after traffic', async () => {
    const ip = (await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: false })).status!.network!.ip;
    expect(ip).toBeTruthy();
    const before = (await shim.client.rt('PodSandboxStats', { pod_sandbox_id: pod.id })).stats!;
    const linux = before.linux!;
    expect(before.attributes!.id).toBe(pod.id);
    expect(before.attributes!.metadata!.uid).toBe(pod.config.metadata!.uid);
    expect(linux.containers.map((c) => c.attributes!.id).sort()).toEqual([burner, holder, web].sort());
    expect(Number(linux.memory!.working_set_bytes!.value)).toBeGreaterThanOrEqual(50 * MiB);
    expect(Number(linux.cpu!.usage_core_nano_seconds!.value)).toBeGreaterThan(0);
    // pause + burner loop + holder's sleep + httpd, at least.
    expect(Number(linux.process!.process_count!.value)).toBeGreaterThanOrEqual(4);
    expect(linux.network!.default_interface!.name).toBe('eth0');

    for (let i = 0; i < 5; i++) {
      const res = await fetch(`http://${ip}:8080/index.html`);
      expect(res.status).toBe(200);
      await res.text();
    }
    const after = (await shim.client.rt('PodSandboxStats', { pod_sandbox_id: pod.id })).stats!.linux!.network!.default_interface!;
    const b = linux.network!.default_interface!;
    expect(Number(after.rx_bytes!.value)).toBeGreaterThan(Number(b.rx_bytes!.value));
    expect(Number(after.tx_bytes!.value)).toBeGreaterThan(Number(b.tx_bytes!.value) + 5 * 100);
  });

  it('ListPodSandboxStats filters by id and label selector; StreamPodSandboxStats agrees', async () => {
    const byLabel = (await shim.client.rt('ListPodSandboxStats', { filter: { label_selector: { role: 'stats-pod', 'test-run': fx.runId } } })).stats;
    expect(byLabel.map((s) => s.attributes!.id)).toEqual([pod.id]);
    const byId = (await shim.client.rt('ListPodSandboxStats', { filter: { id: pod.id.slice(0, 10) } })).stats;
    expect(byId.map((s) => s.attributes!.id)).toEqual([pod.id]);
    const streamed = (await shim.client.rtStream('StreamPodSandboxStats', { filter: { id: pod.id } })).flatMap((m) => m.pod_sandbox_stats);
    expect(streamed.map((s) => s.attributes!.id)).toEqual([pod.id]);
  });

  it('metric descriptors and pod metrics use cAdvisor names and labels', async () => {
    const { descriptors } = await shim.client.rt('ListMetricDescriptors', {});
    const byName = new Map(descriptors.map((d) => [d.name, d]));
    for (const n of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_network_receive_bytes_total', 'container_processes']) {
      expect(byName.has(n)).toBe(true);
    }
    const { pod_metrics } = await shim.client.rt('ListPodSandboxMetrics', {});
    const mine = pod_metrics.find((p) => p.pod_sandbox_id === pod.id)!;
    expect(mine).toBeDefined();
    const holderMetrics = mine.container_metrics.find((c) => c.container_id === holder)!.metrics;
    const ws = holderMetrics.find((m) => m.name === 'container_memory_working_set_bytes')!;
    const keys = byName.get('container_memory_working_set_bytes')!.label_keys;
    const labels = Object.fromEntries(keys.map((k, i) => [k, ws.label_values[i]]));
    expect(labels).toMatchObject({ container: 'holder', id: holder, pod: pod.config.metadata!.name, namespace: pod.config.metadata!.namespace });
    expect(Number(ws.value!.value)).toBeGreaterThanOrEqual(50 * MiB);
    expect(ws.metric_type).toBe('GAUGE');
    const rx = mine.metrics.find((m) => m.name === 'container_network_receive_bytes_total')!;
    expect(rx.label_values.at(-1)).toBe('eth0');
    const streamed = (await shim.client.rtStream('StreamPodSandboxMetrics', {})).flatMap((m) => m.pod_sandbox_metrics);
    expect(streamed.some((p) => p.pod_sandbox_id === pod.id)).toBe(true);
  });

  it('unknown ids are NotFound; a stopped container is left out of the list', async () => {
    await expectCode(shim.client.rt('ContainerStats', { container_id: 'f'.repeat(64) }), status.NOT_FOUND);
    await expectCode(shim.client.rt('PodSandboxStats', { pod_sandbox_id: 'f'.repeat(64) }), status.NOT_FOUND);
    await expectCode(shim.client.rt('ContainerStats', { container_id: pod.id }), status.NOT_FOUND);
    await shim.client.rt('StopContainer', { container_id: web, timeout: 2 });
    const list = (await shim.client.rt('ListContainerStats', { filter: { pod_sandbox_id: pod.id } })).stats;
    expect(list.map((s) => s.attributes!.id)).not.toContain(web);
    const stopped = await containerStats(web);
    expect(stopped.attributes!.id).toBe(web);
    expect(stopped.cpu).toBeNull();
  });
});

describe('pod stats from the pod\'s own cgroup', () => {
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);
  const parent = `/cri-shim-stats-${fx.runId}`;

  beforeAll(async () => {
    shim = await startShim();
  });
  afterAll(async () => {
    await fx.cleanup();
    await shim?.stop();
    // Docker creates a cgroup parent but never removes it.
    const roots = readFileSync('/proc/self/cgroup', 'utf8').includes(':memory:') ? readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`) : ['/sys/fs/cgroup'];
    for (const root of roots) {
      try {
        rmdirSync(`${root}${parent}`);
      } catch {
        // not in this hierarchy
      }
    }
  });

  it('CPU, memory and processes of a pod with a cgroup parent include all its containers', async () => {
    const pod = await fx.pod('podcg', { linux: { cgroup_parent: parent } });
    const burner = await fx.run(pod, fx.containerConfig('spin', { command: ['sh', '-c', 'while :; do :; done'] }));
    await sleep(1000);
    const stats = (await shim.client.rt('PodSandboxStats', { pod_sandbox_id: pod.id })).stats!.linux!;
    const container = stats.containers.find((c) => c.attributes!.id === burner)!;
    // Read after the container's own numbers, the pod's cgroup has at least as much.
    expect(Number(stats.cpu!.usage_core_nano_seconds!.value)).toBeGreaterThan(0);
    expect(Number(stats.cpu!.usage_core_nano_seconds!.value)).toBeGreaterThanOrEqual(Number(container.cpu!.usage_core_nano_seconds!.value));
    expect(Number(stats.memory!.usage_bytes!.value)).toBeGreaterThan(0);
    expect(Number(stats.process!.process_count!.value)).toBeGreaterThanOrEqual(2);
  });
});
