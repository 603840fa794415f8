// Streaming speed: ExecSync round trip of `true` through the shim next to `docker exec` from the
// command line on the same container, and exec stdout throughput (200 MB from /dev/zero) through
// the streaming server over SPDY/3.1 (spdy-transport, and Go's spdystream when Go is installed)
// and over WebSocket, with the shim's peak RSS meanwhile.
//
//   npm run build && npm run bench:streaming [-- --rounds 50 --mb 200]
//
// Runs the built shim (dist/main.js) on a temporary socket against the machine's dockerd with
// the locally built test images; removes the pod it made, also when interrupted.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadCri } from '../dist/proto.js';
import { spdyExec, wsConnect } from '../test/helpers/stream-clients.ts';

const TOP = resolve(import.meta.dirname, '..');
const BUSYBOX = 'docker-cri-shim-test/busybox:latest';
const PAUSE = 'docker-cri-shim/pause:latest';
const RUN = randomBytes(4).toString('hex');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const ROUNDS = arg('rounds', 50);
const MB = arg('mb', 200);

type Unary = (req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

function rpc<T>(client: grpc.Client, method: string, req: unknown): Promise<T> {
  const fn = (client as unknown as Record<string, Unary>)[method];
  return new Promise((res, rej) => fn.call(client, req, { deadline: Date.now() + 120_000 }, (err, r) => (err ? rej(err) : res(r as T))));
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
const p95 = (xs: number[]) => sorted(xs)[Math.min(xs.length - 1, Math.floor(0.95 * xs.length))];

/** Samples a process's resident set every 20 ms; stop() returns the peak in MiB. */
function rssSampler(pid: number): { stop(): number } {
  const read = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  let peak = read();
  const timer = setInterval(() => (peak = Math.max(peak, read())), 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, read());
    },
  };
}

