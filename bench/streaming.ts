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
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { median, percentileOf } from '../dist/bench/stats.js';
import { spdyExec, wsConnect } from '../test/helpers/stream-clients.ts';
import { arg, BUSYBOX, RUN, startBenchShim, TOP } from './shim-process.ts';

const ROUNDS = arg('rounds', 50);
const MB = arg('mb', 200);

const p95 = (xs: number[]) => percentileOf(xs, 95);

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
  const shim = await startBenchShim({ prefix: 'cri-shim-bench-streaming-' });
  const { rt, tmp } = shim;
  try {
    const labels = { 'bench-run': RUN };
    const config = { metadata: { name: `bench-stream-${RUN}`, namespace: 'bench', uid: `uid-${RUN}`, attempt: 0 }, log_directory: join(tmp, 'logs'), labels };
    const { pod_sandbox_id } = await rt.call('RunPodSandbox', { config });
    const { container_id: id } = await rt.call('CreateContainer', {
      pod_sandbox_id,
      config: { metadata: { name: 'c', attempt: 0 }, image: { image: BUSYBOX }, command: ['sleep', '3600'], log_path: 'c.log', labels },
      sandbox_config: config,
    });
    await rt.call('StartContainer', { container_id: id });

    // ExecSync `true` vs the docker CLI.
    for (let i = 0; i < 5; i++) await rt.call('ExecSync', { container_id: id, cmd: ['true'], timeout: '10' });
    const shimMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      await rt.call('ExecSync', { container_id: id, cmd: ['true'], timeout: '10' });
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
      (await rt.call('Exec', { container_id: id, cmd: ['head', '-c', String(bytes), '/dev/zero'], stdout: true, stderr: true })).url;
    // Go's spdystream client (what kubelet, kubectl and crictl use), when Go and its sources are here.
    const goClient = buildGoClient(tmp);
    const throughput = async (via: 'spdy' | 'ws' | 'go') => {
      const url = await execUrl();
      const rss = rssSampler(shim.proc.pid!);
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
    const baseline = rssSampler(shim.proc.pid!).stop();
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
  } finally {
    await shim.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
