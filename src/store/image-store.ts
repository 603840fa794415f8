// Docker's images in memory, kept current by Docker's image events (pull, tag, untag, delete,
// import, load) and by the shim's own pulls and removals (`sync`): ListImages and ImageStatus
// are answered without a Docker request. Any image event re-lists (coalesced: a burst of events
// costs one list) and inspects only ids not seen before or whose names changed; a read waits
// for a re-list under way, so it is as new as the newest event delivered before it. While the
// event stream is down the store is not current and says so (`isLive`); callers ask Docker.
import type { CallOptions, Engine, ImageRecord } from '../docker/engine.js';
import { fullImageId, parseImageRef } from '../docker/image-ref.js';
import type { Logger } from '../logger.js';
import { EventFeed, type DockerEvent } from './event-feed.js';

/** Image events that change no image. */
const NO_CHANGE = new Set(['push', 'save']);

export class ImageStore {
  private readonly byId = new Map<string, ImageRecord>();
  /** Familiar name:tag and name@digest, as Docker lists them, to image id. */
  private readonly byName = new Map<string, string>();
  private readonly feed: EventFeed;
  private syncing: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly engine: Engine,
    private readonly logger: Logger,
  ) {
    this.feed = new EventFeed(engine, logger, { type: ['image'] }, 'image', {
      onEvent: (ev) => this.onEvent(ev),
      onConnected: () => this.sync(),
    });
  }

  get isLive(): boolean {
    return this.feed.isLive;
  }

  start(): void {
    this.feed.start();
  }

  stop(): void {
    this.feed.stop();
  }

  /** Every image, or undefined while the store is not current. */
  async all(): Promise<ImageRecord[] | undefined> {
    if (!this.isLive) return undefined;
    if (this.syncing) await this.syncing;
    return [...this.byId.values()];
  }

  /**
   * The image `ref` names by full id, name:tag or name@digest; undefined when the store cannot
   * tell (not current, or a ref it does not hold, e.g. a short id): the caller asks Docker.
   */
  async find(ref: string): Promise<ImageRecord | undefined> {
    if (!this.isLive) return undefined;
    if (this.syncing) await this.syncing;
    const id = fullImageId(ref) ?? this.byName.get(familiar(ref) ?? '');
    return id ? this.byId.get(id) : undefined;
  }

  /** Re-lists Docker's images (after the shim pulled or removed one, or an event); coalesced. */
  sync(call?: CallOptions): Promise<void> {
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.again = false;
          await this.load(call);
        } while (this.again);
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  private onEvent(ev: DockerEvent): void {
    if (NO_CHANGE.has(ev.Action ?? ev.status ?? '')) return;
    this.sync().catch((err: unknown) => this.logger.warn({ err }, 'could not re-list images after a Docker image event'));
  }

  private async load(call?: CallOptions): Promise<void> {
    const listed = await this.engine.listImages(call);
    const seen = new Set<string>();
    const records = await Promise.all(
      listed.map(async (s) => {
        seen.add(s.Id);
        const known = this.byId.get(s.Id);
        if (known && sameNames(known.RepoTags, s.RepoTags) && sameNames(known.RepoDigests, s.RepoDigests)) return known;
        return this.engine.inspectImage(s.Id, call);
      }),
    );
    this.byId.clear();
    this.byName.clear();
    for (const r of records) {
      if (!r || !seen.has(r.Id)) continue;
      this.byId.set(r.Id, r);
      for (const name of [...(r.RepoTags ?? []), ...(r.RepoDigests ?? [])]) this.byName.set(name, r.Id);
    }
  }
}

/** `ref` written as Docker lists names: docker.io/library/ dropped, :latest when untagged. */
function familiar(ref: string): string | undefined {
  let parsed;
  try {
    parsed = parseImageRef(ref);
  } catch {
    return undefined;
  }
  let name = parsed.domain === 'docker.io' ? parsed.path : `${parsed.domain}/${parsed.path}`;
  if (parsed.domain === 'docker.io' && name.startsWith('library/')) name = name.slice('library/'.length);
  return parsed.digest ? `${name}@${parsed.digest}` : `${name}:${parsed.tag ?? 'latest'}`;
}

function sameNames(a: string[] | null | undefined, b: string[] | null | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((n, i) => n === y[i]);
}
