// The single executable: start-up time to the first answered Version, RSS when idle, and RSS
// after N pod lifecycles (RunPodSandbox, PodSandboxStatus, StopPodSandbox, RemovePodSandbox).
// RSS alone cannot tell a leak from a heap V8 has not shrunk yet, so the JS heap in use is also
// read right after a full GC (the heap snapshot endpoint collects garbage first).
//
//   npm run build && npm run build:sea && node bench/startup.ts [--starts 10] [--pods 1000] [--concurrency 4]
//
// Runs packaging/out/docker-cri-shim on temporary sockets against the machine's dockerd with
// the locally built pause image; removes every pod it made, also when interrupted.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadCri } from '../dist/proto.js';

const TOP = resolve(import.meta.dirname, '..');
const EXE = join(TOP, 'packaging/out/docker-cri-shim');
const PAUSE = 'docker-cri-shim/pause:latest';
const RUN = randomBytes(4).toString('hex');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const STARTS = arg('starts', 10);
const PODS = arg('pods', 1000);
const CONCURRENCY = arg('concurrency', 4);

if (!existsSync(EXE)) {
  process.stderr.write(`${EXE} is missing: run npm run build:sea first\n`);
  process.exit(1);
}

const tmp = mkdtempSync(join(tmpdir(), 'cri-shim-bench-startup-'));
const procs: ChildProcess[] = [];

function cleanup(): void {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=bench-run=${RUN}`], { encoding: 'utf8' }).trim();
  if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

type Client = grpc.Client & Record<string, (req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void>;

function client(socket: string): Client {
  return new (loadCri().runtime.v1.RuntimeService)(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as Client;
}

function call<T>(c: Client, method: string, req: unknown, timeoutMs = 60_000): Promise<T> {
  return new Promise((res, rej) => c[method](req, { deadline: Date.now() + timeoutMs }, (err, out) => (err ? rej(err) : res(out as T))));
}

function start(name: string, extra: string[] = []): { proc: ChildProcess; socket: string } {
  const socket = join(tmp, `${name}.sock`);
  const proc = spawn(
    EXE,
    [`--container-runtime-endpoint=unix://${socket}`, `--root-directory=${join(tmp, name)}`, `--pod-infra-container-image=${PAUSE}`, '--network-plugin=', '--log-level=warn', ...extra],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  procs.push(proc);
  return { proc, socket };
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** Spawn to first answered Version, in ms; a fresh client each try, as a kubelet would retry. */
async function timeToVersion(i: number): Promise<number> {
  const t0 = performance.now();
  const { proc, socket } = start(`start-${i}`);
  for (;;) {
    if (existsSync(socket)) {
      const c = client(socket);
      try {
        await call(c, 'Version', { version: 'v1' }, 1_000);
        const ms = performance.now() - t0;
        c.close();
        await stop(proc);
        return ms;
      } catch {
        c.close();
      }
    }
    if (proc.exitCode !== null) throw new Error(`shim exited with ${proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
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
  for (let i = 0; i < STARTS; i++) starts.push(await timeToVersion(i));
  console.log(`start-up to first Version (${STARTS} starts): median ${f(pct(starts, 50))} ms, min ${f(Math.min(...starts))} ms, max ${f(Math.max(...starts))} ms`);

  const port = await freePort();
  const metrics = `http://127.0.0.1:${port}`;
  const { proc, socket } = start('pods', [`--metrics-bind-addr=127.0.0.1:${port}`]);
  while (!existsSync(socket)) await new Promise((r) => setTimeout(r, 20));
  const c = client(socket);
  await call(c, 'Version', { version: 'v1' });
  await new Promise((r) => setTimeout(r, 3_000));
  const idle = rssMiB(proc.pid!);
  const idleHeap = await heapAfterGcMiB(metrics);
  console.log(`RSS idle: ${f(idle)} MiB; JS heap used after full GC: ${f(idleHeap)} MiB`);

  if (PODS > 0) {
    let next = 0;
    const t0 = performance.now();
    const samples: string[] = [];
    const lifecycle = async (n: number) => {
      const { pod_sandbox_id: id } = await call<{ pod_sandbox_id: string }>(c, 'RunPodSandbox', {
        config: { metadata: { name: `bench-${RUN}-${n}`, namespace: `bench-${RUN}`, uid: `${RUN}-${n}`, attempt: 0 }, labels: { 'bench-run': RUN } },
      });
      await call(c, 'PodSandboxStatus', { pod_sandbox_id: id });
      await call(c, 'StopPodSandbox', { pod_sandbox_id: id });
      await call(c, 'RemovePodSandbox', { pod_sandbox_id: id });
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
    await call(c, 'ListPodSandbox', {});
    await new Promise((r) => setTimeout(r, 5_000));
    const after = rssMiB(proc.pid!);
    const afterHeap = await heapAfterGcMiB(metrics);
    console.log(`${PODS} pod lifecycles (concurrency ${CONCURRENCY}) in ${f(secs)} s (${f(PODS / secs)} pods/s); RSS along the way: ${samples.join(', ')}`);
    console.log(`RSS after ${PODS} pod lifecycles (5 s settle): ${f(after)} MiB (growth ${f(after - idle)} MiB over idle)`);
    console.log(`JS heap used after full GC: ${f(afterHeap)} MiB (growth ${f(afterHeap - idleHeap)} MiB over idle)`);
  }
  c.close();
  await stop(proc);
} finally {
  cleanup();
}
