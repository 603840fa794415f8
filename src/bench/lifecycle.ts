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
import { benchWithSignals } from './cli.js';
import { BenchCri } from './cri.js';
import { dockerBaseline } from './docker-baseline.js';
import { ProcessSpec } from './procwatch.js';
import { endpointReport, formatTable, type BenchReport, type EndpointReport } from './report.js';
import { DEFAULT_COMMAND } from './workloads.js';

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    'docker-endpoint': { type: 'string', default: 'unix:///var/run/docker.sock' },
    'pause-image': { type: 'string', default: 'registry.k8s.io/pause:3.10' },
    image: { type: 'string', default: 'docker-cri-shim-test/busybox:latest' },
    pods: { type: 'string', default: '50' },
    parallel: { type: 'string', default: '4' },
    containers: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
    'list-calls': { type: 'string', default: '50' },
    output: { type: 'string' },
  },
});

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
    [main, `--container-runtime-endpoint=${address}`, `--root-directory=${join(tmp, 'root')}`, `--pod-infra-container-image=${values['pause-image']}`, `--docker-endpoint=${values['docker-endpoint']}`, '--log-level=warn', '--network-plugin='],
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

async function main(): Promise<number> {
  const shim = values.endpoint ? undefined : await startShim();
  const address = values.endpoint ?? shim!.address;
  const runId = randomBytes(4).toString('hex');
  const pods = Number(values.pods);
  // The whole Docker path: the shim, dockerd, Docker's containerd and its runc shims.
  const watch = [
    ...(shim ? [new ProcessSpec(String(shim.pid))] : []),
    new ProcessSpec('dockerd'),
    new ProcessSpec('containerd~/var/run/docker/containerd'),
    new ProcessSpec('containerd-shim-runc-v2~/var/run/docker/containerd'),
  ];
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let report: BenchReport;
  let baseline: EndpointReport;
  try {
    report = await benchWithSignals(
      {
        endpoints: [{ name: 'shim', address, watch }],
        workloads: ['lifecycle', 'parallel', 'steady'],
        rounds: 1,
        // dockerd is shared: pods of others may be listed; the bench touches only its own.
        allowExisting: true,
        timeoutMs: 120_000,
        workload: {
          runId,
          logDir: join(tmpdir(), `cri-bench-${runId}`),
          image: values.image,
          command: DEFAULT_COMMAND,
          pods,
          parallel: Number(values.parallel),
          steadyPods: Number(values.containers),
          durationSeconds: Number(values.duration),
          statusPeriodSeconds: 10,
          statsPeriodSeconds: 10,
          listCalls: Number(values['list-calls']),
          execs: 0,
          pullImages: [],
        },
      },
      say,
    );
    say(`dockerd baseline: ${pods} pods of bare Docker calls`);
    const abort = new AbortController();
    baseline = endpointReport(
      await dockerBaseline(
        { dockerEndpoint: values['docker-endpoint'], pauseImage: values['pause-image'], image: values.image, command: DEFAULT_COMMAND, pods, runId },
        abort.signal,
      ),
    );
  } finally {
    await shim?.stop();
  }
  const shimReport = report.endpoints[0];
  const shimPod = median(shimReport, 'lifecycle/whole pod');
  const dockerPod = median(baseline, 'docker/whole pod');
  const shimSandbox = median(shimReport, 'lifecycle/RunPodSandbox');
  const dockerSandbox = median(baseline, 'docker/sandbox (create+start+inspect)');
  const overhead = {
    wholePodMs: { shim: shimPod, docker: dockerPod, shimShare: (shimPod - dockerPod) / shimPod },
    runPodSandboxMs: { shim: shimSandbox, docker: dockerSandbox, shimShare: (shimSandbox - dockerSandbox) / shimSandbox },
  };
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const out = [
    formatTable(report),
    '',
    formatTable({ ...report, endpoints: [baseline], ratios: [] }),
    '',
    `shim overhead, whole pod (sequential medians): shim ${shimPod.toFixed(1)} ms vs bare Docker ${dockerPod.toFixed(1)} ms -> shim's own share ${pct(overhead.wholePodMs.shimShare)}`,
    `shim overhead, RunPodSandbox vs pause create+start+inspect: ${shimSandbox.toFixed(1)} ms vs ${dockerSandbox.toFixed(1)} ms -> ${pct(overhead.runPodSandboxMs.shimShare)}`,
    `List with ${values.containers} pods running (back to back): ListPodSandbox median ${median(shimReport, 'list/ListPodSandbox').toFixed(2)} ms, ListContainers median ${median(shimReport, 'list/ListContainers').toFixed(2)} ms`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (values.output) writeFileSync(values.output, `${JSON.stringify({ shim: report, dockerBaseline: baseline, overhead }, null, 2)}\n`);
  return report.interrupted ? 130 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
