// The gRPC surface: owns the unix socket, registers RuntimeService and ImageService, and wraps
// every RPC with logging, timing and the error -> status mapping. Handlers stay thin.
import { mkdir, unlink, chmod, stat } from 'node:fs/promises';
import { connect, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CriError, Code, deadlineExceeded, toCriError } from '../errors.js';
import type { Logger } from '../logger.js';
import { loadCri } from '../proto.js';
import { listenFds } from '../systemd.js';
import { STREAMING_RPCS, type CallContext, type HandlerSet } from './cri-types.js';
import { withCachedEncoding } from './wire-cache.js';

/** Called after every RPC; metrics hook in here. */
export type RpcObserver = (method: string, code: Code, durationMs: number) => void;

export interface CriServerOptions {
  /** unix:///path of the CRI socket, or fd:// for the socket systemd passes (LISTEN_FDS). */
  endpoint: string;
  handlers: HandlerSet;
  logger: Logger;
  /** How long SIGTERM waits for in-flight calls before cutting them. */
  shutdownGraceMs?: number;
}

let nextCallId = 0;

export function socketPathOf(endpoint: string): string {
  if (!endpoint.startsWith('unix://')) throw new Error(`not a unix:// endpoint: ${endpoint}`);
  return endpoint.slice('unix://'.length);
}

