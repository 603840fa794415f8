// The writable-layer walk beside other RPCs (issue 11): a container whose layer holds 150,000
// files, ListContainerStats called in a loop (each figure older than the refresh interval
// starts a walk), and Version (a dockerd round trip), ListPodSandbox (the index alone) and
// ContainerStatus of a running container (its /proc reads go through libuv's thread pool, as
// the walk's lstat calls do) probed beside it. Reports their p50/p99/max with no walk and beside
// the walks, the shim's event-loop delay in each phase (prom-client's, from /metrics) and how
// long the walks took.
//
//   npm run build && npm run bench:layer-walk [-- --files 150000 --seconds 30]
//   UV_THREADPOOL_SIZE=4 npm run bench:layer-walk    # libuv's default pool, for comparison
//
// Runs the built shim (dist/main.js) on a temporary socket against the machine's dockerd with
// the locally built test images; removes the pod it made, also when interrupted.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { arg, BUSYBOX, RUN, startBenchShim } from './shim-process.ts';

const FILES = arg('files', 150_000);
const SECONDS = arg('seconds', 30);

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const fmt = (xs: number[]) =>
  xs.length ? `n=${xs.length} p50 ${pct(xs, 0.5).toFixed(1)} ms, p99 ${pct(xs, 0.99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms` : 'n=0';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The shim's event-loop delay since the previous scrape (prom-client resets it on each), in ms. */
async function loopDelay(metricsPort: number): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const get = (name: string) => Number(new RegExp(`^docker_cri_shim_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return `p50 ${get('p50').toFixed(1)} ms, p99 ${get('p99').toFixed(1)} ms, max ${get('max').toFixed(1)} ms`;
}

/** GET /version on dockerd's socket straight from the bench: the control, with no shim in between. */
function dockerVersion(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: '/var/run/docker.sock', path: '/version' }, (res) => {
      res.resume();
      res.once('end', () => resolve());
    });
    req.once('error', reject);
  });
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function main(): Promise<void> {
  const metricsPort = await freePort();
  const shim = await startBenchShim({ prefix: 'cri-shim-bench-walk-', args: [`--metrics-bind-addr=127.0.0.1:${metricsPort}`] });
  const { rt, tmp } = shim;
  try {
    const labels = { 'bench-run': RUN };
    const config = { metadata: { name: `bench-walk-${RUN}`, namespace: 'bench', uid: `uid-${RUN}`, attempt: 0 }, log_directory: join(tmp, 'logs'), labels };
    const { pod_sandbox_id } = await rt.call('RunPodSandbox', { config });
    const { container_id: id } = await rt.call('CreateContainer', {
      pod_sandbox_id,
      config: {
        metadata: { name: 'manyfiles', attempt: 0 },
        image: { image: BUSYBOX },
        command: ['sh', '-c', `mkdir /many && cd /many && seq 1 ${FILES} | xargs touch && touch /ready && sleep 3600`],
        log_path: 'c.log',
        labels,
      },
      sandbox_config: config,
    });
    await rt.call('StartContainer', { container_id: id });
    process.stderr.write(`creating ${FILES} files in the container...\n`);
    for (let i = 0; ; i++) {
      try {
        execFileSync('docker', ['exec', id, 'test', '-e', '/ready'], { stdio: 'ignore' });
        break;
      } catch {
        if (i > 3000) throw new Error('the container never made its files');
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    let probing = true;
    const probe = async (rpc: 'Version' | 'ListPodSandbox' | 'ContainerStatus' | 'docker', into: number[]) => {
      while (probing) {
        const t = performance.now();
        if (rpc === 'docker') await dockerVersion();
        else if (rpc === 'Version') await rt.call('Version', { version: '' });
        else if (rpc === 'ListPodSandbox') await rt.call('ListPodSandbox', {});
        else await rt.call('ContainerStatus', { container_id: id, verbose: false });
        into.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const probeFor = async (ms: number, during: () => Promise<void>) => {
      probing = true;
      const version: number[] = [];
      const list: number[] = [];
      const status: number[] = [];
      const direct: number[] = [];
      await loopDelay(metricsPort);
      const cpu = cpuSeconds(shim.proc.pid!);
      const probes = Promise.all([probe('Version', version), probe('ListPodSandbox', list), probe('ContainerStatus', status), probe('docker', direct)]);
      await Promise.all([new Promise((r) => setTimeout(r, ms)), during()]);
      probing = false;
      await probes;
      return { version, list, status, direct, loop: await loopDelay(metricsPort), cpu: `${(((cpuSeconds(shim.proc.pid!) - cpu) * 1000) / ms * 100).toFixed(0)}% of a core` };
    };

    // As long as the walk phase: a machine's own hiccups then weigh the same in both.
    const idle = await probeFor(SECONDS * 1000, async () => undefined);

    // Walks beside the probes: each time the figure is older than the refresh interval (10 s)
    // the next call starts a walk in the background; a changed inode count marks a walk's end.
    const statsMs: number[] = [];
    const walks: string[] = [];
    const deadline = performance.now() + SECONDS * 1000;
    const busy = await probeFor(SECONDS * 1000, async () => {
      let lastAtMs = 0;
      const asked = performance.now();
      while (performance.now() < deadline) {
        const t = performance.now();
        const { stats } = await rt.call('ListContainerStats', { filter: { id } });
        statsMs.push(performance.now() - t);
        const layer = stats[0]?.writable_layer;
        const atMs = Number(BigInt(layer?.timestamp ?? '0') / 1_000_000n);
        if (layer && atMs !== lastAtMs) {
          // A refresh starts with the first call after the figure is 10 s old; it ends at its timestamp.
          const took = lastAtMs === 0 ? `first figure ${(performance.now() - asked).toFixed(0)} ms after the first call` : `refresh done ${(atMs - lastAtMs - 10_000).toFixed(0)} ms after it was due`;
          walks.push(`${layer.inodes_used?.value} inodes, ${took}`);
          lastAtMs = atMs;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    const lines = [
      `layer walk bench: ${FILES} files, ${SECONDS} s of ListContainerStats every 100 ms`,
      `  Version        no walk: ${fmt(idle.version)}`,
      `  Version    beside walk: ${fmt(busy.version)}`,
      `  dockerd /version direct, no walk: ${fmt(idle.direct)}`,
      `  dockerd /version direct, beside:  ${fmt(busy.direct)}`,
      `  ListPodSandbox no walk: ${fmt(idle.list)}`,
      `  ListPodSandbox  beside: ${fmt(busy.list)}`,
      `  ContainerStatus no walk: ${fmt(idle.status)}`,
      `  ContainerStatus beside: ${fmt(busy.status)}`,
      `  event-loop delay no walk: ${idle.loop}`,
      `  event-loop delay beside:  ${busy.loop}`,
      `  shim CPU no walk: ${idle.cpu}, beside: ${busy.cpu}`,
      `  libuv thread pool: ${readdirSync(`/proc/${shim.proc.pid}/task`).filter((t) => readFileSync(`/proc/${shim.proc.pid}/task/${t}/comm`, 'utf8').trim() === 'libuv-worker').length} threads in the shim`,
      `  ListContainerStats:     ${fmt(statsMs)}`,
      `  figures: ${walks.join('; ')}`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await shim.cleanup();
  }
}

await main();
