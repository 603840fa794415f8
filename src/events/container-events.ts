// GetContainerEvents: CRI container lifecycle events, derived from the container index (which
// Docker's event stream keeps current) by comparing each new inspect record with the previous
// one. Deriving from state, not from Docker's event names, means a transition is reported even
// when Docker's events for it were coalesced or arrived while the stream was down: after a
// reconnect every record is re-read, and whatever changed in the gap is reported then.
import type { ContainerEventResponse } from '../generated/runtime/v1/ContainerEventResponse.js';
import type { ContainerEventType__Output } from '../generated/runtime/v1/ContainerEventType.js';
import type { ContainerStatus } from '../generated/runtime/v1/ContainerStatus.js';
import type { PodSandboxStatus } from '../generated/runtime/v1/PodSandboxStatus.js';
import { newestFirst, toContainerStatus } from '../docker/container-status.js';
import { LABEL_SANDBOX_ID, LABEL_TYPE, TYPE_CONTAINER, TYPE_SANDBOX } from '../docker/labels.js';
import { parseName } from '../docker/naming.js';
import { dockerTimeToNs, nowNs, toPodSandboxStatus } from '../docker/sandbox-status.js';
import type { Logger } from '../logger.js';
import type { ContainerIndex, ContainerRecord } from '../store/container-index.js';

export type ContainerEventListener = (event: ContainerEventResponse) => void;

/** What of the index the events need (an interface, so tests can drive it without Docker). */
export type EventSource = Pick<ContainerIndex, 'on' | 'get' | 'all' | 'refresh'>;

const started = (r: ContainerRecord) => dockerTimeToNs(r.State?.StartedAt) !== '0';
const running = (r: ContainerRecord) => Boolean(r.State?.Running);

/**
 * The CRI events that lead from `previous` to `record` (previous undefined: a container we had
 * not seen). A restart seen only as a new StartedAt still yields STOPPED then STARTED.
 */
export function transitions(record: ContainerRecord, previous: ContainerRecord | undefined): ContainerEventType__Output[] {
  const out: ContainerEventType__Output[] = [];
  if (!previous) {
    out.push('CONTAINER_CREATED_EVENT');
    if (started(record)) out.push('CONTAINER_STARTED_EVENT');
    if (started(record) && !running(record)) out.push('CONTAINER_STOPPED_EVENT');
    return out;
  }
  const restarted = started(record) && record.State?.StartedAt !== previous.State?.StartedAt;
  if (restarted && running(previous)) out.push('CONTAINER_STOPPED_EVENT');
  if (restarted) out.push('CONTAINER_STARTED_EVENT');
  if (!running(record) && started(record) && (running(previous) || restarted)) out.push('CONTAINER_STOPPED_EVENT');
  return out;
}

export class ContainerEventHub {
  private readonly listeners = new Set<ContainerEventListener>();
  /** Pod sandbox id -> ids of its workload containers, to attach every container status to an event. */
  private readonly members = new Map<string, Set<string>>();
  /**
   * Until the index first synced, records of containers created before this process started are
   * the state we start from, not news (a container created meanwhile is: the shim may be serving
   * while a slow first sync is still under way).
   */
  private synced = false;
  private readonly startedAtNs = BigInt(nowNs());
  private gap = false;

  constructor(
    private readonly index: EventSource,
    private readonly logger: Logger,
  ) {
    index.on('updated', (record, previous) => this.onUpdated(record, previous));
    index.on('removed', (id, previous) => this.onRemoved(id, previous));
    index.on('disconnected', () => {
      this.gap = true;
    });
    index.on('resynced', () => this.onResynced());
  }

  /** Adds a listener; the returned function removes it (call it when the client goes away). */
  subscribe(listener: ContainerEventListener): () => void {
    this.listeners.add(listener);
    this.logger.debug({ subscribers: this.listeners.size }, 'container event subscriber added');
    return () => {
      if (this.listeners.delete(listener)) this.logger.debug({ subscribers: this.listeners.size }, 'container event subscriber removed');
    };
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  private onUpdated(record: ContainerRecord, previous: ContainerRecord | undefined): void {
    const sandboxId = this.track(record);
    if (!this.synced && BigInt(dockerTimeToNs(record.Created)) < this.startedAtNs) return;
    for (const type of transitions(record, previous)) this.publish(type, record.Id, sandboxId, record);
  }

  private onRemoved(id: string, previous: ContainerRecord): void {
    const sandboxId = this.sandboxIdOf(previous);
    if (sandboxId !== id) this.members.get(sandboxId)?.delete(id);
    this.publish('CONTAINER_DELETED_EVENT', id, sandboxId, previous);
    if (sandboxId === id) this.members.delete(id);
  }

  /**
   * After the event stream came back, the index re-read only containers whose state name
   * changed; a container that restarted (running -> running) in the gap would go unnoticed, so
   * every known container is re-read and compared.
   */
  private onResynced(): void {
    if (!this.synced) {
      this.synced = true;
      return;
    }
    if (!this.gap) return;
    this.gap = false;
    void this.index
      .all()
      .then((records) => Promise.all(records.map((r) => this.index.refresh(r.Id))))
      .catch((err: unknown) => this.logger.warn({ err }, 'could not re-read containers after the Docker event stream came back'));
  }

  private sandboxIdOf(record: ContainerRecord): string {
    const labels = record.Config?.Labels ?? {};
    return labels[LABEL_TYPE] === TYPE_SANDBOX ? record.Id : (labels[LABEL_SANDBOX_ID] ?? '');
  }

  private track(record: ContainerRecord): string {
    const sandboxId = this.sandboxIdOf(record);
    if (record.Config?.Labels?.[LABEL_TYPE] === TYPE_CONTAINER && sandboxId) {
      let set = this.members.get(sandboxId);
      if (!set) this.members.set(sandboxId, (set = new Set()));
      set.add(record.Id);
    }
    return sandboxId;
  }

  private publish(type: ContainerEventType__Output, id: string, sandboxId: string, subject: ContainerRecord): void {
    if (this.listeners.size === 0) return;
    const event: ContainerEventResponse = {
      container_id: id,
      container_event_type: type,
      created_at: nowNs(),
      pod_sandbox_status: this.sandboxStatus(sandboxId, subject),
      containers_statuses: this.containerStatuses(sandboxId),
    };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err }, 'container event subscriber failed; dropping it');
        this.listeners.delete(listener);
      }
    }
  }

  /**
   * The kubelet keys every event by the pod uid in this status, so one is always sent: from the
   * sandbox's record, else (the sandbox is already gone) from the pod fields of the container's name.
   */
  private sandboxStatus(sandboxId: string, subject: ContainerRecord): PodSandboxStatus | undefined {
    const sandbox = sandboxId === subject.Id ? subject : this.index.get(sandboxId);
    const status = sandbox && toPodSandboxStatus(sandbox);
    if (status) return status;
    const parsed = parseName(subject.Name);
    if (!parsed) return undefined;
    return {
      id: sandboxId,
      metadata: { name: parsed.podName, namespace: parsed.podNamespace, uid: parsed.podUid, attempt: 0 },
      state: 'SANDBOX_NOTREADY',
    };
  }

  private containerStatuses(sandboxId: string): ContainerStatus[] {
    const out: ContainerStatus[] = [];
    for (const id of this.members.get(sandboxId) ?? []) {
      const record = this.index.get(id);
      const status = record && toContainerStatus(record, null);
      if (status) out.push(status);
    }
    return newestFirst(out);
  }
}
