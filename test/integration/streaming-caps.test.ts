// The streaming server's node-wide caps against the real shim and dockerd (issue 11): TCP
// connections to the streaming port (MAX_STREAMING_CONNECTIONS). Bounds are connection counts,
// never timings.
// One shim of its own, so that no other test's connections count against its caps.
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_STREAMING_CONNECTIONS } from '../../src/streaming/limits.js';
import { PodFixture } from '../helpers/containers.js';
import { until } from '../helpers/log-wait.js';
import { startShim, type RunningShim } from '../helpers/shim.js';
import { wsExec } from '../helpers/stream-clients.js';

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
      expect(open.length).toBe(MAX_STREAMING_CONNECTIONS);
      expect(dropped.length).toBe(extra);
      // Dropped before any HTTP was spoken: no response, no buffer held for them.
      for (const h of dropped) expect(h.received).toBe(0);
      // The earliest ones are the ones kept: the cap refuses newcomers, it does not evict.
      expect(held.slice(0, MAX_STREAMING_CONNECTIONS).every((h) => !h.closed)).toBe(true);
      expect(shim.logs()).toContain('MAX_STREAMING_CONNECTIONS');
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
