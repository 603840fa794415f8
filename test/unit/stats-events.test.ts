// Container events derived from index updates (no Docker needed: a fake index drives the hub).
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { ContainerEventHub, transitions } from '../../src/events/container-events.js';
import type { ContainerEventResponse } from '../../src/generated/runtime/v1/ContainerEventResponse.js';
import type { ContainerIndexEvents, ContainerRecord } from '../../src/store/container-index.js';
import { CriServer } from '../../src/handlers/grpc-server.js';
import { eventsHandlers } from '../../src/handlers/events/index.js';
import { EventsService } from '../../src/services/events.js';
import type { Services } from '../../src/wiring.js';
import { CriClient } from '../helpers/cri-client.js';

const ZERO = '0001-01-01T00:00:00Z';
const SANDBOX = 's'.repeat(64);

function rec(id: string, status: string, startedAt = ZERO, type = 'container'): ContainerRecord {
  const labels: Record<string, string> = { 'io.kubernetes.docker.type': type };
  if (type === 'container') labels['io.kubernetes.sandbox.id'] = SANDBOX;
  return {
    Id: id,
    Name: type === 'container' ? '/k8s_app_pod_ns_uid1_0' : '/k8s_POD_pod_ns_uid1_0',
    Created: '2026-11-25T10:00:00Z',
    Image: 'sha256:abc',
    State: { Status: status, Running: status === 'running', StartedAt: startedAt, FinishedAt: ZERO, ExitCode: 0 },
    Config: { Labels: labels, Image: 'busybox' },
    HostConfig: {},
    NetworkSettings: {},
  } as unknown as ContainerRecord;
}

class FakeIndex extends EventEmitter<ContainerIndexEvents> {
  records = new Map<string, ContainerRecord>();
  refreshed: string[] = [];
  get(id: string) {
    return this.records.get(id);
  }
  async all() {
    return [...this.records.values()];
  }
  async refresh(id: string) {
    this.refreshed.push(id);
    const r = this.records.get(id);
    if (r) this.emit('updated', r, r);
    return r;
  }
  put(r: ContainerRecord) {
    const prev = this.records.get(r.Id);
    this.records.set(r.Id, r);
    this.emit('updated', r, prev);
  }
  drop(id: string) {
    const prev = this.records.get(id)!;
    this.records.delete(id);
    this.emit('removed', id, prev);
  }
}

const T1 = '2026-11-25T10:00:01.5Z';
const T2 = '2026-11-25T10:00:09Z';

describe('transitions', () => {
  it('a new created container is CREATED; a new running one CREATED+STARTED; a new exited one also STOPPED', () => {
    expect(transitions(rec('a', 'created'), undefined)).toEqual(['CONTAINER_CREATED_EVENT']);
    expect(transitions(rec('a', 'running', T1), undefined)).toEqual(['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT']);
    expect(transitions(rec('a', 'exited', T1), undefined)).toEqual([
      'CONTAINER_CREATED_EVENT',
      'CONTAINER_STARTED_EVENT',
      'CONTAINER_STOPPED_EVENT',
    ]);
  });
  it('start, stop, and a restart seen only as a new StartedAt', () => {
    expect(transitions(rec('a', 'running', T1), rec('a', 'created'))).toEqual(['CONTAINER_STARTED_EVENT']);
    expect(transitions(rec('a', 'exited', T1), rec('a', 'running', T1))).toEqual(['CONTAINER_STOPPED_EVENT']);
    expect(transitions(rec('a', 'running', T2), rec('a', 'running', T1))).toEqual(['CONTAINER_STOPPED_EVENT', 'CONTAINER_STARTED_EVENT']);
    expect(transitions(rec('a', 'exited', T2), rec('a', 'exited', T1))).toEqual(['CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT']);
    expect(transitions(rec('a', 'running', T1), rec('a', 'running', T1))).toEqual([]);
  });
});

