// Images: lookup, pull (with registry credentials), list, status, removal, and the image
// filesystem's usage, on Docker's image API and the image store its events keep current. Other
// services resolve images through inspect()/ensure() here so that every reference is read the same way.
import type { Readable } from 'node:stream';
import { abortable } from '../abortable.js';
import { PullProgressWatchdog, type PullProgressLine } from '../docker/pull-progress.js';
import { pullFailure, type CallOptions, type Engine, type ImageRecord, type ImageSummary } from '../docker/engine.js';
import type { Logger } from '../logger.js';
import type { AuthConfig__Output } from '../generated/runtime/v1/AuthConfig.js';
import type { Image } from '../generated/runtime/v1/Image.js';
import type { ImageStatusResponse } from '../generated/runtime/v1/ImageStatusResponse.js';
import type { ImageFsInfoResponse } from '../generated/runtime/v1/ImageFsInfoResponse.js';
import { parseImageRef, repositoryOf, fullImageId } from '../docker/image-ref.js';
import { encodeRegistryAuth, toDockerAuth } from '../docker/registry-auth.js';
import { diskUsage, type DiskUsage } from '../docker/layer-usage.js';
import { ImageStore } from '../store/image-store.js';
import { SerialByKey } from '../serial-by-key.js';
import { CriError, Code, failedPrecondition, invalidArgument, notFound, toCriError } from '../errors.js';

/** One line of Docker's pull progress stream; the last one carries the error of a failed pull. */
interface PullProgress extends PullProgressLine {
  error?: string;
  errorDetail?: { message?: string };
}

/** What list and status need beyond Docker's image summary; fixed for an image id. */
interface ImageFacts {
  user: string;
  /** Directories holding the image's layers (overlay2: .../<layer>/diff). */
  layerDirs: string[];
}

/** The fields of a Docker image (summary or inspect) a CRI Image is made of. */
interface DockerImageNames {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Size: number;
}

/** Docker 20.10 lists untagged images with these placeholder names. */
const NO_TAG = '<none>:<none>';
const NO_DIGEST = '<none>@<none>';

export class ImageService {
  /** Keyed by image id: an id names fixed content, so these facts never go stale. */
  private readonly facts = new Map<string, ImageFacts>();
  /** Keyed by layer directory: image layers are read-only, so a layer is walked once. */
  private readonly layerUsages = new Map<string, Promise<DiskUsage | undefined>>();
  private readonly pullStallListeners: Array<() => void> = [];
  /** RemoveImage calls, one at a time per image id. */
  private readonly removals = new SerialByKey();

  constructor(
    private readonly docker: Engine,
    private readonly logger: Logger,
    /** --image-pull-progress-deadline; 0 = never cancel. */
    private readonly pullProgressDeadlineMs = 0,
    /** ListImages and ImageStatus come from here while it is current (it needs `start()`). */
    readonly store = new ImageStore(docker, logger),
  ) {}

  /** Pulls cancelled by --image-pull-progress-deadline are reported here (metrics hook in). */
  onPullStall(listener: () => void): void {
    this.pullStallListeners.push(listener);
  }

  /**
   * The image `ref` names (name, name:tag, name@digest, full or unique short id), or
   * undefined when Docker has none.
   */
  async inspect(ref: string, call?: CallOptions): Promise<ImageRecord | undefined> {
    if (ref === '') throw invalidArgument('image reference is empty');
    const info = await this.docker.inspectImage(ref, call);
    if (info) this.remember(info);
    return info;
  }

  /** The image `ref` names (from the image store when it can tell), pulled first when Docker does not have it. */
  async ensure(ref: string, auth?: AuthConfig__Output | null, call: CallOptions = {}): Promise<ImageRecord> {
    const present = await this.lookup(ref, call);
    if (present) return present;
    const id = await this.pull(ref, auth ?? undefined, call.signal);
    const pulled = await this.inspect(id, call);
    if (!pulled) throw notFound(`image "${ref}" was pulled as ${id} but is gone again`);
    return pulled;
  }

