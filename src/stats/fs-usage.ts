// Disk used by a container's writable layer (overlay2's upper directory), measured like `du`:
// allocated blocks and inode count. A walk costs a stat per file, so results are cached for a
// while and refreshed in the background; only the very first request for a container waits.
import { diskUsage } from '../docker/layer-usage.js';

export interface LayerUsage {
  bytes: number;
  inodes: number;
  /** When it was measured, ns since the epoch. */
  atNs: number;
}

const FRESH_MS = 10_000;

export class WritableLayerUsage {
  private readonly cache = new Map<string, { usage: LayerUsage; at: number }>();
  private readonly inFlight = new Map<string, Promise<LayerUsage | undefined>>();

  /** Usage of `dir` for container `id`: cached if recent, else the stale value while a new walk runs. */
  async get(id: string, dir: string): Promise<LayerUsage | undefined> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < FRESH_MS) return hit.usage;
    const walk = this.refresh(id, dir);
    return hit ? hit.usage : walk;
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
