// The workloads, run against one endpoint at a time: pod lifecycle (sequential and
// parallel), steady state polled like a kubelet, ExecSync round trips, image pull/remove.
// Every pod and image made here is tracked (and labelled with the run id) so cleanup finds
// it, also after an interrupt.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodSandboxConfig } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { ContainerConfig } from '../generated/runtime/v1/ContainerConfig.js';
import { errorText, type BenchCri, type RequestOf, type Rpc } from './cri.js';
import type { Recorder } from './recorder.js';
import type { ProcessWatch } from './procwatch.js';

export const WORKLOADS = ['lifecycle', 'parallel', 'steady', 'exec', 'image', 'container'] as const;
export type Workload = (typeof WORKLOADS)[number];

/** Label on every pod the bench makes: cleanup and --allow-existing go by it. */
export const RUN_LABEL = 'docker-cri-shim.bench/run';
const NAMESPACE = 'cri-bench';

/**
 * The bench containers' default command: runs until stopped and exits at once on SIGTERM
 * (a bare `sleep` as PID 1 ignores SIGTERM, so every stop would wait out its grace period).
 */
export const DEFAULT_COMMAND = ['sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"];

/** --command: a JSON array of strings, or words separated by spaces. */
export function parseCommand(text: string): string[] {
  if (!text.trimStart().startsWith('[')) return text.split(' ').filter(Boolean);
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`--command: expected a JSON array of strings, got ${text}`);
  return parsed;
}

export interface WorkloadOptions {
  runId: string;
  /** Pod log directories live under here (the kubelet makes them; so do we). */
  logDir: string;
  image: string;
  command: string[];
  /** Pods per round of the lifecycle and parallel workloads. */
  pods: number;
  parallel: number;
  steadyPods: number;
  durationSeconds: number;
  /** Untimed polling before the steady workload's measured phase. */
  warmupSeconds: number;
  statusPeriodSeconds: number;
  statsPeriodSeconds: number;
  /** Back-to-back List calls timed once the steady-state pods are up. */
  listCalls: number;
  execs: number;
  pullImages: string[];
}

/** What exists on an endpoint because of this run. */
export class Tracker {
  readonly sandboxes = new Set<string>();
  readonly images = new Set<string>();
}

export interface WorkloadContext {
  cri: BenchCri;
  opts: WorkloadOptions;
  tracker: Tracker;
  signal: AbortSignal;
  /** Next pod number of this run on this endpoint (names stay unique across rounds). */
  nextPod: () => number;
  /** Also the recorder of `cri`'s timed calls in this round. */
  recorder: Recorder;
  /** The endpoint's watched processes, when any are. */
  watch?: ProcessWatch;
}

export async function runWorkload(ctx: WorkloadContext, w: Workload): Promise<void> {
  switch (w) {
    case 'lifecycle':
      return lifecycle(ctx, 'lifecycle', 1);
    case 'parallel':
      return lifecycle(ctx, 'parallel', ctx.opts.parallel);
    case 'steady':
      return steady(ctx);
    case 'exec':
      return exec(ctx);
    case 'image':
      return image(ctx);
    case 'container':
      return containers(ctx);
  }
}

export function podConfig(opts: WorkloadOptions, n: number): PodSandboxConfig {
  const name = `bench-${opts.runId}-${n}`;
  const logDirectory = join(opts.logDir, name);
  mkdirSync(logDirectory, { recursive: true });
  return {
    metadata: { name, namespace: NAMESPACE, uid: `${opts.runId}-${n}`, attempt: 0 },
    hostname: name,
    log_directory: logDirectory,
    labels: { [RUN_LABEL]: opts.runId },
    annotations: {},
    linux: {},
  };
}

function containerConfig(opts: WorkloadOptions, attempt = 0): ContainerConfig {
  return {
    metadata: { name: 'main', attempt },
    image: { image: opts.image },
    command: opts.command,
    log_path: 'main.log',
    labels: { [RUN_LABEL]: opts.runId },
    linux: {},
  };
}

/** Runs fn(0..count-1) on `parallel` workers; stops handing out work once aborted. */
async function pool(count: number, parallel: number, signal: AbortSignal, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (!signal.aborted && next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, count)) }, worker));
}

/** Run + Create + Start, timed under `workload`; returns ids, or undefined after a failure. */
async function startPod(ctx: WorkloadContext, workload: string): Promise<{ pod: string; container: string } | undefined> {
  const { cri, opts, tracker } = ctx;
  const config = podConfig(opts, ctx.nextPod());
  let pod: string | undefined;
  try {
    pod = (await cri.timed(workload, 'RunPodSandbox', { config, runtime_handler: '' })).pod_sandbox_id;
    tracker.sandboxes.add(pod);
    const container = (await cri.timed(workload, 'CreateContainer', { pod_sandbox_id: pod, config: containerConfig(opts), sandbox_config: config }))
      .container_id;
    await cri.timed(workload, 'StartContainer', { container_id: container });
    return { pod, container };
  } catch {
    if (pod) await removePod(cri, tracker, pod);
    return undefined;
  }
}

