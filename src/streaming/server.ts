// The streaming HTTP server behind the URLs Exec, Attach and PortForward return: it takes the
// token out of the path, then upgrades to SPDY/3.1 or WebSocket, whichever the client asks.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../logger.js';
import type { CommandResult, RemoteCommandIO, StreamSpec } from './remotecommand.js';
import { SpdySession } from './spdy/session.js';
import { PORT_FORWARD_PROTOCOLS, REMOTE_COMMAND_PROTOCOLS, finishPortForward, portForwardOverSpdy, remoteCommandOverSpdy } from './spdy/kube.js';
import { TokenStore, type StreamKind } from './tokens.js';
import { PORT_FORWARD_SUBPROTOCOLS, REMOTE_COMMAND_SUBPROTOCOLS, pickSubprotocol, portForwardOverWebSocket, remoteCommandOverWebSocket } from './websocket/kube.js';

export interface ExecStreamRequest {
  kind: 'exec';
  containerId: string;
  cmd: string[];
  spec: StreamSpec;
}
export interface AttachStreamRequest {
  kind: 'attach';
  containerId: string;
  spec: StreamSpec;
}
export interface PortForwardStreamRequest {
  kind: 'portforward';
  sandboxId: string;
  ports: number[];
}
export type StreamRequest = ExecStreamRequest | AttachStreamRequest | PortForwardStreamRequest;

export interface StreamingHandlers {
  /** Runs an exec or attach session to its end and says how it ended. */
  remoteCommand(req: ExecStreamRequest | AttachStreamRequest, io: RemoteCommandIO): Promise<CommandResult>;
  /** Forwards one connection; resolves with the text for the port's error stream, if any. */
  forward(req: PortForwardStreamRequest, port: number, data: Duplex): Promise<string | undefined>;
}

