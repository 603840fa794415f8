// The streaming HTTP server behind the URLs Exec, Attach and PortForward return: it takes the
// token out of the path, then upgrades to SPDY/3.1 or WebSocket, whichever the client asks.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { formatListenAddress, parseListenAddress } from '../config.js';
import type { Logger } from '../logger.js';
import type { CommandResult, RemoteCommandIO, StreamSpec } from './remotecommand.js';
import {
  MAX_PORT_FORWARD_CONNECTIONS,
  MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION,
  MAX_PORTS_PER_REQUEST,
  MAX_STREAMING_CONNECTIONS,
  MAX_WEBSOCKET_MESSAGE_BYTES,
} from './limits.js';
import { SpdySession } from './spdy/session.js';
import { PORT_FORWARD_PROTOCOLS, REMOTE_COMMAND_PROTOCOLS, finishPortForward, portForwardOverSpdy, remoteCommandOverSpdy } from './spdy/kube.js';
import { TokenStore, type StreamKind } from './tokens.js';
import { PORT_FORWARD_SUBPROTOCOLS, REMOTE_COMMAND_SUBPROTOCOLS, pickSubprotocol, portForwardOverWebSocket, remoteCommandOverWebSocket } from './websocket/kube.js';

// Not `import http from 'node:http'`: an ES import of a builtin reads every export, and http's
// lazy ones (WebSocket, MessageEvent, ...) load undici and more, ~4 MiB of RSS the shim never uses.
const http = process.getBuiltinModule('node:http');

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
  /**
   * Forwards one connection; resolves with the text for the port's error stream, if any.
   * `session` aborts when the client's session ends: nothing of the connection may outlive it.
   */
  forward(req: PortForwardStreamRequest, port: number, data: Duplex, session: AbortSignal): Promise<string | undefined>;
}

/**
 * The ports of a WebSocket port-forward: the `port` query parameters (repeatable, each
 * comma-separated, as the kubelet reads them; `ports` too), else the CRI request's. Refused
 * past MAX_PORTS_PER_REQUEST without reading further.
 */
export function portsFromQuery(url: string | undefined, fallback: number[]): number[] | string {
  const tooMany = `port forwarding takes at most ${MAX_PORTS_PER_REQUEST} ports per request (cap MAX_PORTS_PER_REQUEST)`;
  const query = new URL(url ?? '/', 'http://x').searchParams;
  const values = [...query.getAll('port'), ...query.getAll('ports')];
  const ports: number[] = [];
  for (const value of values) {
    for (const p of value.split(',')) {
      if (ports.length === MAX_PORTS_PER_REQUEST) return tooMany;
      const text = p.trim();
      const port = Number(text);
      if (!/^\d+$/.test(text) || port < 1 || port > 65535) return `invalid port "${text}" in the query (1-65535)`;
      ports.push(port);
    }
  }
  const result = ports.length ? ports : fallback;
  if (result.length === 0) return 'port forwarding over websocket needs ports (query parameter "port")';
  if (result.length > MAX_PORTS_PER_REQUEST) return tooMany;
  return result;
}

/** Port-forward connections held by one session (its helper processes). */
interface SessionForwards {
  count: number;
  /** A refusal is logged once per session: a flood must not flood the log. */
  refusalLogged: boolean;
}

