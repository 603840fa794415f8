// The Engine on a real dockerd, and the only module that calls dockerode (engine.ts borrows its
// type names). Every request/response call goes through the RequestGate (bounded queue, deadline
// from the moment it is asked for, the caller's signal handed to the HTTP request); Docker's
// HTTP statuses become the Engine's typed outcomes here and nowhere else.
// First: its hooks must be in place before dockerode loads what it would load.
import './unused-deps.js';
import Dockerode from 'dockerode';
import { Readable, type Duplex } from 'node:stream';
import { requestTimeoutMs } from '../config.js';
import { dockerMessage, isDockerConflict, isDockerHttpError, isDockerNotFound, isDockerNotModified, toCriError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  pullFailure,
  type AttachOptions,
  type CallOptions,
  type ContainerCreateOptions,
  type ContainerLogsOptions,
  type ContainerRecord,
  type ContainerStatsRecord,
  type ContainerSummary,
  type CreateOutcome,
  type DockerInfo,
  type DockerVersion,
  type Engine,
  type ExecOptions,
  type ExecRecord,
  type ImageRecord,
  type ImageSummary,
  type InfoOptions,
  type PullOptions,
  type RemoveImageOutcome,
  type RemoveOutcome,
  type StartOutcome,
  type StopOutcome,
  type TerminalSize,
} from './engine.js';
import { RequestGate, type DockerCallObserver } from './request-gate.js';

/** Newest Engine API this code was written against; older daemons get their own version. */
const MAX_API_VERSION = '1.51';
/** Oldest daemon we support: Docker 20.10, the one Debian bookworm ships. */
const MIN_API_VERSION = '1.41';

export interface DockerodeEngineOptions {
  endpoint: string;
  /** Deadline of one request/response call, queue wait included; 0 = cri-dockerd's default. */
  requestTimeoutMs: number;
  concurrency?: number;
  logger: Logger;
}

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

/** dockerode takes options (the abort signal) on these too; @types/dockerode only lists callbacks. */
interface SystemCalls {
  ping(opts: { abortSignal: AbortSignal }): Promise<unknown>;
  version(opts: { abortSignal: AbortSignal }): Promise<unknown>;
  info(opts: { abortSignal: AbortSignal }): Promise<unknown>;
}
const sys = (d: Dockerode) => d as unknown as SystemCalls;

/** Docker 20.10's refusal of a capability it does not know. */
const UNKNOWN_CAPABILITY = /unknown capability: "?(CAP_[A-Z_0-9]+)/;

export class DockerodeEngine implements Engine {
  private readonly docker: Dockerode;
  private readonly gate: RequestGate;
  private negotiated: Promise<string> | undefined;
  private infoCache: { at: number; value: Promise<DockerInfo> } | undefined;
  /** `docker version` holds for the daemon's lifetime; dockerd 20.10 runs runc to answer it (~30 ms). */
  private versionCache: Promise<DockerVersion> | undefined;

  constructor(private readonly opts: DockerodeEngineOptions) {
    this.docker = new Dockerode(dockerodeOptions(opts.endpoint));
    this.gate = new RequestGate({ timeoutMs: requestTimeoutMs({ runtimeRequestTimeoutMs: opts.requestTimeoutMs }), concurrency: opts.concurrency });
  }

  get requestsInFlight(): { running: number; queued: number } {
    return this.gate.requestsInFlight;
  }

  onCall(observer: DockerCallObserver): void {
    this.gate.onCall(observer);
  }

  apiVersion(): Promise<string> {
    this.negotiated ??= this.negotiate().catch((err: unknown) => {
      this.negotiated = undefined;
      throw err;
    });
    return this.negotiated;
  }

  private async negotiate(): Promise<string> {
    // Unversioned /version answers on every daemon; pick the newest version both sides know.
    // Outside the queue (callers wait for it from inside theirs) but with the request deadline.
    const v = (await this.gate.call('system.version', 'negotiate the Docker API version', (signal) => sys(this.docker).version({ abortSignal: signal }), {
      queued: false,
    })) as DockerVersion;
    let api = compareApiVersions(v.ApiVersion, MAX_API_VERSION) > 0 ? MAX_API_VERSION : v.ApiVersion;
    if (compareApiVersions(api, MIN_API_VERSION) < 0) {
      this.opts.logger.warn({ apiVersion: v.ApiVersion }, 'dockerd is older than Docker 20.10; continuing, some fields may be missing');
    }
    if (v.MinAPIVersion && compareApiVersions(api, v.MinAPIVersion) < 0) api = v.MinAPIVersion;
    (this.docker.modem as { version?: string }).version = `v${api}`;
    this.versionCache = Promise.resolve(v);
    this.opts.logger.info({ dockerVersion: v.Version, apiVersion: api }, 'negotiated Docker Engine API version');
    return api;
  }

