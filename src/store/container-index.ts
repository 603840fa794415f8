// In-memory index of every container the shim owns (pause and workload), kept current by
// Docker's event stream. List calls are answered from here, so a kubelet relist costs no
// Docker request; writes made by the shim itself refresh their entry before returning.
import { EventEmitter } from 'node:events';
import type { CallOptions, ContainerRecord, Engine } from '../docker/engine.js';
import { LABEL_SANDBOX_ID, LABEL_TYPE, TYPE_CONTAINER } from '../docker/labels.js';
import { abortable } from '../abortable.js';
import { invalidArgument, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import { EventFeed, type DockerEvent } from './event-feed.js';

export type { ContainerRecord } from '../docker/engine.js';

/**
 * How long a write path waits for the event-fed record of its own change before it inspects
 * the container itself: far above an event's delay on a loaded node (milliseconds), short
 * enough that a silently stalled event stream costs a caller little.
 */
const EVENT_WAIT_MS = 1_000;

/**
 * Container events after which an inspect shows nothing new: a signal sent (the exit, if any,
 * comes as "die"), streams attached or resized, files read or copied, a process listing.
 */
const NO_STATE_CHANGE = new Set(['kill', 'attach', 'detach', 'resize', 'top', 'archive-path', 'extract-to-dir', 'copy', 'export', 'commit']);

export interface ContainerIndexEvents {
  /** An entry was added or changed; `previous` is undefined for a new one. */
  updated: [record: ContainerRecord, previous: ContainerRecord | undefined];
  removed: [id: string, previous: ContainerRecord];
  /** The event stream (re)connected and the index was rebuilt from a full list. */
  resynced: [];
  /** The event stream broke; List calls fall back to a live list until it is back. */
  disconnected: [error: Error];
}

export class ContainerIndex extends EventEmitter<ContainerIndexEvents> {
  private readonly records = new Map<string, ContainerRecord>();
  /** Workload container ids by their sandbox id label (labels never change), for per-pod reads. */
  private readonly bySandbox = new Map<string, Set<string>>();
  /** Per id, the sequence number of the newest inspect applied, so a slow stale inspect never wins. */
  private readonly applied = new Map<string, number>();
  /** Per id, inspects under way; a gone id's `applied` entry is kept only while one may still land. */
  private readonly inflight = new Map<string, number>();
  /** Per id, the newest inspect an event started that has not landed yet (see `current`). */
  private readonly pending = new Map<string, Promise<unknown>>();
  private seq = 0;
  /** Per id, the inspect Docker's events asked for: not started yet, or to be done once more. */
  private readonly eventReads = new Map<string, { started: boolean; again: boolean }>();
  /** Per id, write paths waiting in `changed` for the record of their change. */
  private readonly waiters = new Map<string, Set<(record: ContainerRecord | undefined) => void>>();
  private readonly feed: EventFeed;
  /**
   * The resync under way. Its Docker requests are dropped once every caller waiting on it has
   * given up (a caller without a signal, the event feed's, keeps it going).
   */
  private resyncing: { done: Promise<void>; controller: AbortController; waiting: number; kept: boolean } | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly logger: Logger,
  ) {
    super();
    this.feed = new EventFeed(engine, logger, { type: ['container'], label: [LABEL_TYPE] }, 'container', {
      onEvent: (ev) => this.onEvent(ev),
      onConnected: () => this.resync(),
      onLive: () => {
        this.emit('resynced');
        this.logger.debug({ containers: this.records.size }, 'container index synced with dockerd');
      },
      onBroken: (err) => {
        for (const waiters of [...this.waiters.values()]) for (const w of [...waiters]) w(undefined);
        this.emit('disconnected', err);
      },
    });
  }

  /** True while the event stream is connected and the index is complete. */
  get isLive(): boolean {
    return this.feed.isLive;
  }

  /** Connects to Docker's event stream and loads the index; retries in the background when dockerd is down. */
  start(): void {
    this.feed.start();
  }

  stop(): void {
    this.feed.stop();
  }

  /**
   * Every indexed container. While the event stream is down this lists Docker live, so a
   * caller never gets a stale answer (and gets Unavailable when dockerd is gone).
   */
  async all(call?: CallOptions): Promise<ContainerRecord[]> {
    if (!this.isLive) await this.resync(call);
    return [...this.records.values()];
  }

  get(id: string): ContainerRecord | undefined {
    return this.records.get(id);
  }

  /** The workload containers of a sandbox (full id), as `all` would list them; no scan of every record. */
  async inSandbox(sandboxId: string, call?: CallOptions): Promise<ContainerRecord[]> {
    if (!this.isLive) await this.resync(call);
    const out: ContainerRecord[] = [];
    for (const id of this.bySandbox.get(sandboxId) ?? []) {
      const record = this.records.get(id);
      if (record) out.push(record);
    }
    return out;
  }

  /**
   * Finds a container of the given kind by full id or unique id prefix, as Docker accepts.
   * NotFound names the id for an unknown or ambiguous one; the entry is read fresh from Docker
   * (for the write paths, which act on the state; status calls use `current`).
   */
  async resolve(idOrPrefix: string, kind: string, what: string, call?: CallOptions): Promise<ContainerRecord> {
    if (!idOrPrefix) throw invalidArgument(`${what} id is empty`);
    if (!this.isLive) await this.resync(call);
    const matches = [...this.records.values()].filter(
      (r) => r.Id.startsWith(idOrPrefix) && r.Config?.Labels?.[LABEL_TYPE] === kind,
    );
    if (matches.length > 1) throw notFound(`${what} id prefix "${idOrPrefix}" is ambiguous (${matches.length} matches)`);
    const fresh = matches.length === 1 ? await this.refresh(matches[0].Id, call) : undefined;
    if (!fresh || fresh.Config?.Labels?.[LABEL_TYPE] !== kind) throw notFound(`${what} "${idOrPrefix}" not found`);
    return fresh;
  }

  /**
   * The index record of a container of the given kind, for status calls: no Docker request on
   * the hot path. The record is as new as the newest event Docker delivered before the call:
   * every event but exec_* re-inspects its container (`onEvent`), a call that finds such an
   * inspect under way waits for it, and the shim's own writes (create, start, stop, update)
   * refresh their entry before they return, removals drop it. While the event stream is down
   * nothing says the record is current, so the container is inspected as `resolve` does.
   */
  async current(idOrPrefix: string, kind: string, what: string, call?: CallOptions): Promise<ContainerRecord> {
    if (!idOrPrefix) throw invalidArgument(`${what} id is empty`);
    if (!this.isLive) return this.resolve(idOrPrefix, kind, what, call);
    const id = this.matchOne(idOrPrefix, kind, what);
    const pending = id ? this.pending.get(id) : undefined;
    if (pending) await pending;
    const record = id ? this.records.get(id) : undefined;
    if (!record || record.Config?.Labels?.[LABEL_TYPE] !== kind) throw notFound(`${what} "${idOrPrefix}" not found`);
    return record;
  }

  private matchOne(idOrPrefix: string, kind: string, what: string): string | undefined {
    const exact = this.records.get(idOrPrefix);
    if (exact) return exact.Config?.Labels?.[LABEL_TYPE] === kind ? exact.Id : undefined;
    let found: string | undefined;
    let count = 0;
    for (const r of this.records.values()) {
      if (r.Id.startsWith(idOrPrefix) && r.Config?.Labels?.[LABEL_TYPE] === kind) {
        found = r.Id;
        count++;
      }
    }
    if (count > 1) throw notFound(`${what} id prefix "${idOrPrefix}" is ambiguous (${count} matches)`);
    return found;
  }

  /**
   * The record of a container the shim just changed, once it shows the change (`shows`): the
   * event Docker sends for the change (logged before dockerd answers) makes the index inspect
   * it anyway, so the write path waits for that inspect instead of making its own. Inspects
   * itself when the event stream is down, when the container went away meanwhile, or when no
   * such record came within EVENT_WAIT_MS (an event stream that stalled without breaking).
   */
  async changed(id: string, shows: (record: ContainerRecord) => boolean, call?: CallOptions): Promise<ContainerRecord | undefined> {
    if (this.isLive) {
      const pending = this.pending.get(id);
      if (pending) await pending;
      const now = this.records.get(id);
      if (now && shows(now)) return now;
      const seen = await new Promise<ContainerRecord | undefined>((resolve) => {
        const waiters = this.waiters.get(id) ?? new Set();
        this.waiters.set(id, waiters);
        const done = (record: ContainerRecord | undefined) => {
          clearTimeout(timer);
          call?.signal?.removeEventListener('abort', onAbort);
          waiters.delete(waiter);
          if (waiters.size === 0 && this.waiters.get(id) === waiters) this.waiters.delete(id);
          resolve(record);
        };
        // Called with each new record of the container, and with undefined when it is gone or
        // the event stream broke (nothing more will come).
        const waiter = (record: ContainerRecord | undefined) => {
          if (!record || shows(record)) done(record);
        };
        const onAbort = () => done(undefined);
        const timer = setTimeout(onAbort, EVENT_WAIT_MS);
        waiters.add(waiter);
        call?.signal?.addEventListener('abort', onAbort, { once: true });
      });
      if (seen) return seen;
    }
    return this.refresh(id, call);
  }

  /** Re-reads one container from Docker (after the shim changed it) and returns the fresh record. */
  async refresh(id: string, call?: CallOptions): Promise<ContainerRecord | undefined> {
    const mySeq = ++this.seq;
    let info: ContainerRecord | undefined;
    this.inflight.set(id, (this.inflight.get(id) ?? 0) + 1);
    try {
      info = await this.engine.inspect(id, call);
    } catch (err) {
      this.landed(id);
      this.releaseRemovalMark(id);
      throw err;
    }
    this.landed(id);
    if ((this.applied.get(id) ?? 0) > mySeq) {
      this.releaseRemovalMark(id);
      return this.records.get(id);
    }
    if (info && info.Config?.Labels?.[LABEL_TYPE]) {
      this.applied.set(id, mySeq);
      this.put(info);
    } else {
      this.forget(id);
    }
    return info;
  }

  private landed(id: string): void {
    const left = (this.inflight.get(id) ?? 1) - 1;
    if (left > 0) this.inflight.set(id, left);
    else this.inflight.delete(id);
  }

  /**
   * A removed container's `applied` mark guards against inspects that were under way at its
   * removal; once the last of them has landed it guards nothing, and would stay forever.
   */
  private releaseRemovalMark(id: string): void {
    if (!this.inflight.has(id) && !this.records.has(id)) this.applied.delete(id);
  }

  /** Removes an entry the shim just deleted, without waiting for the event. */
  forget(id: string): void {
    // Remembered only while an older inspect of it is still under way and must not re-add it;
    // otherwise dropped, so removed containers leave nothing behind in the index.
    if (this.inflight.has(id)) this.applied.set(id, ++this.seq);
    else this.applied.delete(id);
    this.drop(id);
  }

  private put(info: ContainerRecord): void {
    const previous = this.records.get(info.Id);
    this.records.set(info.Id, info);
    const sandbox = sandboxOf(info);
    if (sandbox !== undefined) {
      let ids = this.bySandbox.get(sandbox);
      if (!ids) this.bySandbox.set(sandbox, (ids = new Set()));
      ids.add(info.Id);
    }
    this.emit('updated', info, previous);
    const waiters = this.waiters.get(info.Id);
    if (waiters) for (const w of [...waiters]) w(info);
  }

  private drop(id: string): void {
    const previous = this.records.get(id);
    if (!previous) return;
    this.records.delete(id);
    const sandbox = sandboxOf(previous);
    if (sandbox !== undefined) {
      const ids = this.bySandbox.get(sandbox);
      if (ids?.delete(id) && ids.size === 0) this.bySandbox.delete(sandbox);
    }
    this.emit('removed', id, previous);
    const waiters = this.waiters.get(id);
    if (waiters) for (const w of [...waiters]) w(undefined);
  }

  /** Full rebuild: list our containers, inspect new or changed ones, drop vanished ones. */
  resync(call?: CallOptions): Promise<void> {
    let run = this.resyncing;
    // One every caller gave up on is not joined: its requests are being dropped.
    if (!run || run.controller.signal.aborted) {
      const controller = new AbortController();
      const started = { controller, waiting: 0, kept: false, done: this.doResync({ signal: controller.signal }) };
      started.done = started.done.finally(() => {
        if (this.resyncing === started) this.resyncing = undefined;
      });
      this.resyncing = run = started;
    }
    const signal = call?.signal;
    if (!signal) {
      run.kept = true;
      return run.done;
    }
    const joined = run;
    joined.waiting++;
    const leave = () => {
      if (--joined.waiting === 0 && !joined.kept) joined.controller.abort(signal.reason);
    };
    if (signal.aborted) leave();
    else signal.addEventListener('abort', leave, { once: true });
    return abortable(joined.done, signal).finally(() => signal.removeEventListener('abort', leave));
  }

  private async doResync(call: CallOptions): Promise<void> {
    // Entries inspected after the list was asked for (a container the shim created meanwhile)
    // are newer than the list: they must not be dropped for being absent from it.
    const listedAtSeq = this.seq;
    const listed = await this.engine.list({ label: [LABEL_TYPE] }, call);
    const seen = new Set<string>();
    const stale: string[] = [];
    for (const c of listed) {
      seen.add(c.Id);
      const known = this.records.get(c.Id);
      if (!known || known.State.Status !== c.State) stale.push(c.Id);
    }
    await Promise.all(stale.map((id) => this.refresh(id, call)));
    for (const id of [...this.records.keys()]) {
      if (!seen.has(id) && (this.applied.get(id) ?? 0) <= listedAtSeq) this.forget(id);
    }
  }

  private onEvent(ev: DockerEvent): void {
    const id = ev.id;
    const action = ev.Action ?? ev.status ?? '';
    if (!id) return;
    // These change nothing an inspect shows (a kill only signals; die and stop follow when the
    // process exits): skip the inspect they would cost, three per stopped pod on a busy node.
    if (action.startsWith('exec_') || NO_STATE_CHANGE.has(action)) return;
    if (action === 'destroy') {
      this.forget(id);
      return;
    }
    // One change comes as several events (a stop: die, then stop): an event that finds this
    // container's inspect not started yet rides on it; one that finds it under way asks for
    // one more after it (the inspect under way may have read the state before the change).
    const queued = this.eventReads.get(id);
    if (queued) {
      if (queued.started) queued.again = true;
      return;
    }
    const entry = { started: false, again: false };
    this.eventReads.set(id, entry);
    const read = (async () => {
      // Lets the rest of this chunk of the event stream (a die and its stop) join this inspect.
      await Promise.resolve();
      do {
        entry.started = true;
        entry.again = false;
        await this.refresh(id).catch((err: unknown) => {
          this.logger.warn({ err, id }, 'could not inspect container after Docker event');
        });
      } while (entry.again);
    })().finally(() => {
      if (this.eventReads.get(id) === entry) this.eventReads.delete(id);
      if (this.pending.get(id) === read) this.pending.delete(id);
    });
    this.pending.set(id, read);
  }
}

function sandboxOf(record: ContainerRecord): string | undefined {
  const labels = record.Config?.Labels;
  return labels?.[LABEL_TYPE] === TYPE_CONTAINER ? labels[LABEL_SANDBOX_ID] : undefined;
}
