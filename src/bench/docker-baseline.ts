// The bare Docker calls one pod needs (pause container create+start+inspect, workload
// container create+start+inspect joined to it, stop, remove), straight against dockerd and
// timed like the CRI calls, so the shim's own share of a pod lifecycle is a measured ratio.
import type Dockerode from 'dockerode';
import { DockerClient } from '../docker/client.js';
import { createLogger } from '../logger.js';
import { Recorder } from './recorder.js';
import { RUN_LABEL } from './workloads.js';
import type { EndpointRun } from './runner.js';

/** Same graces as the shim's StopPodSandbox: a leftover workload is killed, pause gets a short one. */
const WORKLOAD_STOP_SECONDS = 0;
const PAUSE_STOP_SECONDS = 2;

export interface BaselineOptions {
  dockerEndpoint: string;
  pauseImage: string;
  image: string;
  command: string[];
  pods: number;
  runId: string;
}

export async function dockerBaseline(opts: BaselineOptions, signal: AbortSignal): Promise<EndpointRun> {
  const client = new DockerClient({ endpoint: opts.dockerEndpoint, requestTimeoutMs: 120_000, logger: createLogger('silent') });
  await client.apiVersion();
  const docker = client.docker;
  const version = await docker.version();
  const recorder = new Recorder();
  const made = new Set<string>();
  const cleanupFailures: string[] = [];

  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      const res = await fn();
      recorder.latency(`docker/${what}`, performance.now() - t0);
      return res;
    } catch (err) {
      recorder.error(`docker/${what}`, `HTTP_${(err as { statusCode?: number }).statusCode ?? 'ERROR'}`, (err as Error).message);
      throw err;
    }
  };
  const create = async (what: string, options: Dockerode.ContainerCreateOptions) => {
    const c = await timed(`${what} create`, () => docker.createContainer(options));
    made.add(c.id);
    return c;
  };

  const started = performance.now();
  let done = 0;
  try {
    for (let n = 0; n < opts.pods && !signal.aborted; n++) {
      const name = `cri-bench-docker-${opts.runId}-${n}`;
      const labels = { [RUN_LABEL]: opts.runId };
      const t0 = performance.now();
      try {
        const pause = await create('pause', { name: `${name}-pause`, Image: opts.pauseImage, Labels: labels, HostConfig: { NetworkMode: 'bridge', IpcMode: 'shareable' } });
        await timed('pause start', () => pause.start());
        await timed('pause inspect', () => pause.inspect());
        recorder.latency('docker/sandbox (create+start+inspect)', performance.now() - t0);
        const joined = `container:${pause.id}`;
        const main = await create('container', {
          name: `${name}-main`,
          Image: opts.image,
          Cmd: opts.command,
          Labels: labels,
          HostConfig: { NetworkMode: joined, IpcMode: joined },
        });
        await timed('container start', () => main.start());
        await timed('container inspect', () => main.inspect());
        await timed('stop both', async () => {
          await main.stop({ t: WORKLOAD_STOP_SECONDS });
          await pause.stop({ t: PAUSE_STOP_SECONDS });
        });
        await timed('remove both', async () => {
          await main.remove();
          await pause.remove();
        });
        made.delete(main.id);
        made.delete(pause.id);
        recorder.latency('docker/whole pod', performance.now() - t0);
        done++;
      } catch {
        // counted by status; the containers are removed below
      }
    }
    recorder.pods('docker', done, (performance.now() - started) / 1000);
  } finally {
    for (const id of made) {
      await docker
        .getContainer(id)
        .remove({ force: true })
        .catch((err: unknown) => cleanupFailures.push(`${id}: ${(err as Error).message}`));
    }
  }
  return {
    spec: { name: 'dockerd', address: opts.dockerEndpoint, watch: [] },
    runtime: { name: 'docker', version: version.Version },
    existingPods: 0,
    rounds: [recorder],
    cleanupFailures,
  };
}
