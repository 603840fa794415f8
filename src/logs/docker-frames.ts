// Docker's multiplexed stream (logs/attach of a container without a tty): every frame is an
// 8-byte header (byte 0: 1 stdout, 2 stderr; bytes 4-7: big-endian payload length) and the
// payload. With timestamps=1 each frame is one log message: "<RFC3339Nano> <text>".
import type { LogStream } from './cri-format.js';

export interface Frame {
  stream: LogStream;
  payload: Buffer;
}

const HEADER_BYTES = 8;

/** Incremental parser: feed it chunks as they arrive, get back the complete frames. */
export class FrameParser {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    let off = 0;
    while (this.buffered.length - off >= HEADER_BYTES) {
      const size = this.buffered.readUInt32BE(off + 4);
      if (this.buffered.length - off - HEADER_BYTES < size) break;
      const kind = this.buffered[off];
      const payload = this.buffered.subarray(off + HEADER_BYTES, off + HEADER_BYTES + size);
      // 0 (stdin) never carries output; anything but 2 is treated as stdout.
      if (kind !== 0) frames.push({ stream: kind === 2 ? 'stderr' : 'stdout', payload });
      off += HEADER_BYTES + size;
    }
    this.buffered = this.buffered.subarray(off);
    return frames;
  }

  /** Bytes of an unfinished frame still held. */
  get pendingBytes(): number {
    return this.buffered.length;
  }
}

/** Splits "<timestamp> <text>" as Docker sends it with timestamps=1. */
export function splitTimestamp(payload: Buffer): { time: string | undefined; text: Buffer } {
  const sp = payload.indexOf(0x20);
  if (sp > 0 && sp <= 40) {
    const time = payload.subarray(0, sp).toString('latin1');
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(time)) return { time, text: payload.subarray(sp + 1) };
  }
  return { time: undefined, text: payload };
}
