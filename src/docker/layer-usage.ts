// du-style disk usage of an image layer directory, for ImageFsInfo. Docker's API has no
// per-layer inode count, and /system/df also sizes every container's writable layer.
import { lstat, readdir } from 'node:fs/promises';
import PQueue from 'p-queue';

export interface DiskUsage {
  /** Allocated bytes (st_blocks * 512), as du counts them. */
  bytes: number;
  inodes: number;
}

/** Directories read at once; lstat calls run on libuv's thread pool anyway. */
const PARALLEL_DIRS = 8;

/**
 * Usage of the tree under `root`, each inode counted once (busybox-style images hard-link
 * hundreds of names to one file). Undefined when `root` is not a readable directory.
 */
export async function diskUsage(root: string): Promise<DiskUsage | undefined> {
  let top;
  try {
    top = await lstat(root);
  } catch {
    return undefined;
  }
  if (!top.isDirectory()) return undefined;
  const seen = new Set<number>([top.ino]);
  const usage: DiskUsage = { bytes: top.blocks * 512, inodes: 1 };
  const queue = new PQueue({ concurrency: PARALLEL_DIRS });
  const visit = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // removed while we walk: it no longer uses space
    }
    const stats = await Promise.all(entries.map((e) => lstat(`${dir}/${e.name}`).catch(() => undefined)));
    entries.forEach((entry, i) => {
      const st = stats[i];
      if (!st) return;
      if (!seen.has(st.ino)) {
        seen.add(st.ino);
        usage.bytes += st.blocks * 512;
        usage.inodes += 1;
      }
      if (entry.isDirectory()) void queue.add(() => visit(`${dir}/${entry.name}`));
    });
  };
  void queue.add(() => visit(root));
  await queue.onIdle();
  return usage;
}
