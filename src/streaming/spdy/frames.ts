// SPDY/3.1 framing: the binary frame layout, header blocks and their zlib compression.
// Only what a server of Kubernetes streams needs: streams are opened by the client.
import zlib from 'node:zlib';
import { MAX_SPDY_FRAME_BYTES, MAX_SPDY_HEADER_BLOCK_BYTES, kib } from '../limits.js';
import { SPDY3_DICTIONARY } from './dictionary.js';

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

export const GoAwayStatus = {
  OK: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
} as const;

/** A peer went past one of the caps in ../limits.ts; `cap` names it for the peer and the log. */
export class SpdyCapError extends Error {
  constructor(
    readonly cap: string,
    message: string,
  ) {
    super(`${message} (cap ${cap})`);
    this.name = 'SpdyCapError';
  }
}

/** A frame that breaks SPDY/3.1's own rules (a payload too short for its type, ...). */
export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

/** Fixed part of each control frame's payload (SPDY/3.1 section 2.6): shorter is a protocol error. */
export const MIN_CONTROL_PAYLOAD: Readonly<Record<number, number>> = {
  [FrameType.SYN_STREAM]: 10,
  [FrameType.SYN_REPLY]: 4,
  [FrameType.RST_STREAM]: 8,
  [FrameType.SETTINGS]: 4,
  [FrameType.PING]: 4,
  [FrameType.GOAWAY]: 8,
  [FrameType.HEADERS]: 4,
  [FrameType.WINDOW_UPDATE]: 8,
};

export const SETTINGS_INITIAL_WINDOW_SIZE = 7;
/** Initial stream and session window of SPDY/3.1. */
export const DEFAULT_WINDOW = 64 * 1024;

export type Headers = Map<string, string>;

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'control'; type: number; flags: number; payload: Buffer }
  /** A data frame longer than the cap: its payload is skipped as it arrives, never buffered. */
  | { kind: 'oversized-data'; streamId: number; length: number };

/**
 * Splits a byte stream into frames, handing each to `onFrame` as it is found; keeps the partial
 * tail until the rest arrives. Frames are views of the chunks they came in, and nothing else is
 * allocated for a frame that arrived whole: a chunk of thousands of tiny frames (a ping flood)
 * must not cost thousands of buffers. A frame longer than `maxFrameBytes` is never buffered: a
 * data frame's payload is discarded as it arrives (reported once, as 'oversized-data'), a
 * control frame throws SpdyCapError (its header block would leave the session's zlib context
 * out of step). An error thrown by `onFrame` stops the chunk there.
 */
export class FrameParser {
  /** The bytes so far of a frame begun in an earlier chunk; tail[0] holds its header once 8 bytes are in. */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private skipping = 0;

  constructor(private readonly maxFrameBytes = MAX_SPDY_FRAME_BYTES) {}

  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    let off = 0;
    for (;;) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, chunk.length - off);
        this.skipping -= n;
        off += n;
      }
      if (off === chunk.length) return;
      if (this.tailBytes > 0) {
        off = this.completeTail(chunk, off, onFrame);
        continue;
      }
      const size = chunk.length - off < 8 ? -1 : this.frameSize(chunk, off, onFrame);
      if (size === 0) {
        off += 8;
        continue;
      }
      if (size < 0 || chunk.length - off < size) {
        this.keep(chunk.subarray(off));
        return;
      }
      this.emit(chunk, off, size, onFrame);
      off += size;
    }
  }

  /**
   * The whole size of the frame whose header is at `at`; 0 for a data frame past the cap
   * (reported, its payload to be skipped); throws for a control frame past the cap.
   */
  private frameSize(buf: Buffer, at: number, onFrame: (f: Frame) => void): number {
    const length = buf.readUInt32BE(at + 4) & 0xffffff;
    if (length <= this.maxFrameBytes) return 8 + length;
    if (buf[at] & 0x80) {
      throw new SpdyCapError('MAX_SPDY_FRAME_BYTES', `control frame of ${length} bytes is larger than ${kib(this.maxFrameBytes)}`);
    }
    this.skipping = length;
    onFrame({ kind: 'oversized-data', streamId: buf.readUInt32BE(at) & 0x7fffffff, length });
    return 0;
  }

  /** Adds to the tail the bytes of `chunk` from `off` that the frame begun earlier needs; emits it once whole. */
  private completeTail(chunk: Buffer, off: number, onFrame: (f: Frame) => void): number {
    if (this.tailBytes < 8) {
      const n = Math.min(8 - this.tailBytes, chunk.length - off);
      this.keep(chunk.subarray(off, off + n));
      off += n;
      if (this.tailBytes < 8) return off;
      this.tail = [Buffer.concat(this.tail, 8)];
    }
    const size = this.frameSize(this.tail[0], 0, onFrame);
    if (size === 0) {
      this.tail = [];
      this.tailBytes = 0;
      return off;
    }
    const n = Math.min(size - this.tailBytes, chunk.length - off);
    if (n > 0) this.keep(chunk.subarray(off, off + n));
    off += n;
    if (this.tailBytes < size) return off;
    const whole = this.tail.length === 1 ? this.tail[0] : Buffer.concat(this.tail, size);
    this.tail = [];
    this.tailBytes = 0;
    this.emit(whole, 0, size, onFrame);
    return off;
  }

  private keep(bytes: Buffer): void {
    this.tail.push(bytes);
    this.tailBytes += bytes.length;
  }

  private emit(buf: Buffer, at: number, size: number, onFrame: (f: Frame) => void): void {
    const flags = buf[at + 4];
    const body = buf.subarray(at + 8, at + size);
    if (buf[at] & 0x80) onFrame({ kind: 'control', type: buf.readUInt16BE(at + 2), flags, payload: body });
    else onFrame({ kind: 'data', streamId: buf.readUInt32BE(at) & 0x7fffffff, flags, data: body });
  }
}

