// RuntimeClass on Docker: Status lists Docker's runtimes as handlers; a pod's runtime_handler
// picks the Docker runtime of its pause container; an unknown one fails naming the choices.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { dockerInspect, PodFixture } from '../helpers/containers.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

const dockerRuntimes = (): string[] =>
  Object.keys(JSON.parse(execFileSync('docker', ['info', '--format', '{{json .Runtimes}}'], { encoding: 'utf8' })) as Record<string, unknown>);

describe('RuntimeClass handlers', () => {
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);

  beforeAll(async () => {
    shim = await startShim();
  });
  afterAll(async () => {
    await fx.cleanup();
    await shim?.stop();
  });

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