describe('ContainerEventHub', () => {
  const logger = pino({ level: 'silent' });

  function setup() {
    const index = new FakeIndex();
    const hub = new ContainerEventHub(index, logger);
    index.put(rec(SANDBOX, 'running', T1, 'podsandbox'));
    index.emit('resynced');
    return { index, hub };
  }

  it('sends lifecycle events in order to every subscriber, with the pod status and container statuses', () => {
    const { index, hub } = setup();
    const a: ContainerEventResponse[] = [];
    const b: ContainerEventResponse[] = [];
    const offA = hub.subscribe((e) => a.push(e));
    const offB = hub.subscribe((e) => b.push(e));
    const id = 'c'.repeat(64);
    index.put(rec(id, 'created'));
    index.put(rec(id, 'running', T1));
    index.put(rec(id, 'exited', T1));
    index.drop(id);
    const types = a.map((e) => e.container_event_type);
    expect(types).toEqual(['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
    expect(b.map((e) => e.container_event_type)).toEqual(types);
    expect(a[1].pod_sandbox_status?.id).toBe(SANDBOX);
    expect(a[1].pod_sandbox_status?.metadata?.uid).toBe('uid1');
    expect(a[1].containers_statuses?.map((s) => [s.id, s.state])).toEqual([[id, 'CONTAINER_RUNNING']]);
    expect(a[3].containers_statuses).toEqual([]);
    offA();
    offB();
    expect(hub.subscribers).toBe(0);
  });

  it('the pod uid survives the sandbox being gone (taken from the container name)', () => {
    const { index, hub } = setup();
    const got: ContainerEventResponse[] = [];
    hub.subscribe((e) => got.push(e));
    const id = 'd'.repeat(64);
    index.put(rec(id, 'exited', T1));
    index.drop(SANDBOX);
    index.drop(id);
    expect(got.at(-2)?.container_event_type).toBe('CONTAINER_DELETED_EVENT');
    expect(got.at(-2)?.container_id).toBe(SANDBOX);
    expect(got.at(-1)?.pod_sandbox_status?.metadata?.uid).toBe('uid1');
  });

  it('containers older than the shim, loaded before the first sync, are not news; newer ones are', () => {
    const index = new FakeIndex();
    const hub = new ContainerEventHub(index, logger);
    const got: ContainerEventResponse[] = [];
    hub.subscribe((e) => got.push(e));
    index.put(rec('e'.repeat(64), 'running', T1));
    const fresh = rec('9'.repeat(64), 'created');
    fresh.Created = new Date(Date.now() + 1000).toISOString();
    index.put(fresh);
    index.emit('resynced');
    expect(got.map((e) => [e.container_id, e.container_event_type])).toEqual([['9'.repeat(64), 'CONTAINER_CREATED_EVENT']]);
  });

  it('after the Docker stream broke, every container is re-read and a restart in the gap is reported', async () => {
    const { index, hub } = setup();
    const id = 'f'.repeat(64);
    index.put(rec(id, 'running', T1));
    const got: ContainerEventResponse[] = [];
    hub.subscribe((e) => got.push(e));
    index.emit('disconnected', new Error('stream ended'));
    // Restarted while the stream was down: same status, new StartedAt; the index's own resync misses it.
    index.records.set(id, rec(id, 'running', T2));
    const prev = rec(id, 'running', T1);
    index.refresh = async (rid: string) => {
      index.refreshed.push(rid);
      const r = index.records.get(rid)!;
      index.emit('updated', r, rid === id ? prev : r);
      return r;
    };
    index.emit('resynced');
    await new Promise((r) => setTimeout(r, 10));
    expect(index.refreshed).toContain(id);
    expect(got.map((e) => e.container_event_type)).toEqual(['CONTAINER_STOPPED_EVENT', 'CONTAINER_STARTED_EVENT']);
  });

  it('a subscriber that throws is dropped, the others keep receiving', () => {
    const { index, hub } = setup();
    const got: string[] = [];
    hub.subscribe(() => {
      throw new Error('client gone');
    });
    hub.subscribe((e) => got.push(String(e.container_event_type)));
    index.put(rec('a'.repeat(64), 'created'));
    expect(hub.subscribers).toBe(1);
    expect(got).toEqual(['CONTAINER_CREATED_EVENT']);
  });
});

describe('GetContainerEvents backpressure (EventsService)', () => {
  const logger = pino({ level: 'silent' });
  const LIMIT = 50;

  /** A container restarting `n` times: two events (STOPPED, STARTED) per restart. */
  function restarts(index: FakeIndex, from: number, n: number): void {
    for (let i = from; i < from + n; i++) index.put(rec('c1', 'running', new Date(Date.UTC(2026, 10, 25, 10, 0, 0, i + 1)).toISOString()));
  }

  function setup() {
    const index = new FakeIndex();
    const events = new EventsService(index, logger, LIMIT);
    index.put(rec(SANDBOX, 'running', T1, 'podsandbox'));
    index.put(rec('c1', 'running', T1));
    index.emit('resynced');
    return { index, events };
  }

  it('queues while the stream is full, sends the queue in order on drain', async () => {
    const { index, events } = setup();
    const sent: ContainerEventResponse[] = [];
    let full = true;
    let drained: (() => void) | undefined;
    const stream = {
      write: (e: ContainerEventResponse) => (sent.push(e), !full),
      onceDrained: (l: () => void) => void (drained = l),
    };
    const ac = new AbortController();
    const done = events.stream(stream, ac.signal);
    restarts(index, 0, 10);
    expect(sent).toHaveLength(1); // taken by the transport, which said "full"
    full = false;
    drained!();
    expect(sent.map((e) => e.container_event_type)).toEqual(Array.from({ length: 10 }, () => ['CONTAINER_STOPPED_EVENT', 'CONTAINER_STARTED_EVENT']).flat());
    ac.abort();
    await done;
    expect(events.hub.subscribers).toBe(0);
  });

  it('ends a subscriber that does not read with RESOURCE_EXHAUSTED naming the limit, and drops it', async () => {
    const { index, events } = setup();
    let writes = 0;
    const stream = { write: () => (writes++, false), onceDrained: () => undefined };
    const done = events.stream(stream, new AbortController().signal);
    restarts(index, 0, LIMIT); // 2 x LIMIT events: 1 written, LIMIT queued, the next one is too many
    await expect(done).rejects.toMatchObject({ code: grpcStatus.RESOURCE_EXHAUSTED, message: expect.stringContaining(`${LIMIT} events`) });
    expect(writes).toBe(1);
    expect(events.hub.subscribers).toBe(0);
  });

  // grpc-js's own client keeps taking messages off the connection while its reader is paused,
  // so the client that stops reading here speaks HTTP/2 itself and pauses its stream: the
  // server's flow-control window then fills, as with a Go client (the kubelet) that stops reading.
  it('through gRPC: a client that stopped reading is cut off; one that reads gets every event', async () => {
    const { index, events } = setup();
    const dir = mkdtempSync(join(tmpdir(), 'events-bp-'));
    const sock = join(dir, 'cri.sock');
    const server = new CriServer({ endpoint: `unix://${sock}`, handlers: eventsHandlers({ events } as Services), logger });
    await server.start();
    const client = new CriClient(sock);
    const session = h2connect('http://localhost', { createConnection: () => netConnect(sock) });
    try {
      const reader = (client.runtime as unknown as { GetContainerEvents(r: object): NodeJS.ReadableStream & { cancel(): void } }).GetContainerEvents({});
      let read = 0;
      reader.on('data', () => read++);
      reader.on('error', () => undefined); // the CANCELLED of our own cancel() at the end
      const stalled = session.request({ ':method': 'POST', ':path': '/runtime.v1.RuntimeService/GetContainerEvents', 'content-type': 'application/grpc', te: 'trailers' });
      stalled.end(Buffer.alloc(5)); // one gRPC frame: the empty request
      stalled.pause();
      const trailers = new Promise<Record<string, unknown>>((resolve) => stalled.on('trailers', resolve));
      while (events.hub.subscribers < 2) await new Promise((r) => setTimeout(r, 10));
      let restartsSent = 0;
      // Small batches, a turn of the event loop each, so the reading client keeps up.
      while (events.hub.subscribers === 2 && restartsSent < 50_000) {
        restarts(index, restartsSent, 5);
        restartsSent += 5;
        await new Promise((r) => setImmediate(r));
      }
      expect(events.hub.subscribers).toBe(1);
      while (read < 2 * restartsSent) await new Promise((r) => setTimeout(r, 10));
      expect(read).toBe(2 * restartsSent);
      stalled.resume(); // it now gets what the transport held, then the status
      const t = await trailers;
      expect(t['grpc-status']).toBe(String(grpcStatus.RESOURCE_EXHAUSTED));
      expect(decodeURIComponent(String(t['grpc-message']))).toContain(`${LIMIT} events`);
      reader.cancel();
    } finally {
      session.destroy();
      client.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
