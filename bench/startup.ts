// The single executable: start-up time to the first answered Version, RSS when idle, and RSS
// after N pod lifecycles (RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox).
// RSS alone cannot tell a leak from a heap V8 has not shrunk yet, so the JS heap in use is also
// read right after a full GC (the heap snapshot endpoint collects garbage first).
//
//   npm run build && npm run build:sea && node bench/startup.ts [--starts 10] [--pods 1000] [--concurrency 4]
//
// Runs packaging/out/docker-cri-shim on temporary sockets against the machine's dockerd with
// the locally built pause image; removes every pod it made, also when interrupted.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BenchCri } from '../dist/bench/cri.js';
import { arg, cleanupAll, freePort, RUN, startBenchShim, TOP } from './shim-process.ts';

const EXE = join(TOP, 'packaging/out/docker-cri-shim');
const STARTS = arg('starts', 10);
const PODS = arg('pods', 1000);
const CONCURRENCY = arg('concurrency', 4);

if (!existsSync(EXE)) {
  process.stderr.write(`${EXE} is missing: run npm run build:sea first\n`);
  process.exit(1);
}

const start = (args: string[], noWait = false) => startBenchShim({ prefix: 'cri-shim-bench-startup-', command: [EXE], args, noWait });

/** Spawn to first answered Version, in ms; a fresh client each try, as a kubelet would retry. */
async function timeToVersion(): Promise<number> {
  const t0 = performance.now();
  const shim = await start([], true);
  for (;;) {
    if (existsSync(shim.socket)) {
      const c = new BenchCri('probe', shim.socket, 1_000);
      try {
        await c.call('Version', { version: 'v1' });
        const ms = performance.now() - t0;
        c.close();
        await shim.stop();
        return ms;
      } catch {
        c.close();
      }
    }
    if (shim.proc.exitCode !== null) throw new Error(`shim exited with ${shim.proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}


/** JS heap in use right after a full GC, in MiB; the snapshot file itself is discarded. */
async function heapAfterGcMiB(metrics: string): Promise<number> {
  const path = (await (await fetch(`${metrics}/debug/heap-snapshot`, { method: 'POST' })).text()).trim();
  rmSync(path, { force: true });
  const text = await (await fetch(`${metrics}/metrics`)).text();
  const m = /^docker_cri_shim_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return Number(m![1]) / 1024 / 1024;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const f = (n: number) => n.toFixed(1);

try {
  const starts: number[] = [];
  for (let i = 0; i < STARTS; i++) starts.push(await timeToVersion());
  console.log(`start-up to first Version (${STARTS} starts): median ${f(pct(starts, 50))} ms, min ${f(Math.min(...starts))} ms, max ${f(Math.max(...starts))} ms`);

  const port = await freePort();
  const metrics = `http://127.0.0.1:${port}`;
  const { proc, rt: c, stop } = await start([`--metrics-bind-addr=127.0.0.1:${port}`]);
  await c.call('Version', { version: 'v1' });
  await new Promise((r) => setTimeout(r, 3_000));
  const idle = rssMiB(proc.pid!);
  const idleHeap = await heapAfterGcMiB(metrics);
  console.log(`RSS idle: ${f(idle)} MiB; JS heap used after full GC: ${f(idleHeap)} MiB`);

  if (PODS > 0) {
    let next = 0;
    const t0 = performance.now();
    const samples: string[] = [];
    const lifecycle = async (n: number) => {
      const { pod_sandbox_id: id } = await c.call('RunPodSandbox', {
        config: { metadata: { name: `bench-${RUN}-${n}`, namespace: `bench-${RUN}`, uid: `${RUN}-${n}`, attempt: 0 }, labels: { 'bench-run': RUN } },
      });
      await c.call('PodSandboxStatus', { pod_sandbox_id: id });
      await c.call('StopPodSandbox', { pod_sandbox_id: id });
      await c.call('RemovePodSandbox', { pod_sandbox_id: id });
    };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < PODS) {
          const n = next++;
          await lifecycle(n);
          if ((n + 1) % 250 === 0) samples.push(`${n + 1}: ${f(rssMiB(proc.pid!))} MiB`);
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    await c.call('ListPodSandbox', {});
    await new Promise((r) => setTimeout(r, 5_000));
    const after = rssMiB(proc.pid!);
    const afterHeap = await heapAfterGcMiB(metrics);
    console.log(`${PODS} pod lifecycles (concurrency ${CONCURRENCY}) in ${f(secs)} s (${f(PODS / secs)} pods/s); RSS along the way: ${samples.join(', ')}`);
    console.log(`RSS after ${PODS} pod lifecycles (5 s settle): ${f(after)} MiB (growth ${f(after - idle)} MiB over idle)`);
    console.log(`JS heap used after full GC: ${f(afterHeap)} MiB (growth ${f(afterHeap - idleHeap)} MiB over idle)`);
  }
  await stop();
} finally {
  await cleanupAll();
}
