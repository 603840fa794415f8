// The bare Docker calls one pod needs (pause container create+start+inspect, workload
// container create+start+inspect joined to it, stop, remove), straight against dockerd and
// timed like the CRI calls, so the shim's own share of a pod lifecycle is a measured ratio.
// Through the shim's Docker gateway, without the shim's logic. What the gateway adds to a request
// is measured by `npm run bench:gateway`: 0.4-0.6 ms (median) next to bare HTTP on the socket,
// 4-6 ms of a pod's ten requests, well under the run-to-run spread of create, start and stop.
import type { ContainerCreateOptions } from '../docker/engine.js';
import { DockerodeEngine } from '../docker/dockerode-engine.js';
import { Code, CriError } from '../errors.js';
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
  const docker = new DockerodeEngine({ endpoint: opts.dockerEndpoint, requestTimeoutMs: 120_000, logger: createLogger('silent') });
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
      recorder.error(`docker/${what}`, err instanceof CriError ? Code[err.code] : 'ERROR', (err as Error).message);
      throw err;
    }
  };
  const create = async (what: string, options: ContainerCreateOptions) => {
    const c = await timed(`${what} create`, async () => {
      const created = await docker.createContainer(options);
      if (created.kind !== 'created') throw new CriError(Code.FAILED_PRECONDITION, `create ${options.name}: ${created.message}`);
      return created.id;
    });
    made.add(c);
    return c;
  };
  /** A step whose outcome must be the one a fresh container gives. */
  const expect = async (step: Promise<{ kind: string }>, kind: string) => {
    const outcome = await step;
    if (outcome.kind !== kind) throw new CriError(Code.FAILED_PRECONDITION, `Docker answered ${outcome.kind}`);
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
        await timed('pause start', () => expect(docker.start(pause), 'started'));
        await timed('pause inspect', () => docker.inspect(pause));
        recorder.latency('docker/sandbox (create+start+inspect)', performance.now() - t0);
        const joined = `container:${pause}`;
        const main = await create('container', {
          name: `${name}-main`,
          Image: opts.image,
          Cmd: opts.command,
          Labels: labels,
          HostConfig: { NetworkMode: joined, IpcMode: joined },
        });
        await timed('container start', () => expect(docker.start(main), 'started'));
        await timed('container inspect', () => docker.inspect(main));
        await timed('stop both', async () => {
          await expect(docker.stop(main, WORKLOAD_STOP_SECONDS), 'stopped');
          await expect(docker.stop(pause, PAUSE_STOP_SECONDS), 'stopped');
        });
        await timed('remove both', async () => {
          await expect(docker.remove(main), 'removed');
          await expect(docker.remove(pause), 'removed');
        });
        made.delete(main);
        made.delete(pause);
        recorder.latency('docker/whole pod', performance.now() - t0);
        done++;
      } catch {
        // counted by status; the containers are removed below
      }
    }
    recorder.pods('docker', done, (performance.now() - started) / 1000);
  } finally {
    for (const id of made) {
      await docker.remove(id).catch((err: unknown) => cleanupFailures.push(`${id}: ${(err as Error).message}`));
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
