// Per-sandbox checkpoint files under <root-directory>/sandbox/<sandbox id>, in the spirit of
// cri-dockerd's: what StopPodSandbox needs to tear the pod's network down even when the pause
// container or dockerd is already gone. Written before the network is set up, removed by
// RemovePodSandbox. Files are replaced atomically (write to a temp name, then rename). The ids
// are read from the directory once and then kept by write/remove: ListPodSandbox asks for them
// every second, and a directory read per call was a thread-pool round trip per relist.
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CheckpointPortMapping {
  protocol: 'tcp' | 'udp' | 'sctp';
  container_port: number;
  host_port: number;
  host_ip: string;
}

export interface SandboxCheckpoint {
  version: 'v1';
  name: string;
  namespace: string;
  uid: string;
  /** The sandbox's attempt (absent in checkpoints of older shims). */
  attempt?: number;
  data: {
    host_network: boolean;
    port_mappings: CheckpointPortMapping[];
    /** Free-form details the network plugin keeps to undo its setup (interface, netns, IPs). */
    network?: Record<string, unknown>;
  };
}

const ID_RE = /^[0-9a-f]{64}$/;

export class CheckpointStore {
  readonly dir: string;
  /** Ids of the checkpoints on disk, loaded on first use; the shim is the directory's only writer. */
  private known: Promise<Set<string>> | undefined;

  constructor(rootDirectory: string) {
    this.dir = join(rootDirectory, 'sandbox');
  }

  private path(sandboxId: string): string {
    // The id names a file: never let a request's text walk out of the directory.
    if (!ID_RE.test(sandboxId)) throw new Error(`invalid sandbox id for a checkpoint: "${sandboxId}"`);
    return join(this.dir, sandboxId);
  }

  async write(sandboxId: string, checkpoint: SandboxCheckpoint): Promise<void> {
    const path = this.path(sandboxId);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp`;
    await writeFile(tmp, `${JSON.stringify(checkpoint)}\n`, { mode: 0o600 });
    await rename(tmp, path);
    (await this.ids()).add(sandboxId);
  }

  /** The checkpoint, or undefined when there is none (or it is unreadable: treated as absent). */
  async read(sandboxId: string): Promise<SandboxCheckpoint | undefined> {
    if (!ID_RE.test(sandboxId)) return undefined;
    let text: string;
    try {
      text = await readFile(this.path(sandboxId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as SandboxCheckpoint;
      return parsed.version === 'v1' ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  /** Removes the checkpoint; absent is fine (idempotent RemovePodSandbox). */
  async remove(sandboxId: string): Promise<void> {
    if (!ID_RE.test(sandboxId)) return;
    await rm(this.path(sandboxId), { force: true });
    (await this.ids()).delete(sandboxId);
  }

  /** Ids of every sandbox with a checkpoint. */
  async list(): Promise<string[]> {
    return [...(await this.ids())];
  }

  private ids(): Promise<Set<string>> {
    this.known ??= this.load().catch((err: unknown) => {
      this.known = undefined;
      throw err;
    });
    return this.known;
  }

  private async load(): Promise<Set<string>> {
    try {
      return new Set((await readdir(this.dir)).filter((f) => ID_RE.test(f)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
      throw err;
    }
  }
}