/** A socket file left by a crashed run is removed; one a live process answers on is an error. */
async function clearStaleSocket(path: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${path} is in use by a running process (another shim?)`);
  await unlink(path);
}

export class CriServer {
  // channelz off: no channelz service is served, and its bookkeeping is work on every call.
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.enable_channelz': 0 });
  private readonly observers: RpcObserver[] = [];
  private socketPath: string | undefined;
  /** The systemd-passed listener (fd://); grpc-js cannot bind an fd, so connections are injected. */
  private fdListener: NetServer | undefined;
  private running = 0;
  /** Streaming calls open, so shutdown can end them instead of waiting out the grace period. */
  private readonly streams = new Set<{ method: string; controller: AbortController; call: grpc.ServerWritableStream<unknown, unknown> }>();

  constructor(private readonly opts: CriServerOptions) {
    const cri = loadCri().runtime.v1;
    for (const service of [cri.RuntimeService.service, cri.ImageService.service]) {
      this.server.addService(withCachedEncoding(service), this.implement(service));
    }
  }

  onRpc(observer: RpcObserver): void {
    this.observers.push(observer);
  }

  /** RPCs being handled right now. */
  get inFlight(): number {
    return this.running;
  }

  /** Open server-streaming calls by method, every streaming RPC listed (0 when none is open). */
  openStreams(): Map<string, number> {
    const counts = new Map([...STREAMING_RPCS].map((m) => [m, 0]));
    for (const s of this.streams) counts.set(s.method, (counts.get(s.method) ?? 0) + 1);
    return counts;
  }

  private implement(service: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const method of Object.keys(service)) {
      impl[method] = STREAMING_RPCS.has(method) ? this.wrapStreaming(method) : this.wrapUnary(method);
    }
    return impl;
  }

  private handlerFor(method: string): ((...args: never[]) => Promise<unknown>) | undefined {
    return (this.opts.handlers as Record<string, ((...args: never[]) => Promise<unknown>) | undefined>)[method];
  }

  private context(method: string, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) {
    const id = ++nextCallId;
    let controller: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    // The signal, its deadline timer and the cancel listener are made when a call first asks for
    // its signal (to wait on Docker or on shared work): most List and Status calls answer from
    // memory and never do, and the three were a measurable part of their cost.
    const control = (): AbortController => {
      if (controller) return controller;
      const c = (controller = new AbortController());
      if (finished) return c;
      const cancelled = () => c.abort(new CriError(Code.CANCELLED, 'the client cancelled the call'));
      // grpc-js also reports 'cancelled' for a call that already ended; the error (and its
      // stack) is made only for a call still under way.
      if (call.cancelled) cancelled();
      else call.on('cancelled', () => finished || cancelled());
      // grpc-js answers DEADLINE_EXCEEDED itself when the client's deadline passes; the signal
      // makes the work under way (Docker requests among it) stop then too.
      const deadline = call.getDeadline();
      const left = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
      if (Number.isFinite(left)) {
        timer = setTimeout(() => c.abort(deadlineExceeded(`the call's deadline passed`)), Math.max(0, left));
        timer.unref();
      }
      return c;
    };
    // The call's child logger is made only when something logs: a pino child per call was a
    // measurable part of every List and Status call, most of which log nothing.
    const base = this.opts.logger;
    let logger: Logger | undefined;
    const ctx: CallContext = {
      method,
      get logger() {
        return (logger ??= base.child({ method, id }));
      },
      get signal() {
        return control().signal;
      },
    };
    this.running++;
    return {
      ctx,
      control,
      done: () => {
        finished = true;
        clearTimeout(timer);
      },
    };
  }

  private finish(ctx: CallContext, started: number, err: unknown): grpc.ServiceError | null {
    this.running--;
    const ms = Math.round((performance.now() - started) * 1000) / 1000;
    let code = Code.OK;
    let error: CriError | undefined;
    if (err !== undefined) {
      error = toCriError(err);
      code = error.code;
      const level = code === Code.NOT_FOUND || code === Code.UNIMPLEMENTED || code === Code.INVALID_ARGUMENT ? 'debug' : 'warn';
      ctx.logger[level]({ durationMs: ms, code: Code[code], err: error.message }, 'rpc failed');
    } else if (this.opts.logger.isLevelEnabled('debug')) {
      ctx.logger.debug({ durationMs: ms }, 'rpc');
    }
    for (const o of this.observers) o(ctx.method, code, ms);
    if (!error) return null;
    return Object.assign(new Error(error.message), { code: error.code, details: error.message, metadata: new grpc.Metadata() });
  }

  private unimplemented(method: string): CriError {
    return new CriError(Code.UNIMPLEMENTED, `${method} is not implemented by docker-cri-shim`);
  }

  private wrapUnary(method: string): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      const { ctx, done } = this.context(method, call);
      const started = performance.now();
      const handler = this.handlerFor(method);
      const run = handler
        ? // A handler that throws before returning its promise still ends up in .then below.
          new Promise<unknown>((resolve) => resolve((handler as (req: unknown, ctx: CallContext) => Promise<unknown>)(call.request, ctx)))
        : Promise.reject(this.unimplemented(method));
      void run.finally(done).catch(() => undefined);
      run.then(
        (res) => callback(this.finish(ctx, started, undefined), res),
        (err: unknown) => callback(this.finish(ctx, started, err ?? new Error('unknown failure'))),
      );
    };
  }

  private wrapStreaming(method: string): grpc.handleServerStreamingCall<unknown, unknown> {
    return (call) => {
      const { ctx, control, done } = this.context(method, call);
      const open = { method, controller: control(), call };
      this.streams.add(open);
      const started = performance.now();
      const handler = this.handlerFor(method);
      // After shutdown ended the call, a late write from the handler is dropped (true: nothing to wait for).
      const stream = {
        write: (m: unknown) => call.writableEnded || call.write(m),
        onceDrained: (listener: () => void) => void call.once('drain', listener),
      };
      const run = handler
        ? new Promise<void>((resolve) =>
            resolve((handler as (req: unknown, s: typeof stream, ctx: CallContext) => Promise<void>)(call.request, stream, ctx)),
          )
        : Promise.reject(this.unimplemented(method));
      void run.finally(done).catch(() => undefined);
      run.then(
        () => {
          this.streams.delete(open);
          this.finish(ctx, started, undefined);
          if (!call.writableEnded) call.end();
        },
        (err: unknown) => {
          this.streams.delete(open);
          const e = this.finish(ctx, started, err ?? new Error('unknown failure'));
          if (!call.cancelled && e) call.emit('error', e);
        },
      );
    };
  }

  /** Binds the socket (mode 0660: not world-writable) and starts serving. */
  async start(): Promise<void> {
    if (this.opts.endpoint === 'fd://') {
      await this.startOnPassedSocket();
      return;
    }
    const path = socketPathOf(this.opts.endpoint);
    await mkdir(dirname(path), { recursive: true });
    await clearStaleSocket(path);
    // The socket is created by bind(); a tight umask closes the window before chmod.
    const oldMask = process.umask(0o117);
    try {
      await new Promise<number>((resolve, reject) =>
        this.server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
          err ? reject(err) : resolve(port),
        ),
      );
    } finally {
      process.umask(oldMask);
    }
    await chmod(path, 0o660);
    this.socketPath = path;
    this.opts.logger.info({ endpoint: this.opts.endpoint }, 'CRI server listening');
  }

  /**
   * Serves on the first socket systemd passed. Its path, owner and mode are the .socket unit's
   * business, so the file is neither chmod-ed nor removed here.
   */
  private async startOnPassedSocket(): Promise<void> {
    const [fd] = listenFds();
    const injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const listener = createNetServer((socket) => injector.injectConnection(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err) => reject(new Error(`cannot serve on the socket passed as fd ${fd}: ${err.message}`)));
      listener.listen({ fd }, () => resolve());
    });
    listener.on('error', (err) => this.opts.logger.error({ err }, 'CRI listener failed'));
    this.fdListener = listener;
    this.opts.logger.info({ endpoint: this.opts.endpoint, fd }, 'CRI server listening');
  }

  /**
   * Stops accepting, ends open streams (their clients reconnect to the next shim), lets unary
   * calls finish (bounded), then removes the socket it created. Containers are never touched.
   */
  async stop(): Promise<void> {
    const grace = this.opts.shutdownGraceMs ?? 10_000;
    this.fdListener?.close();
    for (const { controller, call } of this.streams) {
      controller.abort(new Error('docker-cri-shim is shutting down'));
      if (!call.cancelled && !call.writableEnded) call.end();
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.opts.logger.warn({ graceMs: grace }, 'in-flight calls did not finish in time; cutting them');
        this.server.forceShutdown();
        resolve();
      }, grace);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.socketPath) await unlink(this.socketPath).catch(() => undefined);
  }
}
