// The Docker requests each lifecycle RPC costs on the real dockerd, read from the shim's own
// docker_requests_total (by operation) around each call: what the RPC asks itself, and the
// inspects that the Docker events of its change make the container index do (counted after a
// short settle). A pod: RunPodSandbox, CreateContainer, StartContainer, StopContainer,
// RemoveContainer, then a second container created and started, StopPodSandbox, RemovePodSandbox.
//
//   npm run build && node bench/docker-calls.ts [--pods 5] [--settle-ms 300]
//
// SHIM_MAIN=.../dist/main.js measures another build (a before/after comparison). Removes every
// pod it made, also when interrupted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, BUSYBOX, cleanupAll, freePort, RUN, startBenchShim } from './shim-process.ts';

const PODS = arg('pods', 5);
const SETTLE_MS = arg('settle-ms', 300);


/** docker_requests_total by operation, summed over results. */
async function dockerRequests(metrics: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of (await (await fetch(metrics)).text()).matchAll(/^docker_cri_shim_docker_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const op = /operation="([^"]+)"/.exec(m[1])?.[1] ?? '?';
    out.set(op, (out.get(op) ?? 0) + Number(m[2]));
  }
  return out;
}

const logDir = mkdtempSync(join(tmpdir(), 'cri-bench-docker-calls-'));
const port = await freePort();
const metrics = `http://127.0.0.1:${port}/metrics`;
const main = process.env.SHIM_MAIN;
try {
  const { rt: c } = await startBenchShim({
    prefix: 'cri-bench-docker-calls-',
    command: main ? [process.execPath, main] : undefined,
    args: [`--metrics-bind-addr=127.0.0.1:${port}`],
  });
  await c.call('Version', { version: 'v1' });
  // The index and image store are live (and `docker info` asked) before the first pod.
  await new Promise((r) => setTimeout(r, 2_000));
  const perRpc = new Map<string, Map<string, number>[]>();
  const counted = async <T>(rpc: string, fn: () => Promise<T>): Promise<T> => {
    const before = await dockerRequests(metrics);
    const res = await fn();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = await dockerRequests(metrics);
    const delta = new Map<string, number>();
    for (const [op, n] of after) if (n - (before.get(op) ?? 0) > 0) delta.set(op, n - (before.get(op) ?? 0));
    perRpc.set(rpc, [...(perRpc.get(rpc) ?? []), delta]);
    return res;
  };
  for (let n = 0; n < PODS; n++) {
    const name = `bench-${RUN}-${n}`;
    const config = { metadata: { name, namespace: `bench-${RUN}`, uid: `${RUN}-${n}`, attempt: 0 }, labels: { 'bench-run': RUN }, log_directory: join(logDir, name) };
    const container = (attempt: number, cname: string) => ({
      pod_sandbox_id: pod,
      config: { metadata: { name: cname, attempt }, image: { image: BUSYBOX }, command: ['sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"], log_path: `${cname}.log`, labels: { 'bench-run': RUN } },
      sandbox_config: config,
    });
    const { pod_sandbox_id: pod } = await counted('RunPodSandbox', () => c.call('RunPodSandbox', { config }));
    const { container_id: app } = await counted('CreateContainer', () => c.call('CreateContainer', container(0, 'app')));
    await counted('StartContainer', () => c.call('StartContainer', { container_id: app }));
    await counted('StopContainer', () => c.call('StopContainer', { container_id: app, timeout: 10 }));
    await counted('RemoveContainer', () => c.call('RemoveContainer', { container_id: app }));
    const { container_id: side } = await c.call('CreateContainer', container(0, 'side'));
    await c.call('StartContainer', { container_id: side });
    await counted('StopPodSandbox (1 running container)', () => c.call('StopPodSandbox', { pod_sandbox_id: pod }));
    await counted('RemovePodSandbox (1 stopped container)', () => c.call('RemovePodSandbox', { pod_sandbox_id: pod }));
  }
  console.log(`Docker requests per RPC, median of ${PODS} pods (the RPC's own and the event-fed inspects after it; settle ${SETTLE_MS} ms)${main ? `; shim ${main}` : ''}`);
  for (const [rpc, deltas] of perRpc) {
    const ops = [...new Set(deltas.flatMap((d) => [...d.keys()]))].sort();
    const median = (op: string) => deltas.map((d) => d.get(op) ?? 0).sort((a, b) => a - b)[Math.floor(deltas.length / 2)];
    const total = deltas.map((d) => [...d.values()].reduce((a, b) => a + b, 0)).sort((a, b) => a - b)[Math.floor(deltas.length / 2)];
    console.log(`${rpc.padEnd(40)} ${String(total).padStart(3)}  ${ops.map((op) => `${op} ${median(op)}`).join(', ')}`);
  }
} finally {
  await cleanupAll();
  rmSync(logDir, { recursive: true, force: true });
}
