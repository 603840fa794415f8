// Writes one container's output to its CRI log file. Docker keeps the output (json-file or
// its local cache); the shim follows GET /containers/{id}/logs?follow=1 from StartContainer
// until the container exits and the stream ends, and appends CRI records to the file.
// Reading waits on every file write, so a container that prints faster than the disk takes
// it is slowed by Docker's buffers, never by unbounded memory in the shim.
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Logger } from '../logger.js';
import { formatRecord, LineSplitter, nowRfc3339Nano, type LogEntry, type LogStream } from './cri-format.js';
import { FrameParser, splitTimestamp } from './docker-frames.js';

export const LOG_FILE_MODE = 0o640;

export interface ContainerLogOptions {
  docker: Dockerode;
  containerId: string;
  path: string;
  tty: boolean;
  logger: Logger;
  /** Only output after this time (RFC3339Nano or unix seconds); for resuming. */
  since?: string;
}

export class ContainerLog {
  private file: FileHandle | undefined;
  private stream: Readable | undefined;
  private stopped = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly splitters: Record<LogStream, LineSplitter> = { stdout: new LineSplitter(), stderr: new LineSplitter() };
  /** Settles when the stream has ended and everything is in the file. */
  readonly done: Promise<void>;
  /** Time of the newest output written (Docker's clock when it gave one). */
  lastTime: string | undefined;

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
      const container = this.opts.docker.getContainer(this.opts.containerId);
      // A tty has no frames to carry Docker's timestamps per message: stamp on arrival.
      const withTimestamps = !this.opts.tty;
      this.stream = (await container.logs({
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: withTimestamps,
        ...(this.opts.since ? { since: this.opts.since } : {}),
      } as Dockerode.ContainerLogsOptions & { follow: true })) as unknown as Readable;
      if (this.stopped) this.stream.destroy();
      const parser = new FrameParser();
      for await (const chunk of this.stream as AsyncIterable<Buffer>) {
        if (this.opts.tty) {
          await this.write('stdout', this.splitters.stdout.push(chunk, nowRfc3339Nano()));
          continue;
        }
        const records: Buffer[] = [];
        for (const frame of parser.push(chunk)) {
          const { time, text } = splitTimestamp(frame.payload);
          const t = time ?? nowRfc3339Nano();
          this.lastTime = t;
          for (const e of this.splitters[frame.stream].push(text, t)) records.push(formatRecord(frame.stream, e));
        }
        if (records.length > 0) await this.append(Buffer.concat(records));
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

  private async write(stream: LogStream, entries: LogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.lastTime = entries[entries.length - 1].time;
    await this.append(Buffer.concat(entries.map((e) => formatRecord(stream, e))));
  }

  private append(data: Buffer): Promise<void> {
    return this.serially(async () => {
      await this.file?.write(data);
    });
  }

  /** File writes and reopen() run one at a time, so a write never lands on a closed handle. */
  private serially(fn: () => Promise<void>): Promise<void> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
