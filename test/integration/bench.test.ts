// `docker-cri-shim bench` end to end: against the shim on two sockets (the comparison
// machinery), against a second containerd with its CRI plugin started exactly as the README
// says (bench/containerd/containerd.sh), refusal of endpoints that already have pods, and
// cleanup after SIGINT. Figures are checked for presence and sanity, never for speed.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport, EndpointReport } from '../../src/bench/report.js';
import { CriClient } from '../helpers/cri-client.js';
import { startRegistry } from '../helpers/registry.js';
import { BUSYBOX, startShim, TOP, type RunningShim } from '../helpers/shim.js';

const CONTAINERD_SH = join(TOP, 'bench/containerd/containerd.sh');
const CONTAINERD_SOCK = '/run/cri-bench-containerd/containerd.sock';
const RUN_LABEL = 'docker-cri-shim.bench/run';
const LIFECYCLE_RPCS = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopPodSandbox', 'RemovePodSandbox'];
/** Small enough for CI, large enough that every workload issues every one of its RPCs. */
const TINY = ['--pods', '2', '--parallel', '2', '--steady-pods', '2', '--duration', '2', '--status-period', '1', '--stats-period', '1', '--list-calls', '2', '--execs', '2', '--rounds', '2'];

interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
  report: BenchReport | undefined;
}

let tmp: string;

