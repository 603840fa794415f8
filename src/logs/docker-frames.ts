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

const TIMESTAMP_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
/** Longest "<RFC3339Nano> " prefix Docker writes (with a zone offset), with room to spare. */
const MAX_STAMP_BYTES = 41;

/** Length of the "<timestamp> " at `off`: 0 when there is none, undefined when more bytes are needed. */
function stampAt(buf: Buffer, off: number, final: boolean): number | undefined {
  const window = buf.subarray(off, off + MAX_STAMP_BYTES);
  const sp = window.indexOf(0x20);
  if (sp < 0) return window.length < MAX_STAMP_BYTES && !final ? undefined : 0;
  return TIMESTAMP_RE.test(window.subarray(0, sp).toString('latin1')) ? sp + 1 : 0;
}

/**
 * The log stream of a tty container read with timestamps=1: no frames, one "<timestamp> " per
 * Docker log message. Docker's copier makes a message of every line (newline included) and cuts
 * a longer line into messages of `partialBytes` (its 16 KiB buffer); a message ends at its
 * newline, or after that many bytes when a timestamp follows. Gives back each message whole,
 * with its stamp, as a frame of stdout.
 */
export class TtyMessageParser {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly partialBytes: number) {}

  push(chunk: Buffer): Frame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    return this.take(false);
  }

  /** The stream ended: what is left is its last message. */
  end(): Frame[] {
    const frames = this.take(true);
    if (this.buffered.length > 0) frames.push({ stream: 'stdout', payload: this.buffered });
    this.buffered = Buffer.alloc(0);
    return frames;
  }

  private take(final: boolean): Frame[] {
    const frames: Frame[] = [];
    let off = 0;
    while (off < this.buffered.length) {
      const stamp = stampAt(this.buffered, off, final);
      if (stamp === undefined) break;
      const start = off + stamp;
      const nl = this.buffered.indexOf(NL, start);
      let end: number;
      if (nl >= 0 && nl - start < this.partialBytes) {
        end = nl + 1;
      } else if (this.buffered.length - start < this.partialBytes + (final ? 0 : MAX_STAMP_BYTES)) {
        break;
      } else {
        // A cut line is followed by the next message's stamp; without one (a driver with a
        // larger buffer), the message goes on to its newline.
        const cut = start + this.partialBytes;
        const next = stampAt(this.buffered, cut, final);
        if (next === undefined) break;
        if (next > 0) end = cut;
        else if (nl >= 0) end = nl + 1;
        // Never hold more than the largest message a Docker log driver makes (local: 1 MB).
        else if (this.buffered.length - start >= MAX_HELD_BYTES) end = this.buffered.length;
        else break;
      }
      frames.push({ stream: 'stdout', payload: this.buffered.subarray(off, end) });
      off = end;
    }
    this.buffered = this.buffered.subarray(off);
    return frames;
  }
}

const NL = 0x0a;
const MAX_HELD_BYTES = 1024 * 1024 + MAX_STAMP_BYTES;
