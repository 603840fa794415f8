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
 * Splits a byte stream into frames; keeps the partial tail until the rest arrives. A frame
 * longer than `maxFrameBytes` is never buffered: a data frame's payload is discarded as it
 * arrives (reported once, as 'oversized-data'), a control frame throws SpdyCapError (its
 * header block would leave the session's zlib context out of step).
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private skipping = 0;

  constructor(private readonly maxFrameBytes = MAX_SPDY_FRAME_BYTES) {}

  /** Adds bytes; returns the complete frames now available, in order. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, this.buffered);
        if (n > 0) this.take(n);
        this.skipping -= n;
        if (this.skipping > 0) break;
      }
      if (this.buffered < 8) break;
      const head = this.peek(8);
      const length = head.readUInt32BE(4) & 0xffffff;
      if (length > this.maxFrameBytes) {
        const control = (head[0] & 0x80) !== 0;
        if (control) {
          throw new SpdyCapError('MAX_SPDY_FRAME_BYTES', `control frame of ${length} bytes is larger than ${kib(this.maxFrameBytes)}`);
        }
        const streamId = head.readUInt32BE(0) & 0x7fffffff;
        this.take(8);
        this.skipping = length;
        frames.push({ kind: 'oversized-data', streamId, length });
        continue;
      }
      if (this.buffered < 8 + length) break;
      const whole = this.take(8 + length);
      const flags = whole[4];
      const body = whole.subarray(8);
      if (whole[0] & 0x80) {
        frames.push({ kind: 'control', type: whole.readUInt16BE(2), flags, payload: body });
      } else {
        frames.push({ kind: 'data', streamId: whole.readUInt32BE(0) & 0x7fffffff, flags, data: body });
      }
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0];
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

function controlHeader(type: number, flags: number, length: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags & 0xff) << 24) | length, 4);
  return h;
}

export function dataFrame(streamId: number, data: Buffer, fin: boolean): Buffer[] {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | data.length, 4);
  return data.length ? [h, data] : [h];
}

export function synReplyFrame(streamId: number, compressedHeaders: Buffer, fin: boolean): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(streamId & 0x7fffffff);
  return Buffer.concat([controlHeader(FrameType.SYN_REPLY, fin ? FLAG_FIN : 0, 4 + compressedHeaders.length), body, compressedHeaders]);
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return Buffer.concat([controlHeader(FrameType.RST_STREAM, 0, 8), body]);
}

export function windowUpdateFrame(streamId: number, delta: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(delta & 0x7fffffff, 4);
  return Buffer.concat([controlHeader(FrameType.WINDOW_UPDATE, 0, 8), body]);
}

export function pingFrame(id: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(id >>> 0);
  return Buffer.concat([controlHeader(FrameType.PING, 0, 4), body]);
}

export function goAwayFrame(lastGoodStreamId: number, status: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return Buffer.concat([controlHeader(FrameType.GOAWAY, 0, 8), body]);
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
      const finish = (err?: Error) => {
        this.z.off('error', onError);
        this.onOverflow = undefined;
        const result = Buffer.concat(this.out);
        this.out = [];
        if (err) {
          this.broken = err;
          reject(err);
        } else resolve(result);
      };
      const onError = (err: Error) => finish(err);
      this.onOverflow = () => {
        // Stops zlib at once: the rest of the block is never inflated.
        this.z.close();
        finish(overflow?.() ?? new Error('header block too large'));
      };
      this.z.once('error', onError);
      this.z.write(input);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (this.onOverflow) finish();
      });
    });
  }

  close(): void {
    this.z.close();
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
