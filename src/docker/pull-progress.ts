// --image-pull-progress-deadline: cancels a pull whose progress stream has gone quiet. The
// clock restarts on every sign of progress (a layer's new status or more bytes), never on a
// total: a 5 GB pull that keeps moving is never cut off, the mistake cri-dockerd fixed in
// 0.2.6 and 0.4.0. Destroying the response stream makes dockerd abandon the pull.
import type { Readable } from 'node:stream';
import { deadlineExceeded } from '../errors.js';

/** The fields of one Docker pull progress line that tell whether it moved. */
export interface PullProgressLine {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
}

export class PullProgressWatchdog {
  private readonly last = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  /** `deadlineMs` 0 disables the watchdog; `onStall` hears of every pull it cancels (metrics). */
  constructor(
    private readonly stream: Readable,
    private readonly deadlineMs: number,
    private readonly image: string,
    private readonly onStall: () => void = () => undefined,
  ) {
    this.arm();
  }

  /** Feed every parsed progress line; only a changed status or byte count restarts the clock. */
  observe(line: PullProgressLine): void {
    const key = line.id ?? '';
    const state = `${line.status ?? ''}\0${line.progressDetail?.current ?? ''}`;
    if (this.last.get(key) === state) return;
    this.last.set(key, state);
    this.arm();
  }

  /** Call when the pull ended, however it ended. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.deadlineMs <= 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.onStall();
      this.stream.destroy(
        deadlineExceeded(
          `pull image "${this.image}" cancelled: no progress for ${this.deadlineMs / 1000}s (--image-pull-progress-deadline)`,
        ),
      );
    }, this.deadlineMs);
  }
}
