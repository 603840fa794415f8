// The streaming server's node-wide caps against the real shim and dockerd (issue 11): TCP
// connections to the streaming port (MAX_STREAMING_CONNECTIONS) and port-forward connections
// through the real nsenter/socat forwarder into a pod's network namespace
// (MAX_PORT_FORWARD_CONNECTIONS). Bounds are connection and process counts, never timings.
// One shim of its own, so that no other test's connections count against its caps.
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PORT_FORWARD_CONNECTIONS, MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION, MAX_STREAMING_CONNECTIONS } from '../../src/streaming/limits.js';
import { PodFixture } from '../helpers/containers.js';
import { expectLogShows, until } from '../helpers/log-wait.js';
import { alive, helperChildren } from '../helpers/processes.js';
import { startShim, type RunningShim } from '../helpers/shim.js';
import { collect, spdyConnect, wsExec, type SpdyClient } from '../helpers/stream-clients.js';

let shim: RunningShim;
const fx = new PodFixture(() => shim);
let pod: Awaited<ReturnType<PodFixture['pod']>>;
let cid: string;

beforeAll(async () => {
  shim = await startShim({ args: ['--streaming-bind-addr=127.0.0.1'] });
  pod = await fx.pod('caps');
  cid = await fx.run(pod, fx.containerConfig('main', { command: ['sleep', '3600'] }));
  await fx.run(pod, fx.containerConfig('httpd', { command: ['httpd', '-f', '-p', '8080', '-h', '/'] }));
  await new Promise((r) => setTimeout(r, 500));
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
  await shim?.stop();
});

async function expectAlive(): Promise<void> {
  expect(shim.proc.exitCode).toBeNull();
  expect((await shim.client.rt('Version', { version: 'v1' })).runtime_api_version).toBe('v1');
}

async function echoOverExec(text: string): Promise<string> {
  const { url } = await shim.client.rt('Exec', { container_id: cid, cmd: ['echo', text], stdin: false, stdout: true, stderr: true, tty: false });
  return (await wsExec(url, ['v4.channel.k8s.io'])).stdout.toString();
}

interface Held {
  socket: net.Socket;
  closed: boolean;
  /** Bytes the server sent before closing (a dropped connection gets none). */
  received: number;
}

async function connectRaw(host: string, port: number): Promise<Held> {
  const socket = net.connect(port, host);
  const held: Held = { socket, closed: false, received: 0 };
  socket.on('error', () => undefined);
  socket.on('data', (d: Buffer) => (held.received += d.length));
  socket.once('close', () => (held.closed = true));
  await once(socket, 'connect');
  return held;
}

describe('TCP connections to the streaming port', () => {
  it(`past MAX_STREAMING_CONNECTIONS (${MAX_STREAMING_CONNECTIONS}) are closed at once, unanswered; the process lives and exec works once they go`, async () => {
    expect(await echoOverExec('before')).toBe('before\n');
    const { hostname, port } = new URL((await shim.client.rt('Exec', { container_id: cid, cmd: ['true'], stdin: false, stdout: true, stderr: false, tty: false })).url);
    const extra = 32;
    const held: Held[] = [];
    try {
      // Idle connections that never send a request: each holds a socket until its client goes.
      for (let i = 0; i < MAX_STREAMING_CONNECTIONS + extra; i++) held.push(await connectRaw(hostname, Number(port)));
      await until(() => held.filter((h) => h.closed).length >= extra, `${extra} connections past the cap closed`);
      // Give the server time to drop more if it were going to, then count.
      await new Promise((r) => setTimeout(r, 1000));
      const open = held.filter((h) => !h.closed);
      const dropped = held.filter((h) => h.closed);
      // The exec above may still hold its socket on the server's side for a moment: one or two
      // places of the cap can be its, never more than the cap.
      const slack = 2;
      expect(open.length).toBeLessThanOrEqual(MAX_STREAMING_CONNECTIONS);
      expect(open.length).toBeGreaterThanOrEqual(MAX_STREAMING_CONNECTIONS - slack);
      expect(dropped.length).toBe(held.length - open.length);
      // Dropped before any HTTP was spoken: no response, no buffer held for them.
      for (const h of dropped) expect(h.received).toBe(0);
      // The earliest ones are the ones kept: the cap refuses newcomers, it does not evict.
      expect(held.slice(0, MAX_STREAMING_CONNECTIONS - slack).every((h) => !h.closed)).toBe(true);
      expect(held.slice(MAX_STREAMING_CONNECTIONS).every((h) => h.closed)).toBe(true);
      await expectLogShows(() => shim.logs(), 'MAX_STREAMING_CONNECTIONS');
      // The gRPC side is untouched by a full streaming port.
      await expectAlive();
      // One more while at the cap: dropped too.
      const late = await connectRaw(hostname, Number(port));
      await until(() => late.closed, 'a connection at the cap dropped');
      expect(late.received).toBe(0);
    } finally {
      for (const h of held) h.socket.destroy();
    }
    await Promise.all(held.map((h) => (h.closed ? undefined : once(h.socket, 'close'))));
    // The server sees the closes asynchronously: a plain request is answered again once it has.
    await probeUntilAnswered(hostname, Number(port));
    expect(await echoOverExec('after')).toBe('after\n');
    await expectAlive();
  }, 120_000);
});

