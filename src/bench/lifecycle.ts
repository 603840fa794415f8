#!/usr/bin/env node
// `npm run bench`: the shim's own speed figures (core issue). Drives the shim over gRPC with
// the bench machinery: the full pod lifecycle for 50 pods sequentially (and the shim's own CPU
// for them), a container's own lifecycle (Create/Start/Stop/RemoveContainer) as often in one
// pod, 50 pods with 4 in flight, List latency with 100 running containers, and, in the same
// run, the bare Docker calls a pod needs, so the shim's overhead per pod is a measured ratio.
// `--soak N` instead runs N pod lifecycles (4 in flight) and reports the shim's RSS and JS
// heap every 100 pods: what a long-lived node's churn leaves behind.
//
//   npm run build && npm run bench [-- --endpoint unix:///path] [--output FILE]
//   npm run build && npm run bench -- --soak 1000 [--soak-seconds 1800]
//   npm run build && npm run bench -- --compare-main /path/to/other/dist/main.js
//
// --compare-main runs that build ("before") beside this one ("after") in the same rounds as
// bare Docker, for the sequential lifecycle and container workloads only.
// Without --endpoint it starts the built shim (dist/main.js, or --shim-main) on a temporary socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { int, makeReport, withSignals } from './cli.js';
import { BenchCri } from './cri.js';
import { dockerBaseline } from './docker-baseline.js';
import { parseStat, ProcessSpec } from './procwatch.js';
import { endpointReport, formatTable, type BenchReport, type EndpointReport } from './report.js';
import { runBench, type EndpointRun, type RunnerOptions } from './runner.js';
import { ratioSpread } from './stats.js';
import { DEFAULT_COMMAND, type Workload } from './workloads.js';
import { NODE_FLAGS } from '../node-flags.js';

