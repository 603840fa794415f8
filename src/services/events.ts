// GetContainerEvents: one long-lived subscription per caller on the shared event hub.
import { ContainerEventHub, type EventSource } from '../events/container-events.js';
import { resourceExhausted } from '../errors.js';
import type { ContainerEventResponse } from '../generated/runtime/v1/ContainerEventResponse.js';
import type { Logger } from '../logger.js';

/** Where events go: the gRPC layer's response stream, seen from below. */
export interface EventSink {
  /** False when the transport's buffer is full: wait for onceDrained. */
  write(message: ContainerEventResponse): boolean;
  onceDrained(listener: () => void): void;
}

/**
 * Events kept per subscriber while its transport buffer is full. A subscriber further behind
 * than this is cut off (RESOURCE_EXHAUSTED): the kubelet then subscribes again and relists,
 * which costs less than memory growing without bound for a client that stopped reading.
 */
export const EVENT_QUEUE_LIMIT = 1000;

export class EventsService {
  readonly hub: ContainerEventHub;

  constructor(
    index: EventSource,
    private readonly logger: Logger,
    private readonly queueLimit = EVENT_QUEUE_LIMIT,
  ) {
    this.hub = new ContainerEventHub(index, logger);
  }

  /**
   * Sends events to `out` until `signal` aborts (the client went away), then unsubscribes.
   * Honours the stream's backpressure: while it is full, events wait in a queue of at most
   * queueLimit; one more ends the call with RESOURCE_EXHAUSTED naming the limit.
   */
  stream(out: EventSink, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return resolve();
      const queue: ContainerEventResponse[] = [];
      let blocked = false;
      let done = false;
      const send = (event: ContainerEventResponse): void => {
        if (out.write(event)) return;
        blocked = true;
        out.onceDrained(flush);
      };
      const flush = (): void => {
        blocked = false;
        while (!done && !blocked && queue.length > 0) send(queue.shift()!);
      };
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        queue.length = 0;
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => finish();
      const unsubscribe = this.hub.subscribe((event) => {
        if (!blocked) return send(event);
        if (queue.length < this.queueLimit) {
          queue.push(event);
          return;
        }
        this.logger.warn({ limit: this.queueLimit }, 'container event subscriber is not reading; ending its stream');
        finish(
          resourceExhausted(
            `GetContainerEvents: the client fell more than ${this.queueLimit} events behind (the limit of events kept for a subscriber that does not read); subscribe again and relist`,
          ),
        );
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