  /**
   * Pulls `ref` (name, name:tag or name@digest) and returns the image id. Docker's progress
   * stream is read to its end: a failed pull is only reported in its last line.
   */
  async pull(ref: string, auth?: AuthConfig__Output | null, signal?: AbortSignal): Promise<string> {
    if (fullImageId(ref)) throw invalidArgument(`cannot pull "${ref}": an image id is not a pullable reference`);
    let parsed;
    let dockerAuth;
    try {
      parsed = parseImageRef(ref);
      dockerAuth = toDockerAuth(auth);
    } catch (err) {
      throw invalidArgument(`cannot pull "${ref}": ${(err as Error).message}`);
    }
    const what = `pull image "${ref}"`;
    // A digest goes in `tag`: Docker pulls repo@digest when the tag parses as a digest.
    const opts = {
      fromImage: repositoryOf(parsed),
      tag: parsed.digest ?? parsed.tag ?? 'latest',
      registryAuth: dockerAuth ? encodeRegistryAuth(dockerAuth) : undefined,
      what,
    };
    let failure: string | undefined;
    try {
      const stream = await this.docker.pull(opts, { signal });
      const watchdog = new PullProgressWatchdog(stream, this.pullProgressDeadlineMs, ref, () => this.pullStallListeners.forEach((l) => l()));
      try {
        failure = await readPullStream(stream, (msg) => watchdog.observe(msg));
      } finally {
        watchdog.stop();
      }
    } catch (err) {
      if (signal?.aborted) throw new CriError(Code.CANCELLED, `${what}: the client went away; Docker stops the pull`);
      throw toCriError(err, what);
    }
    if (failure !== undefined) throw pullFailure(what, failure);
    const pulled = repositoryOf(parsed) + (parsed.digest ? `@${parsed.digest}` : `:${parsed.tag ?? 'latest'}`);
    const image = await this.inspect(pulled, { signal });
    if (!image) throw notFound(`${what}: Docker reported success but has no image "${pulled}"`);
    await this.syncStore();
    return image.Id;
  }

  /** The image `ref` names, from the image store when it can tell, else from Docker. */
  async lookup(ref: string, call?: CallOptions): Promise<ImageRecord | undefined> {
    if (ref === '') throw invalidArgument('image reference is empty');
    return (await this.store.find(ref)) ?? this.inspect(ref, call);
  }

  /** ImageStatus: an absent image is an empty answer, not an error. */
  async status(ref: string, verbose: boolean, call?: CallOptions): Promise<ImageStatusResponse> {
    const info = await this.lookup(ref, call);
    if (!info) return { image: null, info: {} };
    return { image: criImageOf(info), info: verbose ? { info: JSON.stringify(info) } : {} };
  }

  /** Every image, or only the one `ref` names (name, tag, digest or id) when given. */
  async list(ref?: string, call?: CallOptions): Promise<Image[]> {
    if (ref) {
      const info = await this.lookup(ref, call);
      return info ? [criImageOf(info)] : [];
    }
    const stored = await this.store.all();
    if (stored) return stored.map(criImageOf);
    const summaries = await this.summaries(call);
    const facts = await this.factsFor(summaries);
    return summaries.map((s, i) => toCriImage(s, facts[i]?.user ?? ''));
  }

  /**
   * Removes the image `ref` names with all its tags and digests, as the CRI asks (removing
   * one tag of a multi-tag image removes the image). Absent is success; an image a container
   * uses is refused before anything is untagged.
   */
  async remove(ref: string, call?: CallOptions): Promise<void> {
    const named = await this.inspect(ref, call);
    if (!named) return;
    // Removals of one image (critest's five at once, the kubelet's GC beside a `crictl rmi`) go
    // one after the other: inside dockerd they race, and a loser can see the image half-deleted
    // (a 500 or a 409 while it is still listed). A later one finds it gone, after the store
    // forgot it, so no caller's ImageStatus sees it once its RemoveImage has returned.
    await this.removals.run(named.Id, async (waited) => this.removeImage(ref, waited ? await this.inspect(named.Id, call) : named, call));
  }

