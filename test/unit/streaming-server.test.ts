// The streaming server's own bounds, in-process with fake handlers (no Docker, no helper
// processes): the node-wide port-forward connection cap and the port lists of a request.
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { MAX_PORT_FORWARD_CONNECTIONS, MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION, MAX_PORTS_PER_REQUEST } from '../../src/streaming/limits.js';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { MAX_WEBSOCKET_PORTS } from '../../src/streaming/limits.js';
import { StreamingServer, portsFromQuery } from '../../src/streaming/server.js';
import { portForwardOverWebSocket } from '../../src/streaming/websocket/kube.js';
import { collect, spdyConnect, type SpdyClient } from '../helpers/stream-clients.js';

describe('port lists of a WebSocket port-forward', () => {
  it('reads the kubelet forms (repeated port, comma lists) and ports, else the request', () => {
    expect(portsFromQuery('/portforward/t?port=80&port=81,82', [])).toEqual([80, 81, 82]);
    expect(portsFromQuery('/portforward/t?ports=8080', [1])).toEqual([8080]);
    expect(portsFromQuery('/portforward/t', [443])).toEqual([443]);
    expect(portsFromQuery('/portforward/t', [])).toMatch(/needs ports/);
    expect(portsFromQuery('/portforward/t?port=0', [])).toMatch(/invalid port "0"/);
    expect(portsFromQuery('/portforward/t?port=x', [])).toMatch(/invalid port "x"/);
  });

  it(`refuses more than ${MAX_PORTS_PER_REQUEST} without reading further, naming the cap`, () => {
    const many = Array.from({ length: 1000 }, (_, i) => `port=${i + 1}`).join('&');
    expect(portsFromQuery(`/portforward/t?${many}`, [])).toMatch(/cap MAX_PORTS_PER_REQUEST/);
    expect(portsFromQuery('/portforward/t', Array.from({ length: MAX_PORTS_PER_REQUEST + 1 }, (_, i) => i + 1))).toMatch(/MAX_PORTS_PER_REQUEST/);
    expect(portsFromQuery(`/portforward/t?port=${Array.from({ length: MAX_PORTS_PER_REQUEST }, () => '80').join(',')}`, [])).toHaveLength(MAX_PORTS_PER_REQUEST);
  });
});

describe('port-forward connections on the node', () => {
  const open = new Set<Duplex>();
  const server = new StreamingServer(
    {
      remoteCommand: () => Promise.reject(new Error('not in this test')),
      // A connection held until its client or session ends, as socat would be.
      forward: (_req, _port, data, session) =>
        new Promise((resolve) => {
          open.add(data);
          const done = () => {
            open.delete(data);
            resolve(undefined);
          };
          data.once('close', done);
          session.addEventListener('abort', done, { once: true });
        }),
    },
    createLogger('fatal'),
  );
  const clients: SpdyClient[] = [];

  beforeAll(() => server.listen('127.0.0.1:0'));
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  it(`holds at most ${MAX_PORT_FORWARD_CONNECTIONS} across sessions; the rest get the cap on their error stream`, async () => {
    const sessions = Math.ceil((MAX_PORT_FORWARD_CONNECTIONS + 20) / MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION);
    const refused: string[] = [];
    for (let s = 0; s < sessions; s++) {
      const client = await spdyConnect(server.url({ kind: 'portforward', sandboxId: 'pod', ports: [] }), ['portforward.k8s.io']);
      clients.push(client);
      for (let i = 0; i < MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION; i++) {
        const error = await client.open({ streamtype: 'error', port: '80', requestid: String(i) });
        await client.open({ streamtype: 'data', port: '80', requestid: String(i) });
        void collect(error).then((b) => b.length && refused.push(b.toString()));
      }
    }
    const offered = sessions * MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION;
    const deadline = Date.now() + 10_000;
    while (refused.length < offered - MAX_PORT_FORWARD_CONNECTIONS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(open.size).toBe(MAX_PORT_FORWARD_CONNECTIONS);
    expect(refused).toHaveLength(offered - MAX_PORT_FORWARD_CONNECTIONS);
    for (const r of refused) expect(r).toContain('cap MAX_PORT_FORWARD_CONNECTIONS)');

    // A session that ends gives its connections back.
    clients.shift()!.close();
    const back = Date.now() + 10_000;
    while (open.size > MAX_PORT_FORWARD_CONNECTIONS - MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION && Date.now() < back) await new Promise((r) => setTimeout(r, 20));
    expect(open.size).toBe(MAX_PORT_FORWARD_CONNECTIONS - MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION);
  });
});

describe('WebSocket port-forward channels', () => {
  it(`more than ${MAX_WEBSOCKET_PORTS} ports would wrap the channel byte: refused before any channel opens`, async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const opened: number[] = [];
    wss.on('connection', (ws) => portForwardOverWebSocket(ws, Array.from({ length: MAX_WEBSOCKET_PORTS + 1 }, (_, i) => 1000 + i), (p) => opened.push(p.port)));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    const messages: Buffer[] = [];
    client.on('message', (d: Buffer) => messages.push(d));
    const [code, reason] = (await once(client, 'close')) as [number, Buffer];
    expect(code).toBe(1008);
    expect(reason.toString()).toContain(`${MAX_WEBSOCKET_PORTS} channels`);
    expect(opened).toEqual([]);
    expect(messages).toEqual([]);
    wss.close();
  });
});
