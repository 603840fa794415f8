// Drives every endpoint with the same workloads, one endpoint at a time, in alternating
// rounds (the order rotates each round) so machine drift touches all of them alike; then
// removes everything it made, also when interrupted.
import { rmSync } from 'node:fs';
import { BenchCri, codeName, errorText } from './cri.js';
import { ProcessWatch, type ProcessSpec } from './procwatch.js';
import { Recorder } from './recorder.js';
import { removePod, runWorkload, RUN_LABEL, Tracker, type Workload, type WorkloadOptions } from './workloads.js';

export interface EndpointSpec {
  name: string;
  address: string;
  watch: ProcessSpec[];
}

export interface RunnerOptions {
  endpoints: EndpointSpec[];
  workloads: Workload[];
  rounds: number;
  allowExisting: boolean;
  timeoutMs: number;
  workload: WorkloadOptions;
}

export interface EndpointRun {
  spec: EndpointSpec;
  runtime: { name: string; version: string };
  existingPods: number;
  /** One recorder per completed round, in round order. */
  rounds: Recorder[];
  cleanupFailures: string[];
}

/** A refusal before anything was created (bad endpoint, existing pods, missing image). */
export class BenchRefused extends Error {}

export async function runBench(opts: RunnerOptions, signal: AbortSignal, progress: (line: string) => void): Promise<EndpointRun[]> {
  const cris = opts.endpoints.map((e) => new BenchCri(e.name, e.address, opts.timeoutMs));
  const trackers = opts.endpoints.map(() => new Tracker());
  const runs: EndpointRun[] = opts.endpoints.map((spec) => ({ spec, runtime: { name: '', version: '' }, existingPods: 0, rounds: [], cleanupFailures: [] }));
  const podCounters = opts.endpoints.map(() => 0);
  try {
    for (let i = 0; i < cris.length; i++) await preflight(cris[i], runs[i], opts);
    for (let round = 0; round < opts.rounds && !signal.aborted; round++) {
      for (let k = 0; k < cris.length && !signal.aborted; k++) {
        const i = (k + round) % cris.length;
        const recorder = new Recorder();
        const cri = cris[i];
        cri.recorder = recorder;
        const watch = new ProcessWatch(opts.endpoints[i].watch);
        if (opts.endpoints[i].watch.length) watch.start();
        progress(`round ${round + 1}/${opts.rounds}: ${cri.name} (${opts.workloads.join(', ')})`);
        const watched = opts.endpoints[i].watch.length ? watch : undefined;
        const ctx = { cri, opts: opts.workload, tracker: trackers[i], signal, recorder, watch: watched, nextPod: () => podCounters[i]++ };
        for (const w of opts.workloads) {
          if (signal.aborted) break;
          await runWorkload(ctx, w);
        }
        if (opts.endpoints[i].watch.length) recorder.cost = watch.stop();
        cri.recorder = undefined;
        // A round cut short by an interrupt is not a round: its figures would skew the rest.
        if (!signal.aborted) runs[i].rounds.push(recorder);
      }
    }
  } finally {
    for (let i = 0; i < cris.length; i++) {
      runs[i].cleanupFailures = await cleanup(cris[i], trackers[i], opts.workload.runId);
      if (runs[i].cleanupFailures.length) progress(`cleanup on ${cris[i].name} left: ${runs[i].cleanupFailures.join('; ')}`);
      cris[i].close();
    }
    rmSync(opts.workload.logDir, { recursive: true, force: true });
  }
  return runs;
}

async function preflight(cri: BenchCri, run: EndpointRun, opts: RunnerOptions): Promise<void> {
  const fail = (what: string, err: unknown) => new BenchRefused(`${cri.name} (${cri.address}): ${what}: ${errorText(err)}`);
  const v = await cri.call('Version', { version: 'v1' }).catch((err: unknown) => {
    throw fail('Version failed', err);
  });
  run.runtime = { name: v.runtime_name, version: v.runtime_version };
  const pods = (await cri.call('ListPodSandbox', {}).catch((err: unknown) => {
    throw fail('ListPodSandbox failed', err);
  })).items;
  run.existingPods = pods.length;
  if (pods.length && !opts.allowExisting) {
    throw new BenchRefused(
      `${cri.name} (${cri.address}) already has ${pods.length} pod(s); the bench refuses to run beside them unless --allow-existing (it never touches pods it did not make)`,
    );
  }
  const needsImage = opts.workloads.some((w) => w !== 'image');
  if (needsImage) {
    const st = await cri.call('ImageStatus', { image: { image: opts.workload.image }, verbose: false });
    if (!st.image) throw new BenchRefused(`${cri.name}: image ${opts.workload.image} is not present; the bench never pulls it on its own: load it into the runtime first`);
  }
  if (opts.workloads.includes('image')) {
    for (const ref of opts.workload.pullImages) {
      const st = await cri.call('ImageStatus', { image: { image: ref }, verbose: false });
      if (st.image) throw new BenchRefused(`${cri.name}: --pull-image ${ref} is already present; the image workload removes what it pulls, so name an image the runtime does not have`);
    }
  }
}

/** Removes what this run made: tracked pods, pods carrying this run's label, pulled images. */
async function cleanup(cri: BenchCri, tracker: Tracker, runId: string): Promise<string[]> {
  const failures: string[] = [];
  const labelled = await cri
    .call('ListPodSandbox', { filter: { label_selector: { [RUN_LABEL]: runId } } })
    .then((r) => r.items.map((p) => p.id))
    .catch(() => []);
  for (const pod of new Set([...tracker.sandboxes, ...labelled])) {
    const failure = await removePod(cri, tracker, pod);
    if (failure) failures.push(failure);
  }
  for (const ref of tracker.images) {
    await cri.call('RemoveImage', { image: { image: ref } }).catch((err: unknown) => failures.push(`image ${ref}: ${codeName(err)}`));
  }
  return failures;
}