/** A plain GET on the streaming port gets its 404 (accepted, read and answered), retried while the server catches up. */
async function probeUntilAnswered(host: string, port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const h = await connectRaw(host, port);
    h.socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await once(h.socket, 'close');
    if (h.received > 0) return;
    if (Date.now() > deadline) throw new Error('the streaming port never answered again');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('port-forward connections on the node, through the real forwarder', () => {
  it(`hold at most MAX_PORT_FORWARD_CONNECTIONS (${MAX_PORT_FORWARD_CONNECTIONS}) socat helpers across sessions; the rest get the cap named; every helper dies with its session`, async () => {
    const shimPid = shim.proc.pid!;
    const before = helperChildren(shimPid);
    expect(before).toHaveLength(0);
    const full = Math.ceil(MAX_PORT_FORWARD_CONNECTIONS / MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION);
    const sessions: SpdyClient[] = [];
    const seen = new Set<number>();
    let peak = 0;
    const sample = () => {
      const now = helperChildren(shimPid);
      for (const p of now) seen.add(p);
      peak = Math.max(peak, now.length);
      return now.length;
    };
    /** Opens `n` connections to 8080 (an error and a data stream each, as kubectl does); their error texts. */
    const openConnections = async (client: SpdyClient, n: number): Promise<Array<Promise<string>>> => {
      const errors: Array<Promise<string>> = [];
      for (let i = 0; i < n; i++) {
        const error = await client.open({ streamtype: 'error', port: '8080', requestid: String(i) });
        errors.push(collect(error).then((b) => b.toString()));
        await client.open({ streamtype: 'data', port: '8080', requestid: String(i) });
        sample();
      }
      return errors;
    };
    try {
      // Full sessions up to the node's cap, each within its own session cap.
      for (let s = 0; s < full; s++) {
        const client = await spdyConnect((await shim.client.rt('PortForward', { pod_sandbox_id: pod.id, port: [8080] })).url, ['portforward.k8s.io']);
        sessions.push(client);
        await openConnections(client, Math.min(MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION, MAX_PORT_FORWARD_CONNECTIONS - s * MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION));
      }
      await until(() => sample() >= MAX_PORT_FORWARD_CONNECTIONS, `${MAX_PORT_FORWARD_CONNECTIONS} socat helpers running`, 60_000);
      // One more session, well within its own cap: every connection refused by the node's.
      const extra = await spdyConnect((await shim.client.rt('PortForward', { pod_sandbox_id: pod.id, port: [8080] })).url, ['portforward.k8s.io']);
      sessions.push(extra);
      const refused = await Promise.race([
        Promise.all(await openConnections(extra, 8)),
        new Promise<string[]>((r) => setTimeout(() => r([]), 20_000)),
      ]);
      expect(refused).toHaveLength(8);
      for (const e of refused) expect(e).toContain('cap MAX_PORT_FORWARD_CONNECTIONS)');
      sample();
      expect(peak).toBe(MAX_PORT_FORWARD_CONNECTIONS);
      await expectAlive();
      // A session ending frees its share of the node's budget: the next session gets its connection.
      sessions.shift()!.close();
      await until(() => sample() <= MAX_PORT_FORWARD_CONNECTIONS - MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION, 'the first session\'s helpers gone', 30_000);
      const next = await spdyConnect((await shim.client.rt('PortForward', { pod_sandbox_id: pod.id, port: [8080] })).url, ['portforward.k8s.io']);
      sessions.push(next);
      await openConnections(next, 1);
      await until(() => sample() === MAX_PORT_FORWARD_CONNECTIONS - MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION + 1, 'the new session\'s helper running', 30_000);
      expect(peak).toBe(MAX_PORT_FORWARD_CONNECTIONS);
    } finally {
      for (const c of sessions) c.close();
    }
    await until(() => sample() === 0, 'every helper gone', 60_000);
    // Gone, not reparented: none of the helpers ever seen is alive anywhere.
    expect(seen.size).toBeGreaterThanOrEqual(MAX_PORT_FORWARD_CONNECTIONS);
    expect([...seen].filter(alive)).toEqual([]);
    await expectAlive();
  }, 180_000);
});
