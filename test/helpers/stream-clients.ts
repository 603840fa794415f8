// Real clients of the streaming server, independent of the shim's code: SPDY/3.1 through the
// `spdy-transport` package (an unrelated implementation, client mode) and WebSocket through
// `ws`. They speak the Kubernetes stream protocols as kubectl/crictl do.
import http from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';

const require = createRequire(import.meta.url);

interface SpdyClientStream extends Duplex {
  id: number;
}
interface SpdyClientConnection {
  start(version: number): void;
  request(
    uri: { method: string; path: string; host?: string; headers: Record<string, string>; readable: boolean; writable: boolean },
    cb?: (err: Error | null, stream: SpdyClientStream) => void,
  ): SpdyClientStream;
  end(cb?: () => void): void;
  on(event: 'error' | 'close', fn: (err?: Error) => void): void;
}
const transport = require('spdy-transport') as {
  connection: { create(socket: Duplex, opts: { protocol: 'spdy'; isServer: false; windowSize?: number }): SpdyClientConnection };
};

export class HttpStatusError extends Error {
  readonly status: number;
  readonly body: string;

  // No parameter properties: benches load this file with Node's type stripping.
  constructor(status: number, body: string) {
    super(`HTTP ${status}: ${body}`);
    this.status = status;
    this.body = body;
  }
}

export interface SpdyClient {
  conn: SpdyClientConnection;
  socket: Duplex;
  /** The X-Stream-Protocol-Version the server chose. */
  protocol: string;
  open(headers: Record<string, string>): Promise<SpdyClientStream>;
  close(): void;
}

/** HTTP upgrade to SPDY/3.1 offering `protocols`, then a spdy-transport client session. */
export function spdyConnect(url: string, protocols: string[]): Promise<SpdyClient> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(new HttpStatusError(res.statusCode ?? 0, body.trim())));
    });
    req.on('upgrade', (res, socket, head) => {
      if (head.length) socket.unshift(head);
      const conn = transport.connection.create(socket, { protocol: 'spdy', isServer: false });
      conn.start(3.1);
      conn.on('error', () => undefined);
      resolve({
        conn,
        socket,
        protocol: String(res.headers['x-stream-protocol-version'] ?? ''),
        open: (headers) =>
          new Promise((res2, rej2) => {
            conn.request({ method: 'POST', path: '/', host: 'localhost', headers, readable: true, writable: true }, (err, s) => (err ? rej2(err) : res2(s)));
          }),
        close: () => socket.destroy(),
      });
    });
    req.end();
  });
}

export function collect(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('close', () => resolve(Buffer.concat(chunks)));
    stream.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

export interface ExecOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  tty?: boolean;
}

export interface SpdyExecSession {
  client: SpdyClient;
  stdin?: SpdyClientStream;
  resize?: SpdyClientStream;
  stdout: Promise<Buffer>;
  stderr: Promise<Buffer>;
  /** The error stream's whole content (a JSON Status for v4). */
  error: Promise<string>;
  stdoutStream?: SpdyClientStream;
}

/** Opens the streams of an exec/attach session the way kubectl's SPDY executor does. */
export async function spdyExec(url: string, opts: ExecOptions, protocols = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']): Promise<SpdyExecSession> {
  const client = await spdyConnect(url, protocols);
  const error = await client.open({ streamtype: 'error' });
  const stdin = opts.stdin ? await client.open({ streamtype: 'stdin' }) : undefined;
  const stdout = opts.stdout !== false ? await client.open({ streamtype: 'stdout' }) : undefined;
  const stderr = opts.stderr !== false && !opts.tty ? await client.open({ streamtype: 'stderr' }) : undefined;
  const resize = opts.tty ? await client.open({ streamtype: 'resize' }) : undefined;
  return {
    client,
    stdin,
    resize,
    stdoutStream: stdout,
    stdout: stdout ? collect(stdout) : Promise.resolve(Buffer.alloc(0)),
    stderr: stderr ? collect(stderr) : Promise.resolve(Buffer.alloc(0)),
    error: collect(error).then((b) => b.toString()),
  };
}

// ---- WebSocket ----

/**
 * Opens a WebSocket. `onMessage` is attached before the handshake completes: messages the
 * server sends at once may arrive with the upgrade response and would be lost otherwise.
 */
export function wsConnect(url: string, protocols: string[], onMessage?: (data: Buffer, isBinary: boolean, ws: WebSocket) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols);
    if (onMessage) ws.on('message', (data: Buffer, isBinary: boolean) => onMessage(data, isBinary, ws));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(new HttpStatusError(res.statusCode ?? 0, body.trim())));
    });
    ws.once('error', reject);
  });
}

export interface WsExecResult {
  protocol: string;
  stdout: Buffer;
  stderr: Buffer;
  error: string;
}

/** Runs an exec/attach session over WebSocket; `drive` may send stdin/resize while it runs. */
export async function wsExec(url: string, protocols: string[], drive?: (send: (channel: number, data: Buffer | string) => void, ws: WebSocket) => void): Promise<WsExecResult> {
  const out: Record<number, Buffer[]> = { 1: [], 2: [], 3: [] };
  const ws = await wsConnect(url, protocols, (data: Buffer, isBinary: boolean) => {
    let channel: number;
    let payload: Buffer;
    if (!isBinary) {
      const text = data.toString();
      channel = Number(text[0]);
      payload = Buffer.from(text.slice(1), 'base64');
    } else {
      channel = data[0];
      payload = data.subarray(1);
    }
    out[channel]?.push(payload);
  });
  const base64 = ws.protocol.startsWith('base64.');
  const send = (channel: number, data: Buffer | string) => {
    const buf = Buffer.from(data);
    if (base64) ws.send(`${channel}${buf.toString('base64')}`);
    else ws.send(Buffer.concat([Buffer.from([channel]), buf]));
  };
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  drive?.(send, ws);
  await closed;
  return { protocol: ws.protocol, stdout: Buffer.concat(out[1]), stderr: Buffer.concat(out[2]), error: Buffer.concat(out[3]).toString() };
}