/** "host:port", "[v6]:port" or ":port" -> listen arguments. */
export function parseBindAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid --streaming-bind-addr "${addr}" (expected host:port, e.g. 127.0.0.1:0)`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port in --streaming-bind-addr "${addr}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function headerValues(req: http.IncomingMessage, name: string): string[] {
  const raw = req.headersDistinct[name] ?? [];
  return raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A session of `kind` opened (+1) or ended (-1); metrics hook in here. */
export type SessionObserver = (kind: string, delta: 1 | -1) => void;

export class StreamingServer {
  readonly tokens = new TokenStore<StreamRequest>();
  private readonly sessionObservers: SessionObserver[] = [];
  private readonly sessions = {
    inc: ({ kind }: { kind: string }) => this.sessionObservers.forEach((o) => o(kind, 1)),
    dec: ({ kind }: { kind: string }) => this.sessionObservers.forEach((o) => o(kind, -1)),
  };
  private readonly http = http.createServer();
  private readonly wsRemoteCommand = new WebSocketServer({ noServer: true, handleProtocols: (p) => pickSubprotocol(p, REMOTE_COMMAND_SUBPROTOCOLS) });
  private readonly wsPortForward = new WebSocketServer({ noServer: true, handleProtocols: (p) => pickSubprotocol(p, PORT_FORWARD_SUBPROTOCOLS) });
  private readonly sockets = new Set<Duplex>();
  private base = '';

  constructor(
    private readonly handlers: StreamingHandlers,
    private readonly logger: Logger,
  ) {
    this.http.on('request', (req, res) => this.onPlainRequest(req, res));
    this.http.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('connection', (s: Duplex) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  onSession(observer: SessionObserver): void {
    this.sessionObservers.push(observer);
  }

  async listen(bindAddr: string): Promise<void> {
    const { host, port } = parseBindAddr(bindAddr);
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const addr = this.http.address() as AddressInfo;
    // An unspecified address serves every interface; the URL still needs one to dial.
    const urlHost = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
    this.base = `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${addr.port}`;
    this.logger.info({ url: this.base }, 'streaming server listening');
  }

  /** Absolute URL (scheme included: kubelet's WebSocket path needs it) for a fresh token. */
  url(req: StreamRequest): string {
    return `${this.base}/${req.kind}/${this.tokens.issue(req.kind, req)}`;
  }

  async close(): Promise<void> {
    this.tokens.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private route(url: string | undefined): { kind: StreamKind; token: string } | undefined {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)(?:\?.*)?$/.exec(url ?? '');
    return m ? { kind: m[1] as StreamKind, token: m[2] } : undefined;
  }

  private onPlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const r = this.route(req.url);
    // Without an upgrade nothing can be served; a token is only spent by an upgrade.
    const status = r && this.tokens.has(r.kind, r.token) ? 400 : 404;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
    res.end(status === 400 ? 'upgrade to SPDY/3.1 or websocket required\n' : 'not found\n');
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const r = this.route(req.url);
    const request = r && this.tokens.take(r.kind, r.token);
    if (!r || !request) {
      rejectUpgrade(socket, 404, 'unknown, used or expired streaming token');
      return;
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') this.upgradeWebSocket(req, socket, head, request);
    else if (upgrade.split(',').some((u) => u.trim() === 'spdy/3.1')) this.upgradeSpdy(req, socket, head, request);
    else rejectUpgrade(socket, 400, `unsupported upgrade "${req.headers.upgrade ?? ''}" (SPDY/3.1 or websocket)`);
  }

  private upgradeSpdy(req: http.IncomingMessage, socket: Duplex, head: Buffer, request: StreamRequest): void {
    const supported = request.kind === 'portforward' ? PORT_FORWARD_PROTOCOLS : REMOTE_COMMAND_PROTOCOLS;
    const offered = headerValues(req, 'x-stream-protocol-version');
    // A client naming no version speaks the first protocol of its kind.
    const protocol = offered.length === 0 ? supported[supported.length - 1] : offered.find((p) => supported.includes(p));
    if (!protocol) {
      rejectUpgrade(socket, 403, `unable to negotiate protocol: client supports ${offered.join(', ')}, server supports ${supported.join(', ')}`);
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
        (offered.length ? `X-Stream-Protocol-Version: ${protocol}\r\n` : '') +
        '\r\n',
    );
    const log = this.logger.child({ stream: request.kind, protocol: `spdy ${protocol}` });
    const session = new SpdySession(socket, head, (err) => log.warn({ err: err.message }, 'SPDY protocol error; connection dropped'));
    if (request.kind === 'portforward') {
      this.sessions.inc({ kind: 'portforward' });
      session.once('close', () => this.sessions.dec({ kind: 'portforward' }));
      portForwardOverSpdy(
        session,
        (pf) => {
          void this.handlers.forward(request, pf.port, pf.data).then((error) => finishPortForward(pf, error));
        },
        log,
      );
      return;
    }
    remoteCommandOverSpdy(session, protocol, request.spec).then(
      (io) => this.runRemoteCommand(request, io, log),
      (err: Error) => {
        log.debug({ err: err.message }, 'streams never opened');
        session.destroy();
      },
    );
  }

  private upgradeWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, request: StreamRequest): void {
    const wss = request.kind === 'portforward' ? this.wsPortForward : this.wsRemoteCommand;
    let ports: number[] = [];
    if (request.kind === 'portforward') {
      const query = new URL(req.url ?? '/', 'http://x').searchParams.get('ports');
      ports = query ? query.split(',').map((p) => Number(p.trim())) : request.ports;
      if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
        rejectUpgrade(socket, 400, 'port forwarding over websocket needs valid ports (query parameter "ports")');
        return;
      }
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const log = this.logger.child({ stream: request.kind, protocol: `websocket ${ws.protocol || 'channel.k8s.io'}` });
      if (request.kind === 'portforward') {
        // One connection per port; the session ends when all of them have (as the kubelet's does).
        this.sessions.inc({ kind: 'portforward' });
        ws.once('close', () => this.sessions.dec({ kind: 'portforward' }));
        const done: Array<Promise<void>> = [];
        portForwardOverWebSocket(ws, ports, (p) => {
          done.push(
            this.handlers.forward(request, p.port, p.data).then((error) => {
              if (error) p.fail(error);
            }),
          );
        });
        void Promise.all(done).then(() => ws.close(1000));
        return;
      }
      void this.runRemoteCommand(request, remoteCommandOverWebSocket(ws, request.spec), log);
    });
  }

  private async runRemoteCommand(request: ExecStreamRequest | AttachStreamRequest, io: RemoteCommandIO, log: Logger): Promise<void> {
    let result: CommandResult;
    this.sessions.inc({ kind: request.kind });
    try {
      result = await this.handlers.remoteCommand(request, io);
    } catch (err) {
      result = { kind: 'error', message: err instanceof Error ? err.message : String(err) };
    }
    log.debug({ result }, 'streaming session ended');
    await io.finish(result).catch(() => undefined);
    this.sessions.dec({ kind: request.kind });
  }
}
