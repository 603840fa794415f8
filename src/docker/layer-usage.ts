// du-style disk usage of a layer directory (an image layer for ImageFsInfo, a container's
// writable layer for its stats). Docker's API has no per-layer inode count, and /system/df also
// sizes every container's writable layer.
//
// A container decides how many files its layer holds, so a walk is bounded whatever it finds:
// one walk at a time in the process, a few lstat calls in flight (at most 3 of the 8 threads
// src/thread-pool.ts gives libuv's pool, and a flood of completions would run back to back on the
// event loop, starving every other RPC), directories read in batches rather than whole, and a
// turn of the event loop every few hundred entries.
import { lstat, opendir } from 'node:fs/promises';
import type { Dir, Stats } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import PQueue from 'p-queue';

export interface DiskUsage {
  /** Allocated bytes (st_blocks * 512), as du counts them. */
  bytes: number;
  inodes: number;
}

/** The file-system calls a walk makes; tests count them. */
export interface WalkFs {
  lstat(path: string): Promise<Stats>;
  opendir(path: string): Promise<Dir>;
}

const nodeFs: WalkFs = { lstat, opendir: (path) => opendir(path, { bufferSize: DIR_BATCH }) };

/** Walks running at once in the process. */
export const WALKS_AT_ONCE = 1;
/** lstat calls in flight per walk (plus one directory read): at most 3 of the pool's threads. */
export const LSTATS_IN_FLIGHT = 2;
/** Directory entries read per readdir(3) batch. */
const DIR_BATCH = 256;
/** Entries handled between two turns of the event loop. */
const YIELD_EVERY = 512;

const walks = new PQueue({ concurrency: WALKS_AT_ONCE });

/**
 * Usage of the tree under `root`, each inode counted once (busybox-style images hard-link
 * hundreds of names to one file). Undefined when `root` is not a readable directory.
 */
export function diskUsage(root: string, fs: WalkFs = nodeFs): Promise<DiskUsage | undefined> {
  return walks.add(() => walk(root, fs)) as Promise<DiskUsage | undefined>;
}

async function walk(root: string, fs: WalkFs): Promise<DiskUsage | undefined> {
  let top;
  try {
    top = await fs.lstat(root);
  } catch {
    return undefined;
  }
  if (!top.isDirectory()) return undefined;
  const seen = new Set<number>([top.ino]);
  const usage: DiskUsage = { bytes: top.blocks * 512, inodes: 1 };
  const count = (st: Stats) => {
    if (seen.has(st.ino)) return;
    seen.add(st.ino);
    usage.bytes += st.blocks * 512;
    usage.inodes += 1;
  };
  const inFlight = new Set<Promise<void>>();
  const pending = [root];
  let handled = 0;
  while (pending.length > 0) {
    const dir = pending.pop()!;
    try {
      for await (const entry of await fs.opendir(dir)) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory()) pending.push(path);
        // Removed while we walk: it no longer uses space.
        const op: Promise<void> = fs.lstat(path).then(count, () => undefined).finally(() => inFlight.delete(op));
        inFlight.add(op);
        if (inFlight.size >= LSTATS_IN_FLIGHT) await Promise.race(inFlight);
        if (++handled % YIELD_EVERY === 0) await nextTurn();
      }
    } catch {
      // the directory went away (or became unreadable) while we walk
    }
  }
  await Promise.all(inFlight);
  return usage;
}
