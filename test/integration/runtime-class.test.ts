// RuntimeClass on Docker: Status lists Docker's runtimes as handlers; a pod's runtime_handler
// picks the Docker runtime of its pause container; an unknown one fails naming the choices.
import { execFileSync, execSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { dockerInspect, PodFixture, shimWithPods } from '../helpers/containers.js';
import { BUSYBOX, PAUSE, startShim, type RunningShim } from '../helpers/shim.js';

const dockerRuntimes = (): string[] =>
  Object.keys(JSON.parse(execFileSync('docker', ['info', '--format', '{{json .Runtimes}}'], { encoding: 'utf8' })) as Record<string, unknown>);

describe('RuntimeClass handlers', () => {
  const { shim, fx } = shimWithPods();

  it('Status lists the default handler and every Docker runtime, without unsupported features', async () => {
    const s = await shim.client.rt('Status', { verbose: false });
    expect(s.runtime_handlers.map((h) => h.name)).toEqual(['', ...dockerRuntimes().sort()]);
    for (const h of s.runtime_handlers) expect(h.features).toEqual({ recursive_read_only_mounts: false, user_namespaces: false });
    expect(s.features).toEqual({ supplemental_groups_policy: false, user_namespaces_host_network: false });
  });

  it('runtime_handler picks the Docker runtime of the pod; an unknown one names the available ones', async () => {
    const pod = await fx.pod('rc');
    expect((dockerInspect(pod.id).HostConfig as { Runtime?: string }).Runtime).toBe('runc');
    const { pod_sandbox_id } = await shim.client.rt('RunPodSandbox', { config: fx.podConfig('rc-runc'), runtime_handler: 'runc' });
    expect((dockerInspect(pod_sandbox_id).HostConfig as { Runtime?: string }).Runtime).toBe('runc');
    const st = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id, verbose: false });
    expect(st.status!.runtime_handler).toBe('runc');
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id });
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id });
    const e = await expectCode(shim.client.rt('RunPodSandbox', { config: fx.podConfig('rc-bad'), runtime_handler: 'no-such-runtime' }), status.INVALID_ARGUMENT);
    expect(e.details).toContain('no-such-runtime');
    expect(e.details).toContain('runc');
  });
});

/**
 * A second dockerd of the test's own (own socket, data, exec root, containerd and bridge; no
 * iptables) configured with an extra runtime name that points at runc, as an operator would add
 * gVisor or Kata. Not `--bridge=none`: a dockerd started so deletes the host's docker0, which
 * the machine's own dockerd is using.
 */
describe('RuntimeClass with a dockerd that has a second runtime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cri-shim-dockerd-'));
  const sock = join(dir, 'docker.sock');
  const bridge = `s5rc${process.pid % 100000}`;
  let dockerd: ChildProcess | undefined;
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);
  const d2 = (...args: string[]) => execFileSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8' }).trim();

  beforeAll(async () => {
    writeFileSync(join(dir, 'daemon.json'), '{}');
    execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', '10.213.77.1/24', 'dev', bridge]);
    execFileSync('ip', ['link', 'set', bridge, 'up']);
    dockerd = spawn(
      'dockerd',
      [
        `--config-file=${join(dir, 'daemon.json')}`,
        `--host=unix://${sock}`,
        `--data-root=${join(dir, 'root')}`,
        `--exec-root=${join(dir, 'exec')}`,
        `--pidfile=${join(dir, 'docker.pid')}`,
        `--bridge=${bridge}`,
        '--iptables=false',
        '--ip-masq=false',
        '--add-runtime=sandboxed=runc',
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        d2('info', '--format', '{{.ServerVersion}}');
        break;
      } catch {
        if (Date.now() > deadline || dockerd.exitCode !== null) throw new Error('second dockerd did not start');
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    execSync(`docker save ${BUSYBOX} ${PAUSE} | docker -H unix://${sock} load`, { stdio: 'ignore' });
    shim = await startShim({ args: [`--docker-endpoint=unix://${sock}`] });
  });
  afterAll(async () => {
    await shim?.stop();
    try {
      const ids = d2('ps', '-aq');
      if (ids) d2('rm', '-f', ...ids.split('\n'));
    } catch {
      // dockerd did not come up
    }
    if (dockerd && dockerd.exitCode === null) {
      const exited = new Promise((r) => dockerd!.once('exit', r));
      dockerd.kill('SIGTERM');
      await exited;
    }
    // What the daemon left mounted under its roots (netns files, its containerd's state).
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m?.startsWith(dir))
      .reverse();
    for (const m of mounts) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
    execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  });

  it('runs a pod and its container under the extra runtime, visible in Docker\'s inspect', async () => {
    const s = await shim.client.rt('Status', { verbose: false });
    expect(s.runtime_handlers.map((h) => h.name)).toContain('sandboxed');
    const config = fx.podConfig('rc2');
    const { pod_sandbox_id } = await shim.client.rt('RunPodSandbox', { config, runtime_handler: 'sandboxed' });
    const pause = JSON.parse(d2('inspect', pod_sandbox_id))[0] as { HostConfig: { Runtime: string }; State: { Running: boolean } };
    expect(pause.HostConfig.Runtime).toBe('sandboxed');
    expect(pause.State.Running).toBe(true);
    const { container_id } = await shim.client.rt('CreateContainer', {
      pod_sandbox_id,
      config: fx.containerConfig('rc2', { command: ['sleep', '60'] }),
      sandbox_config: config,
    });
    await shim.client.rt('StartContainer', { container_id });
    const c = JSON.parse(d2('inspect', container_id))[0] as { HostConfig: { Runtime: string }; State: { Running: boolean } };
    expect(c.State.Running).toBe(true);
    expect(c.HostConfig.Runtime).toBe('sandboxed');
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id });
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id });
  });
});
