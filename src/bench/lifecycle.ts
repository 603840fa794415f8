#!/usr/bin/env node
// `npm run bench`: the shim's own speed figures (core issue). Drives the shim over gRPC with
// the bench machinery: the full pod lifecycle for 50 pods sequentially and 50 with 4 in
// flight, List latency with 100 running containers, and, in the same run, the bare Docker
// calls a pod needs, so the shim's overhead per pod is a measured ratio.
//
//   npm run build && npm run bench [-- --endpoint unix:///path] [--output FILE]
//
// Without --endpoint it starts the built shim (dist/main.js) on a temporary socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { int, makeReport, withSignals } from './cli.js';
import { BenchCri } from './cri.js';
import { dockerBaseline } from './docker-baseline.js';
import { ProcessSpec } from './procwatch.js';
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
} as const;

const { values } = parseFlags();

interface Shim {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

/** The built shim on a temporary socket and root, ready when Version answers. */
async function startShim(): Promise<Shim> {
  const tmp = mkdtempSync(join(tmpdir(), 'cri-bench-shim-'));
  const address = `unix://${join(tmp, 'cri.sock')}`;
  const main = fileURLToPath(new URL('../main.js', import.meta.url));
  const proc: ChildProcess = spawn(
    process.execPath,
    [...NODE_FLAGS, main, `--container-runtime-endpoint=${address}`, `--root-directory=${join(tmp, 'root')}`, `--pod-infra-container-image=${values['pause-image']}`, `--docker-endpoint=${values['docker-endpoint']}`, '--log-level=warn', `--network-plugin=${values['network-plugin']}`],
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
  return { address, pid: proc.pid!, stop };
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
  const shim = values.endpoint ? undefined : await startShim();
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
      statusPeriodSeconds: 10,
      statsPeriodSeconds: 10,
      listCalls,
      execs: 0,
      pullImages: [],
    },
  });
  const startedAt = new Date().toISOString();
  let sequential: BenchReport;
  let baseline: EndpointReport;
  let rest: BenchReport;
  let interrupted = false;
  try {
    await withSignals(async (signal) => {
      // Shim and bare Docker alternate in rounds, so load from elsewhere hits both alike.
      const shimParts: EndpointRun[] = [];
      const dockerParts: EndpointRun[] = [];
      for (let r = 0; r < rounds && !signal.aborted; r++) {
        say(`round ${r + 1}/${rounds}: ${perRound} pods through the shim, then the same through bare Docker`);
        shimParts.push(...(await runBench(options(['lifecycle'], perRound, `s${r}`), signal, () => undefined)));
        dockerParts.push(
          await dockerBaseline({ dockerEndpoint: values['docker-endpoint'], pauseImage: values['pause-image'], image: values.image, command: DEFAULT_COMMAND, pods: perRound, runId: `${runId}-d${r}` }, signal),
        );
      }
      sequential = makeReport({ ...options(['lifecycle'], perRound, 's'), rounds }, [merge(shimParts)], startedAt, signal.aborted);
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
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const restEp = rest!.endpoints[0];
  const out = [
    formatTable(sequential!),
    '',
    formatTable({ ...sequential!, endpoints: [base], ratios: [] }),
    '',
    formatTable(rest!),
    '',
    `shim overhead per whole pod (Run+Create+Start+StopPod+RemovePod, sequential): shim ${overhead.wholePod.shimMs.toFixed(1)} ms vs bare Docker ${overhead.wholePod.dockerMs.toFixed(1)} ms;` +
      ` shim/docker ${pod.median.toFixed(3)} [${pod.min.toFixed(3)}-${pod.max.toFixed(3)}] over ${pod.values.length} rounds -> shim's own share ${pct(overhead.wholePod.shimShare)}`,
    `RunPodSandbox vs pause create+start+inspect: ${overhead.runPodSandbox.shimMs.toFixed(1)} ms vs ${overhead.runPodSandbox.dockerMs.toFixed(1)} ms;` +
      ` shim/docker ${sandbox.median.toFixed(3)} [${sandbox.min.toFixed(3)}-${sandbox.max.toFixed(3)}] -> ${pct(overhead.runPodSandbox.shimShare)}`,
    `List with ${containers} pods running, back to back: ListPodSandbox median ${median(restEp, 'list/ListPodSandbox').toFixed(2)} ms (p95 ${restEp.rpcs['list/ListPodSandbox']?.p95.toFixed(2)}),` +
      ` ListContainers median ${median(restEp, 'list/ListContainers').toFixed(2)} ms (p95 ${restEp.rpcs['list/ListContainers']?.p95.toFixed(2)})`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (values.output) writeFileSync(values.output, `${JSON.stringify({ sequential: sequential!, dockerBaseline: base, parallelAndSteady: rest!, overhead }, null, 2)}\n`);
  return interrupted ? 130 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