  private async removeImage(ref: string, image: ImageRecord | undefined, call?: CallOptions): Promise<void> {
    if (!image) return;
    const users = await this.docker.list({ ancestor: [image.Id] }, call);
    if (users.length > 0) {
      const names = users.map((c) => `${c.Names[0]?.replace(/^\//, '') ?? ''} (${c.Id.slice(0, 12)}, ${c.State})`).join(', ');
      throw failedPrecondition(`cannot remove image "${ref}" (${image.Id}): in use by container${users.length > 1 ? 's' : ''} ${names}`);
    }
    // Untagging the last name deletes the image; deleting by id with several names would need
    // force, which Docker also applies to stopped containers' images.
    for (const name of [...(image.RepoTags ?? []), ...(image.RepoDigests ?? []), image.Id]) {
      if (await this.deleteName(ref, image.Id, name, call)) break;
    }
    this.facts.delete(image.Id);
    await this.syncStore();
  }

  /** After the shim's own pull or removal: the store must not wait for Docker's events. */
  private async syncStore(): Promise<void> {
    if (this.store.isLive) await this.store.sync().catch((err: unknown) => this.logger.warn({ err }, 'could not re-list images'));
  }

  /**
   * Usage of the filesystem Docker keeps image layers in: <DockerRootDir>/<storage driver>.
   * Bytes and inodes are those of the current images' layers, each layer counted once.
   * Container writable layers live in the same directory, so no separate container
   * filesystem is reported (the kubelet then treats both as one).
   */
  async fsInfo(call?: CallOptions): Promise<ImageFsInfoResponse> {
    const info = await this.docker.info(call);
    const images = await this.layeredImages(call);
    const dirs = new Set(images.flatMap((i) => i.layerDirs));
    for (const dir of this.layerUsages.keys()) if (!dirs.has(dir)) this.layerUsages.delete(dir);
    for (const dir of dirs) if (!this.layerUsages.has(dir)) this.layerUsages.set(dir, diskUsage(dir));
    const usage = new Map<string, DiskUsage | undefined>();
    // Walks are shared and cached: a caller that gives up stops waiting, the walk goes on.
    for (const dir of dirs) usage.set(dir, await abortable(this.layerUsages.get(dir)!, call?.signal));
    let bytes = 0;
    let inodes = 0;
    const counted = new Set<string>();
    for (const image of images) {
      const layers = image.layerDirs;
      // No readable layer directories (another storage driver, a remote dockerd): the
      // image's own size, an upper bound when layers are shared, stands in for its bytes.
      if (layers.length === 0 || layers.some((d) => usage.get(d) === undefined)) {
        this.logger.debug({ image: image.Id, layers }, 'image layers not readable; counting the image size');
        bytes += image.Size;
        continue;
      }
      for (const dir of layers) {
        const u = usage.get(dir);
        if (!u || counted.has(dir)) continue;
        counted.add(dir);
        bytes += u.bytes;
        inodes += u.inodes;
      }
    }
    return {
      image_filesystems: [
        {
          timestamp: (BigInt(Date.now()) * 1_000_000n).toString(),
          fs_id: { mountpoint: `${info.DockerRootDir}/${info.Driver}` },
          used_bytes: { value: bytes },
          inodes_used: { value: inodes },
        },
      ],
      container_filesystems: [],
    };
  }

  /** Every image with its size and layer directories: from the image store while it is current, else from Docker. */
  private async layeredImages(call?: CallOptions): Promise<Array<{ Id: string; Size: number; layerDirs: string[] }>> {
    const stored = await this.store.all();
    if (stored) return stored.map((r) => ({ Id: r.Id, Size: r.Size, layerDirs: layerDirsOf(r) }));
    const summaries = await this.summaries(call);
    const facts = await this.factsFor(summaries, call);
    return summaries.map((s, i) => ({ Id: s.Id, Size: s.Size, layerDirs: facts[i]?.layerDirs ?? [] }));
  }

  private summaries(call?: CallOptions): Promise<ImageSummary[]> {
    return this.docker.listImages(call);
  }

