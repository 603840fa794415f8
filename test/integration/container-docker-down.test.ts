// dockerd out of reach (a socat proxy the test cuts): container RPCs answer UNAVAILABLE, the shim
// keeps running, and once dockerd is back both the RPCs and the CRI log of a container that kept
// printing meanwhile are whole again, with no line lost or doubled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { criLines, PodFixture, readCriLog } from '../helpers/containers.js';
import { DockerProxy } from '../helpers/docker-proxy.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('containers while dockerd is out of reach', () => {
  const proxy = new DockerProxy();
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);

  beforeAll(async () => {
    await proxy.start();
    shim = await startShim({ args: [`--docker-endpoint=${proxy.endpoint}`] });
  });
  afterAll(async () => {
    await proxy.start().catch(() => undefined);
    await fx.cleanup();
    await shim?.stop();
    proxy.dispose();
  });

  it('answers UNAVAILABLE, recovers, and the log misses nothing printed meanwhile', async () => {
    const pod = await fx.pod('down');
    const config = fx.containerConfig('ticker', {
      command: ['sh', '-c', 'trap "echo bye; exit 0" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done'],
    });
    const id = await fx.run(pod, config);
    const path = fx.logPath(pod.config, config);
    await until('first ticks', () => criLines(readCriLog(path), 'stdout').length >= 3);

    proxy.cut();
    // Lists come from the index until it sees its event stream break; then they need dockerd.
    await until('ListContainers to fail', async () => {
      try {
        await shim.client.rt('ListContainers', {});
        return false;
      } catch (err) {
        expect((err as { code: number }).code).toBe(status.UNAVAILABLE);
        return true;
      }
    });
    await expectCode(shim.client.rt('ContainerStatus', { container_id: id }), status.UNAVAILABLE);
    await expectCode(fx.create(pod, fx.containerConfig('late', { command: ['true'] })), status.UNAVAILABLE);
    const before = criLines(readCriLog(path), 'stdout').length;
    await new Promise((r) => setTimeout(r, 1500));

    await proxy.start();
    await until('the shim to reach dockerd again', async () => {
      try {
        await shim.client.rt('ListContainers', {});
        return true;
      } catch {
        return false;
      }
    });
    expect((await fx.status(id)).state).toBe('CONTAINER_RUNNING');
    // About 30 ticks were printed while the shim could not read them: they reach the file now.
    await until('the ticks of the outage', () => criLines(readCriLog(path), 'stdout').length > before + 25);

    await shim.client.rt('StopContainer', { container_id: id, timeout: 10 });
    await fx.waitState(id, 'CONTAINER_EXITED');
    const lines = criLines(readCriLog(path), 'stdout');
    expect(lines.at(-1)).toBe('bye');
    const ticks = lines.slice(0, -1);
    expect(ticks).toEqual(ticks.map((_, i) => `tick ${i}`));
  });
});
