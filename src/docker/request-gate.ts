// Every Docker request passes here: the bounded queue, the deadline and the caller's
// cancellation. The deadline starts when the request is asked for, so the time it waits for a
// place in the queue counts against it: a dockerd that accepts and never answers fills the
// queue, and what waits behind it fails in time instead of wedging every RPC.
import PQueue from 'p-queue';
import { abortable } from '../abortable.js';
import { Code, CriError, toCriError } from '../errors.js';

/** Called after every Docker request with its operation name; metrics hook in here. */
export type DockerCallObserver = (op: string, durationMs: number, ok: boolean) => void;

export interface GateOptions {
  /** Deadline of a request/response call, queue wait included. */
  timeoutMs: number;
  concurrency?: number;
}

export interface GateCall {
  /** The CRI call's signal: aborting it cancels the Docker request (or its place in the queue). */
  signal?: AbortSignal;
  /** This call's own deadline (StopContainer: grace period + margin); default: the gate's. */
  timeoutMs?: number;
  /** false: runs at once, outside the queue (stops, whose grace period would hold a slot). */
  queued?: boolean;
}

/** Raised as the cause of a deadline error, so retry loops treat it like an unreachable dockerd. */
function timedOut(ms: number): Error {
  return Object.assign(new Error(`no answer from dockerd within ${ms / 1000}s`), { code: 'ETIMEDOUT' });
}

export class RequestGate {
  private readonly queue: PQueue;
  private readonly observers: DockerCallObserver[] = [];

  constructor(private readonly opts: GateOptions) {
    this.queue = new PQueue({ concurrency: opts.concurrency ?? 32 });
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  /** Docker requests running now, and those waiting for a place in the bounded queue. */
  get requestsInFlight(): { running: number; queued: number } {
    return { running: this.queue.pending, queued: this.queue.size };
  }

  onCall(observer: DockerCallObserver): void {
    this.observers.push(observer);
  }

  /**
   * Runs `fn` with a signal that aborts at the deadline or when the caller's signal does;
   * `fn` hands it to the HTTP request so that dockerd's side is dropped too. Docker's own
   * errors come back raw (the gateway turns them into outcomes); an expired deadline is
   * DEADLINE_EXCEEDED and a cancelled caller CANCELLED, both naming `what`.
   */
  async run<T>(op: string, what: string, fn: (signal: AbortSignal) => Promise<T>, call: GateCall = {}): Promise<T> {
    const ms = call.timeoutMs ?? this.opts.timeoutMs;
    const started = performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(timedOut(ms)), ms);
    const onCancel = () => controller.abort(call.signal?.reason ?? new Error('cancelled'));
    if (call.signal?.aborted) onCancel();
    else call.signal?.addEventListener('abort', onCancel, { once: true });
    let ok = false;
    try {
      if (controller.signal.aborted) throw controller.signal.reason;
      const signal = controller.signal;
      // Settles at the abort even if the request ignores its signal: the queue slot is freed.
      const task = () => abortable(fn(signal), signal);
      const result = call.queued === false ? await task() : ((await this.queue.add(task, { signal })) as T);
      ok = true;
      return result;
    } catch (err) {
      if (!controller.signal.aborted) throw err;
      const waited = Math.round(performance.now() - started);
      if (call.signal?.aborted) {
        // The caller's reason (its deadline passed, or its client went away) names the code.
        const reason = call.signal.reason as unknown;
        const code = reason instanceof CriError ? reason.code : Code.CANCELLED;
        throw new CriError(code, `${what}: ${reason instanceof Error ? reason.message : 'cancelled'} after ${waited} ms; the Docker request was dropped`);
      }
      throw new CriError(Code.DEADLINE_EXCEEDED, `${what}: dockerd did not answer within ${ms / 1000}s (queue wait included)`, {
        cause: controller.signal.reason,
      });
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener('abort', onCancel);
      const took = performance.now() - started;
      for (const o of this.observers) o(op, took, ok);
    }
  }

  /** Like run(), for callers that want every failure as a CriError naming `what`. */
  async call<T>(op: string, what: string, fn: (signal: AbortSignal) => Promise<T>, call?: GateCall): Promise<T> {
    try {
      return await this.run(op, what, fn, call);
    } catch (err) {
      throw toCriError(err, what);
    }
  }
}
