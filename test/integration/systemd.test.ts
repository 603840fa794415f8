// systemd integration through the real process: socket activation (a listening socket passed
// as fd 3 with LISTEN_FDS/LISTEN_PID, as systemd does it) and sd_notify READY=1/STOPPING=1.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/log-wait.js';
import { startShim, startSocketActivatedShim, TOP } from '../helpers/shim.js';

const SHIM = [process.execPath, join(TOP, 'dist/main.js')];

// systemd's side of NOTIFY_SOCKET: a unix datagram socket; each datagram printed on one line.
// recv() without ancillary buffer drops (closes) the barrier fd systemd-notify sends.
const RECEIVE = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
print("bound", flush=True)
while True: print(s.recv(4096).decode().replace("\\n", " "), flush=True)
`;

const RUN = randomBytes(4).toString('hex');
const tmp = mkdtempSync(join(tmpdir(), 'cri-shim-systemd-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=systemd-run=${RUN}`], { encoding: 'utf8' }).trim();
  if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
});

async function notifyReceiver(path: string): Promise<() => string> {
  const proc = spawn('python3', ['-c', RECEIVE, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('bound')) await new Promise((r) => setTimeout(r, 20));
  return () => out;
}

describe('systemd', () => {
  it('serves on the socket passed as fd 3, reports READY=1 and STOPPING=1, and leaves the socket to systemd', async () => {
    const socketPath = join(tmp, 'activated.sock');
    const received = await notifyReceiver(join(tmp, 'notify.sock'));
    const shim = await startSocketActivatedShim(socketPath, { env: { NOTIFY_SOCKET: join(tmp, 'notify.sock') } });
    const version = await shim.client.rt('Version', { version: 'v1' });
    expect(version.runtime_api_version).toBe('v1');
    await until(() => received().includes('READY=1'), 'READY=1', 15_000);
    expect(received()).toContain(`MAINPID=${shim.proc.pid}`);
    expect(await shim.stop()).toBe(0);
    expect(received()).toContain('STOPPING=1');
    // The socket belongs to the .socket unit: it stays for the next start.
    expect(existsSync(socketPath)).toBe(true);
  });

  it('SIGTERM ends open streams without waiting out the grace period, exits 0 and leaves pods running', async () => {
    const shim = await startShim({ args: ['--metrics-bind-addr=127.0.0.1:0'] });
    const { pod_sandbox_id: pod } = await shim.client.rt('RunPodSandbox', {
      config: { metadata: { name: `sd-${RUN}`, namespace: `sd-${RUN}`, uid: `uid-${RUN}`, attempt: 0 }, labels: { 'systemd-run': RUN } },
    });
    const rt = shim.client.runtime as unknown as { GetContainerEvents(req: object): grpc.ClientReadableStream<unknown> };
    const events = rt.GetContainerEvents({});
    events.on('data', () => undefined);
    events.on('error', () => undefined);
    const ended = new Promise<grpc.StatusObject>((r) => events.on('status', r));
    const address = /"address":"([^"]+)","msg":"metrics server listening"/.exec(shim.logs())![1];
    let scrape = '';
    const deadline = Date.now() + 10_000;
    // The call reaches the server asynchronously: poll the scrape until it is counted.
    while (!/docker_cri_shim_streaming_sessions\{kind="GetContainerEvents"\} 1/.test(scrape) && Date.now() < deadline) {
      scrape = await (await fetch(`http://${address}/metrics`)).text();
    }
    expect(scrape).toMatch(/docker_cri_shim_streaming_sessions\{kind="GetContainerEvents"\} 1/);

    expect(await shim.stop()).toBe(0);
    expect((await ended).code).toBe(0);
    expect(shim.logs()).toContain('"signal":"SIGTERM"');
    // The open stream was ended, not cut after the grace period.
    expect(shim.logs()).not.toContain('did not finish in time');
    // The shim owns no pod process: the pause container runs on.
    const state = execFileSync('docker', ['inspect', '--format', '{{.State.Running}}', pod], { encoding: 'utf8' }).trim();
    expect(state).toBe('true');
  });

  it('--runtime-cgroups moves the shim into that cgroup at start', async (t) => {
    const cgroup = `/docker-cri-shim-test-${RUN}`;
    const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const probe = unified ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
    try {
      mkdirSync(join(probe, `${cgroup}-probe`));
      rmdirSync(join(probe, `${cgroup}-probe`));
    } catch (err) {
      t.skip(`cannot create cgroups here (${(err as Error).message})`);
    }
    const shim = await startShim({ args: [`--runtime-cgroups=${cgroup}`] });
    try {
      const lines = readFileSync(`/proc/${shim.proc.pid}/cgroup`, 'utf8').trim().split('\n');
      const joined = lines.filter((l) => l.endsWith(`:${cgroup}`)).map((l) => l.split(':')[1]);
      expect(joined).toEqual(expect.arrayContaining(unified ? [''] : ['memory', 'pids']));
      expect(joined.some((c) => c.includes('cpuset'))).toBe(false);
      expect((await shim.client.rt('Version', { version: 'v1' })).runtime_api_version).toBe('v1');
    } finally {
      expect(await shim.stop()).toBe(0);
      const dirs = unified ? ['/sys/fs/cgroup'] : readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d));
      for (const d of dirs) if (existsSync(join(d, cgroup))) rmdirSync(join(d, cgroup));
    }
  });

  it('--runtime-cgroups must be an absolute path', () => {
    const res = spawnSync(SHIM[0], [SHIM[1], '--runtime-cgroups=relative/x', `--container-runtime-endpoint=unix://${join(tmp, 'cg.sock')}`, `--root-directory=${join(tmp, 'root')}`], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('--runtime-cgroups "relative/x" must be an absolute cgroup path');
  });

  it('fd:// without a passed socket fails at start with a clear error', () => {
    const env = { ...process.env };
    delete env.LISTEN_FDS;
    delete env.LISTEN_PID;
    const res = spawnSync(SHIM[0], [SHIM[1], '--container-runtime-endpoint=fd://', `--root-directory=${join(tmp, 'root')}`], {
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/fd:\/\/ needs a socket passed by systemd.*LISTEN_FDS/);
  });

  it('fd:// with a LISTEN_PID of another process is refused', () => {
    const res = spawnSync(SHIM[0], [SHIM[1], '--container-runtime-endpoint=fd://', `--root-directory=${join(tmp, 'root')}`], {
      env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: '1' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/LISTEN_PID=1 is not this process/);
  });
});