/** Bytes of a PING frame; RST_STREAM, WINDOW_UPDATE and GOAWAY frames are 16. */
export const PING_FRAME_BYTES = 12;
export const STREAM_STATUS_FRAME_BYTES = 16;

/**
 * The control frames a session sends most (pongs, resets, window updates) are written in place
 * into a buffer the caller owns, `at` bytes in: many go out in one write with one allocation.
 */
export type ControlFrameWriter = (b: Buffer, at: number, id: number, value: number) => void;

function writeControlHeader(b: Buffer, at: number, type: number, flags: number, length: number): void {
  b.writeUInt16BE(0x8000 | SPDY_VERSION, at);
  b.writeUInt16BE(type, at + 2);
  b.writeUInt32BE((((flags & 0xff) << 24) | length) >>> 0, at + 4);
}

/** Writes a stream id and a 32-bit value after a control header: RST_STREAM, WINDOW_UPDATE, GOAWAY. */
function writeIdAndValue(b: Buffer, at: number, type: number, id: number, value: number): void {
  writeControlHeader(b, at, type, 0, 8);
  b.writeUInt32BE(id & 0x7fffffff, at + 8);
  b.writeUInt32BE(value >>> 0, at + 12);
}

export const writePing: ControlFrameWriter = (b, at, id) => {
  writeControlHeader(b, at, FrameType.PING, 0, 4);
  b.writeUInt32BE(id >>> 0, at + 8);
};

export const writeRstStream: ControlFrameWriter = (b, at, streamId, status) => writeIdAndValue(b, at, FrameType.RST_STREAM, streamId, status);

export const writeWindowUpdate: ControlFrameWriter = (b, at, streamId, delta) => writeIdAndValue(b, at, FrameType.WINDOW_UPDATE, streamId, delta & 0x7fffffff);

/** One frame in a buffer of its own (small ones come from Node's pool). */
function encode(bytes: number, write: ControlFrameWriter, id: number, value: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  write(b, 0, id, value);
  return b;
}

export function dataFrame(streamId: number, data: Buffer, fin: boolean): Buffer[] {
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | data.length, 4);
  return data.length ? [h, data] : [h];
}

export function synReplyFrame(streamId: number, compressedHeaders: Buffer, fin: boolean): Buffer {
  const b = Buffer.allocUnsafe(12 + compressedHeaders.length);
  writeControlHeader(b, 0, FrameType.SYN_REPLY, fin ? FLAG_FIN : 0, 4 + compressedHeaders.length);
  b.writeUInt32BE(streamId & 0x7fffffff, 8);
  compressedHeaders.copy(b, 12);
  return b;
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  return encode(STREAM_STATUS_FRAME_BYTES, writeRstStream, streamId, status);
}

export function windowUpdateFrame(streamId: number, delta: number): Buffer {
  return encode(STREAM_STATUS_FRAME_BYTES, writeWindowUpdate, streamId, delta);
}

export function pingFrame(id: number): Buffer {
  return encode(PING_FRAME_BYTES, writePing, id, 0);
}

export function goAwayFrame(lastGoodStreamId: number, status: number): Buffer {
  return encode(STREAM_STATUS_FRAME_BYTES, (b, at, id, value) => writeIdAndValue(b, at, FrameType.GOAWAY, id, value), lastGoodStreamId, status);
}

