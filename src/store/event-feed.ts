// One subscription to Docker's event stream for a store that answers from memory: subscribe,
// then load (so nothing in between is missed), hand each event line on, and on a break retry
// with backoff. The store knows it is current only while `isLive`.
import type { Readable } from 'node:stream';
import type { Engine } from '../docker/engine.js';
import type { Logger } from '../logger.js';

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

/** One Docker event as the stream carries it (both the old and the new field names). */
export interface DockerEvent {
  id?: string;
  Action?: string;
  status?: string;
}

export interface EventFeedHooks {
  /** A parsed event line. */
  onEvent(event: DockerEvent): void;
  /** Subscribed: load the full state; the feed is live once this resolves. */
  onConnected(): Promise<void>;
  /** Live again after (re)connecting and loading. */
  onLive?(): void;
  /** The stream broke after being live. */
  onBroken?(err: Error): void;
}

export class EventFeed {
  private live = false;
  private stream: Readable | undefined;
  private stopped = false;
  private reconnectMs = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly logger: Logger,
    private readonly filters: Record<string, string[]>,
    /** Names the feed in logs, e.g. "image". */
    private readonly what: string,
    private readonly hooks: EventFeedHooks,
  ) {}

  get isLive(): boolean {
    return this.live;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.live = false;
    clearTimeout(this.reconnectTimer);
    this.stream?.destroy();
    this.stream = undefined;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const stream = await this.engine.events(this.filters);
      if (this.stopped) {
        stream.destroy();
        return;
      }
      this.stream = stream;
      this.watch(stream);
      await this.hooks.onConnected();
      if (this.stream !== stream) return;
      this.live = true;
      this.reconnectMs = RECONNECT_MIN_MS;
      this.hooks.onLive?.();
    } catch (err) {
      this.disconnect(err as Error);
    }
  }

  private watch(stream: Readable): void {
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        let event: DockerEvent;
        try {
          event = JSON.parse(line) as DockerEvent;
        } catch {
          continue; // Event lines are JSON; anything else announces nothing.
        }
        this.hooks.onEvent(event);
      }
    });
    const broken = (err?: Error) => {
      if (this.stream !== stream) return;
      this.disconnect(err ?? new Error(`Docker ${this.what} event stream ended`));
    };
    stream.on('end', () => broken());
    stream.on('close', () => broken());
    stream.on('error', (err: Error) => broken(err));
  }

  private disconnect(err: Error): void {
    const wasLive = this.live;
    this.live = false;
    this.stream?.destroy();
    this.stream = undefined;
    if (this.stopped) return;
    if (wasLive) {
      this.logger.warn({ err: err.message, events: this.what }, 'Docker event stream broke; reconnecting');
      this.hooks.onBroken?.(err);
    }
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), this.reconnectMs);
    this.reconnectTimer.unref();
    this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
  }
}
