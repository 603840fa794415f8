// The CNI result cache in libcni's layout and format (<cache dir>/results/<network>-<container
// id>-<ifname>, kind "cniCacheV1"), so entries written by cri-dockerd or containerd before a
// switch are found, and ours are readable by their tools. An entry is written BEFORE the ADD
// (config and args, no result yet) so a shim that dies mid-ADD can still DEL what the plugins
// did, and removed only after a successful DEL: that makes every release happen exactly once.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NetworkConfList } from './config.js';

export interface CacheEntry {
  kind: 'cniCacheV1';
  containerId: string;
  /** base64 of the network list JSON the plugins were run with. */
  config: string;
  ifName: string;
  networkName: string;
  netns?: string;
  /** The conf file the list came from (ours; libcni ignores it), for error messages. */
  configFile?: string;
  cniArgs: Array<[string, string]>;
  capabilityArgs: Record<string, unknown>;
  result?: unknown;
}

/** The list as JSON bytes in the conflist form libcni stores. */
export function encodeList(list: NetworkConfList): string {
  const doc = { cniVersion: list.cniVersion, name: list.name, ...(list.disableCheck ? { disableCheck: true } : {}), plugins: list.plugins };
  return Buffer.from(JSON.stringify(doc)).toString('base64');
}

export class ResultCache {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'results');
  }

  private file(networkName: string, containerId: string, ifName: string): string {
    return join(this.dir, `${networkName}-${containerId}-${ifName}`);
  }

  async write(entry: CacheEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = this.file(entry.networkName, entry.containerId, entry.ifName);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await rename(tmp, path);
  }

  /** The entry for the container and interface, whatever network it was made on. */
  async find(containerId: string, ifName: string): Promise<CacheEntry | undefined> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const suffix = `-${containerId}-${ifName}`;
    for (const name of names) {
      if (!name.endsWith(suffix)) continue;
      try {
        const entry = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as CacheEntry;
        if (entry.containerId === containerId && entry.ifName === ifName) return entry;
      } catch {
        // a torn or foreign file: not ours to interpret
      }
    }
    return undefined;
  }

  /** Every readable entry (torn or foreign files are skipped). */
  async entries(): Promise<CacheEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: CacheEntry[] = [];
    for (const name of names) {
      try {
        const entry = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as CacheEntry;
        if (entry.kind === 'cniCacheV1' && typeof entry.containerId === 'string') out.push(entry);
      } catch {
        // a torn or foreign file: not ours to interpret
      }
    }
    return out;
  }

  async remove(entry: Pick<CacheEntry, 'networkName' | 'containerId' | 'ifName'>): Promise<void> {
    await rm(this.file(entry.networkName, entry.containerId, entry.ifName), { force: true });
  }
}
