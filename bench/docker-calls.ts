// The Docker requests each lifecycle RPC costs on the real dockerd: the shim talks to dockerd
// through a counting proxy (a unix socket passing bytes both ways, reading the request lines),
// and each RPC is charged the requests about its own pod made from its start until a short
// settle after it: what the RPC asks itself, and the inspects that the Docker events of its
// change make the container index do. Requests about other containers (dockerd is shared; the
// index follows every labelled container) are left out. A pod: RunPodSandbox, CreateContainer,
// StartContainer, StopContainer, RemoveContainer, then a second container created and started,
// StopPodSandbox, RemovePodSandbox.
//
//   npm run build && node bench/docker-calls.ts [--pods 5] [--settle-ms 300]
//
// SHIM_MAIN=.../dist/main.js measures another build (a before/after comparison). Removes every
// pod it made, also when interrupted.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, BUSYBOX, cleanupAll, RUN, startBenchShim } from './shim-process.ts';

const PODS = arg('pods', 5);
const SETTLE_MS = arg('settle-ms', 300);
const DOCKER_SOCKET = '/var/run/docker.sock';
/** A request line; after a body the next request follows it on the same line (no CRLF between). */
const REQUEST_LINE = /(GET|POST|DELETE|PUT|HEAD) (\/\S*) HTTP\/1\.[01]$/;

/** Every request line the shim sent to dockerd, in order (method and path, API version cut). */
const requests: string[] = [];
const logDir = mkdtempSync(join(tmpdir(), 'cri-bench-docker-calls-'));
const proxyPath = join(logDir, 'docker.sock');
const proxy = createServer((client) => {
  const upstream = connect(DOCKER_SOCKET);
  let partial = '';
  client.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('latin1')).split('\r\n');
    // The last piece is a line not ended yet; a long body without line ends is not kept whole.
    partial = lines.pop()!.slice(-8192);
    for (const line of lines) {
      const m = REQUEST_LINE.exec(line);
      if (m) requests.push(`${m[1]} ${m[2].replace(/^\/v1\.\d+/, '')}`);
    }
    upstream.write(chunk);
  });
  upstream.on('data', (chunk: Buffer) => client.write(chunk));
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const s of [client, upstream]) {
    s.on('close', end);
    s.on('error', end);
  }
});
await new Promise<void>((resolve) => proxy.listen(proxyPath, resolve));

/** Whether the request names a container (by id, short id or name) that is not one of `ours`. */
function aboutOthers(line: string, ours: string[]): boolean {
  const named = [...decodeURIComponent(line).matchAll(/\/containers\/([^/?]+)/g)].map((m) => m[1]).filter((x) => x !== 'json' && x !== 'create');
  return named.some((x) => !ours.some((o) => o.startsWith(x) || x.startsWith(o)));
}

const main = process.env.SHIM_MAIN;
try {
  const { rt: c } = await startBenchShim({
    prefix: 'cri-bench-docker-calls-',
    command: main ? [process.execPath, main] : undefined,
    args: [`--docker-endpoint=unix://${proxyPath}`],
  });
  await c.call('Version', { version: 'v1' });
  // The index and image store are live (and `docker info` asked) before the first pod.
  await new Promise((r) => setTimeout(r, 2_000));
  const perRpc = new Map<string, string[][]>();
  /** Ids (and names) of this pod's containers, as they become known. */
  let ours: string[] = [];
  const counted = async <T>(rpc: string, fn: () => Promise<T>, idOf?: (res: T) => string): Promise<T> => {
    const from = requests.length;
    const res = await fn();
    if (idOf) ours.push(idOf(res));
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    perRpc.set(rpc, [...(perRpc.get(rpc) ?? []), requests.slice(from).filter((line) => !aboutOthers(line, ours))]);
    return res;
  };
  for (let n = 0; n < PODS; n++) {
    const name = `bench-${RUN}-${n}`;
    ours = [`k8s_POD_${name}`, `k8s_app_${name}`];
    const config = { metadata: { name, namespace: `bench-${RUN}`, uid: `${RUN}-${n}`, attempt: 0 }, labels: { 'bench-run': RUN }, log_directory: join(logDir, name) };
    const container = (pod: string, cname: string) => ({
      pod_sandbox_id: pod,
      config: { metadata: { name: cname, attempt: 0 }, image: { image: BUSYBOX }, command: ['sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"], log_path: `${cname}.log`, labels: { 'bench-run': RUN } },
      sandbox_config: config,
    });
    const { pod_sandbox_id: pod } = await counted('RunPodSandbox', () => c.call('RunPodSandbox', { config }), (r) => r.pod_sandbox_id);
    const { container_id: app } = await counted('CreateContainer', () => c.call('CreateContainer', container(pod, 'app')), (r) => r.container_id);
    await counted('StartContainer', () => c.call('StartContainer', { container_id: app }));
    await counted('StopContainer', () => c.call('StopContainer', { container_id: app, timeout: 10 }));
    await counted('RemoveContainer', () => c.call('RemoveContainer', { container_id: app }));
    const { container_id: side } = await c.call('CreateContainer', container(pod, 'side'));
    ours.push(side);
    await c.call('StartContainer', { container_id: side });
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    await counted('StopPodSandbox (1 running container)', () => c.call('StopPodSandbox', { pod_sandbox_id: pod }));
    await counted('RemovePodSandbox (1 stopped container)', () => c.call('RemovePodSandbox', { pod_sandbox_id: pod }));
  }
  console.log(`Docker requests per RPC about its own pod (its own and the event-fed inspects after it, settle ${SETTLE_MS} ms), ${PODS} pods${main ? `; shim ${main}` : ''}`);
  for (const [rpc, perPod] of perRpc) {
    const counts = perPod.map((lines) => lines.length).sort((a, b) => a - b);
    const last = perPod[perPod.length - 1].map((l) => l.replace(/[0-9a-f]{64}/g, '<id>').replace(/\?.*$/, ''));
    console.log(`${rpc.padEnd(40)} median ${counts[Math.floor(counts.length / 2)]} (${counts.join('/')}): ${last.join(', ')}`);
  }
} finally {
  await cleanupAll();
  proxy.close();
  rmSync(logDir, { recursive: true, force: true });
}