/** Builds test/go/spdyclient when Go and spdystream's sources are installed; undefined otherwise. */
function buildGoClient(dir: string): string | undefined {
  const gopath = '/usr/share/gocode';
  if (!existsSync(join(gopath, 'src/github.com/moby/spdystream'))) return undefined;
  try {
    const out = join(dir, 'spdyclient');
    execFileSync('go', ['build', '-o', out, '.'], {
      cwd: join(TOP, 'test/go/spdyclient'),
      env: { ...process.env, GO111MODULE: 'off', GOPATH: gopath, GOCACHE: join(dir, 'gocache') },
      stdio: 'ignore',
    });
    return out;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'cri-shim-bench-streaming-'));
  const sock = join(tmp, 'cri.sock');
  const shim = spawn(
    process.execPath,
    [join(TOP, 'dist/main.js'), `--container-runtime-endpoint=unix://${sock}`, `--root-directory=${join(tmp, 'root')}`, `--pod-infra-container-image=${PAUSE}`, '--log-level=warn', '--network-plugin='],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const cleanup = () => {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=bench-run=${RUN}`], { encoding: 'utf8' }).trim();
    if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
    if (shim.exitCode === null) shim.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    for (let i = 0; !existsSync(sock); i++) {
      if (i > 200 || shim.exitCode !== null) throw new Error('shim did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const rt = new (loadCri().runtime.v1.RuntimeService)(`unix://${sock}`, grpc.credentials.createInsecure());
    const labels = { 'bench-run': RUN };
    const config = { metadata: { name: `bench-stream-${RUN}`, namespace: 'bench', uid: `uid-${RUN}`, attempt: 0 }, log_directory: join(tmp, 'logs'), labels };
    const { pod_sandbox_id } = await rpc<{ pod_sandbox_id: string }>(rt, 'RunPodSandbox', { config });
    const { container_id: id } = await rpc<{ container_id: string }>(rt, 'CreateContainer', {
      pod_sandbox_id,
      config: { metadata: { name: 'c', attempt: 0 }, image: { image: BUSYBOX }, command: ['sleep', '3600'], log_path: 'c.log', labels },
      sandbox_config: config,
    });
    await rpc(rt, 'StartContainer', { container_id: id });

    // ExecSync `true` vs the docker CLI.
    for (let i = 0; i < 5; i++) await rpc(rt, 'ExecSync', { container_id: id, cmd: ['true'], timeout: '10' });
    const shimMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      await rpc(rt, 'ExecSync', { container_id: id, cmd: ['true'], timeout: '10' });
      shimMs.push(performance.now() - t);
    }
    const cliMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      execFileSync('docker', ['exec', id, 'true']);
      cliMs.push(performance.now() - t);
    }

    // Throughput: `head -c N /dev/zero` through an Exec session.
    const bytes = MB * 1024 * 1024;
    const execUrl = async () =>
      (await rpc<{ url: string }>(rt, 'Exec', { container_id: id, cmd: ['head', '-c', String(bytes), '/dev/zero'], stdout: true, stderr: true })).url;
    // Go's spdystream client (what kubelet, kubectl and crictl use), when Go and its sources are here.
    const goClient = buildGoClient(tmp);
    const throughput = async (via: 'spdy' | 'ws' | 'go') => {
      const url = await execUrl();
      const rss = rssSampler(shim.pid!);
      const t = performance.now();
      let got = 0;
      if (via === 'go') {
        const child = spawn(goClient!, ['exec', url, 'nostdin', 'notty'], { stdio: ['ignore', 'pipe', 'ignore'] });
        child.stdout.on('data', (d: Buffer) => (got += d.length));
        await new Promise((r) => child.once('close', r));
      } else if (via === 'spdy') {
        const s = await spdyExec(url, {});
        s.stdoutStream!.on('data', (d: Buffer) => (got += d.length));
        await s.error;
      } else {
        const ws = await wsConnect(url, ['v5.channel.k8s.io']);
        ws.on('message', (d: Buffer) => {
          if (d[0] === 1) got += d.length - 1;
        });
        await new Promise((r) => ws.once('close', r));
      }
      const s = (performance.now() - t) / 1000;
      const peak = rss.stop();
      if (got !== bytes) throw new Error(`${via}: got ${got} of ${bytes} bytes`);
      return { mbps: MB / s, seconds: s, peak };
    };
    // What dockerd itself delivers on this machine: the CLI reading the same exec output.
    const cliStart = performance.now();
    execFileSync('sh', ['-c', `docker exec ${id} head -c ${bytes} /dev/zero | wc -c`], { stdio: 'ignore' });
    const cliSeconds = (performance.now() - cliStart) / 1000;
    const baseline = rssSampler(shim.pid!).stop();
    const spdy = await throughput('spdy');
    const ws = await throughput('ws');
    const go = goClient ? await throughput('go') : undefined;

    console.log(`\nExecSync \`true\` round trip (${ROUNDS} rounds after 5 warm-up, 2 cores)`);
    console.log('| path | median | p95 |');
    console.log('| --- | --- | --- |');
    console.log(`| shim ExecSync over gRPC | ${median(shimMs).toFixed(1)} ms | ${p95(shimMs).toFixed(1)} ms |`);
    console.log(`| docker exec (CLI process) | ${median(cliMs).toFixed(1)} ms | ${p95(cliMs).toFixed(1)} ms |`);
    console.log(`\nExec stdout throughput, ${MB} MB from /dev/zero (shim RSS before: ${baseline.toFixed(0)} MiB)`);
    console.log('| protocol | MB/s | seconds | shim peak RSS |');
    console.log('| --- | --- | --- | --- |');
    console.log(`| SPDY/3.1 (spdy-transport client) | ${spdy.mbps.toFixed(0)} | ${spdy.seconds.toFixed(2)} | ${spdy.peak.toFixed(0)} MiB |`);
    console.log(`| WebSocket v5.channel.k8s.io (ws client) | ${ws.mbps.toFixed(0)} | ${ws.seconds.toFixed(2)} | ${ws.peak.toFixed(0)} MiB |`);
    if (go) console.log(`| SPDY/3.1 (Go spdystream client, no flow control) | ${go.mbps.toFixed(0)} | ${go.seconds.toFixed(2)} | ${go.peak.toFixed(0)} MiB |`);
    console.log(`| baseline: docker exec CLI, no shim | ${(MB / cliSeconds).toFixed(0)} | ${cliSeconds.toFixed(2)} | - |`);
    rt.close();
  } finally {
    cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
