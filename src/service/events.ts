// GetContainerEvents: one long-lived subscription per caller on the shared event hub.
import { ContainerEventHub, type EventSource } from '../events/container-events.js';
import type { ContainerEventResponse } from '../generated/runtime/v1/ContainerEventResponse.js';
import type { Logger } from '../logger.js';

export class EventsService {
  readonly hub: ContainerEventHub;

  constructor(index: EventSource, logger: Logger) {
    this.hub = new ContainerEventHub(index, logger);
  }

  /** Sends events to `write` until `signal` aborts (the client went away); then unsubscribes. */
  stream(write: (event: ContainerEventResponse) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const unsubscribe = this.hub.subscribe(write);
      signal.addEventListener(
        'abort',
        () => {
          unsubscribe();
          resolve();
        },
        { once: true },
      );
    });
  }
}