/** StopPodSandbox + RemovePodSandbox, timed under `workload`; true when both succeeded. */
async function endPod(ctx: WorkloadContext, workload: string, pod: string): Promise<boolean> {
  try {
    await ctx.cri.timed(workload, 'StopPodSandbox', { pod_sandbox_id: pod });
    await ctx.cri.timed(workload, 'RemovePodSandbox', { pod_sandbox_id: pod });
    ctx.tracker.sandboxes.delete(pod);
    return true;
  } catch {
    await removePod(ctx.cri, ctx.tracker, pod);
    return false;
  }
}

/**
 * A kubelet's polling for `seconds`: ListPodSandbox and ListContainers every second, a status
 * sweep of every pod each status period, ListContainerStats each stats period. Timed under
 * `workload`, or untimed when it is undefined (warm-up).
 */
async function pollLikeKubelet(ctx: WorkloadContext, pods: ReadonlyArray<{ pod: string; container: string }>, seconds: number, workload: string | undefined): Promise<void> {
  const { cri, opts, signal } = ctx;
  const ignore = () => undefined; // failures are counted by code in the recorder
  const call = <K extends Rpc>(rpc: K, req: RequestOf<K>) => (workload ? cri.timed(workload, rpc, req) : cri.call(rpc, req)).catch(ignore);
  let statuses: Promise<unknown> = Promise.resolve();
  let stats: Promise<unknown> = Promise.resolve();
  let statusBusy = false;
  let statsBusy = false;
  for (let t = 0; t < seconds && !signal.aborted; t++) {
    const tick = performance.now();
    if (t % opts.statusPeriodSeconds === 0 && !statusBusy) {
      statusBusy = true;
      statuses = (async () => {
        for (const p of pods) {
          await call('PodSandboxStatus', { pod_sandbox_id: p.pod, verbose: false });
          await call('ContainerStatus', { container_id: p.container, verbose: false });
        }
        // Image GC lists images and each (re)start asks the image's status.
        const listed = await call('ListImages', {});
        if (listed && workload) ctx.recorder.answered(`${workload}/ListImages`, listed.images.length);
        await call('ImageStatus', { image: { image: opts.image }, verbose: false });
      })().finally(() => (statusBusy = false));
    }
    if (t % opts.statsPeriodSeconds === 0 && !statsBusy) {
      statsBusy = true;
      stats = call('ListContainerStats', { filter: {} }).finally(() => (statsBusy = false));
    }
    const sandboxes = await call('ListPodSandbox', {});
    const containers = await call('ListContainers', {});
    if (sandboxes && containers && workload) {
      ctx.recorder.answered(`${workload}/ListPodSandbox`, sandboxes.items.length);
      ctx.recorder.answered(`${workload}/ListContainers`, containers.containers.length);
    }
    await sleep(Math.max(0, 1000 - (performance.now() - tick)));
  }
  await Promise.all([statuses, stats]);
}

/** Untimed best-effort removal (after a failure, and at cleanup). */
export async function removePod(cri: BenchCri, tracker: Tracker, pod: string): Promise<string | undefined> {
  try {
    await cri.call('StopPodSandbox', { pod_sandbox_id: pod });
    await cri.call('RemovePodSandbox', { pod_sandbox_id: pod });
    tracker.sandboxes.delete(pod);
    return undefined;
  } catch (err) {
    return `${pod}: ${errorText(err)}`;
  }
}

/** The full pod lifecycle, `pods` times, `parallel` at once; also times the whole pod. */
async function lifecycle(ctx: WorkloadContext, workload: string, parallel: number): Promise<void> {
  let done = 0;
  const started = performance.now();
  await pool(ctx.opts.pods, parallel, ctx.signal, async () => {
    const t0 = performance.now();
    const ids = await startPod(ctx, workload);
    if (!ids || !(await endPod(ctx, workload, ids.pod))) return;
    ctx.recorder.latency(`${workload}/whole pod`, performance.now() - t0);
    done++;
  });
  ctx.recorder.pods(workload, done, (performance.now() - started) / 1000);
}

/**
 * N pods with one container each, polled the way the kubelet does: PLEG relists pods and
 * containers every second, pod workers ask statuses on a slower period, and the stats
 * provider lists container stats every 10 s; each status sweep also lists images and asks the
 * bench image's status, as image GC and container starts do. Then the Lists are timed back to back.
 */
