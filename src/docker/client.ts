// The only way the shim talks to dockerd: dockerode behind a bounded queue, with the Engine
// API version negotiated against the daemon (Docker 20.10 / API 1.41 up to current releases).
import Dockerode from 'dockerode';
import PQueue from 'p-queue';
import type { Logger } from '../logger.js';
import { toCriError } from '../errors.js';

/** Newest Engine API this code was written against; older daemons get their own version. */
const MAX_API_VERSION = '1.51';
/** Oldest daemon we support: Docker 20.10, the one Debian bookworm ships. */
const MIN_API_VERSION = '1.41';

export interface DockerClientOptions {
  endpoint: string;
  requestTimeoutMs: number;
  concurrency?: number;
  logger: Logger;
}

/** Called after every Docker request with its operation name; metrics hook in here. */
export type DockerCallObserver = (op: string, durationMs: number, ok: boolean) => void;

export function compareApiVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

export function dockerodeOptions(endpoint: string): Dockerode.DockerOptions {
  if (endpoint.startsWith('unix://')) return { socketPath: endpoint.slice('unix://'.length) };
  if (endpoint.startsWith('/')) return { socketPath: endpoint };
  const m = /^(tcp|http|https):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(endpoint);
  if (!m) throw new Error(`unsupported --docker-endpoint "${endpoint}" (use unix:///path or tcp://host:port)`);
  return { protocol: m[1] === 'https' ? 'https' : 'http', host: m[2], port: m[3] ? Number(m[3]) : 2375 };
}

export class DockerClient {
  readonly docker: Dockerode;
  private readonly queue: PQueue;
  private negotiated: Promise<string> | undefined;
  private observers: DockerCallObserver[] = [];

  constructor(private readonly opts: DockerClientOptions) {
    this.docker = new Dockerode(dockerodeOptions(opts.endpoint));
    this.queue = new PQueue({ concurrency: opts.concurrency ?? 32 });
  }

  /** Docker requests running now, and those waiting for a place in the bounded queue. */
  get requestsInFlight(): { running: number; queued: number } {
    return { running: this.queue.pending, queued: this.queue.size };
  }

  onCall(observer: DockerCallObserver): void {
    this.observers.push(observer);
  }

  /** Engine API version in use; asks the daemon once, again after a failure. */
  apiVersion(): Promise<string> {
    this.negotiated ??= this.negotiate().catch((err: unknown) => {
      this.negotiated = undefined;
      throw err;
    });
    return this.negotiated;
  }

  private async negotiate(): Promise<string> {
    // Unversioned /version answers on every daemon; pick the newest version both sides know.
    const v = (await this.docker.version()) as Dockerode.DockerVersion & { MinAPIVersion?: string };
    let api = compareApiVersions(v.ApiVersion, MAX_API_VERSION) > 0 ? MAX_API_VERSION : v.ApiVersion;
    if (compareApiVersions(api, MIN_API_VERSION) < 0) {
      this.opts.logger.warn({ apiVersion: v.ApiVersion }, 'dockerd is older than Docker 20.10; continuing, some fields may be missing');
    }
    if (v.MinAPIVersion && compareApiVersions(api, v.MinAPIVersion) < 0) api = v.MinAPIVersion;
    (this.docker.modem as { version?: string }).version = `v${api}`;
    this.opts.logger.info({ dockerVersion: v.Version, apiVersion: api }, 'negotiated Docker Engine API version');
    return api;
  }

  /**
   * Runs one request/response Docker call through the bounded queue. `op` names the call
   * for logs and metrics; errors come back as CriErrors with Docker's reason in the text.
   */
  async call<T>(op: string, fn: (docker: Dockerode) => Promise<T>, what?: string): Promise<T> {
    try {
      return await this.raw(op, fn);
    } catch (err) {
      throw toCriError(err, what ?? op);
    }
  }

  /**
   * Like call(), but keeps Docker's raw error (with its HTTP status) so callers can act on
   * 404/409 themselves. Long-lived streams (events, attach, logs) must not use the queue:
   * use `docker` directly after `apiVersion()`.
   */
  async raw<T>(op: string, fn: (docker: Dockerode) => Promise<T>): Promise<T> {
    await this.apiVersion();
    const started = performance.now();
    let ok = false;
    try {
      const result = (await this.queue.add(() => fn(this.docker), { timeout: this.opts.requestTimeoutMs })) as T;
      ok = true;
      return result;
    } finally {
      const ms = performance.now() - started;
      for (const o of this.observers) o(op, ms, ok);
    }
  }
}
