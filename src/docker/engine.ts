// The one Docker gateway every other module talks to: named operations with typed outcomes
// ("absent", "conflict") instead of Docker's error text to match. DockerodeEngine is the one
// implementation on dockerd; tests use a FakeEngine. Request/response calls have a deadline
// that includes their wait in the bounded queue and take the CRI call's signal; long-running
// streams (events, attach, logs, pull, the hijacked exec stream) have no deadline once open,
// only the signal.
import type Dockerode from 'dockerode';
import type { Duplex, Readable } from 'node:stream';
import { Code, CriError, notFound } from '../errors.js';
import type { DockerCallObserver } from './request-gate.js';

// Docker Engine API shapes, as @types/dockerode spells them; the rest of the shim names them here.
export type ContainerRecord = Dockerode.ContainerInspectInfo;
export type ContainerSummary = Dockerode.ContainerInfo;
export type ContainerCreateOptions = Dockerode.ContainerCreateOptions;
export type HostConfig = Dockerode.HostConfig;
export type ContainerLogsOptions = Dockerode.ContainerLogsOptions;
export type ImageRecord = Dockerode.ImageInspectInfo;
export type ImageSummary = Dockerode.ImageInfo;
export type ExecRecord = Dockerode.ExecInspectInfo;
export type ContainerStatsRecord = Dockerode.ContainerStats;

/** The `docker info` fields the shim reads. */
export interface DockerInfo {
  Runtimes?: Record<string, unknown>;
  CgroupDriver?: string;
  LoggingDriver?: string;
  DockerRootDir?: string;
  Driver?: string;
}

export interface DockerVersion {
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
}

/** What every operation takes from its caller. */
export interface CallOptions {
  /** The CRI call's signal (cancelled or past its deadline): cancels the Docker request. */
  signal?: AbortSignal;
}

export interface InfoOptions extends CallOptions {
  /** Ask dockerd again, whatever is cached (a runtime handler not found, say). */
  fresh?: boolean;
  /** Accept the cached answer only if it is younger than this. */
  maxAgeMs?: number;
}

export type CreateOutcome =
  | { kind: 'created'; id: string }
  /** A container of that name exists. */
  | { kind: 'conflict'; message: string }
  /** Docker has no such image. */
  | { kind: 'no-image'; message: string }
  /** This dockerd does not know a capability of CapAdd (20.10 predates CAP_PERFMON, CAP_BPF, ...). */
  | { kind: 'unknown-capability'; capability: string; message: string };

export type StartOutcome = { kind: 'started' } | { kind: 'already-running' } | { kind: 'absent' };
export type StopOutcome = { kind: 'stopped' } | { kind: 'already-stopped' } | { kind: 'absent' };
/** All three mean the container is (or is about to be) gone. */
export type RemoveOutcome = { kind: 'removed' } | { kind: 'absent' } | { kind: 'removal-in-progress' };
export type RemoveImageOutcome =
  | { kind: 'removed'; deleted: string[] }
  | { kind: 'absent' }
  /** In use, or a name of several images: Docker's reason in `message`. */
  | { kind: 'conflict'; message: string };

export interface ExecOptions {
  Cmd: string[];
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
}

export interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface TerminalSize {
  height: number;
  width: number;
}

export interface PullOptions {
  fromImage: string;
  tag: string;
  /** X-Registry-Auth, base64 of Docker's auth JSON. */
  registryAuth?: string;
  /** Names the pull in errors, e.g. `pull image "busybox"`. */
  what: string;
}

/** Docker's wording when the registry has no such repository, tag or digest. */
const MISSING_IMAGE = /manifest unknown|manifest for .* not found|not found: manifest|repository does not exist|name unknown|no such image/i;
/** Docker's wording when the registry refused the credentials (or their absence). */
const AUTH_FAILED = /no basic auth credentials|unauthorized|authentication required|access denied|denied:/i;

/**
 * A failed pull as a CRI error: NotFound when the registry has no such image, PermissionDenied
 * when it refused the credentials. Docker says so in text only, in its HTTP answer or in the
 * last line of the progress stream; `fallback` is the code when the text says neither.
 */
export function pullFailure(what: string, reason: string, fallback: Code = Code.UNKNOWN): CriError {
  if (MISSING_IMAGE.test(reason)) return notFound(`${what}: ${reason}`);
  if (AUTH_FAILED.test(reason)) return new CriError(Code.PERMISSION_DENIED, `${what}: ${reason}`);
  return new CriError(fallback, `${what}: ${reason}`);
}

export interface Engine {
  /** Docker requests running now, and those waiting for a place in the bounded queue. */
  readonly requestsInFlight: { running: number; queued: number };
  onCall(observer: DockerCallObserver): void;
  /** Engine API version in use, negotiated with dockerd once (again after a failure). */
  apiVersion(call?: CallOptions): Promise<string>;