async function steady(ctx: WorkloadContext): Promise<void> {
  const { cri, opts, signal } = ctx;
  const pods: { pod: string; container: string }[] = [];
  const started = performance.now();
  await pool(opts.steadyPods, opts.parallel, signal, async () => {
    const ids = await startPod(ctx, 'steady');
    if (ids) pods.push(ids);
  });
  ctx.recorder.pods('steady setup', pods.length, (performance.now() - started) / 1000);

  // Warm-up first, untimed and not in the cost figures: the shim's call paths are compiled and
  // its heap has grown to its working size, as on a node that has run for a while.
  await pollLikeKubelet(ctx, pods, opts.warmupSeconds, undefined);
  const pollStart = { at: performance.now(), ...ctx.watch?.snapshot() };
  await pollLikeKubelet(ctx, pods, opts.durationSeconds, 'steady');
  const pollEnd = ctx.watch?.snapshot();
  if (pollEnd && pollStart.cpuSeconds !== undefined) {
    ctx.recorder.polling = {
      seconds: (performance.now() - pollStart.at) / 1000,
      cpuSeconds: pollEnd.cpuSeconds - pollStart.cpuSeconds,
      rssStartBytes: pollStart.rssBytes ?? 0,
      rssEndBytes: pollEnd.rssBytes,
    };
  }

  const ignore = () => undefined; // failures are counted by code in the recorder
  for (let i = 0; i < opts.listCalls && !signal.aborted; i++) {
    await cri.timed('list', 'ListPodSandbox', {}).catch(ignore);
    await cri.timed('list', 'ListContainers', {}).catch(ignore);
  }

  // Teardown runs even when aborted: these pods are ours.
  const teardown = [...pods];
  await pool(teardown.length, opts.parallel, new AbortController().signal, async (i) => {
    await endPod(ctx, 'steady', teardown[i].pod);
  });
}

/** ExecSync round trips into one running container. */
async function exec(ctx: WorkloadContext): Promise<void> {
  const ids = await startPod(ctx, 'exec-setup');
  if (!ids) return;
  try {
    for (let i = 0; i < ctx.opts.execs && !ctx.signal.aborted; i++) {
      const res = await ctx.cri.timed('exec', 'ExecSync', { container_id: ids.container, cmd: ['true'], timeout: 10 }).catch(() => undefined);
      if (res && res.exit_code !== 0) ctx.recorder.error('exec/ExecSync', `EXIT_${res.exit_code}`);
    }
  } finally {
    await endPod(ctx, 'exec-setup', ids.pod);
  }
}

/**
 * The container's own lifecycle in one running pod, as critest's container benchmark runs it:
 * CreateContainer, StartContainer, StopContainer, RemoveContainer, `pods` times.
 */
async function containers(ctx: WorkloadContext): Promise<void> {
  const { cri, opts, tracker } = ctx;
  const config = podConfig(opts, ctx.nextPod());
  let pod: string;
  try {
    pod = (await cri.call('RunPodSandbox', { config, runtime_handler: '' })).pod_sandbox_id;
  } catch (err) {
    ctx.recorder.error('container/RunPodSandbox', 'SETUP', errorText(err));
    return;
  }
  tracker.sandboxes.add(pod);
  let done = 0;
  const started = performance.now();
  try {
    for (let i = 0; i < opts.pods && !ctx.signal.aborted; i++) {
      try {
        const container = (await cri.timed('container', 'CreateContainer', { pod_sandbox_id: pod, config: containerConfig(opts, i), sandbox_config: config })).container_id;
        await cri.timed('container', 'StartContainer', { container_id: container });
        await cri.timed('container', 'StopContainer', { container_id: container, timeout: 10 });
        await cri.timed('container', 'RemoveContainer', { container_id: container });
        done++;
      } catch {
        // counted by code; RemovePodSandbox below takes what is left
      }
    }
  } finally {
    ctx.recorder.pods('container', done, (performance.now() - started) / 1000);
    await removePod(cri, tracker, pod);
  }
}

/** PullImage, ImageStatus, RemoveImage of each image the user named (absent beforehand). */
async function image(ctx: WorkloadContext): Promise<void> {
  const { cri, tracker } = ctx;
  for (const ref of ctx.opts.pullImages) {
    if (ctx.signal.aborted) return;
    try {
      tracker.images.add(ref);
      await cri.timed('image', 'PullImage', { image: { image: ref } });
      await cri.timed('image', 'ImageStatus', { image: { image: ref }, verbose: false });
      await cri.timed('image', 'RemoveImage', { image: { image: ref } });
      tracker.images.delete(ref);
    } catch {
      // counted by code; cleanup removes what was pulled
    }
  }
}
