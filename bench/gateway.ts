// What the shim's Docker gateway (dockerode, the bounded queue, the deadline) adds to one Docker
// request: container inspect through the Engine next to the same request as bare HTTP on the
// Docker socket (one kept-alive connection), alternating, on one running container. The bare
// Docker baseline of `npm run bench` goes through the gateway; this says what that costs it.
//
//   npm run build && npm run bench:gateway [-- --rounds 1000]
//
// Creates one container from the locally built busybox image (label bench-run=RUN) and removes
// it, also when interrupted.
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { DockerodeEngine } from '../dist/docker/dockerode-engine.js';
import { DEFAULTS } from '../dist/config.js';
import { createLogger } from '../dist/logger.js';
import { median, percentileOf } from '../dist/bench/stats.js';
import { arg, BUSYBOX, RUN } from './shim-process.ts';

const ROUNDS = arg('rounds', 1000);
const WARMUP = 50;
const SOCKET = DEFAULTS.dockerEndpoint.replace(/^unix:\/\//, '');

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** GET `path` on the Docker socket: the status and the parsed body, as the Engine gives it. */
function bareGet(path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: SOCKET, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const engine = new DockerodeEngine({ endpoint: DEFAULTS.dockerEndpoint, requestTimeoutMs: 120_000, logger: createLogger('silent') });
let id = '';
const removeContainer = () => {
  if (id) execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
  id = '';
};
process.once('SIGINT', () => {
  removeContainer();
  process.exit(130);
});

try {
  const api = await engine.apiVersion();
  id = execFileSync('docker', ['run', '-d', '--label', `bench-run=${RUN}`, BUSYBOX, 'sleep', '600'], { encoding: 'utf8' }).trim();
  const path = `/v${api}/containers/${id}/json`;
  const bare: number[] = [];
  const gateway: number[] = [];
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    const b = await timed(async () => {
      if ((await bareGet(path)).status !== 200) throw new Error(`GET ${path} failed`);
    });
    const g = await timed(async () => {
      if (!(await engine.inspect(id))) throw new Error(`inspect ${id}: absent`);
    });
    if (i >= WARMUP) {
      bare.push(b);
      gateway.push(g);
    }
  }
  const f = (ms: number) => `${ms.toFixed(3)} ms`;
  console.log(`container inspect, ${ROUNDS} rounds alternating (after ${WARMUP} warm-up), Docker API ${api}`);
  console.log('| path | median | p90 |');
  console.log('| --- | --- | --- |');
  console.log(`| bare HTTP on the Docker socket | ${f(median(bare))} | ${f(percentileOf(bare, 90))} |`);
  console.log(`| Engine (dockerode, queue, deadline) | ${f(median(gateway))} | ${f(percentileOf(gateway, 90))} |`);
  console.log(`\ngateway cost per request: ${f(median(gateway) - median(bare))} (median difference)`);
} finally {
  removeContainer();
  agent.destroy();
}