  ping(call?: CallOptions): Promise<void>;
  /** `docker version`, asked once per daemon: kept until forgetDaemonFacts(). */
  version(call?: CallOptions): Promise<DockerVersion>;
  /** `docker info`, one cache for the whole shim. */
  info(opts?: InfoOptions): Promise<DockerInfo>;
  /** Drops the cached info and version: dockerd came back, perhaps another build or config. */
  forgetDaemonFacts(): void;

  createContainer(options: ContainerCreateOptions, call?: CallOptions): Promise<CreateOutcome>;
  start(id: string, call?: CallOptions): Promise<StartOutcome>;
  /** StopSignal, SIGKILL after `graceSeconds`; its deadline is the grace period plus the request timeout. */
  stop(id: string, graceSeconds: number, call?: CallOptions): Promise<StopOutcome>;
  /** Force-removes the container and its anonymous volumes. */
  remove(id: string, call?: CallOptions): Promise<RemoveOutcome>;
  /** By id, id prefix or name; undefined when Docker has none. */
  inspect(idOrName: string, call?: CallOptions): Promise<ContainerRecord | undefined>;
  /** Every container (running or not) matching Docker's list filters. */
  list(filters: Record<string, string[]>, call?: CallOptions): Promise<ContainerSummary[]>;
  update(id: string, update: Record<string, unknown>, call?: CallOptions): Promise<{ Warnings?: string[] | null }>;
  /**
   * Docker's own stats sample of a container (the shim reads cgroups instead; the bench compares
   * the two). Without oneShot dockerd waits for a second sample (about 1 s) to fill precpu_stats.
   * Undefined when the container is absent.
   */
  stats(id: string, options: { oneShot: boolean }, call?: CallOptions): Promise<ContainerStatsRecord | undefined>;
  /** A tar of `path` in the container's filesystem; undefined when the container or path is absent. */
  getArchive(id: string, path: string, call?: CallOptions): Promise<Readable | undefined>;

  /** Creates an exec and returns its id. */
  execCreate(containerId: string, options: ExecOptions, call?: CallOptions): Promise<string>;
  /** Starts the exec on a hijacked connection; the deadline covers the upgrade, not the session. */
  execStart(execId: string, options: { stdin: boolean; tty: boolean }, call?: CallOptions): Promise<Duplex>;
  execInspect(execId: string, call?: CallOptions): Promise<ExecRecord>;
  execResize(execId: string, size: TerminalSize, call?: CallOptions): Promise<void>;
  /** Attaches to the container's stdio on a hijacked connection (no deadline once open). */
  attach(id: string, options: AttachOptions, call?: CallOptions): Promise<Duplex>;
  resize(id: string, size: TerminalSize, call?: CallOptions): Promise<void>;
  /** The container's output (follow: until it ends; else what Docker has now). */
  logs(id: string, options: ContainerLogsOptions, call?: CallOptions): Promise<Readable>;
  /** Docker's event stream (newline-delimited JSON) for the filters. */
  events(filters: Record<string, string[]>, call?: CallOptions): Promise<Readable>;

  listImages(call?: CallOptions): Promise<ImageSummary[]>;
  /** By name, name:tag, name@digest or (short) id; undefined when Docker has none. */
  inspectImage(ref: string, call?: CallOptions): Promise<ImageRecord | undefined>;
  /** Docker's pull progress stream (newline-delimited JSON); ends when the pull does. */
  pull(options: PullOptions, call?: CallOptions): Promise<Readable>;
  /** Removes one name (tag or digest) of an image, or the image by id. */
  removeImage(name: string, call?: CallOptions): Promise<RemoveImageOutcome>;
}

export type LeftoverOutcome =
  | { kind: 'absent' }
  | { kind: 'running'; record: ContainerRecord }
  | { kind: 'cleared'; record: ContainerRecord };

/**
 * Clears the way for a create that met a name conflict: a leftover container of that name
 * (an earlier attempt that died, one the kubelet lost track of) is removed when it is not
 * running, through `removeIt` when given (a pause container takes its pod with it); a running
 * one is a real conflict, left alone for the caller to report.
 */
export async function clearLeftover(
  engine: Engine,
  name: string,
  call?: CallOptions,
  removeIt?: (record: ContainerRecord) => Promise<void>,
): Promise<LeftoverOutcome> {
  const record = await engine.inspect(name, call);
  if (!record) return { kind: 'absent' };
  if (record.State?.Running) return { kind: 'running', record };
  if (removeIt) await removeIt(record);
  else await engine.remove(record.Id, call);
  return { kind: 'cleared', record };
}