/** SETTINGS payload -> id/value pairs (flags dropped). */
export function parseSettings(payload: Buffer): Map<number, number> {
  if (payload.length < 4) throw new SpdyProtocolError(`SETTINGS payload of ${payload.length} bytes has no entry count`);
  const out = new Map<number, number>();
  const n = payload.readUInt32BE(0);
  for (let i = 0; i < n && 12 + i * 8 <= payload.length; i++) {
    out.set(payload.readUInt32BE(4 + i * 8) & 0xffffff, payload.readUInt32BE(8 + i * 8));
  }
  return out;
}

/** Uncompressed header block: count, then length-prefixed names and NUL-joined values. */
export function encodeHeaderBlock(headers: Headers): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(headers.size);
  parts.push(count);
  for (const [name, value] of headers) {
    for (const s of [name.toLowerCase(), value]) {
      const bytes = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): Headers {
  const out: Headers = new Map();
  let off = 0;
  const readString = (): string => {
    if (off + 4 > block.length) throw new Error('truncated header block');
    const len = block.readUInt32BE(off);
    off += 4;
    if (off + len > block.length) throw new Error('truncated header block');
    const s = block.subarray(off, off + len).toString('utf8');
    off += len;
    return s;
  };
  const n = block.length >= 4 ? block.readUInt32BE(0) : 0;
  off = 4;
  for (let i = 0; i < n; i++) {
    const name = readString().toLowerCase();
    const value = readString();
    // Multiple values travel NUL-separated; the first is the one Kubernetes headers use.
    out.set(name, value.split('\0')[0]);
  }
  return out;
}

/**
 * One direction of SPDY header compression. SPDY keeps a single zlib context per direction
 * for the whole session, each header block ending in a sync flush, so blocks must be fed
 * strictly in order: callers serialise their calls. Output is counted as zlib produces it and
 * the context is dropped the moment a block passes `limit`: a small block that inflates to
 * megabytes is refused after `limit` bytes, never inflated whole.
 */
class ZlibContext {
  private out: Buffer[] = [];
  private outBytes = 0;
  private limit = Number.POSITIVE_INFINITY;
  private onOverflow: (() => void) | undefined;
  /** Ends the block in flight, if any. */
  private settle: ((err?: Error | null) => void) | undefined;
  private broken: Error | undefined;

  constructor(private readonly z: zlib.Deflate | zlib.Inflate) {
    z.on('data', (c: Buffer) => {
      this.outBytes += c.length;
      if (this.outBytes > this.limit) {
        this.onOverflow?.();
        return;
      }
      this.out.push(c);
    });
    // A corrupt block surfaces as the rejection of run(); the context is unusable after it.
    z.on('error', () => undefined);
  }

  run(input: Buffer, limit = Number.POSITIVE_INFINITY, overflow?: () => Error): Promise<Buffer> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.limit = limit;
      this.outBytes = 0;
      let done = false;
      const finish = (err?: Error | null) => {
        if (done) return;
        done = true;
        this.z.off('error', finish);
        this.onOverflow = undefined;
        this.settle = undefined;
        const result = Buffer.concat(this.out);
        this.out = [];
        if (err) {
          this.broken = err;
          reject(err);
        } else resolve(result);
      };
      this.settle = finish;
      this.onOverflow = () => {
        // Stops zlib at once: the rest of the block is never inflated.
        this.z.close();
        finish(overflow?.() ?? new Error('header block too large'));
      };
      this.z.once('error', finish);
      this.z.write(input);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, finish);
    });
  }

  /**
   * Ends the context; a block still in flight is refused. Node's zlib, once closed, reports
   * nothing more about a write it had under way (no 'error' for a corrupt block, no callback):
   * without this its promise, and the session's frame chain behind it, would never settle.
   */
  close(): void {
    this.z.close();
    this.broken ??= new Error('header compression context closed');
    this.settle?.(this.broken);
  }
}

/** Compressor and decompressor of a session's header blocks, primed with the SPDY/3 dictionary. */
export class HeaderCodec {
  private readonly deflate = new ZlibContext(zlib.createDeflate({ dictionary: SPDY3_DICTIONARY }));
  private readonly inflate = new ZlibContext(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }));

  constructor(private readonly maxHeaderBlockBytes = MAX_SPDY_HEADER_BLOCK_BYTES) {}

  async compress(headers: Headers): Promise<Buffer> {
    return this.deflate.run(encodeHeaderBlock(headers));
  }

  /** Inflates one header block; rejects with SpdyCapError past the cap (the session must end then). */
  async decompress(compressed: Buffer): Promise<Headers> {
    const block = await this.inflate.run(
      compressed,
      this.maxHeaderBlockBytes,
      () => new SpdyCapError('MAX_SPDY_HEADER_BLOCK_BYTES', `header block inflates to more than ${kib(this.maxHeaderBlockBytes)}`),
    );
    return decodeHeaderBlock(block);
  }

  close(): void {
    this.deflate.close();
    this.inflate.close();
  }
}