  /**
   * One request/response call: the negotiated API version, then `fn` through the gate. Docker's
   * errors come back raw for the caller to turn into outcomes; gate errors are CriErrors.
   */
  private request<T>(op: string, what: string, fn: (d: Dockerode, signal: AbortSignal) => Promise<T>, call: CallOptions = {}, timeoutMs?: number, queued?: boolean): Promise<T> {
    return this.gate.run(
      op,
      what,
      async (signal) => {
        await this.apiVersion();
        return fn(this.docker, signal);
      },
      { signal: call.signal, timeoutMs, queued },
    );
  }

  /** Like request(), every failure a CriError naming `what`. */
  private async simple<T>(op: string, what: string, fn: (d: Dockerode, signal: AbortSignal) => Promise<T>, call?: CallOptions): Promise<T> {
    try {
      return await this.request(op, what, fn, call);
    } catch (err) {
      throw toCriError(err, what);
    }
  }

  async ping(call?: CallOptions): Promise<void> {
    await this.simple('system.ping', 'docker ping', (d, abortSignal) => sys(d).ping({ abortSignal }), call);
  }

  version(): Promise<DockerVersion> {
    if (!this.versionCache) {
      // Shared like info(): no caller's signal cancels it; the request deadline still applies.
      const value = this.simple('system.version', 'docker version', (d, abortSignal) => sys(d).version({ abortSignal }) as Promise<DockerVersion>);
      this.versionCache = value;
      value.catch(() => {
        if (this.versionCache === value) this.versionCache = undefined;
      });
    }
    return this.versionCache;
  }

  info(opts: InfoOptions = {}): Promise<DockerInfo> {
    const cached = this.infoCache;
    if (!cached || opts.fresh || (opts.maxAgeMs !== undefined && Date.now() - cached.at > opts.maxAgeMs)) {
      // Shared by every caller, so no caller's signal cancels it; the deadline still applies.
      const value = this.simple('system.info', 'docker info', (d, abortSignal) => sys(d).info({ abortSignal }) as Promise<DockerInfo>);
      const entry = { at: Date.now(), value };
      this.infoCache = entry;
      value.catch(() => {
        if (this.infoCache === entry) this.infoCache = undefined;
      });
      return value;
    }
    return cached.value;
  }

  forgetDaemonFacts(): void {
    this.infoCache = undefined;
    this.versionCache = undefined;
  }

  async createContainer(options: ContainerCreateOptions, call?: CallOptions): Promise<CreateOutcome> {
    const what = `create container ${options.name ?? ''}`.trim();
    try {
      const c = await this.request('container.create', what, (d, abortSignal) => d.createContainer({ ...options, abortSignal } as ContainerCreateOptions), call);
      return { kind: 'created', id: c.id };
    } catch (err) {
      if (isDockerConflict(err)) return { kind: 'conflict', message: dockerMessage(err) };
      if (isDockerNotFound(err)) return { kind: 'no-image', message: dockerMessage(err) };
      const capability = isDockerHttpError(err) ? UNKNOWN_CAPABILITY.exec(dockerMessage(err))?.[1] : undefined;
      if (capability) return { kind: 'unknown-capability', capability, message: dockerMessage(err) };
      throw toCriError(err, what);
    }
  }

  async start(id: string, call?: CallOptions): Promise<StartOutcome> {
    const what = `start container ${id}`;
    try {
      await this.request('container.start', what, (d, abortSignal) => d.getContainer(id).start({ abortSignal }), call);
      return { kind: 'started' };
    } catch (err) {
      if (isDockerNotModified(err)) return { kind: 'already-running' };
      if (isDockerNotFound(err)) return { kind: 'absent' };
      throw toCriError(err, what);
    }
  }

  async stop(id: string, graceSeconds: number, call?: CallOptions): Promise<StopOutcome> {
    const what = `stop container ${id}`;
    const t = Math.max(0, Math.floor(graceSeconds));
    try {
      // Outside the queue: a long grace period must not hold a slot other calls wait for.
      // Deadline: the grace period, then the request timeout for the kill and the cleanup.
      await this.request('container.stop', what, (d, abortSignal) => d.getContainer(id).stop({ t, abortSignal }), call, t * 1000 + this.gate.timeoutMs, false);
      return { kind: 'stopped' };
    } catch (err) {
      if (isDockerNotModified(err)) return { kind: 'already-stopped' };
      if (isDockerNotFound(err)) return { kind: 'absent' };
      throw toCriError(err, what);
    }
  }

