// Images: lookup, pull (with registry credentials), list, status, removal, and the image
// filesystem's usage, all on Docker's image API. Other services resolve images through
// inspect()/ensure() here so that every image reference is read the same way.
import type Dockerode from 'dockerode';
import type { Readable } from 'node:stream';
import type { DockerClient } from '../docker/client.js';
import type { AuthConfig__Output } from '../generated/runtime/v1/AuthConfig.js';
import { parseImageRef, repositoryOf, fullImageId } from '../docker/image-ref.js';
import { encodeRegistryAuth, toDockerAuth } from '../docker/registry-auth.js';
import { CriError, Code, invalidArgument, isDockerNotFound, notFound, toCriError, dockerMessage, isDockerHttpError } from '../errors.js';

/** One line of Docker's pull progress stream; the last one carries the error of a failed pull. */
interface PullProgress {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Docker's wording when the registry has no such repository, tag or digest. */
const MISSING_IMAGE = /manifest unknown|not found|repository does not exist|name unknown|no such image/i;

export class ImageService {
  constructor(private readonly docker: DockerClient) {}

  /**
   * The image `ref` names (name, name:tag, name@digest, full or unique short id), or
   * undefined when Docker has none.
   */
  async inspect(ref: string): Promise<Dockerode.ImageInspectInfo | undefined> {
    if (ref === '') throw invalidArgument('image reference is empty');
    try {
      return await this.docker.raw('image.inspect', (d) => d.getImage(ref).inspect());
    } catch (err) {
      if (isDockerNotFound(err)) return undefined;
      throw toCriError(err, `inspect image "${ref}"`);
    }
  }

  /** The image `ref` names, pulled first when Docker does not have it. */
  async ensure(ref: string, auth?: AuthConfig__Output | null): Promise<Dockerode.ImageInspectInfo> {
    const present = await this.inspect(ref);
    if (present) return present;
    const id = await this.pull(ref, auth ?? undefined);
    const pulled = await this.inspect(id);
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
    try {
      parsed = parseImageRef(ref);
    } catch (err) {
      throw invalidArgument(`cannot pull "${ref}": ${(err as Error).message}`);
    }
    let dockerAuth;
    try {
      dockerAuth = toDockerAuth(auth);
    } catch (err) {
      throw invalidArgument(`cannot pull "${ref}": ${(err as Error).message}`);
    }
    const what = `pull image "${ref}"`;
    // A digest goes in `tag`: Docker pulls repo@digest when the tag parses as a digest.
    const opts: Record<string, unknown> = { fromImage: repositoryOf(parsed), tag: parsed.digest ?? parsed.tag ?? 'latest' };
    if (dockerAuth) opts.authconfig = { base64: encodeRegistryAuth(dockerAuth) };
    if (signal) opts.abortSignal = signal;
    let stream: Readable;
    try {
      stream = await this.docker.raw('image.pull', (d) => d.createImage(opts) as Promise<Readable>);
    } catch (err) {
      throw pullError(what, err);
    }
    const failure = await readPullStream(stream);
    if (failure !== undefined) throw pullError(what, failure);
    const pulled = repositoryOf(parsed) + (parsed.digest ? `@${parsed.digest}` : `:${parsed.tag ?? 'latest'}`);
    const image = await this.inspect(pulled);
    if (!image) throw notFound(`${what}: Docker reported success but has no image "${ref}"`);
    return image.Id;
  }
}

/** Reads Docker's pull progress to its end; returns the error message it ended with, if any. */
async function readPullStream(stream: Readable): Promise<string | undefined> {
  let failure: string | undefined;
  let buffered = '';
  const consider = (line: string) => {
    if (line.trim() === '') return;
    let msg: PullProgress;
    try {
      msg = JSON.parse(line) as PullProgress;
    } catch {
      return;
    }
    if (msg.error || msg.errorDetail?.message) failure = msg.errorDetail?.message ?? msg.error;
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

/** A failed pull as a CRI error: NotFound when Docker says the image does not exist. */
function pullError(what: string, err: unknown): CriError {
  if (typeof err === 'string') {
    return new CriError(MISSING_IMAGE.test(err) ? Code.NOT_FOUND : Code.UNKNOWN, `${what}: ${err}`);
  }
  if (isDockerHttpError(err) && err.statusCode === 500 && MISSING_IMAGE.test(dockerMessage(err))) {
    return notFound(`${what}: ${dockerMessage(err)}`);
  }
  return toCriError(err, what);
}
