// An in-memory Engine for unit tests of the services: containers, images and execs kept in
// maps, Docker's answers given as the Engine's typed outcomes. It sends every request through the
// real RequestGate (queue, deadlines, cancellation), so a test of a call that never answers
// exercises the same deadline code as the shim on dockerd. Test code only: it lives here, out of
// dist/ and the packaged binary.
import { PassThrough, Readable, type Duplex } from 'node:stream';
import type {
  AttachOptions,
  CallOptions,
  ContainerCreateOptions,
  ContainerLogsOptions,
  ContainerRecord,
  ContainerStatsRecord,
  ContainerSummary,
  CreateOutcome,
  DockerInfo,
  DockerVersion,
  Engine,
  ExecOptions,
  ExecRecord,
  ImageRecord,
  ImageSummary,
  InfoOptions,
  PullOptions,
  RemoveImageOutcome,
  RemoveOutcome,
  StartOutcome,
  StopOutcome,
  TerminalSize,
} from '../../src/docker/engine.js';
import { RequestGate, type DockerCallObserver } from '../../src/docker/request-gate.js';
import { CriError, Code, notFound } from '../../src/errors.js';

export type FakeOp =
  | 'ping'
  | 'version'
  | 'info'
  | 'createContainer'
  | 'start'
  | 'stop'
  | 'remove'
  | 'inspect'
  | 'list'
  | 'update'
  | 'stats'
  | 'listImages'
  | 'inspectImage'
  | 'removeImage';

let nextId = 0;
const hexId = () => (++nextId).toString(16).padStart(64, '0');

export class FakeEngine implements Engine {
  readonly gate: RequestGate;
  readonly containers = new Map<string, ContainerRecord>();
  readonly images = new Map<string, ImageRecord>();
  /** Every operation asked for, in order (`op id-or-name`). */
  readonly calls: string[] = [];
  private readonly eventStreams: Array<{ type: string; stream: PassThrough }> = [];
  /** Operations that never answer (dockerd accepted the request and went silent). */
  readonly hanging = new Set<FakeOp>();
  private readonly failures = new Map<FakeOp, Error>();
  /** true: changes the shim asks for announce no events (only `announce` sends any). */
  quiet = false;
  private pid = 1000;

  constructor(opts: { timeoutMs?: number; concurrency?: number } = {}) {
    this.gate = new RequestGate({ timeoutMs: opts.timeoutMs ?? 5_000, concurrency: opts.concurrency });
  }

  /** The next `op` fails with `err` (a CriError, as the real gateway would raise). */
  failNext(op: FakeOp, err: Error): void {
    this.failures.set(op, err);
  }

  addImage(ref: string, user = ''): ImageRecord {
    const image = { Id: `sha256:${hexId()}`, RepoTags: [ref], RepoDigests: [], Size: 1000, Config: { User: user }, GraphDriver: { Data: {} } } as unknown as ImageRecord;
    this.images.set(image.Id, image);
    return image;
  }

  /** The container `idOrName` names: full id, unique id prefix or name, as Docker accepts. */
  find(idOrName: string): ContainerRecord | undefined {
    const byId = this.containers.get(idOrName);
    if (byId) return byId;
    for (const c of this.containers.values()) if (c.Name === `/${idOrName}`) return c;
    const prefixed = [...this.containers.values()].filter((c) => c.Id.startsWith(idOrName));
    return prefixed.length === 1 ? prefixed[0] : undefined;
  }

