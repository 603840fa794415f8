// --metrics-bind-addr through the real process: Prometheus counts and histograms after real
// RPCs, /healthz following dockerd (cut through a socat proxy), the diagnostics endpoints and
// SIGUSR2, and start-up errors for a taken address or a bad config file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCode } from '../helpers/cri-client.js';
import { DockerProxy } from '../helpers/docker-proxy.js';
import { startShim, TOP, type RunningShim } from '../helpers/shim.js';

const tmp = mkdtempSync(join(tmpdir(), 'cri-shim-metrics-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The address the shim logged for its metrics server (the tests bind port 0). */
function metricsUrl(shim: RunningShim): string {
  const m = /"address":"([^"]+)","msg":"metrics server listening"/.exec(shim.logs());
  if (!m) throw new Error(`no metrics address in the logs:\n${shim.logs()}`);
  return `http://${m[1]}`;
}

async function scrape(shim: RunningShim): Promise<string> {
  const res = await fetch(`${metricsUrl(shim)}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

/** The value of one sample line, e.g. sample(text, 'x_total{method="Version",code="OK"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('metrics', () => {
  let shim: RunningShim;
  const proxy = new DockerProxy();
  beforeAll(async () => {
    await proxy.start();
    shim = await startShim({ args: ['--metrics-bind-addr=127.0.0.1:0', `--docker-endpoint=${proxy.endpoint}`] });
  });
  afterAll(async () => {
    await shim?.stop();
    proxy.dispose();
  });

  it('counts RPCs by method and code, with latency histogram buckets', async () => {
    for (let i = 0; i < 3; i++) await shim.client.rt('Version', { version: 'v1' });
    await shim.client.rt('ListPodSandbox', {});
    await expectCode(shim.client.rt('PodSandboxStatus', { pod_sandbox_id: 'no-such-pod-metrics', verbose: false }), status.NOT_FOUND);

    const text = await scrape(shim);
    expect(sample(text, 'docker_cri_shim_rpc_requests_total{method="Version",code="OK"}')).toBe(3);
    expect(sample(text, 'docker_cri_shim_rpc_requests_total{method="ListPodSandbox",code="OK"}')).toBe(1);
    expect(sample(text, 'docker_cri_shim_rpc_requests_total{method="PodSandboxStatus",code="NOT_FOUND"}')).toBe(1);
    expect(sample(text, 'docker_cri_shim_rpc_errors_total{method="PodSandboxStatus",code="NOT_FOUND"}')).toBe(1);
    expect(text).not.toMatch(/docker_cri_shim_rpc_errors_total\{method="Version"/);
    expect(sample(text, 'docker_cri_shim_rpc_duration_seconds_count{method="Version"}')).toBe(3);
    expect(sample(text, 'docker_cri_shim_rpc_duration_seconds_bucket{le="+Inf",method="Version"}')).toBe(3);
    expect(sample(text, 'docker_cri_shim_rpc_duration_seconds_bucket{le="0.001",method="Version"}')).toBeGreaterThanOrEqual(0);
    expect(text).toContain('# TYPE docker_cri_shim_rpc_duration_seconds histogram');

    // Docker calls by operation (start-up and the index ask dockerd), the event stream and in-flight gauges.
    expect(text).toMatch(/docker_cri_shim_docker_requests_total\{operation="[^"]+",result="ok"\} [1-9]/);
    expect(text).toMatch(/docker_cri_shim_docker_request_duration_seconds_bucket\{le="\+Inf",operation="[^"]+"\} [1-9]/);
    expect(sample(text, 'docker_cri_shim_docker_event_stream_up')).toBe(1);
    expect(sample(text, 'docker_cri_shim_rpc_in_flight')).toBe(0);
    expect(sample(text, 'docker_cri_shim_docker_requests_in_flight{state="queued"}')).toBe(0);
    expect(text).toMatch(/docker_cri_shim_build_info\{version="[^"]+",commit="[^"]+"\} 1/);
    // Node process metrics, under the same prefix.
    expect(sample(text, 'docker_cri_shim_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('docker_cri_shim_nodejs_heap_size_used_bytes');
    // Every metric follows the prefix convention.
    const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(names.filter((n) => !n.startsWith('docker_cri_shim_'))).toEqual([]);
  });

  it('/healthz is 200 while dockerd answers and 503 while it does not', async () => {
    const url = `${metricsUrl(shim)}/healthz`;
    expect((await fetch(url)).status).toBe(200);
    proxy.cut();
    try {
      const res = await fetch(url);
      expect(res.status).toBe(503);
      expect(await res.text()).toMatch(/dockerd does not answer/);
      const down = await until('event stream down', async () => {
        const v = sample(await scrape(shim), 'docker_cri_shim_docker_event_stream_up');
        return v === 0 ? v : undefined;
      });
      expect(down).toBe(0);
      expect(sample(await scrape(shim), 'docker_cri_shim_docker_event_stream_disconnects_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await proxy.start();
    }
    await until('healthz back', async () => ((await fetch(url)).status === 200 ? true : undefined));
    await until('event stream back', async () => (sample(await scrape(shim), 'docker_cri_shim_docker_event_stream_up') === 1 ? true : undefined));
  });

  it('writes a heap snapshot and a CPU profile under the root directory on request', async () => {
    const heap = await fetch(`${metricsUrl(shim)}/debug/heap-snapshot`, { method: 'POST' });
    expect(heap.status).toBe(200);
    const heapPath = (await heap.text()).trim();
    expect(heapPath.startsWith(join(shim.rootDir, 'diagnostics'))).toBe(true);
    expect(existsSync(heapPath)).toBe(true);

    const cpu = await fetch(`${metricsUrl(shim)}/debug/cpu-profile?seconds=1`, { method: 'POST' });
    expect(cpu.status).toBe(200);
    const cpuPath = (await cpu.text()).trim();
    expect(cpuPath).toMatch(/\.cpuprofile$/);
    expect(existsSync(cpuPath)).toBe(true);

    expect((await fetch(`${metricsUrl(shim)}/debug/cpu-profile?seconds=9999`, { method: 'POST' })).status).toBe(400);
    expect((await fetch(`${metricsUrl(shim)}/debug/heap-snapshot`)).status).toBe(405);
  });

  it('SIGUSR2 writes a heap snapshot', async () => {
    const dir = join(shim.rootDir, 'diagnostics');
    const before = new Set(readdirSync(dir));
    shim.proc.kill('SIGUSR2');
    await until('a new heap snapshot', async () =>
      readdirSync(dir).some((f) => f.endsWith('.heapsnapshot') && !before.has(f)) ? true : undefined,
    );
  });
});

describe('start-up errors', () => {
  const shim = (args: string[]) =>
    spawnSync(process.execPath, [join(TOP, 'dist/main.js'), `--container-runtime-endpoint=unix://${join(tmp, 'err.sock')}`, `--root-directory=${join(tmp, 'root')}`, ...args], {
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('a metrics address already in use stops the shim with an error naming it', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const { port } = taken.address() as { port: number };
    try {
      const res = shim([`--metrics-bind-addr=127.0.0.1:${port}`]);
      expect(res.status).not.toBe(0);
      expect(res.stderr).toContain(`--metrics-bind-addr 127.0.0.1:${port}: address already in use`);
      expect(existsSync(join(tmp, 'err.sock'))).toBe(false);
    } finally {
      taken.close();
    }
  });

  it('a malformed metrics address is refused', () => {
    const res = shim(['--metrics-bind-addr=127.0.0.1:99999']);
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('--metrics-bind-addr "127.0.0.1:99999": port "99999" is not a number from 0 to 65535');
  });

  it('a config file with an unknown key or a wrong type stops the shim naming the key', () => {
    const unknown = join(tmp, 'unknown.yaml');
    writeFileSync(unknown, 'log-level: debug\nmetrics-bind-adr: ":9100"\n');
    let res = shim([`--config=${unknown}`]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('unknown key "metrics-bind-adr"');

    const wrong = join(tmp, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ 'runtime-request-timeout': 30 }));
    res = shim([`--config=${wrong}`]);
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/key "runtime-request-timeout" must be a duration string.*not a number \(30\)/);
  });

  it('settings come from the config file, and flags override them', async () => {
    const file = join(tmp, 'config.yaml');
    writeFileSync(file, 'metrics-bind-addr: "127.0.0.1:0"\nlog-level: warn\n');
    const s = await startShim({ args: [`--config=${file}`, '--log-level=info'] });
    try {
      // Metrics are on from the file; startShim waits for the info-level "CRI server listening"
      // line, which the file's log-level warn would hide: the command line's info won.
      expect((await fetch(`${metricsUrl(s)}/healthz`)).status).toBe(200);
    } finally {
      await s.stop();
    }
  });
});
