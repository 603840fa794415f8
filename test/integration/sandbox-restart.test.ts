// Pod sandboxes across a shim restart, and while dockerd cannot be reached (the shim talks to
// dockerd through a socat proxy socket the test starts and cuts; dockerd itself keeps running).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import { expectCode } from '../helpers/cri-client.js';
import { DockerProxy } from '../helpers/docker-proxy.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

const RUN = randomBytes(4).toString('hex');
let seq = 0;

function podConfig(tag: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  seq += 1;
  return {
    metadata: { name: `sr-${tag}-${RUN}-${seq}`, namespace: `ns-${RUN}`, uid: `uid-${RUN}-${seq}`, attempt: 1 },
    labels: { 'test-run': RUN, tag },
    annotations: { note: `${tag} annotation` },
    ...extra,
  };
}

function removeTestContainers(): void {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=test-run=${RUN}`], { encoding: 'utf8' }).trim();
  if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
}

async function eventually<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

describe('pod sandboxes across a shim restart', () => {
  const shims: RunningShim[] = [];
  const root = mkdtempSync(join(tmpdir(), 'cri-shim-restart-'));

  afterAll(async () => {
    for (const s of shims) {
      await s.stop();
      rmSync(s.tmp, { recursive: true, force: true });
    }
    removeTestContainers();
    rmSync(root, { recursive: true, force: true });
  });

  it('lists and inspects every pod exactly as before', async () => {
    const first = await startShim({ rootDir: join(root, 'state') });
    shims.push(first);
    const selector = { label_selector: { 'test-run': RUN } };
    const ready = (await first.client.rt('RunPodSandbox', { config: podConfig('ready', { port_mappings: [{ protocol: 'TCP', container_port: 80 }] }) })).pod_sandbox_id;
    const hostNet = (
      await first.client.rt('RunPodSandbox', {
        config: podConfig('hostnet', { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER' } } } }),
        runtime_handler: 'runc',
      })
    ).pod_sandbox_id;
    const stopped = (await first.client.rt('RunPodSandbox', { config: podConfig('stopped') })).pod_sandbox_id;
    await first.client.rt('StopPodSandbox', { pod_sandbox_id: stopped });

    const snapshot = async (shim: RunningShim) => {
      const list = (await shim.client.rt('ListPodSandbox', { filter: selector })).items.sort((a, b) => a.id.localeCompare(b.id));
      const statuses = [];
      for (const id of [ready, hostNet, stopped]) {
        const res = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
        statuses.push({ status: res.status, info: res.info });
      }
      return { list, statuses };
    };
    const before = await snapshot(first);
    expect(before.list).toHaveLength(3);
    expect(before.statuses.map((s) => s.status!.state)).toEqual(['SANDBOX_READY', 'SANDBOX_READY', 'SANDBOX_NOTREADY']);
    await first.stop();

    const second = await startShim({ rootDir: join(root, 'state') });
    shims.push(second);
    expect(await snapshot(second)).toEqual(before);

    // And the restarted shim still stops and removes them, checkpoints included.
    for (const id of [ready, hostNet, stopped]) await second.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
    expect((await second.client.rt('ListPodSandbox', { filter: selector })).items).toEqual([]);
    for (const id of [ready, hostNet, stopped]) expect(existsSync(join(root, 'state', 'sandbox', id))).toBe(false);
  });
});

describe('pod sandboxes while dockerd is unreachable', () => {
  const proxy = new DockerProxy();
  let shim: RunningShim | undefined;

  afterAll(async () => {
    await shim?.stop();
    proxy.dispose();
    removeTestContainers();
  });

  it('answers Unavailable while dockerd is gone and recovers when it is back', async () => {
    await proxy.start();
    shim = await startShim({ args: [`--docker-endpoint=${proxy.endpoint}`] });
    const selector = { label_selector: { 'test-run': RUN } };
    const id = (await shim.client.rt('RunPodSandbox', { config: podConfig('down') })).pod_sandbox_id;

    proxy.cut();
    const e = await eventually(() => expectCode(shim!.client.rt('ListPodSandbox', { filter: selector }), status.UNAVAILABLE), 10_000);
    expect(e.details).toMatch(/dockerd/);
    await expectCode(shim.client.rt('RunPodSandbox', { config: podConfig('down2') }), status.UNAVAILABLE);
    await expectCode(shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false }), status.UNAVAILABLE);
    await expectCode(shim.client.rt('StopPodSandbox', { pod_sandbox_id: id }), status.UNAVAILABLE);

    await proxy.start();
    const items = await eventually(async () => (await shim!.client.rt('ListPodSandbox', { filter: selector })).items);
    expect(items.map((p) => p.id)).toEqual([id]);
    expect(items[0].state).toBe('SANDBOX_READY');
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
    expect((await shim.client.rt('ListPodSandbox', { filter: selector })).items).toEqual([]);
  });
});