  /** By id or by name as Docker reads it: "docker.io/" and "latest" implied. */
  private findImage(ref: string): ImageRecord | undefined {
    const norm = (name: string) => {
      const bare = name.replace(/^docker\.io\//, '').replace(/^library\//, '');
      return /:[^/]+$/.test(bare) ? bare : `${bare}:latest`;
    };
    for (const i of this.images.values()) {
      if (i.Id === ref || i.Id === `sha256:${ref}` || i.RepoTags?.some((t) => norm(t) === norm(ref))) return i;
    }
    return undefined;
  }

  /** One request through the real gate; `answer` runs in the queue like dockerd's reply. */
  private op<T>(op: FakeOp, subject: string, call: CallOptions | undefined, answer: () => T, timeoutMs?: number): Promise<T> {
    this.calls.push(`${op} ${subject}`.trim());
    return this.gate.run(
      op,
      `${op} ${subject}`.trim(),
      () => {
        if (this.hanging.has(op)) return new Promise<T>(() => undefined);
        const failure = this.failures.get(op);
        if (failure) {
          this.failures.delete(op);
          return Promise.reject(failure);
        }
        return Promise.resolve().then(answer);
      },
      { signal: call?.signal, timeoutMs },
    );
  }

  get requestsInFlight(): { running: number; queued: number } {
    return this.gate.requestsInFlight;
  }

  onCall(observer: DockerCallObserver): void {
    this.gate.onCall(observer);
  }

  async apiVersion(): Promise<string> {
    return '1.41';
  }

  async ping(call?: CallOptions): Promise<void> {
    await this.op('ping', '', call, () => undefined);
  }

  private versionCache: Promise<DockerVersion> | undefined;

  /** Asked once until forgotten, as the real gateway does. */
  version(call?: CallOptions): Promise<DockerVersion> {
    this.versionCache ??= this.op('version', '', call, () => ({ Version: '20.10.24+fake', ApiVersion: '1.41' }));
    return this.versionCache;
  }

  /** One cache, as the real gateway keeps: asked again only when fresh, too old or forgotten. */
  private infoCache: { at: number; value: Promise<DockerInfo> } | undefined;

  info(opts: InfoOptions = {}): Promise<DockerInfo> {
    const cached = this.infoCache;
    if (cached && !opts.fresh && !(opts.maxAgeMs !== undefined && Date.now() - cached.at > opts.maxAgeMs)) return cached.value;
    const value = this.op('info', '', opts, () => ({ Runtimes: { runc: {} }, CgroupDriver: 'cgroupfs', LoggingDriver: 'json-file', DockerRootDir: '/var/lib/docker', Driver: 'overlay2' }));
    const entry = { at: Date.now(), value };
    this.infoCache = entry;
    value.catch(() => {
      if (this.infoCache === entry) this.infoCache = undefined;
    });
    return value;
  }

  forgetDaemonFacts(): void {
    this.infoCache = undefined;
    this.versionCache = undefined;
  }

  /** Capabilities this dockerd does not know, as 20.10 does not know CAP_PERFMON, CAP_BPF, ... */
  readonly unknownCapabilities = new Set<string>();

  createContainer(options: ContainerCreateOptions, call?: CallOptions): Promise<CreateOutcome> {
    return this.op('createContainer', options.name ?? '', call, (): CreateOutcome => {
      if (options.name && this.find(options.name)?.Name === `/${options.name}`) return { kind: 'conflict', message: `Conflict. The container name "/${options.name}" is already in use` };
      const unknown = ((options.HostConfig?.CapAdd ?? []) as string[]).find((c) => this.unknownCapabilities.has(c));
      if (unknown) return { kind: 'unknown-capability', capability: unknown, message: `invalid CapAdd: unknown capability: "${unknown}"` };
      const image = this.findImage(options.Image ?? '');
      if (!image) return { kind: 'no-image', message: `No such image: ${options.Image}` };
      const id = hexId();
      const record = {
        Id: id,
        Name: `/${options.name ?? id.slice(0, 12)}`,
        Created: new Date().toISOString(),
        Image: image.Id,
        Config: { Labels: { ...(options.Labels ?? {}) }, Image: options.Image, Tty: Boolean(options.Tty), OpenStdin: Boolean(options.OpenStdin), Env: options.Env ?? [] },
        HostConfig: { ...(options.HostConfig ?? {}) },
        State: { Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z' },
        NetworkSettings: { Networks: {} },
        Mounts: [],
        ResolvConfPath: '',
      } as unknown as ContainerRecord;
      this.containers.set(id, record);
      this.emit(id, 'create');
      return { kind: 'created', id };
    });
  }

  start(id: string, call?: CallOptions): Promise<StartOutcome> {
    return this.op('start', id, call, (): StartOutcome => {
      const c = this.find(id);
      if (!c) return { kind: 'absent' };
      if (c.State.Running) return { kind: 'already-running' };
      c.State = { ...c.State, Status: 'running', Running: true, Pid: ++this.pid, StartedAt: new Date().toISOString() };
      this.emit(c.Id, 'start');
      return { kind: 'started' };
    });
  }

  stop(id: string, _graceSeconds: number, call?: CallOptions): Promise<StopOutcome> {
    return this.op('stop', id, call, (): StopOutcome => {
      const c = this.find(id);
      if (!c) return { kind: 'absent' };
      if (!c.State.Running) return { kind: 'already-stopped' };
      c.State = { ...c.State, Status: 'exited', Running: false, Pid: 0, ExitCode: 137, FinishedAt: new Date().toISOString() };
      this.emit(c.Id, 'kill', 'die', 'stop');
      return { kind: 'stopped' };
    });
  }

  remove(id: string, call?: CallOptions): Promise<RemoveOutcome> {
    return this.op('remove', id, call, (): RemoveOutcome => {
      const c = this.find(id);
      if (!c) return { kind: 'absent' };
      this.containers.delete(c.Id);
      this.emit(c.Id, ...(c.State.Running ? ['kill', 'die'] : []), 'destroy');
      return { kind: 'removed' };
    });
  }

  inspect(idOrName: string, call?: CallOptions): Promise<ContainerRecord | undefined> {
    return this.op('inspect', idOrName, call, () => {
      const c = this.find(idOrName);
      return c ? structuredClone(c) : undefined;
    });
  }

  list(filters: Record<string, string[]>, call?: CallOptions): Promise<ContainerSummary[]> {
    return this.op('list', JSON.stringify(filters), call, () =>
      [...this.containers.values()]
        .filter((c) =>
          (filters.label ?? []).every((l) => {
            const [k, v] = l.split('=');
            return v === undefined ? k in c.Config.Labels : c.Config.Labels[k] === v;
          }),
        )
        .filter((c) => (filters.ancestor ?? []).every((a) => c.Image === a))
        .map((c) => ({ Id: c.Id, Names: [c.Name], State: c.State.Status, Labels: c.Config.Labels }) as unknown as ContainerSummary),
    );
  }

  update(id: string, _update: Record<string, unknown>, call?: CallOptions): Promise<{ Warnings?: string[] | null }> {
    return this.op('update', id, call, () => {
      if (!this.find(id)) throw notFound(`No such container: ${id}`);
      return { Warnings: [] };
    });
  }

  /** One sample with the container's state; no usage figures (the fake has no cgroups). */
  stats(id: string, _options: { oneShot: boolean }, call?: CallOptions): Promise<ContainerStatsRecord | undefined> {
    return this.op('stats', id, call, () => {
      const c = this.find(id);
      if (!c) return undefined;
      const now = new Date().toISOString();
      return { id: c.Id, name: c.Name, read: now, preread: now, pids_stats: { current: c.State.Running ? 1 : 0 } } as unknown as ContainerStatsRecord;
    });
  }

  async getArchive(): Promise<Readable | undefined> {
    return undefined;
  }

  async execCreate(): Promise<string> {
    throw new CriError(Code.UNIMPLEMENTED, 'FakeEngine runs no exec');
  }

  async execStart(): Promise<Duplex> {
    throw new CriError(Code.UNIMPLEMENTED, 'FakeEngine runs no exec');
  }

  async execInspect(): Promise<ExecRecord> {
    throw new CriError(Code.UNIMPLEMENTED, 'FakeEngine runs no exec');
  }

  async execResize(_id: string, _size: TerminalSize): Promise<void> {}

  async attach(_id: string, _options: AttachOptions): Promise<Duplex> {
    throw new CriError(Code.UNIMPLEMENTED, 'FakeEngine attaches to nothing');
  }

  async resize(): Promise<void> {}

  async logs(_id: string, _options: ContainerLogsOptions): Promise<Readable> {
    return Readable.from([]);
  }

  /**
   * An event stream that stays open; it carries the container events of the changes asked of
   * this engine (unless `quiet`) and what a test announces with `announce`, until `breakEvents`.
   */
  async events(filters: Record<string, string[]>): Promise<Readable> {
    const stream = new PassThrough();
    this.eventStreams.push({ type: filters.type?.[0] ?? '', stream });
    stream.once('close', () => {
      const i = this.eventStreams.findIndex((e) => e.stream === stream);
      if (i >= 0) this.eventStreams.splice(i, 1);
    });
    return stream;
  }

  /**
   * The container events dockerd sends for a change the shim asked for, in its order (docker
   * stop: kill, die, stop), before the answer, as dockerd logs them before it replies.
   */
  private emit(id: string, ...actions: string[]): void {
    if (!this.quiet) for (const action of actions) this.announce('container', id, action);
  }

  /** Sends one Docker event (`{"id":..,"Action":..}`) on the open streams of that type. */
  announce(type: 'container' | 'image', id: string, action: string): void {
    for (const e of this.eventStreams) if (e.type === type) e.stream.write(`${JSON.stringify({ Type: type, id, Action: action })}\n`);
  }

  /** Ends every open event stream, as a dockerd restart would. */
  breakEvents(): void {
    for (const e of [...this.eventStreams]) e.stream.destroy();
  }

  listImages(call?: CallOptions): Promise<ImageSummary[]> {
    return this.op('listImages', '', call, () => [...this.images.values()].map((i) => ({ Id: i.Id, RepoTags: i.RepoTags, RepoDigests: i.RepoDigests, Size: i.Size }) as unknown as ImageSummary));
  }

  inspectImage(ref: string, call?: CallOptions): Promise<ImageRecord | undefined> {
    return this.op('inspectImage', ref, call, () => this.findImage(ref));
  }

  async pull(options: PullOptions): Promise<Readable> {
    this.addImage(`${options.fromImage}:${options.tag}`);
    return Readable.from([`${JSON.stringify({ status: 'Status: Downloaded newer image' })}\n`]);
  }

  removeImage(name: string, call?: CallOptions): Promise<RemoveImageOutcome> {
    return this.op('removeImage', name, call, (): RemoveImageOutcome => {
      const image = this.findImage(name);
      if (!image) return { kind: 'absent' };
      if ([...this.containers.values()].some((c) => c.Image === image.Id)) return { kind: 'conflict', message: `image is being used by a container` };
      this.images.delete(image.Id);
      return { kind: 'removed', deleted: [image.Id] };
    });
  }
}
