// Pod lifecycle latency with CNI plugins versus Docker's own bridge, and the share of the CNI
// pod's time spent inside the plugins (ADD on RunPodSandbox, DEL on StopPodSandbox).
//
//   npm run build && node bench/cni.ts [--pods 20]
//
// Starts the built shim twice on temporary sockets against the machine's dockerd: once with
// --network-plugin= (Docker's bridge), once with --network-plugin=cni on a bridge + host-local +
// portmap + firewall + loopback list of Debian's plugins (/usr/lib/cni) in a temp conf dir.
// Plugin time comes from the shim's own debug log ("CNI plugin ran", pluginMs per plugin).
// Removes every pod, bridge and temp dir it made, also on failure (on Ctrl-C: its containers,
// the shims and their temp dirs; not the CNI bridge and conf dir).
import { median, percentileOf } from '../dist/bench/stats.js';
import { createCniWorld, type CniWorld } from '../test/helpers/cni.ts';
import { arg, cleanupAll, RUN, startBenchShim, type BenchShim } from './shim-process.ts';

const PODS = arg('pods', 20);

/** The shim with its debug log kept: plugin time is read from it. */
function startShim(args: string[]): Promise<BenchShim> {
  return startBenchShim({ prefix: 'cri-bench-cni-', logLevel: 'debug', captureLog: true, args });
}

const STEPS = ['RunPodSandbox', 'PodSandboxStatus', 'StopPodSandbox', 'RemovePodSandbox'] as const;
type Step = (typeof STEPS)[number];

interface ModeResult {
  perStep: Record<Step, number[]>;
  total: number[];
  /** Plugin time summed per pod (ADD + DEL), from the shim's log. */
  pluginMs: number[];
}

function emptyResult(): ModeResult {
  return { perStep: Object.fromEntries(STEPS.map((s) => [s, [] as number[]])) as Record<Step, number[]>, total: [], pluginMs: [] };
}

/** One pod's whole lifecycle on one shim, added to `into` unless it is a warm-up round. */
async function onePod(shim: BenchShim, mode: string, i: number, into: ModeResult): Promise<void> {
  const config = {
    metadata: { name: `bench-${mode}-${RUN}-${i}`, namespace: `bench-${RUN}`, uid: `uid-${RUN}-${mode}-${i}`, attempt: 0 },
    labels: { 'bench-run': RUN },
  };
  const times: Partial<Record<Step, number>> = {};
  const time = async <T>(step: Step, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    times[step] = performance.now() - t0;
    return r;
  };
  const { pod_sandbox_id: id } = await time('RunPodSandbox', () => shim.rt.call('RunPodSandbox', { config }));
  await time('PodSandboxStatus', () => shim.rt.call('PodSandboxStatus', { pod_sandbox_id: id }));
  await time('StopPodSandbox', () => shim.rt.call('StopPodSandbox', { pod_sandbox_id: id }));
  await time('RemovePodSandbox', () => shim.rt.call('RemovePodSandbox', { pod_sandbox_id: id }));
  // The first two pods warm caches (image inspect, plugin binaries in the page cache).
  if (i < 2) return;
  for (const s of STEPS) into.perStep[s].push(times[s]!);
  into.total.push(STEPS.reduce((a, s) => a + times[s]!, 0));
  into.pluginMs.push(pluginTimeOf(shim.log(), id));
}

interface PluginRun {
  sandboxId: string;
  plugin: string;
  command: string;
  pluginMs: number;
}

function pluginRuns(log: string): PluginRun[] {
  return log
    .split('\n')
    .filter((line) => line.includes('"CNI plugin ran"'))
    .map((line) => JSON.parse(line) as PluginRun);
}

function pluginTimeOf(log: string, sandboxId: string): number {
  return pluginRuns(log)
    .filter((r) => r.sandboxId === sandboxId)
    .reduce((a, r) => a + r.pluginMs, 0);
}

const p90 = (xs: number[]) => percentileOf(xs, 90);

const fmt = (n: number) => n.toFixed(1).padStart(8);

async function main(): Promise<void> {
  let world: CniWorld | undefined;
  try {
    world = createCniWorld();
    world.writeConflist();
    const bridge = await startShim(['--network-plugin=']);
    const cni = await startShim(world.shimArgs());

    console.log(`pod sandbox lifecycle, ${PODS} pods one after another per mode, the modes alternating (medians / p90, ms)\n`);
    const results: Record<string, ModeResult> = { 'docker-bridge': emptyResult(), cni: emptyResult() };
    // Alternating pod by pod, so a busy spell of the machine weighs on both modes alike.
    for (let i = 0; i < PODS + 2; i++) {
      await onePod(bridge, 'docker-bridge', i, results['docker-bridge']);
      await onePod(cni, 'cni', i, results.cni);
    }

    console.log(`${'step'.padEnd(18)}${'bridge p50'.padStart(12)}${'bridge p90'.padStart(12)}${'cni p50'.padStart(12)}${'cni p90'.padStart(12)}`);
    for (const s of [...STEPS, 'total'] as const) {
      const b = s === 'total' ? results['docker-bridge'].total : results['docker-bridge'].perStep[s];
      const c = s === 'total' ? results.cni.total : results.cni.perStep[s];
      console.log(`${s.padEnd(18)}${fmt(median(b)).padStart(12)}${fmt(p90(b)).padStart(12)}${fmt(median(c)).padStart(12)}${fmt(p90(c)).padStart(12)}`);
    }
    const plugin = median(results.cni.pluginMs);
    const totalCni = median(results.cni.total);
    console.log(`\nCNI plugins per pod (ADD + DEL, 4 plugins each): median ${plugin.toFixed(1)} ms = ${((plugin / totalCni) * 100).toFixed(0)}% of the CNI pod lifecycle`);
    console.log(`CNI lifecycle minus plugin time: ${(totalCni - plugin).toFixed(1)} ms (Docker bridge lifecycle: ${median(results['docker-bridge'].total).toFixed(1)} ms)`);
    const byPlugin = new Map<string, number[]>();
    for (const r of pluginRuns(cni.log())) {
      const key = `${r.command} ${r.plugin}`;
      byPlugin.set(key, [...(byPlugin.get(key) ?? []), r.pluginMs]);
    }
    console.log(`per plugin (median ms): ${[...byPlugin].map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ')}`);
    console.log(`host-local store after the run: ${world.reservedIps().length} addresses held`);
  } finally {
    // A pod left half-way by a failure: its containers go (their network with the CNI cache dir).
    await cleanupAll();
    world?.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
