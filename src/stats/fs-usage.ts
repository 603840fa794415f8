// Disk used by a container's writable layer (overlay2's upper directory), measured like `du`:
// allocated blocks and inode count. A walk costs a stat per file (and runs bounded, one at a
// time), so figures are cached per container and refreshed in the background: a stats call
// answers with the cached figure, and the very first one for a container waits for its walk only
// a short while (a layer of a million files would otherwise hold the kubelet's stats call).
import { setTimeout as sleep } from 'node:timers/promises';
import { abortable } from '../abortable.js';
import { diskUsage } from '../docker/layer-usage.js';

export interface LayerUsage {
  bytes: number;
  inodes: number;
  /** When it was measured, ns since the epoch. */
  atNs: number;
}

/** Refresh interval of a container's figure. */
const FRESH_MS = 10_000;
/** How long the first stats call for a container waits for its first walk; then it answers without. */
const FIRST_WAIT_MS = 1_000;

export class WritableLayerUsage {
  private readonly cache = new Map<string, { usage: LayerUsage; at: number }>();
  private readonly inFlight = new Map<string, Promise<LayerUsage | undefined>>();

  /**
   * Usage of `dir` for container `id`: the cached figure (a walk starts in the background when it
   * is older than the refresh interval); with none yet, the first walk's if it ends within
   * FIRST_WAIT_MS, else undefined until it does. A caller whose `signal` aborts stops waiting;
   * the walk goes on and its figure is cached for the next call.
   */
  async get(id: string, dir: string, signal?: AbortSignal): Promise<LayerUsage | undefined> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < FRESH_MS) return hit.usage;
    const walk = this.refresh(id, dir);
    if (hit) return hit.usage;
    const timer = new AbortController();
    const waited = sleep(FIRST_WAIT_MS, undefined, { signal: timer.signal, ref: false }).catch(() => undefined);
    try {
      return await abortable(Promise.race([walk, waited]), signal);
    } finally {
      timer.abort();
    }
  }

  /** Drops a removed container; a walk still running for it will not re-add it. */
  forget(id: string): void {
    this.cache.delete(id);
    this.inFlight.delete(id);
  }

  get size(): number {
    return this.cache.size;
  }

  private refresh(id: string, dir: string): Promise<LayerUsage | undefined> {
    const running = this.inFlight.get(id);
    if (running) return running;
    const p: Promise<LayerUsage | undefined> = diskUsage(dir).then((m) => {
      const current = this.inFlight.get(id) === p;
      if (current) this.inFlight.delete(id);
      if (!m) return undefined;
      const usage: LayerUsage = { ...m, atNs: Date.now() * 1e6 };
      if (current) this.cache.set(id, { usage, at: Date.now() });
      return usage;
    });
    this.inFlight.set(id, p);
    return p;
  }
}