  async remove(id: string, call?: CallOptions): Promise<RemoveOutcome> {
    const what = `remove container ${id}`;
    try {
      await this.request('container.remove', what, (d, abortSignal) => d.getContainer(id).remove({ force: true, v: true, abortSignal }), call);
      return { kind: 'removed' };
    } catch (err) {
      if (isDockerNotFound(err)) return { kind: 'absent' };
      // 409 "removal already in progress": another call is removing it.
      if (isDockerConflict(err)) return { kind: 'removal-in-progress' };
      throw toCriError(err, what);
    }
  }

  async inspect(idOrName: string, call?: CallOptions): Promise<ContainerRecord | undefined> {
    const what = `inspect container ${idOrName}`;
    try {
      return await this.request('container.inspect', what, (d, abortSignal) => d.getContainer(idOrName).inspect({ abortSignal }), call);
    } catch (err) {
      if (isDockerNotFound(err)) return undefined;
      throw toCriError(err, what);
    }
  }

  list(filters: Record<string, string[]>, call?: CallOptions): Promise<ContainerSummary[]> {
    return this.simple('container.list', 'list containers', (d, abortSignal) => d.listContainers({ all: true, filters, abortSignal }), call);
  }

  update(id: string, update: Record<string, unknown>, call?: CallOptions): Promise<{ Warnings?: string[] | null }> {
    return this.simple(
      'container.update',
      `update resources of ${id}`,
      (d, abortSignal) => d.getContainer(id).update({ ...update, abortSignal }) as Promise<{ Warnings?: string[] | null }>,
      call,
    );
  }

  async stats(id: string, options: { oneShot: boolean }, call?: CallOptions): Promise<ContainerStatsRecord | undefined> {
    const what = `read Docker's stats of container ${id}`;
    try {
      return await this.request('container.stats', what, (d, abortSignal) => d.getContainer(id).stats({ stream: false, 'one-shot': options.oneShot, abortSignal } as { stream: false }), call);
    } catch (err) {
      if (isDockerNotFound(err)) return undefined;
      throw toCriError(err, what);
    }
  }

  async getArchive(id: string, path: string, call?: CallOptions): Promise<Readable | undefined> {
    const what = `read ${path} of container ${id}`;
    try {
      return (await this.request('container.archive', what, (d, abortSignal) => d.getContainer(id).getArchive({ path, abortSignal } as { path: string }), call)) as Readable;
    } catch (err) {
      if (isDockerNotFound(err)) return undefined;
      throw toCriError(err, what);
    }
  }

  async execCreate(containerId: string, options: ExecOptions, call?: CallOptions): Promise<string> {
    const exec = await this.simple('exec.create', `exec in container ${containerId}`, (d, abortSignal) => d.getContainer(containerId).exec({ ...options, abortSignal } as ExecOptions), call);
    return exec.id;
  }

  execStart(execId: string, options: { stdin: boolean; tty: boolean }, call?: CallOptions): Promise<Duplex> {
    // The deadline covers the upgrade only; the hijacked stream then lives as long as the
    // session, outside the queue.
    return this.upgrade('exec.start', `start exec ${execId}`, (d, abortSignal) =>
      d.getExec(execId).start({ hijack: true, stdin: options.stdin, Detach: false, Tty: options.tty, abortSignal } as Dockerode.ExecStartOptions),
    call);
  }

  execInspect(execId: string, call?: CallOptions): Promise<ExecRecord> {
    return this.simple('exec.inspect', `inspect exec ${execId}`, (d, abortSignal) => d.getExec(execId).inspect({ abortSignal }), call);
  }

  async execResize(execId: string, size: TerminalSize, call?: CallOptions): Promise<void> {
    await this.simple('exec.resize', `resize exec ${execId}`, (d, abortSignal) => d.getExec(execId).resize({ h: size.height, w: size.width, abortSignal }), call);
  }

  attach(id: string, options: AttachOptions, call?: CallOptions): Promise<Duplex> {
    return this.upgrade('container.attach', `attach to container ${id}`, (d, abortSignal) =>
      d.getContainer(id).attach({ stream: true, stdin: options.stdin, stdout: options.stdout, stderr: options.stderr, hijack: true, abortSignal } as Dockerode.ContainerAttachOptions),
    call);
  }

  async resize(id: string, size: TerminalSize, call?: CallOptions): Promise<void> {
    await this.simple('container.resize', `resize container ${id}`, (d, abortSignal) => d.getContainer(id).resize({ h: size.height, w: size.width, abortSignal }), call);
  }

