// Writes one container's output to its CRI log file. Docker keeps the output (json-file or
// its local cache); the shim follows GET /containers/{id}/logs?follow=1 from StartContainer
// until the container exits and the stream ends, and appends CRI records to the file.
// Reading waits on every file write, so a container that prints faster than the disk takes
// it is slowed by Docker's buffers, never by unbounded memory in the shim.
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ContainerLogsOptions, Engine } from '../docker/engine.js';
import { isConnectionError } from '../errors.js';
import type { Logger } from '../logger.js';
import { formatRecord, LineSplitter, MAX_RECORD_BYTES, nowRfc3339Nano, type LogEntry, type LogStream } from './cri-format.js';
import { FrameParser, splitTimestamp, TtyMessageParser, type Frame } from './docker-frames.js';

export const LOG_FILE_MODE = 0o640;
const NEWLINE = 0x0a;
/** Pause before following again a container whose stream ended while it still ran. */
const REFOLLOW_DELAY_MS = 100;
/** Pause between tries while dockerd cannot be reached. */
const RECONNECT_DELAY_MS = 500;
/** Pauses between tries of a write the disk refused for want of space: doubling up to the last. */
const WRITE_RETRY_FIRST_MS = 100;
const WRITE_RETRY_MAX_MS = 5_000;
/** Write errors that pass once the disk has room again. */
const RETRYABLE_WRITE = new Set(['ENOSPC', 'EDQUOT']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ContainerLogOptions {
  docker: Engine;
  containerId: string;
  path: string;
  tty: boolean;
  logger: Logger;
  /** Only output from this time on (Docker's unix seconds.nanoseconds); for resuming a file. */
  since?: string;
}

/**
 * Per stream, while it is skipping what was already written: how many messages of the newest
 * time written are still to skip (undefined: not skipping, every message is new).
 */
type CatchUp = Record<LogStream, number | undefined>;

export class ContainerLog {
  private file: FileHandle | undefined;
  private stream: Readable | undefined;
  private stopped = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly splitters: Record<LogStream, LineSplitter> = { stdout: new LineSplitter(), stderr: new LineSplitter() };
  /** Settles when the stream has ended and everything is in the file. */
  readonly done: Promise<void>;
  /** Time of the newest output written (Docker's clock when it gave one). */
  private lastTime: string | undefined;
  /**
   * Per stream, the newest Docker timestamp written (RFC3339NanoFixed sorts as text), how many
   * messages had it (the pieces of a line cut at 16 KiB share one), and whether the last of them
   * ended its line: then no new message of that stream can carry that time again.
   */
  private readonly seen: Record<LogStream, { time: string | undefined; count: number; complete: boolean }> = {
    stdout: { time: undefined, count: 0, complete: false },
    stderr: { time: undefined, count: 0, complete: false },
  };
  private newestTime: string | undefined;

  constructor(private readonly opts: ContainerLogOptions) {
    this.done = this.run().catch((err: unknown) => {
      if (!this.stopped) opts.logger.warn({ err, id: opts.containerId, path: opts.path }, 'container log follower failed');
    });
  }

  /** Stops following; what was read is written. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.destroy();
    await this.done;
  }

  /** Closes the file and opens the path again (after the kubelet rotated it). */
  reopen(): Promise<void> {
    return this.serially(async () => {
      if (!this.file) return;
      const old = this.file;
      this.file = await open(this.opts.path, 'a', LOG_FILE_MODE);
      await old.close();
    });
  }

  private async run(): Promise<void> {
    this.file = await open(this.opts.path, 'a', LOG_FILE_MODE);
    try {
      await this.follow(false);
      // Docker 20.10's follow stream can end before the last messages of a container that is
      // exiting: they reach its log a moment later. Once Docker has the container stopped (its
      // log closed), read the tail again without follow; while it still runs, follow again.
      // While dockerd cannot be reached, keep trying: with live-restore the container runs on.
      while (!this.stopped) {
        let state: 'running' | 'stopped' | 'gone';
        try {
          state = await this.containerState();
        } catch (err) {
          if (!isConnectionError(err)) throw err;
          await sleep(RECONNECT_DELAY_MS);
          continue;
        }
        if (state === 'gone') break;
        if (state === 'stopped') {
          try {
            await this.copy(await this.logStream(false), true);
            break;
          } catch (err) {
            if (!isConnectionError(err)) throw err;
            await sleep(RECONNECT_DELAY_MS);
            continue;
          }
        }
        await sleep(REFOLLOW_DELAY_MS);
        await this.follow(true);
      }
    } catch (err) {
      // Destroying the stream on stop() rejects the loop: that is the normal end then.
      if (!this.stopped) throw err;
    } finally {
      const t = nowRfc3339Nano();
      await this.write('stdout', this.splitters.stdout.end(this.lastTime ?? t)).catch(() => undefined);
      await this.write('stderr', this.splitters.stderr.end(this.lastTime ?? t)).catch(() => undefined);
      await this.serially(async () => {
        await this.file?.close();
        this.file = undefined;
      });
    }
  }

  /** Follows the output until the stream ends or breaks (a broken connection is retried by run()). */
  private async follow(catchingUp: boolean): Promise<void> {
    try {
      await this.copy(await this.logStream(true), catchingUp);
    } catch (err) {
      if (this.stopped || !isConnectionError(err)) throw err;
    }
  }

  private async containerState(): Promise<'running' | 'stopped' | 'gone'> {
    const info = await this.opts.docker.inspect(this.opts.containerId);
    if (!info) return 'gone';
    return info.State.Running ? 'running' : 'stopped';
  }

  private async logStream(follow: boolean): Promise<Readable> {
    // With a tty too: each message then starts with Docker's time, which is what a catch-up
    // (and a resume) skips by; bytes would not do once Docker's own log has rotated.
    const options: ContainerLogsOptions = { stdout: true, stderr: true, timestamps: true };
    if (this.opts.since) options.since = this.opts.since;
    // A second read only needs the tail: from a second before the newest message seen (never
    // before where a resumed file starts).
    const tail = this.newestTime ? Math.floor(Date.parse(this.newestTime) / 1000) - 1 : undefined;
    if (tail !== undefined && tail > Number(this.opts.since ?? 0)) options.since = tail;
    return this.opts.docker.logs(this.opts.containerId, { ...options, follow });
  }

  /**
   * Copies Docker's output into the file. When catching up, what was already written is
   * skipped: per stream, messages older than the newest one seen, and as many messages of
   * exactly that time as were seen.
   */
  private async copy(stream: Readable, catchingUp: boolean): Promise<void> {
    this.stream = stream;
    if (this.stopped) stream.destroy();
    const parser = this.opts.tty ? new TtyMessageParser(MAX_RECORD_BYTES) : new FrameParser();
    const skip: CatchUp = { stdout: undefined, stderr: undefined };
    if (catchingUp) this.skipWritten(skip);
    for await (const chunk of stream as AsyncIterable<Buffer>) await this.copyFrames(parser.push(chunk), skip);
    if (parser instanceof TtyMessageParser) await this.copyFrames(parser.end(), skip);
  }

  private async copyFrames(frames: Frame[], skip: CatchUp): Promise<void> {
    const records: Buffer[] = [];
    for (const frame of frames) {
      const { time, text } = splitTimestamp(frame.payload);
      if (time && this.written(frame.stream, time, skip)) continue;
      const complete = text.length > 0 && text[text.length - 1] === NEWLINE;
      if (time) this.note(frame.stream, time, complete);
      const t = time ?? nowRfc3339Nano();
      this.lastTime = t;
      const splitter = this.splitters[frame.stream];
      for (const e of splitter.push(text, t)) records.push(formatRecord(frame.stream, e));
      // Docker cuts a message without a newline only when its 16 KiB buffer is full or the
      // stream hit EOF: a shorter one is the last output of that stream, a line of its own.
      if (text.length > 0 && text.length < MAX_RECORD_BYTES && !complete) {
        for (const e of splitter.end(t)) records.push(formatRecord(frame.stream, e));
      }
    }
    if (records.length > 0) await this.append(Buffer.concat(records));
  }

  /**
   * Whether a message of this time on this stream is one already in the file. Docker 20.10's
   * json-file follower reads a file again from its start in the middle of a follow stream: after
   * each rotation it takes the new, smaller file for a truncated one. Its messages then come
   * again: older than the newest one written, or (when the follower had read just one message
   * of the new file) that very message, whose line was complete. Either starts a skip on every
   * stream, and each rotation starts a new one. Docker stamps each stream's messages in order,
   * so only a wall clock set back could look alike.
   */
  private written(stream: LogStream, time: string, skip: CatchUp): boolean {
    const seen = this.seen[stream];
    const left = skip[stream];
    if (!seen.time || time > seen.time || (time === seen.time && !seen.complete && !left)) {
      // Newer than what was written, or the next piece of a line cut at 16 KiB.
      skip[stream] = undefined;
      return false;
    }
    if (left === undefined) this.skipWritten(skip);
    if (time === seen.time) skip[stream] = Math.max(0, skip[stream]! - 1);
    return true;
  }

  /** Skips, on each stream not skipping yet, what was written: as many messages of its newest time as it had. */
  private skipWritten(skip: CatchUp): void {
    for (const stream of ['stdout', 'stderr'] as const) skip[stream] ??= this.seen[stream].count;
  }

  /** Remembers a new message's Docker time (never older than the stream's newest): how many carried it, whether the last ended its line. */
  private note(stream: LogStream, time: string, complete: boolean): void {
    const seen = this.seen[stream];
    seen.count = time === seen.time ? seen.count + 1 : 1;
    seen.time = time;
    seen.complete = complete;
    if (!this.newestTime || time > this.newestTime) this.newestTime = time;
  }

  private async write(stream: LogStream, entries: LogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.lastTime = entries[entries.length - 1].time;
    await this.append(Buffer.concat(entries.map((e) => formatRecord(stream, e))));
  }

  /**
   * Appends records to the file. A full disk (or quota) is waited out: the bytes not yet written
   * are tried again, after a pause, on whatever file is open then (a ReopenContainerLog may run
   * in between), so nothing is written twice or lost. Meanwhile reading waits, and Docker keeps
   * the output.
   */
  private async append(data: Buffer): Promise<void> {
    let rest = data;
    let delay = WRITE_RETRY_FIRST_MS;
    let waiting = false;
    for (;;) {
      try {
        await this.serially(async () => {
          while (rest.length > 0 && this.file) {
            const { bytesWritten } = await this.file.write(rest);
            rest = rest.subarray(bytesWritten);
          }
        });
        if (waiting) this.opts.logger.info({ id: this.opts.containerId, path: this.opts.path }, 'the CRI log file takes writes again');
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (this.stopped || !RETRYABLE_WRITE.has(code)) throw err;
        if (!waiting) this.opts.logger.warn({ id: this.opts.containerId, path: this.opts.path, code }, 'cannot write the CRI log file; retrying until it takes writes');
        waiting = true;
        await sleep(delay);
        delay = Math.min(delay * 2, WRITE_RETRY_MAX_MS);
      }
    }
  }

  /** File writes and reopen() run one at a time, so a write never lands on a closed handle. */
  private serially(fn: () => Promise<void>): Promise<void> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
