// ListContainerStats for N running containers through the shim (cgroup reads), side by side with
// Docker's stats API for the same containers (what cri-dockerd calls per container).
//
//   npm run build && node bench/stats.ts [--containers 100] [--pods 10] [--rounds 30]
//
// Runs the built shim (dist/main.js) on a temporary socket against the machine's dockerd, with the
// locally built test images; removes every container it made, also when interrupted. Docker's
// side goes through the shim's Docker gateway (its queue costs about 0.1 ms a call), with a
// queue as wide as the containers so that every stats request is in flight at once.
import { join } from 'node:path';
import { DockerodeEngine } from '../dist/docker/dockerode-engine.js';
import { median, percentileOf as pct } from '../dist/bench/stats.js';
import { DEFAULTS } from '../dist/config.js';
import { createLogger } from '../dist/logger.js';
import { arg, BUSYBOX, RUN, startBenchShim } from './shim-process.ts';

const CONTAINERS = arg('containers', 100);
const PODS = arg('pods', 10);
const ROUNDS = arg('rounds', 30);
const DOCKER_ROUNDS = arg('docker-rounds', 3);

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

async function main(): Promise<void> {
  const shim = await startBenchShim({ prefix: 'cri-shim-bench-stats-' });
  const { rt, tmp } = shim;
  const docker = new DockerodeEngine({
    // The shim's own default, which the shim under test uses too.
    endpoint: DEFAULTS.dockerEndpoint,
    requestTimeoutMs: 120_000,
    concurrency: CONTAINERS,
    logger: createLogger('silent'),
  });
  try {
    const labels = { 'bench-run': RUN };

    process.stdout.write(`creating ${PODS} pods with ${CONTAINERS} running containers ...`);
    const [setupMs, ids] = await time(async () => {
      const out: string[] = [];
      for (let p = 0; p < PODS; p++) {
        const config = {
          metadata: { name: `bench-stats-${RUN}-${p}`, namespace: 'bench', uid: `uid-${RUN}-${p}`, attempt: 0 },
          log_directory: join(tmp, 'logs', String(p)),
          labels,
        };
        const { pod_sandbox_id } = await rt.call('RunPodSandbox', { config });
        const n = Math.floor(CONTAINERS / PODS) + (p < CONTAINERS % PODS ? 1 : 0);
        const made = await Promise.all(
          Array.from({ length: n }, async (_, c) => {
            const { container_id } = await rt.call('CreateContainer', {
              pod_sandbox_id,
              config: { metadata: { name: `c${c}`, attempt: 0 }, image: { image: BUSYBOX }, command: ['sleep', '3600'], log_path: `c${c}.log`, labels },
              sandbox_config: config,
            });
            await rt.call('StartContainer', { container_id });
            return container_id;
          }),
        );
        out.push(...made);
      }
      return out;
    });
    process.stdout.write(` ${(setupMs / 1000).toFixed(1)} s\n`);

    const filter = { label_selector: labels };
    // Warm-up: the first call measures every writable layer (then cached) and finds each cgroup.
    const warm = await rt.call('ListContainerStats', { filter });
    if (warm.stats.length !== ids.length) throw new Error(`ListContainerStats returned ${warm.stats.length} of ${ids.length}`);

    const listMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) listMs.push((await time(() => rt.call('ListContainerStats', { filter })))[0]);
    const podMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) podMs.push((await time(() => rt.call('ListPodSandboxStats', { filter })))[0]);

    // Docker's stats endpoint for the same containers, all at once: stream=false waits for a
    // second sample (~1 s) to fill precpu_stats; one-shot (API >= 1.41) returns one sample.
    const dockerStats = async (oneShot: boolean) => {
      const samples = await Promise.all(ids.map((id) => docker.stats(id, { oneShot })));
      if (samples.some((s) => !s)) throw new Error('a container went missing during Docker stats');
    };
    const dockerMs: number[] = [];
    for (let i = 0; i < DOCKER_ROUNDS; i++) dockerMs.push((await time(() => dockerStats(false)))[0]);
    const oneShotMs: number[] = [];
    for (let i = 0; i < DOCKER_ROUNDS; i++) oneShotMs.push((await time(() => dockerStats(true)))[0]);

    console.log(`\nListContainerStats, ${ids.length} running containers in ${PODS} pods (${ROUNDS} rounds, 2 cores)`);
    console.log('| what | median | p90 | rounds |');
    console.log('| --- | --- | --- | --- |');
    console.log(`| shim ListContainerStats (cgroup files) | ${fmt(median(listMs))} | ${fmt(pct(listMs, 90))} | ${ROUNDS} |`);
    console.log(`| shim ListPodSandboxStats (cgroup files + netns) | ${fmt(median(podMs))} | ${fmt(pct(podMs, 90))} | ${ROUNDS} |`);
    console.log(`| Docker stats API, stream=false, all in parallel | ${fmt(median(dockerMs))} | ${fmt(pct(dockerMs, 90))} | ${DOCKER_ROUNDS} |`);
    console.log(`| Docker stats API, one-shot, all in parallel | ${fmt(median(oneShotMs))} | ${fmt(pct(oneShotMs, 90))} | ${DOCKER_ROUNDS} |`);
    console.log(`\ntarget: median < 100 ms -> ${median(listMs) < 100 ? 'met' : 'NOT met'}`);
  } finally {
    await shim.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