function parseFlags() {
  try {
    return parseArgs({ options: FLAGS });
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

const FLAGS = {
  endpoint: { type: 'string' },
  'docker-endpoint': { type: 'string', default: 'unix:///var/run/docker.sock' },
  'pause-image': { type: 'string', default: 'registry.k8s.io/pause:3.10' },
  // Docker's own bridge, as the bare-Docker baseline uses: like against like.
  'network-plugin': { type: 'string', default: '' },
  image: { type: 'string', default: 'docker-cri-shim-test/busybox:latest' },
  pods: { type: 'string', default: '50' },
  rounds: { type: 'string', default: '5' },
  parallel: { type: 'string', default: '4' },
  containers: { type: 'string', default: '100' },
  duration: { type: 'string', default: '10' },
  'list-calls': { type: 'string', default: '50' },
  output: { type: 'string' },
  // Another build of the shim (a before/after comparison); default: this one's dist/main.js.
  'shim-main': { type: 'string' },
  // A second build run beside it, round by round: the sequential figures of both, "before" first.
  'compare-main': { type: 'string' },
  // Node options for the shim(s) it starts, e.g. --shim-node-arg=--max-semi-space-size=8.
  'shim-node-arg': { type: 'string', multiple: true },
  soak: { type: 'string', default: '0' },
  'soak-seconds': { type: 'string', default: '1800' },
} as const;

const { values } = parseFlags();

interface Shim {
  address: string;
  pid: number;
  /** The shim's Prometheus endpoint (its JS heap is read there), when started with one. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

/** A free loopback TCP port (for the shim's metrics). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The built shim on a temporary socket and root, ready when Version answers. */
async function startShim(withMetrics: boolean, main = values['shim-main'] ?? fileURLToPath(new URL('../main.js', import.meta.url))): Promise<Shim> {
  const tmp = mkdtempSync(join(tmpdir(), 'cri-bench-shim-'));
  const address = `unix://${join(tmp, 'cri.sock')}`;
  const metrics = withMetrics ? `127.0.0.1:${await freePort()}` : '';
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      ...(values['shim-node-arg'] ?? []),
      main,
      `--container-runtime-endpoint=${address}`,
      `--root-directory=${join(tmp, 'root')}`,
      `--pod-infra-container-image=${values['pause-image']}`,
      `--docker-endpoint=${values['docker-endpoint']}`,
      '--log-level=warn',
      `--network-plugin=${values['network-plugin']}`,
      ...(metrics ? [`--metrics-bind-addr=${metrics}`] : []),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    await exited;
    rmSync(tmp, { recursive: true, force: true });
  };
  const probe = new BenchCri('shim', address, 2000);
  try {
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error(`the shim exited (${proc.exitCode}) before answering`);
      if (await probe.call('Version', { version: 'v1' }).then(() => true, () => false)) break;
      if (i > 100) throw new Error('the shim did not answer Version within 20 s');
      await sleep(200);
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    probe.close();
  }
  return { address, pid: proc.pid!, metricsUrl: metrics ? `http://${metrics}/metrics` : undefined, stop };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSecondsOf(pid: number): number {
  const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return stat ? stat.cpuTicks / 100 : Number.NaN;
}

/** Resident set of a process now, in bytes. */
function rssOf(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? Number.NaN) * 1024;
}

function median(e: EndpointReport, key: string): number {
  return e.rpcs[key]?.median ?? Number.NaN;
}

/** Rounds of one endpoint from several runBench calls, as one run. */
function merge(parts: EndpointRun[]): EndpointRun {
  return { ...parts[0], rounds: parts.flatMap((p) => p.rounds), cleanupFailures: parts.flatMap((p) => p.cleanupFailures) };
}

async function main(): Promise<number> {
  const runId = randomBytes(4).toString('hex');
  const pods = int('pods', values.pods, 1);
  const rounds = int('rounds', values.rounds, 1);
  const parallel = int('parallel', values.parallel, 1);
  const containers = int('containers', values.containers, 1);
  const duration = int('duration', values.duration, 0);
  const listCalls = int('list-calls', values['list-calls'], 1);
  const soak = int('soak', values.soak, 0);
  const shim = values.endpoint ? undefined : await startShim(soak > 0);
  const address = values.endpoint ?? shim!.address;
  const perRound = Math.ceil(pods / rounds);
  // The whole Docker path: the shim, dockerd, Docker's containerd and its runc shims.
  const watch = [
    ...(shim ? [new ProcessSpec(String(shim.pid))] : []),
    new ProcessSpec('dockerd'),
    new ProcessSpec('containerd~/var/run/docker/containerd'),
    new ProcessSpec('containerd-shim-runc-v2~/var/run/docker/containerd'),
  ];
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // Each runBench call gets its own id (pod names and cleanup labels stay unique per call).
  const options = (workloads: Workload[], podsPerRound: number, call: string): RunnerOptions => ({
    endpoints: [{ name: 'shim', address, watch }],
    workloads,
    rounds: 1,
    // dockerd is shared: pods of others may be listed; the bench touches only its own.
    allowExisting: true,
    timeoutMs: 120_000,
    workload: {
      runId: `${runId}-${call}`,
      logDir: join(tmpdir(), `cri-bench-${runId}-${call}`),
      image: values.image,
      command: DEFAULT_COMMAND,
      pods: podsPerRound,
      parallel,
      steadyPods: containers,
      durationSeconds: duration,
      warmupSeconds: 0,
      statusPeriodSeconds: 10,
      statsPeriodSeconds: 10,
      listCalls,
      execs: 0,
      pullImages: [],
    },
  });
  if (values['compare-main']) {
    const before = await startShim(false, values['compare-main']);
    try {
      return await withSignals((signal) => runCompare(before, shim!, rounds, perRound, options, say, signal), say);
    } finally {
      await before.stop();
      await shim?.stop();
    }
  }
  if (soak > 0) {
    try {
      return await withSignals((signal) => runSoak(soak, int('soak-seconds', values['soak-seconds'], 1), shim, options, say, signal), say);
    } finally {
      await shim?.stop();
    }
  }
  const startedAt = new Date().toISOString();
  let sequential: BenchReport;
  let containerReport: EndpointReport;
  let shimCpuSeconds = 0;
  let baseline: EndpointReport;
  let rest: BenchReport;
  let interrupted = false;
  try {
    await withSignals(async (signal) => {
      // Shim and bare Docker alternate in rounds, so load from elsewhere hits both alike.
      const shimParts: EndpointRun[] = [];
      const containerParts: EndpointRun[] = [];
      const dockerParts: EndpointRun[] = [];
      for (let r = 0; r < rounds && !signal.aborted; r++) {
        say(`round ${r + 1}/${rounds}: ${perRound} pods through the shim, ${perRound} containers in one pod, then the same through bare Docker`);
        const cpu0 = shim ? cpuSecondsOf(shim.pid) : 0;
        shimParts.push(...(await runBench(options(['lifecycle'], perRound, `s${r}`), signal, () => undefined)));
        if (shim) shimCpuSeconds += cpuSecondsOf(shim.pid) - cpu0;
        containerParts.push(...(await runBench({ ...options(['container'], perRound, `c${r}`), endpoints: [{ name: 'shim', address, watch: [] }] }, signal, () => undefined)));
        dockerParts.push(
          await dockerBaseline({ dockerEndpoint: values['docker-endpoint'], pauseImage: values['pause-image'], image: values.image, command: DEFAULT_COMMAND, pods: perRound, runId: `${runId}-d${r}` }, signal),
        );
      }
      sequential = makeReport({ ...options(['lifecycle'], perRound, 's'), rounds }, [merge(shimParts)], startedAt, signal.aborted);
      containerReport = endpointReport(merge(containerParts));
      baseline = endpointReport(merge(dockerParts));
      say(`parallel: ${perRound * rounds} pods, ${parallel} in flight; then ${containers} pods kept running, polled, Lists timed`);
      const restOptions = options(['parallel', 'steady'], perRound * rounds, 'p');
      rest = makeReport(restOptions, await runBench(restOptions, signal, say), startedAt, signal.aborted);
      interrupted = signal.aborted;
    }, say);
  } finally {
    await shim?.stop();
  }
  const seq = sequential!.endpoints[0];
  const base = baseline!;
  const pod = ratioSpread(base.rpcs['docker/whole pod']?.roundMedians ?? [], seq.rpcs['lifecycle/whole pod']?.roundMedians ?? []);
  const sandbox = ratioSpread(base.rpcs['docker/sandbox (create+start+inspect)']?.roundMedians ?? [], seq.rpcs['lifecycle/RunPodSandbox']?.roundMedians ?? []);
  // The shim's own share: 1 - docker/shim, from the round-by-round ratio shim/docker.
  const share = (ratio: number) => 1 - 1 / ratio;
  const overhead = {
    wholePod: { shimMs: median(seq, 'lifecycle/whole pod'), dockerMs: median(base, 'docker/whole pod'), shimOverDocker: pod, shimShare: share(pod.median) },
    runPodSandbox: { shimMs: median(seq, 'lifecycle/RunPodSandbox'), dockerMs: median(base, 'docker/sandbox (create+start+inspect)'), shimOverDocker: sandbox, shimShare: share(sandbox.median) },
  };
  const start = ratioSpread(base.rpcs['docker/container start']?.roundMedians ?? [], seq.rpcs['lifecycle/StartContainer']?.roundMedians ?? []);
  const stopPod = ratioSpread(base.rpcs['docker/stop both']?.roundMedians ?? [], seq.rpcs['lifecycle/StopPodSandbox']?.roundMedians ?? []);
  const seqPods = seq.throughput.lifecycle?.pods ?? 0;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const cmed = (rpc: string) => median(containerReport!, `container/${rpc}`).toFixed(1);
  const restEp = rest!.endpoints[0];
  const out = [
    formatTable(sequential!),
    '',
    formatTable({ ...sequential!, endpoints: [containerReport!], ratios: [] }),
    '',
    formatTable({ ...sequential!, endpoints: [base], ratios: [] }),
    '',
    formatTable(rest!),
    '',
    `shim overhead per whole pod (Run+Create+Start+StopPod+RemovePod, sequential): shim ${overhead.wholePod.shimMs.toFixed(1)} ms vs bare Docker ${overhead.wholePod.dockerMs.toFixed(1)} ms;` +
      ` shim/docker ${pod.median.toFixed(3)} [${pod.min.toFixed(3)}-${pod.max.toFixed(3)}] over ${pod.values.length} rounds -> shim's own share ${pct(overhead.wholePod.shimShare)}`,
    `RunPodSandbox vs pause create+start+inspect: ${overhead.runPodSandbox.shimMs.toFixed(1)} ms vs ${overhead.runPodSandbox.dockerMs.toFixed(1)} ms;` +
      ` shim/docker ${sandbox.median.toFixed(3)} [${sandbox.min.toFixed(3)}-${sandbox.max.toFixed(3)}] -> ${pct(overhead.runPodSandbox.shimShare)}`,
    `StartContainer vs container start: shim/docker ${start.median.toFixed(3)} [${start.min.toFixed(3)}-${start.max.toFixed(3)}];` +
      ` StopPodSandbox vs stop of both containers: shim/docker ${stopPod.median.toFixed(3)} [${stopPod.min.toFixed(3)}-${stopPod.max.toFixed(3)}]`,
    `container lifecycle in one pod, median ms: CreateContainer ${cmed('CreateContainer')}, StartContainer ${cmed('StartContainer')}, StopContainer ${cmed('StopContainer')}, RemoveContainer ${cmed('RemoveContainer')}`,
    shim ? `shim's own CPU for the ${seqPods} sequential pod lifecycles: ${shimCpuSeconds.toFixed(2)} s (${((shimCpuSeconds / Math.max(1, seqPods)) * 50).toFixed(2)} s per 50 pods)` : 'shim CPU: not measured (--endpoint)',
    `List with ${containers} pods running, back to back: ListPodSandbox median ${median(restEp, 'list/ListPodSandbox').toFixed(2)} ms (p95 ${restEp.rpcs['list/ListPodSandbox']?.p95.toFixed(2)}),` +
      ` ListContainers median ${median(restEp, 'list/ListContainers').toFixed(2)} ms (p95 ${restEp.rpcs['list/ListContainers']?.p95.toFixed(2)})`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  const extra = { startOverDocker: start, stopPodOverDocker: stopPod, shimCpuSeconds, sequentialPods: seqPods };
  if (values.output) writeFileSync(values.output, `${JSON.stringify({ sequential: sequential!, containers: containerReport!, dockerBaseline: base, parallelAndSteady: rest!, overhead, ...extra }, null, 2)}\n`);
  return interrupted ? 130 : 0;
}

/**
 * Two builds of the shim and bare Docker, in rounds: each round runs the sequential pod
 * lifecycles and the container workload through both shims (their order alternating), then the
 * bare Docker calls, so load from elsewhere hits all three alike. Prints both shims side by
 * side (ratio after/before per round), each one's ratios to bare Docker and its own CPU.
 */
async function runCompare(
  before: Shim,
  after: Shim,
  rounds: number,
  perRound: number,
  options: (workloads: Workload[], podsPerRound: number, call: string) => RunnerOptions,
  say: (line: string) => void,
  signal: AbortSignal,
): Promise<number> {
  const startedAt = new Date().toISOString();
  const shims = [
    { name: 'before', shim: before, lifecycle: [] as EndpointRun[], containers: [] as EndpointRun[], cpu: 0 },
    { name: 'after', shim: after, lifecycle: [] as EndpointRun[], containers: [] as EndpointRun[], cpu: 0 },
  ];
  const dockerParts: EndpointRun[] = [];
  for (let r = 0; r < rounds && !signal.aborted; r++) {
    say(`round ${r + 1}/${rounds}: ${perRound} pods and ${perRound} containers through each shim, then bare Docker`);
    for (let k = 0; k < shims.length && !signal.aborted; k++) {
      const s = shims[(k + r) % shims.length];
      const endpoint = (watch: ProcessSpec[]) => [{ name: s.name, address: s.shim.address, watch }];
      const cpu0 = cpuSecondsOf(s.shim.pid);
      s.lifecycle.push(...(await runBench({ ...options(['lifecycle'], perRound, `${s.name[0]}${r}`), endpoints: endpoint([new ProcessSpec(String(s.shim.pid))]) }, signal, () => undefined)));
      s.cpu += cpuSecondsOf(s.shim.pid) - cpu0;
      s.containers.push(...(await runBench({ ...options(['container'], perRound, `${s.name[0]}c${r}`), endpoints: endpoint([]) }, signal, () => undefined)));
    }
    dockerParts.push(
      await dockerBaseline({ dockerEndpoint: values['docker-endpoint'], pauseImage: values['pause-image'], image: values.image, command: DEFAULT_COMMAND, pods: perRound, runId: `cmp-d${r}-${process.pid}` }, signal),
    );
  }
  const lifecycle = makeReport({ ...options(['lifecycle'], perRound, 'cmp'), rounds }, shims.map((s) => merge(s.lifecycle)), startedAt, signal.aborted);
  const containers = makeReport({ ...options(['container'], perRound, 'cmp'), rounds }, shims.map((s) => merge(s.containers)), startedAt, signal.aborted);
  const base = endpointReport(merge(dockerParts));
  const toDocker = (e: EndpointReport, dockerKey: string, key: string) => {
    const x = ratioSpread(base.rpcs[`docker/${dockerKey}`]?.roundMedians ?? [], e.rpcs[key]?.roundMedians ?? []);
    return `${x.median.toFixed(3)} [${x.min.toFixed(3)}-${x.max.toFixed(3)}]`;
  };
  const out = [formatTable(lifecycle), '', formatTable(containers), '', formatTable({ ...lifecycle, endpoints: [base], ratios: [] }), ''];
  for (const [i, s] of shims.entries()) {
    const e = lifecycle.endpoints[i];
    const c = containers.endpoints[i];
    const pods = e.throughput.lifecycle?.pods ?? 0;
    out.push(
      `${s.name}: shim/docker RunPodSandbox ${toDocker(e, 'sandbox (create+start+inspect)', 'lifecycle/RunPodSandbox')}, StartContainer ${toDocker(e, 'container start', 'lifecycle/StartContainer')},` +
        ` StopPodSandbox ${toDocker(e, 'stop both', 'lifecycle/StopPodSandbox')}, whole pod ${toDocker(e, 'whole pod', 'lifecycle/whole pod')};` +
        ` container workload medians ms: Create ${median(c, 'container/CreateContainer').toFixed(1)}, Start ${median(c, 'container/StartContainer').toFixed(1)}, Stop ${median(c, 'container/StopContainer').toFixed(1)}, Remove ${median(c, 'container/RemoveContainer').toFixed(1)};` +
        ` shim CPU ${s.cpu.toFixed(2)} s for ${pods} pod lifecycles (${((s.cpu / Math.max(1, pods)) * 50).toFixed(2)} s per 50)`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (values.output) writeFileSync(values.output, `${JSON.stringify({ lifecycle, containers, dockerBaseline: base, cpuSeconds: shims.map((s) => ({ name: s.name, cpu: s.cpu })) }, null, 2)}\n`);
  return signal.aborted ? 130 : 0;
}

interface SoakSample {
  pods: number;
  seconds: number;
  /** RSS after the batch. */
  rssMiB: number;
  /** Median of the RSS read every second during the batch: V8 grows and shrinks its heap by tens of MiB as it collects. */
  rssMedianMiB: number;
  /** Least JS heap in use over a few samples after the batch: garbage not yet collected left out. */
  heapUsedMiB: number;
  /** JS heap in use right after a full GC (after the last batch, once its RSS is read). */
  heapAfterGcMiB?: number;
  /** What V8 holds for its young generation now: it grows with the allocation rate, up to --max-semi-space-size. */
  newSpaceMiB: number;
}

/** A gauge of the shim's /metrics (prom-client's default Node metrics), NaN when absent. */
async function gauge(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`docker_cri_shim_${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}

/** The shim's JS heap in use now. */
function heapUsed(metricsUrl: string): Promise<number> {
  return gauge(metricsUrl, 'nodejs_heap_size_used_bytes');
}

/**
 * JS heap in use right after a full GC: the shim's heap snapshot endpoint collects garbage first
 * (the snapshot file is deleted); NaN when it refuses (one snapshot a minute at most).
 */
async function heapAfterGc(metricsUrl: string): Promise<number> {
  const res = await fetch(metricsUrl.replace(/\/metrics$/, '/debug/heap-snapshot'), { method: 'POST' });
  const path = (await res.text()).trim();
  if (!res.ok) return Number.NaN;
  rmSync(path, { force: true });
  return heapUsed(metricsUrl);
}

/**
 * N pod lifecycles in batches of 100 (4 in flight), bounded by `maxSeconds`; after each batch the
 * shim's RSS and its JS heap (the least of 10 samples over 2 s, so young garbage does not count),
 * and after the last one the heap right after a full GC.
 * Growth is measured from the first batch (warm-up: code paths compiled, pools filled).
 */
async function runSoak(
  pods: number,
  maxSeconds: number,
  shim: Shim | undefined,
  options: (workloads: Workload[], podsPerRound: number, call: string) => RunnerOptions,
  say: (line: string) => void,
  signal: AbortSignal,
): Promise<number> {
  if (!shim?.metricsUrl) throw new Error('--soak measures the shim it starts: drop --endpoint');
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  let done = 0;
  let errors = 0;
  for (let batch = 0; done < pods && !signal.aborted; batch++) {
    if ((performance.now() - t0) / 1000 > maxSeconds) {
      say(`soak: stopped at ${done} pods, past --soak-seconds ${maxSeconds}`);
      break;
    }
    const n = Math.min(100, pods - done);
    const rss: number[] = [];
    const timer = setInterval(() => rss.push(rssOf(shim.pid)), 1000);
    const [run] = await runBench(options(['parallel'], n, `k${batch}`), signal, () => undefined).finally(() => clearInterval(timer));
    rss.sort((a, b) => a - b);
    const report = endpointReport(run);
    done += report.throughput.parallel?.pods ?? 0;
    errors += report.errorCount;
    let heap = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 10; i++) {
      await sleep(200);
      heap = Math.min(heap, await heapUsed(shim.metricsUrl));
    }
    const newSpace = await gauge(shim.metricsUrl, 'nodejs_heap_space_size_total_bytes{space="new"}');
    const sample: SoakSample = {
      pods: done,
      seconds: (performance.now() - t0) / 1000,
      rssMiB: rssOf(shim.pid) / 2 ** 20,
      rssMedianMiB: (rss[Math.floor(rss.length / 2)] ?? Number.NaN) / 2 ** 20,
      heapUsedMiB: heap / 2 ** 20,
      newSpaceMiB: newSpace / 2 ** 20,
    };
    // Last: writing the snapshot leaves native memory behind that would count in every later RSS.
    if (done >= pods) sample.heapAfterGcMiB = (await heapAfterGc(shim.metricsUrl)) / 2 ** 20;
    samples.push(sample);
    say(`soak: ${sample.pods} pods, ${sample.seconds.toFixed(0)} s: RSS ${sample.rssMiB.toFixed(1)} MiB (median over the batch ${sample.rssMedianMiB.toFixed(1)}), young generation ${sample.newSpaceMiB.toFixed(1)} MiB, JS heap used ${sample.heapUsedMiB.toFixed(1)} MiB${sample.heapAfterGcMiB === undefined ? '' : ` (${sample.heapAfterGcMiB.toFixed(1)} after a full GC)`}, errors ${errors}`);
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  const lines = [
    'pods   seconds   RSS MiB   median RSS MiB   young gen MiB   JS heap used MiB   after full GC',
    ...samples.map(
      (s) =>
        `${String(s.pods).padStart(4)}   ${s.seconds.toFixed(0).padStart(7)}   ${s.rssMiB.toFixed(1).padStart(7)}   ${s.rssMedianMiB.toFixed(1).padStart(14)}   ${s.newSpaceMiB.toFixed(1).padStart(13)}   ${s.heapUsedMiB.toFixed(1).padStart(16)}   ${(s.heapAfterGcMiB?.toFixed(1) ?? '').padStart(13)}`,
    ),
    first && last
      ? `after warm-up (${first.pods} -> ${last.pods} pods): RSS ${(last.rssMiB - first.rssMiB).toFixed(1)} MiB (batch medians ${(last.rssMedianMiB - first.rssMedianMiB).toFixed(1)} MiB), JS heap ${(last.heapUsedMiB - first.heapUsedMiB).toFixed(1)} MiB; errors ${errors}`
      : 'no batch completed',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.output) writeFileSync(values.output, `${JSON.stringify({ soak: samples, errors }, null, 2)}\n`);
  return signal.aborted ? 130 : errors > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