  /**
   * A response that stays open as a stream (a hijacked connection, events, logs, pull progress):
   * waiting for it to open has the request deadline (outside the queue: the stream holds its
   * connection for the whole session), and a deadline that passes before it opened drops the
   * HTTP request. Once open, only the caller's signal (or destroying the stream) ends it.
   * Docker's errors come back raw.
   */
  private open(op: string, what: string, fn: (d: Dockerode, signal: AbortSignal) => Promise<unknown>, call?: CallOptions): Promise<unknown> {
    return this.request(
      op,
      what,
      async (d, deadline) => {
        const opening = new AbortController();
        const onDeadline = () => opening.abort(deadline.reason);
        deadline.addEventListener('abort', onDeadline, { once: true });
        try {
          return await fn(d, call?.signal ? AbortSignal.any([call.signal, opening.signal]) : opening.signal);
        } finally {
          deadline.removeEventListener('abort', onDeadline);
        }
      },
      call,
      undefined,
      false,
    );
  }

  private async upgrade(op: string, what: string, fn: (d: Dockerode, signal: AbortSignal) => Promise<unknown>, call?: CallOptions): Promise<Duplex> {
    try {
      return (await this.open(op, what, fn, call)) as Duplex;
    } catch (err) {
      throw toCriError(err, what);
    }
  }

  /** A long-running stream: opening it has the deadline; then it is ended by the caller's signal or by destroying it. */
  private async stream(op: string, what: string, fn: (d: Dockerode, signal: AbortSignal) => Promise<unknown>, call?: CallOptions): Promise<Readable> {
    try {
      return (await this.open(op, what, fn, call)) as Readable;
    } catch (err) {
      throw toCriError(err, what);
    }
  }

  async logs(id: string, options: ContainerLogsOptions, call?: CallOptions): Promise<Readable> {
    return this.stream('container.logs', `read the output of container ${id}`, async (d, abortSignal) => {
      const c = d.getContainer(id);
      const opts = { ...options, abortSignal } as ContainerLogsOptions;
      if (options.follow) return c.logs({ ...opts, follow: true });
      // Without follow dockerode hands back the whole body as one Buffer.
      return Readable.from([await c.logs({ ...opts, follow: false })]);
    }, call);
  }

  events(filters: Record<string, string[]>, call?: CallOptions): Promise<Readable> {
    return this.stream('system.events', 'subscribe to Docker events', (d, abortSignal) => d.getEvents({ filters, abortSignal } as Dockerode.GetEventsOptions), call);
  }

  listImages(call?: CallOptions): Promise<ImageSummary[]> {
    return this.simple('image.list', 'list images', (d, abortSignal) => d.listImages({ abortSignal }), call);
  }

  async inspectImage(ref: string, call?: CallOptions): Promise<ImageRecord | undefined> {
    const what = `inspect image "${ref}"`;
    try {
      // dockerode's Image.inspect drops the abort signal (a call that gave up left its request
      // open); the same request through the modem keeps it.
      return await this.request(
        'image.inspect',
        what,
        (d, abortSignal) =>
          new Promise<ImageRecord>((resolve, reject) =>
            d.modem.dial({ path: `/images/${ref}/json`, method: 'GET', abortSignal, statusCodes: { 200: true, 404: 'no such image', 500: 'server error' } }, (err, data) =>
              err ? reject(err) : resolve(data as ImageRecord),
            ),
          ),
        call,
      );
    } catch (err) {
      if (isDockerNotFound(err)) return undefined;
      throw toCriError(err, what);
    }
  }

  async pull(options: PullOptions, call?: CallOptions): Promise<Readable> {
    try {
      return (await this.open('image.pull', options.what, (d, abortSignal) => {
        const opts: Record<string, unknown> = { fromImage: options.fromImage, tag: options.tag, abortSignal };
        if (options.registryAuth) opts.authconfig = { base64: options.registryAuth };
        return d.createImage(opts);
      }, call)) as Readable;
    } catch (err) {
      if (!isDockerHttpError(err)) throw toCriError(err, options.what);
      throw pullFailure(options.what, dockerMessage(err), toCriError(err).code);
    }
  }

  async removeImage(name: string, call?: CallOptions): Promise<RemoveImageOutcome> {
    const what = `remove image ${name}`;
    try {
      const records = await this.request('image.remove', what, (d, abortSignal) => d.getImage(name).remove({ abortSignal }) as Promise<{ Deleted?: string }[]>, call);
      return { kind: 'removed', deleted: records.flatMap((r) => (r.Deleted ? [r.Deleted] : [])) };
    } catch (err) {
      if (isDockerNotFound(err)) return { kind: 'absent' };
      if (isDockerConflict(err)) return { kind: 'conflict', message: dockerMessage(err) };
      throw toCriError(err, what);
    }
  }
}
