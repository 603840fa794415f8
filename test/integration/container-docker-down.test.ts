// dockerd out of reach (a socat proxy the test cuts): container RPCs answer UNAVAILABLE, the shim
// keeps running, and once dockerd is back both the RPCs and the CRI log of a container that kept
// printing meanwhile are whole again, with no line lost or doubled.
import { afterAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { shimWithPods, ticker, tickerLog } from '../helpers/containers.js';
import { stdoutLines, until } from '../helpers/log-wait.js';
import { DockerProxy } from '../helpers/docker-proxy.js';

describe('containers while dockerd is out of reach', () => {
  const proxy = new DockerProxy();
  const { shim, fx } = shimWithPods({ proxy });
  // Before the set-up's own (after-hooks run last-registered first): dockerd back in reach, if
  // a test failed while it was cut off, for the shim's shutdown.
  afterAll(async () => {
    await proxy.start().catch(() => undefined);
  });

  it('answers UNAVAILABLE, recovers, and the log misses nothing printed meanwhile', async () => {
    const pod = await fx.pod('down');
    const config = fx.containerConfig('ticker', {
      command: ticker(0.05),
    });
    const id = await fx.run(pod, config);
    const path = fx.logPath(pod.config, config);
    await until(() => stdoutLines(path).length >= 3, 'first ticks');

    proxy.cut();
    // Lists come from the index until it sees its event stream break; then they need dockerd.
    await until(async () => {
      try {
        await shim.client.rt('ListContainers', {});
        return false;
      } catch (err) {
        expect((err as { code: number }).code).toBe(status.UNAVAILABLE);
        return true;
      }
    }, 'ListContainers to fail');
    await expectCode(shim.client.rt('ContainerStatus', { container_id: id }), status.UNAVAILABLE);
    await expectCode(fx.create(pod, fx.containerConfig('late', { command: ['true'] })), status.UNAVAILABLE);
    const before = stdoutLines(path).length;
    await new Promise((r) => setTimeout(r, 1500));

    await proxy.start();
    await until(async () => {
      try {
        await shim.client.rt('ListContainers', {});
        return true;
      } catch {
        return false;
      }
    }, 'the shim to reach dockerd again');
    expect((await fx.status(id)).state).toBe('CONTAINER_RUNNING');
    // About 30 ticks were printed while the shim could not read them: they reach the file now.
    await until(() => stdoutLines(path).length > before + 25, 'the ticks of the outage');

    const lines = await fx.stopAndRead(id, path);
    expect(lines).toEqual(tickerLog(lines));
  });
});