function bench(args: string[], onStart?: (proc: ReturnType<typeof spawn>) => void): Promise<BenchRun> {
  const out = join(tmp, `report-${Math.random().toString(16).slice(2)}.json`);
  const proc = spawn(process.execPath, [join(TOP, 'dist/main.js'), 'bench', ...args, '--output', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  onStart?.(proc);
  return new Promise((resolve) =>
    proc.once('exit', (code) => {
      let report: BenchReport | undefined;
      try {
        report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
      } catch {
        report = undefined;
      }
      resolve({ code, stdout, stderr, report });
    }),
  );
}

/** Every figure an endpoint must carry after a clean tiny run of the default workloads. */
function checkEndpoint(e: EndpointReport, rounds: number): void {
  expect(e.rounds).toBe(rounds);
  expect(e.errors, JSON.stringify(e.errorSamples)).toEqual({});
  expect(e.errorCount).toBe(0);
  expect(e.cleanupFailures).toEqual([]);
  expect(e.runtime.name).not.toBe('');
  const keys = [
    ...['lifecycle', 'parallel'].flatMap((w) => [...LIFECYCLE_RPCS.map((r) => `${w}/${r}`), `${w}/whole pod`]),
    ...['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopPodSandbox', 'RemovePodSandbox'].map((r) => `steady/${r}`),
    ...['ListPodSandbox', 'ListContainers', 'PodSandboxStatus', 'ContainerStatus', 'ListContainerStats', 'ListImages', 'ImageStatus'].map((r) => `steady/${r}`),
    'list/ListPodSandbox',
    'list/ListContainers',
    'exec/ExecSync',
  ];
  expect(Object.keys(e.rpcs).sort()).toEqual(expect.arrayContaining(keys.sort()));
  for (const [key, f] of Object.entries(e.rpcs)) {
    expect(f.count, key).toBeGreaterThan(0);
    expect(f.roundMedians, key).toHaveLength(rounds);
    expect(f.min, key).toBeGreaterThan(0);
    expect(f.median, key).toBeGreaterThanOrEqual(f.min);
    expect(f.p95, key).toBeGreaterThanOrEqual(f.median);
    expect(f.p99, key).toBeGreaterThanOrEqual(f.p95);
    expect(f.max, key).toBeGreaterThanOrEqual(f.p99);
    expect(f.mean, key).toBeGreaterThan(0);
  }
  expect(e.rpcs['lifecycle/RunPodSandbox'].count).toBe(2 * rounds);
  expect(e.rpcs['exec/ExecSync'].count).toBe(2 * rounds);
  for (const w of ['lifecycle', 'parallel', 'steady setup']) {
    expect(e.throughput[w], w).toMatchObject({ pods: 2 * rounds });
    expect(e.throughput[w].podsPerSecond, w).toBeGreaterThan(0);
    expect(e.throughput[w].roundPodsPerSecond, w).toHaveLength(rounds);
  }
}

function checkRatios(report: BenchReport): void {
  const [base, other] = report.endpoints;
  expect(report.ratios).toHaveLength(1);
  const r = report.ratios[0];
  expect(r).toMatchObject({ baseline: base.name, endpoint: other.name });
  for (const key of Object.keys(base.rpcs)) {
    const s = r.rpcs[key];
    expect(s.values, key).toHaveLength(report.rounds);
    expect(s.median, key).toBeGreaterThan(0);
    expect(s.min, key).toBeLessThanOrEqual(s.median);
    expect(s.max, key).toBeGreaterThanOrEqual(s.median);
    expect(Number.isFinite(s.relative), key).toBe(true);
  }
  for (const w of ['lifecycle', 'parallel', 'steady setup']) expect(r.podsPerSecond[w].median, w).toBeGreaterThan(0);
}

describe('docker-cri-shim bench', () => {
  let shimA: RunningShim;
  let shimB: RunningShim;
  let startedContainerd = false;
  let containerd: CriClient;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'cri-bench-test-'));
    [shimA, shimB] = await Promise.all([startShim(), startShim()]);
    // Exactly the README's steps: start the second containerd, import the images it needs.
    const started = execFileSync('bash', [CONTAINERD_SH, 'start'], { encoding: 'utf8' });
    startedContainerd = !started.includes('already answers');
    execFileSync('bash', [CONTAINERD_SH, 'import', 'registry.k8s.io/pause:3.10', BUSYBOX], { encoding: 'utf8' });
    containerd = new CriClient(CONTAINERD_SOCK);
  });

  afterAll(async () => {
    containerd?.close();
    await Promise.all([shimA?.stop(), shimB?.stop()]);
    if (startedContainerd) execFileSync('bash', [CONTAINERD_SH, 'stop']);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('compares the shim on two sockets: every figure in the JSON, ratios with spread, table printed', async () => {
    // dockerd is shared with other tests: pods of others may exist, the bench leaves them alone.
    const run = await bench([
      '--endpoint', `a=unix://${shimA.socketPath}`, '--endpoint', `b=unix://${shimB.socketPath}`,
      '--image', BUSYBOX, '--allow-existing', ...TINY,
      '--watch', `a=${shimA.proc.pid},dockerd`, '--watch', `b=${shimB.proc.pid},dockerd`,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const report = run.report!;
    expect(report.interrupted).toBe(false);
    expect(report.endpoints.map((e) => e.name)).toEqual(['a', 'b']);
    for (const e of report.endpoints) {
      checkEndpoint(e, 2);
      expect(e.runtime.name).toBe('docker');
      expect(e.processes!.watch).toEqual([expect.stringMatching(/^\d+$/), 'dockerd']);
      expect(e.processes!.cpuSeconds).toBeGreaterThan(0);
      expect(e.processes!.peakRssBytes).toBeGreaterThan(10 * 2 ** 20);
      expect(e.processes!.peakPssBytes).toBeGreaterThan(0);
      expect(e.processes!.peakPssBytes).toBeLessThanOrEqual(e.processes!.peakRssBytes);
      expect(e.processes!.roundCpuSeconds).toHaveLength(2);
    }
    checkRatios(report);
    expect(report.ratios[0].cpuSeconds!.values).toHaveLength(2);
    // The table: one row per RPC with both endpoints and the ratio column.
    expect(run.stdout).toMatch(/^lifecycle\/RunPodSandbox\s+\S+ \/ \S+ \/ \S+ \(4\)\s+\S+ \/ \S+ \/ \S+ \(4\)\s+\d+\.\d\dx \[/m);
    expect(run.stdout).toMatch(/^CPU seconds \(watched\)/m);
    // Nothing of this run is left in Docker.
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=${RUN_LABEL}`], { encoding: 'utf8' });
    expect(left.trim()).toBe('');
  });

  it('compares the shim with containerd CRI (second containerd beside Docker), as the README says', async () => {
    const run = await bench([
      '--endpoint', `shim=unix://${shimA.socketPath}`, '--endpoint', `containerd=unix://${CONTAINERD_SOCK}`,
      '--image', BUSYBOX, '--allow-existing', ...TINY,
      '--watch', `shim=${shimA.proc.pid},dockerd,containerd~/var/run/docker/containerd,containerd-shim-runc-v2~moby`,
      '--watch', 'containerd=containerd~cri-bench-containerd,containerd-shim-runc-v2~cri-bench-containerd',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const report = run.report!;
    const [shim, ctrd] = report.endpoints;
    checkEndpoint(shim, 2);
    checkEndpoint(ctrd, 2);
    expect(shim.runtime.name).toBe('docker');
    expect(ctrd.runtime.name).toBe('containerd');
    expect(ctrd.processes!.cpuSeconds).toBeGreaterThan(0);
    // containerd itself and the runc shims of the pods it ran (argv[0] beyond comm's 15 characters).
    expect(ctrd.processes!.processes).toBeGreaterThan(1);
    expect(shim.processes!.processes).toBeGreaterThan(3);
    checkRatios(report);
    expect((await containerd.rt('ListPodSandbox', {})).items).toEqual([]);
  });

  it('image workload: pulls, inspects and removes the image the user names from a local registry', async () => {
    const registry = await startRegistry();
    try {
      const ref = `${registry.host}/bench/pull-${Math.random().toString(16).slice(2, 8)}:1`;
      registry.pushUnique(BUSYBOX, ref.slice(registry.host.length + 1));
      const run = await bench(['--endpoint', `a=unix://${shimA.socketPath}`, '--allow-existing', '--pull-image', ref, '--workloads', 'image', '--rounds', '2']);
      expect(run.code, run.stderr).toBe(0);
      const [e] = run.report!.endpoints;
      expect(e.errors, JSON.stringify(e.errorSamples)).toEqual({});
      for (const rpc of ['PullImage', 'ImageStatus', 'RemoveImage']) expect(e.rpcs[`image/${rpc}`], rpc).toMatchObject({ count: 2 });
      expect((await shimA.client.im('ImageStatus', { image: { image: ref } })).image).toBeNull();
      // Present now: the workload would remove an image the user has, so it refuses.
      await shimA.client.im('PullImage', { image: { image: ref } });
      const refused = await bench(['--endpoint', `a=unix://${shimA.socketPath}`, '--allow-existing', '--pull-image', ref, '--workloads', 'image']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/already present/);
      await shimA.client.im('RemoveImage', { image: { image: ref } });
    } finally {
      await registry.stop();
    }
  });

  it('refuses an endpoint that already has pods unless --allow-existing, and leaves those pods alone', async () => {
    const suffix = Math.random().toString(16).slice(2, 8);
    const foreign = (
      await containerd.rt('RunPodSandbox', { config: { metadata: { name: `foreign-${suffix}`, namespace: 'bench-test', uid: suffix, attempt: 0 }, linux: {} } })
    ).pod_sandbox_id;
    try {
      const refused = await bench(['--endpoint', `containerd=unix://${CONTAINERD_SOCK}`, '--image', BUSYBOX, ...TINY]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/already has 1 pod\(s\).*--allow-existing/);
      expect(refused.report).toBeUndefined();

      const allowed = await bench(['--endpoint', `containerd=unix://${CONTAINERD_SOCK}`, '--image', BUSYBOX, '--workloads', 'lifecycle', '--pods', '1', '--rounds', '1', '--allow-existing']);
      expect(allowed.code, allowed.stderr).toBe(0);
      expect(allowed.report!.endpoints[0].existingPods).toBe(1);
      const pods = (await containerd.rt('ListPodSandbox', {})).items;
      expect(pods.map((p) => p.id)).toEqual([foreign]);
      expect(pods[0].state).toBe('SANDBOX_READY');
    } finally {
      await containerd.rt('StopPodSandbox', { pod_sandbox_id: foreign });
      await containerd.rt('RemovePodSandbox', { pod_sandbox_id: foreign });
    }
  });

  it('refuses an image the endpoint does not have instead of pulling it', async () => {
    const run = await bench(['--endpoint', `containerd=unix://${CONTAINERD_SOCK}`, '--image', 'docker-cri-shim-test/not-there:none', ...TINY]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/not present; the bench never pulls it/);
  });

  it('on SIGINT stops, removes every pod it made, and exits 130', async () => {
    let sent = false;
    const run = await bench(
      ['--endpoint', `containerd=unix://${CONTAINERD_SOCK}`, '--image', BUSYBOX, '--workloads', 'steady', '--steady-pods', '3', '--duration', '60', '--rounds', '1'],
      (proc) => {
        // Interrupt once the steady pods are up and the polling has begun.
        const poll = setInterval(() => {
          void containerd.rt('ListContainers', {}).then((r) => {
            if (!sent && r.containers.filter((c) => c.state === 'CONTAINER_RUNNING').length >= 3) {
              sent = true;
              clearInterval(poll);
              proc.kill('SIGINT');
            }
          });
        }, 200);
        proc.once('exit', () => clearInterval(poll));
      },
    );
    expect(sent).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/SIGINT: stopping and removing/);
    expect((await containerd.rt('ListPodSandbox', {})).items).toEqual([]);
  });
});
