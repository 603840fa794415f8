// GetContainerEvents against the real dockerd: lifecycle events in order, for several
// subscribers, and a subscriber that goes away is dropped.
import type { ClientReadableStream } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { ContainerEventResponse__Output } from '../../src/generated/runtime/v1/ContainerEventResponse.js';
import { docker, shimWithPods } from '../helpers/containers.js';
import { DockerProxy } from '../helpers/docker-proxy.js';
import type { RunningShim } from '../helpers/shim.js';

const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait'];

/** A live GetContainerEvents subscription that keeps what it received. */
class Subscriber {
  readonly events: ContainerEventResponse__Output[] = [];
  readonly call: ClientReadableStream<ContainerEventResponse__Output>;

  constructor(shim: RunningShim) {
    const fn = (shim.client.runtime as unknown as Record<string, (req: object) => ClientReadableStream<ContainerEventResponse__Output>>)
      .GetContainerEvents;
    this.call = fn.call(shim.client.runtime, {});
    this.call.on('data', (e: ContainerEventResponse__Output) => this.events.push(e));
    this.call.on('error', () => undefined); // cancelled by the test
  }

  of(id: string): string[] {
    return this.events.filter((e) => e.container_id === id).map((e) => e.container_event_type);
  }

  async waitFor(id: string, count: number, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.of(id).length < count) {
      if (Date.now() > deadline) throw new Error(`only ${JSON.stringify(this.of(id))} for ${id}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.of(id);
  }
}

const logCount = (shim: RunningShim, msg: string) => shim.logs().split(msg).length - 1;

/** Waits until the shim has logged `msg` `count` times (a stream has no first message to wait on). */
async function logged(shim: RunningShim, msg: string, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (logCount(shim, msg) < count) {
    if (Date.now() > deadline) throw new Error(`"${msg}" logged ${logCount(shim, msg)} times, not ${count}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ADDED = 'container event subscriber added';
const REMOVED = 'container event subscriber removed';

const LIFECYCLE = ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];

describe('container events against dockerd', () => {
  const { shim, fx } = shimWithPods();

  it('create/start/stop/remove reach two subscribers in order, with pod and container statuses', async () => {
    const added = logCount(shim, ADDED);
    const a = new Subscriber(shim);
    const b = new Subscriber(shim);
    await logged(shim, ADDED, added + 2);
    const pod = await fx.pod('events');
    const id = await fx.create(pod, fx.containerConfig('ev', { command: SLEEPER }));
    await shim.client.rt('StartContainer', { container_id: id });
    await shim.client.rt('StopContainer', { container_id: id, timeout: 10 });
    await shim.client.rt('RemoveContainer', { container_id: id });

    expect(await a.waitFor(id, 4)).toEqual(LIFECYCLE);
    expect(await b.waitFor(id, 4)).toEqual(LIFECYCLE);
    // The pause container's own events come first, under the sandbox id.
    expect((await a.waitFor(pod.id, 2)).slice(0, 2)).toEqual(LIFECYCLE.slice(0, 2));

    const started = a.events.find((e) => e.container_id === id && e.container_event_type === 'CONTAINER_STARTED_EVENT')!;
    expect(started.pod_sandbox_status!.id).toBe(pod.id);
    expect(started.pod_sandbox_status!.metadata!.uid).toBe(pod.config.metadata!.uid);
    expect(started.pod_sandbox_status!.state).toBe('SANDBOX_READY');
    const mine = started.containers_statuses.find((s) => s.id === id)!;
    expect(mine.state).toBe('CONTAINER_RUNNING');
    expect(mine.metadata!.name).toBe('ev');
    expect(BigInt(started.created_at)).toBeGreaterThan(0n);
    const deleted = a.events.find((e) => e.container_id === id && e.container_event_type === 'CONTAINER_DELETED_EVENT')!;
    expect(deleted.pod_sandbox_status!.metadata!.uid).toBe(pod.config.metadata!.uid);
    expect(deleted.containers_statuses.some((s) => s.id === id)).toBe(false);

    const removed = logCount(shim, REMOVED);
    a.call.cancel();
    b.call.cancel();
    await logged(shim, REMOVED, removed + 2);
  });

  it('a container killed outside the shim is reported stopped; a cancelled subscriber is dropped', async () => {
    const added = logCount(shim, ADDED);
    const removed = logCount(shim, REMOVED);
    const keep = new Subscriber(shim);
    const gone = new Subscriber(shim);
    await logged(shim, ADDED, added + 2);
    gone.call.cancel();
    await logged(shim, REMOVED, removed + 1);
    const pod = await fx.pod('events-kill');
    const id = await fx.run(pod, fx.containerConfig('victim', { command: SLEEPER }));
    docker('kill', id);
    expect(await keep.waitFor(id, 3)).toEqual(LIFECYCLE.slice(0, 3));
    expect(gone.of(id)).toEqual([]);
    keep.call.cancel();
  });
});

describe('container events across a break of the Docker event stream', () => {
  const proxy = new DockerProxy();
  const { shim, fx } = shimWithPods({ proxy });

  it('a restart that happened while the stream was down is reported after it reconnects', async () => {
    // The stream must have been up (the index synced) for its break to be a gap.
    await logged(shim, 'container index synced with dockerd', 1);
    const pod = await fx.pod('events-gap');
    const id = await fx.run(pod, fx.containerConfig('phoenix', { command: SLEEPER }));
    const added = logCount(shim, ADDED);
    const sub = new Subscriber(shim);
    await logged(shim, ADDED, added + 1);

    proxy.cut();
    await logged(shim, 'Docker event stream broke', 1);
    // Same state before and after (running), so only a re-read of every container can tell.
    docker('restart', '-t', '0', id);
    await proxy.start();
    expect(await sub.waitFor(id, 2, 30_000)).toEqual(['CONTAINER_STOPPED_EVENT', 'CONTAINER_STARTED_EVENT']);
    sub.call.cancel();
  });
});
