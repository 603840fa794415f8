// The --metrics-bind-addr HTTP server: GET /metrics (Prometheus text), GET /healthz (200 only
// while dockerd answers a ping), and POST /debug/heap-snapshot, /debug/cpu-profile?seconds=N,
// which answer only to loopback peers whatever address the server is bound to.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListenAddress } from '../config.js';
import { DiagnosticsBusyError, type Diagnostics } from '../diagnostics/index.js';
import type { Logger } from '../logger.js';
import { registry } from './index.js';

/** A ping slower than this counts as dockerd not answering. */
const HEALTH_PING_TIMEOUT_MS = 5_000;

export interface MetricsServerOptions {
  /** A --metrics-bind-addr value (parseListenAddress: "host:port", ":port", "port", a host alone); no host means 127.0.0.1. */
  bindAddr: string;
  /** Resolves when dockerd answers, rejects when it does not. */
  ping: () => Promise<unknown>;
  diagnostics: Diagnostics;
  logger: Logger;
}

function isLoopback(address: string | undefined): boolean {
  return !!address && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));
}

export class MetricsServer {
  private readonly server: Server;

  constructor(private readonly opts: MetricsServerOptions) {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.opts.logger.warn({ err, url: req.url }, 'metrics endpoint failed');
        if (!res.headersSent) send(res, 500, `${(err as Error).message}\n`);
      });
    });
  }

  /** Listens; an address in use or not local is a start-up error naming the flag and address. */
  async start(): Promise<AddressInfo> {
    const { host, port } = parseListenAddress('metrics-bind-addr', this.opts.bindAddr, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EADDRNOTAVAIL' ? 'address not available on this host' : err.message;
        reject(new Error(`--metrics-bind-addr ${host}:${port}: ${why}`));
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.opts.logger.info({ address: `${address.address}:${address.port}` }, 'metrics server listening');
    return address;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if ((url.pathname === '/metrics' || url.pathname === '/healthz') && req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'use GET\n', undefined, { allow: 'GET, HEAD' });
      return;
    }
    if (url.pathname === '/metrics') {
      const body = await registry.metrics();
      send(res, 200, body, registry.contentType);
      return;
    }
    if (url.pathname === '/healthz') {
      const healthy = await this.dockerAnswers();
      send(res, healthy === true ? 200 : 503, healthy === true ? 'ok\n' : `dockerd does not answer: ${healthy}\n`);
      return;
    }
    if (url.pathname.startsWith('/debug/')) {
      await this.debug(req, res, url);
      return;
    }
    send(res, 404, 'not found: try /metrics, /healthz, POST /debug/heap-snapshot or POST /debug/cpu-profile?seconds=30\n');
  }

  private async dockerAnswers(): Promise<true | string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_PING_TIMEOUT_MS} ms`)), HEALTH_PING_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.opts.ping(), timeout]);
      return true;
    } catch (err) {
      return (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }

  private async debug(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    // Snapshots expose memory contents (secrets, env): never to anything but this host.
    if (!isLoopback(req.socket.remoteAddress)) {
      send(res, 403, 'diagnostics endpoints answer only on loopback\n');
      return;
    }
    // They change state (a file, a paused process): never on a GET a link or prefetch can send.
    if (req.method !== 'POST') {
      send(res, 405, 'use POST\n', undefined, { allow: 'POST' });
      return;
    }
    if (url.pathname === '/debug/heap-snapshot') {
      try {
        send(res, 200, `${await this.opts.diagnostics.heapSnapshot()}\n`);
      } catch (err) {
        if (!(err instanceof DiagnosticsBusyError)) throw err;
        send(res, err.status, `${err.message}\n`, undefined, err.retryAfterS ? { 'retry-after': String(err.retryAfterS) } : {});
      }
      return;
    }
    if (url.pathname === '/debug/cpu-profile') {
      const seconds = Number(url.searchParams.get('seconds') ?? '30');
      try {
        send(res, 200, `${await this.opts.diagnostics.cpuProfile(seconds)}\n`);
      } catch (err) {
        send(res, err instanceof RangeError ? 400 : 409, `${(err as Error).message}\n`);
      }
      return;
    }
    send(res, 404, 'unknown diagnostics endpoint\n');
  }
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, ...headers });
  res.end(body);
}