function headerValues(req: IncomingMessage, name: string): string[] {
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
  private readonly wsRemoteCommand = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
    handleProtocols: (p) => pickSubprotocol(p, REMOTE_COMMAND_SUBPROTOCOLS),
  });
  private readonly wsPortForward = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
    handleProtocols: (p) => pickSubprotocol(p, PORT_FORWARD_SUBPROTOCOLS),
  });
  private readonly sockets = new Set<Duplex>();
  private base = '';
  /** Port-forward connections open on the node, all sessions together. */
  private forwards = 0;
  private droppedLogged = false;

  constructor(
    private readonly handlers: StreamingHandlers,
    private readonly logger: Logger,
  ) {
    // A fault in handling one peer ends that connection, never the process.
    this.http.on('request', (req, res) => {
      try {
        this.onPlainRequest(req, res);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'streaming request failed');
        res.destroy();
      }
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.onUpgrade(req, socket, head);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'streaming session failed to start');
        socket.destroy();
      }
    });
    this.http.on('connection', (s: Duplex) => {
      // From the moment it exists: a reset before the request is read must not go uncaught.
      s.on('error', () => undefined);
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.http.maxConnections = MAX_STREAMING_CONNECTIONS;
    this.http.on('drop', () => {
      if (this.droppedLogged) return;
      this.droppedLogged = true;
      this.logger.warn({ cap: 'MAX_STREAMING_CONNECTIONS', max: MAX_STREAMING_CONNECTIONS }, 'streaming connections dropped: too many open at once');
    });
  }

  onSession(observer: SessionObserver): void {
    this.sessionObservers.push(observer);
  }

  /** Listens on a --streaming-bind-addr value; fails naming the flag and address (a start-up error). */
  async listen(bindAddr: string): Promise<void> {
    const { host, port } = parseListenAddress('streaming-bind-addr', bindAddr, '0.0.0.0');
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EADDRNOTAVAIL' ? 'address not available on this host' : err.message;
        reject(new Error(`--streaming-bind-addr ${formatListenAddress({ host, port })}: ${why}`));
      };
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
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

  private onPlainRequest(req: IncomingMessage, res: ServerResponse): void {
    const r = this.route(req.url);
    // Without an upgrade nothing can be served; a token is only spent by an upgrade.
    const status = r && this.tokens.has(r.kind, r.token) ? 400 : 404;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
    res.end(status === 400 ? 'upgrade to SPDY/3.1 or websocket required\n' : 'not found\n');
  }

  /** Takes one port-forward connection from the session's and the node's budgets; a refusal names the cap. */
  private acquireForward(session: SessionForwards): (() => void) | string {
    if (session.count >= MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION) {
      return `port-forward connection refused: this session already has ${session.count} open (cap MAX_PORT_FORWARD_CONNECTIONS_PER_SESSION)`;
    }
    if (this.forwards >= MAX_PORT_FORWARD_CONNECTIONS) {
      return `port-forward connection refused: ${this.forwards} open on this node (cap MAX_PORT_FORWARD_CONNECTIONS)`;
    }
    session.count++;
    this.forwards++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      session.count--;
      this.forwards--;
    };
  }

  /**
   * A port-forward session (counted in the sessions gauge) as a function forwarding one
   * connection, within the caps, to its end; it resolves with the connection's error text.
   * When the session closes, every helper it started is killed.
   */
  private portForwardSession(request: PortForwardStreamRequest, log: Logger, onClose: (fn: () => void) => void): (port: number, data: Duplex) => Promise<string | undefined> {
    this.sessions.inc({ kind: 'portforward' });
    const ended = new AbortController();
    onClose(() => {
      ended.abort();
      this.sessions.dec({ kind: 'portforward' });
    });
    const held: SessionForwards = { count: 0, refusalLogged: false };
    return (port, data) => this.runForward(request, held, ended.signal, port, data, log);
  }

  private async runForward(request: PortForwardStreamRequest, session: SessionForwards, ended: AbortSignal, port: number, data: Duplex, log: Logger): Promise<string | undefined> {
    const release = this.acquireForward(session);
    if (typeof release === 'string') {
      if (!session.refusalLogged) log.warn({ port }, release);
      session.refusalLogged = true;
      data.destroy();
      return release;
    }
    try {
      return await this.handlers.forward(request, port, data, ended);
    } catch (err) {
      return `port forward failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      release();
    }
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
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

  private upgradeSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, request: StreamRequest): void {
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
    const session = new SpdySession(socket, head, (err, fatal) =>
      log.warn({ err: err.message }, fatal ? 'SPDY session ended: protocol error or cap broken' : 'SPDY stream refused'),
    );
    if (request.kind === 'portforward') {
      const forward = this.portForwardSession(request, log, (onClose) => session.once('close', onClose));
      portForwardOverSpdy(
        session,
        (pf) => {
          void forward(pf.port, pf.data).then((error) => finishPortForward(pf, error));
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

  private upgradeWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, request: StreamRequest): void {
    const wss = request.kind === 'portforward' ? this.wsPortForward : this.wsRemoteCommand;
    let ports: number[] = [];
    if (request.kind === 'portforward') {
      const parsed = portsFromQuery(req.url, request.ports);
      if (typeof parsed === 'string') {
        this.logger.warn({ stream: 'portforward' }, `port-forward refused: ${parsed}`);
        rejectUpgrade(socket, 400, parsed);
        return;
      }
      ports = parsed;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const log = this.logger.child({ stream: request.kind, protocol: `websocket ${ws.protocol || 'channel.k8s.io'}` });
      ws.on('error', (err) => log.warn({ err: err.message }, 'websocket session ended on an error'));
      try {
        this.runWebSocket(request, ws, ports, log);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'websocket session failed to start');
        ws.terminate();
      }
    });
  }

  private runWebSocket(request: StreamRequest, ws: WebSocket, ports: number[], log: Logger): void {
    if (request.kind === 'portforward') {
      // One connection per port; the session ends when all of them have (as the kubelet's does).
      const forward = this.portForwardSession(request, log, (onClose) => ws.once('close', onClose));
      const done: Array<Promise<void>> = [];
      portForwardOverWebSocket(ws, ports, (p) => {
        done.push(
          forward(p.port, p.data).then((error) => {
            if (error) p.fail(error);
          }),
        );
      });
      void Promise.all(done).then(() => ws.close(1000));
      return;
    }
    void this.runRemoteCommand(request, remoteCommandOverWebSocket(ws, request.spec), log);
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
