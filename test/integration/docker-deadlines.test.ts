// Docker deadlines and cancellation against the real shim: a dockerd that accepts and never
// answers (a proxy that holds every connection) must not wedge the shim: calls end with
// DEADLINE_EXCEEDED after --runtime-request-timeout, queue wait included; a CRI call the client
// gives up on drops its Docker request (status, list and stats calls too); --runtime-request-timeout 0 means cri-dockerd's default.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { docker, PodFixture } from '../helpers/containers.js';
import { StallingDockerProxy } from '../helpers/docker-proxy.js';
import { until } from '../helpers/log-wait.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

/** An image no store holds: its ImageStatus asks Docker, one inspect per call. */
const ABSENT_IMAGE = 'docker-cri-shim-test/absent-image:none';
const ABSENT_INSPECT = / \/v[\d.]+\/images\/docker-cri-shim-test\/absent-image:none\/json /;

describe('Docker deadlines', () => {
  const proxies: StallingDockerProxy[] = [];
  let shim: RunningShim | undefined;

  afterEach(async () => {
    await shim?.stop();
    shim = undefined;
  });
  afterAll(async () => {
    for (const p of proxies) await p.dispose();
  });

  async function stallingProxy(): Promise<StallingDockerProxy> {
    const p = new StallingDockerProxy();
    proxies.push(p);
    await p.start();
    return p;
  }

  it('a dockerd that never answers: every call ends with DEADLINE_EXCEEDED, queued ones too, and no request is left open', async () => {
    const proxy = await stallingProxy();
    proxy.stall();
    shim = await startShim({ args: [`--docker-endpoint=${proxy.endpoint}`, '--runtime-request-timeout=2s'] });
    // The API version negotiation itself never gets an answer: it has the deadline too.
    const version = await expectCode(shim.client.rt('Version', {}, 60_000), status.DEADLINE_EXCEEDED);
    expect(version.details).toMatch(/dockerd did not answer within 2s/);
    // More calls than the queue has places (32): the last ones wait behind held requests and
    // still end with their own deadline, counted from when they were asked for.
    const calls = Array.from({ length: 40 }, () =>
      shim!.client.rt('Version', {}, 60_000).then(
        () => 'OK',
        (err: { code: number }) => status[err.code],
      ),
    );
    const codes = await Promise.all(calls);
    expect(new Set(codes)).toEqual(new Set(['DEADLINE_EXCEEDED']));
    // The shim dropped every request it gave up on (the event stream keeps retrying, each try
    // with the 2 s deadline), and it is still alive to answer.
    expect(proxy.held.length).toBeGreaterThan(0);
    await until(
      () => proxy.held.every((h) => h.closedAt !== undefined || Date.now() - h.acceptedAt < 3_500),
      'every held Docker connection older than the deadline to be closed by the shim',
    );
    const st = await shim.client.rt('Status', {}, 60_000);
    expect(st.status?.conditions?.find((c) => c.type === 'RuntimeReady')?.status).toBe(false);
  });

  it('dockerd goes silent after start-up: queued calls, the event stream and its reconnects all give up at the deadline', async () => {
    const proxy = await stallingProxy();
    shim = await startShim({ args: [`--docker-endpoint=${proxy.endpoint}`, '--runtime-request-timeout=2s'] });
    await shim.client.rt('Version', {});
    await shim.client.rt('ListPodSandbox', {});
    proxy.stall();
    // Negotiated already: each status of an image the store does not hold sends its own
    // inspect (Version is cached); 32 hold the queue, 8 wait behind them.
    const codes = await Promise.all(
      Array.from({ length: 40 }, () =>
        shim!.client.im('ImageStatus', { image: { image: ABSENT_IMAGE } }, 60_000).then(
          () => 'OK',
          (err: { code: number }) => status[err.code],
        ),
      ),
    );
    expect(new Set(codes)).toEqual(new Set(['DEADLINE_EXCEEDED']));
    expect(proxy.held.filter((h) => ABSENT_INSPECT.test(h.request)).length).toBeGreaterThanOrEqual(32);
    // The event stream's reconnects (GET /events) wait for an answer as long as the deadline, no longer.
    await until(() => proxy.held.some((h) => h.request.includes('/events')), 'the event stream to try again against the silent dockerd');
    await new Promise((r) => setTimeout(r, 3_000));
    const open = proxy.held.filter((h) => h.closedAt === undefined && Date.now() - h.acceptedAt > 3_000);
    expect(open.map((h) => h.request)).toEqual([]);
  });

  it('Version asks dockerd once (at start-up): later calls are answered from the gateway while dockerd is silent', async () => {
    const proxy = await stallingProxy();
    shim = await startShim({ args: [`--docker-endpoint=${proxy.endpoint}`, '--runtime-request-timeout=2s'] });
    const first = await shim.client.rt('Version', {});
    proxy.stall();
    for (let i = 0; i < 3; i++) expect(await shim.client.rt('Version', {}, 1_000)).toEqual(first);
    expect(proxy.held.filter((h) => / \/(v[\d.]+\/)?version /.test(h.request))).toEqual([]);
  });

  it('a CRI call whose client gives up drops its Docker request long before the request timeout', async () => {
    const proxy = await stallingProxy();
    shim = await startShim({ args: [`--docker-endpoint=${proxy.endpoint}`, '--runtime-request-timeout=5m'] });
    // Negotiated and synced through the proxy while it still answers.
    await shim.client.rt('Version', {});
    await shim.client.rt('ListPodSandbox', {});
    proxy.stall();
    await expectCode(shim.client.im('ImageStatus', { image: { image: ABSENT_IMAGE } }, 1_000), status.DEADLINE_EXCEEDED);
    const inspect = () => proxy.held.find((h) => ABSENT_INSPECT.test(h.request));
    await until(() => inspect() !== undefined, 'the image inspect to reach the stalled dockerd');
    // Closed because the CRI call's deadline passed, not the 5 minutes of --runtime-request-timeout.
    await until(() => inspect()?.closedAt !== undefined, 'the shim to drop the Docker request of the abandoned call', 15_000);
  });

  it('status, list, stats and ImageFsInfo calls whose client gives up drop their Docker requests (the index resync, inspects, the image list)', async () => {
    const proxy = await stallingProxy();
    shim = await startShim({ args: [`--docker-endpoint=${proxy.endpoint}`, '--runtime-request-timeout=5m'] });
    const fx = new PodFixture(() => shim!);
    const pod = await fx.pod('gives-up');
    const cid = await fx.create(pod, fx.containerConfig('c', { command: ['sleep', '3600'] }));
    try {
      proxy.stall();
      // The event stream is cut: the index no longer vouches for its records, so List and Status
      // calls ask Docker (a resync, an inspect), as they do whenever the stream is down.
      await until(() => proxy.held.some((h) => h.request.includes('/events')), 'the event stream to try again against the silent dockerd');
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['ListContainers', () => shim!.client.rt('ListContainers', {}, 1_000)],
        ['ListPodSandbox', () => shim!.client.rt('ListPodSandbox', {}, 1_000)],
        ['ContainerStatus', () => shim!.client.rt('ContainerStatus', { container_id: cid, verbose: true }, 1_000)],
        ['PodSandboxStatus', () => shim!.client.rt('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true }, 1_000)],
        ['ContainerStats', () => shim!.client.rt('ContainerStats', { container_id: cid }, 1_000)],
        ['ListContainerStats', () => shim!.client.rt('ListContainerStats', {}, 1_000)],
        ['PodSandboxStats', () => shim!.client.rt('PodSandboxStats', { pod_sandbox_id: pod.id }, 1_000)],
        ['ListPodSandboxStats', () => shim!.client.rt('ListPodSandboxStats', {}, 1_000)],
        ['ImageFsInfo', () => shim!.client.im('ImageFsInfo', {}, 1_000)],
      ];
      for (const [name, call] of calls) {
        const from = proxy.held.length;
        await expectCode(call(), status.DEADLINE_EXCEEDED);
        const mine = () => proxy.held.slice(from).filter((h) => h.request !== '' && !h.request.includes('/events'));
        await until(() => mine().length > 0, `${name}: its Docker request to reach the stalled dockerd`);
        // Closed because the CRI call's deadline passed, not the 5 minutes of --runtime-request-timeout.
        await until(() => mine().every((h) => h.closedAt !== undefined), `${name}: the shim to drop its Docker requests (${mine().map((h) => h.request).join(', ')})`, 15_000);
      }
      expect(shim.proc.exitCode).toBeNull();
    } finally {
      docker('rm', '-f', cid, pod.id);
    }
  }, 120_000);

  it('--runtime-request-timeout 0 means cri-dockerd\'s default, not "fail every call"', async () => {
    shim = await startShim({ args: ['--runtime-request-timeout=0s'] });
    const v = await shim.client.rt('Version', {});
    expect(v.runtime_name).toBe('docker');
    await shim.client.rt('ListPodSandbox', {});
  });
});