  /** Facts of each listed image, inspecting only ids not seen before; forgets vanished ids. */
  private async factsFor(summaries: ImageSummary[], call?: CallOptions): Promise<(ImageFacts | undefined)[]> {
    const listed = new Set(summaries.map((s) => s.Id));
    for (const id of this.facts.keys()) if (!listed.has(id)) this.facts.delete(id);
    await Promise.all(summaries.filter((s) => !this.facts.has(s.Id)).map((s) => this.inspect(s.Id, call)));
    return summaries.map((s) => this.facts.get(s.Id));
  }

  private remember(info: ImageRecord): void {
    if (this.facts.has(info.Id)) return;
    this.facts.set(info.Id, { user: info.Config?.User ?? '', layerDirs: layerDirsOf(info) });
  }

  /**
   * Deletes one name (or the id) of an image; true once the image itself is gone. Concurrent
   * removals of one image race inside dockerd: 20.10 answers the losers 404, 409 or a 500
   * "unrecognized image ID", so after any of those an image that is gone counts as removed.
   */
  private async deleteName(ref: string, id: string, name: string, call?: CallOptions): Promise<boolean> {
    let removed;
    try {
      removed = await this.docker.removeImage(name, call);
    } catch (err) {
      if (!(await this.inspect(id, call))) return true;
      throw toCriError(err, `remove image "${ref}" (${name})`);
    }
    if (removed.kind === 'removed') return removed.deleted.includes(id);
    if (!(await this.inspect(id, call))) return true;
    if (removed.kind === 'conflict') throw failedPrecondition(`cannot remove image "${ref}" (${id}): ${removed.message}`);
    return false;
  }
}

/**
 * Per inspect record (the image store keeps one per image until its names change), the CRI
 * Image built once, so ListImages builds and encodes only what changed; callers must not modify it.
 */
const criImages = new WeakMap<ImageRecord, Image>();

function criImageOf(record: ImageRecord): Image {
  let image = criImages.get(record);
  if (!image) criImages.set(record, (image = toCriImage(record, record.Config?.User ?? '')));
  return image;
}

/** Directories holding the image's layers (overlay2: .../<layer>/diff). */
function layerDirsOf(info: ImageRecord): string[] {
  const data = (info.GraphDriver?.Data ?? {}) as Record<string, string | undefined>;
  return [data.UpperDir, ...(data.LowerDir ?? '').split(':'), data.Dir].filter((d): d is string => !!d);
}

/** The CRI view of a Docker image; identical whichever reference it was looked up by. */
function toCriImage(image: DockerImageNames, user: string): Image {
  const { uid, username } = imageUser(user);
  return {
    id: image.Id,
    repo_tags: (image.RepoTags ?? []).filter((t) => t !== NO_TAG),
    repo_digests: (image.RepoDigests ?? []).filter((d) => d !== NO_DIGEST),
    size: image.Size,
    uid,
    username,
    spec: { image: image.Id, annotations: {} },
    pinned: false,
  };
}

/** USER "1000", "1000:1000" -> uid 1000; "app", "app:grp" -> username app; empty -> neither. */
export function imageUser(user: string): { uid: { value: number } | null; username: string } {
  const name = user.split(':')[0] ?? '';
  if (/^\d+$/.test(name)) return { uid: { value: Number(name) }, username: '' };
  return { uid: null, username: name };
}

/** Reads Docker's pull progress to its end; returns the error message it ended with, if any. */
async function readPullStream(stream: Readable, onProgress: (msg: PullProgress) => void): Promise<string | undefined> {
  let failure: string | undefined;
  let buffered = '';
  const consider = (line: string) => {
    if (line.trim() === '') return;
    try {
      const msg = JSON.parse(line) as PullProgress;
      onProgress(msg);
      if (msg.error || msg.errorDetail?.message) failure = msg.errorDetail?.message ?? msg.error;
    } catch {
      // Progress lines are JSON; anything else carries no outcome.
    }
  };
  stream.setEncoding('utf8');
  for await (const chunk of stream as AsyncIterable<string>) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      consider(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  consider(buffered);
  return failure;
}
