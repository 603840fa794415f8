// Server side of one SPDY/3.1 session on an upgraded HTTP connection. The client opens the
// streams (Kubernetes clients always do); each becomes a Duplex with SPDY flow control.
//
// Flow control, both ways: we send WINDOW_UPDATE (stream and session) as our consumers read,
// and we never send past the peer's window once the peer shows it does flow control (it
// sent SETTINGS with a window size, or a WINDOW_UPDATE). Go's spdystream, which kubelet and
// kubectl use, never sends either and ignores windows: when our window runs out and such a
// peer has said nothing for a short grace time, it is treated as not flow-controlling and
// TCP backpressure alone bounds what we buffer. Inbound, the socket stops being read while a
// stream's or the session's buffers, the frames waiting their turn, or our unread replies are
// past their caps (../limits.ts), so a peer ignoring our windows cannot make us buffer without
// bound. A cap broken in a way the session cannot recover from (a header block too large: the
// zlib context is lost) ends the session: 'failure' first (the Kubernetes layer writes the
// message on its error streams), then GOAWAY.
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import {
  MAX_OUTBOUND_BUFFER_BYTES,
  MAX_SPDY_FRAME_BYTES,
  MAX_SPDY_PENDING_FRAME_BYTES,
  MAX_SPDY_SESSION_BUFFER_BYTES,
  MAX_SPDY_STREAM_BUFFER_BYTES,
  MAX_SPDY_STREAMS_PER_SESSION,
  MAX_UNREAD_REPLIES,
  kib,
} from '../limits.js';
import {
  DEFAULT_WINDOW,
  GoAwayStatus,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameParser,
  FrameType,
  HeaderCodec,
  RstStatus,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SpdyCapError,
  dataFrame,
  goAwayFrame,
  MIN_CONTROL_PAYLOAD,
  parseSettings,
  SpdyProtocolError,
  PING_FRAME_BYTES,
  STREAM_STATUS_FRAME_BYTES,
  synReplyFrame,
  writePing,
  writeRstStream,
  writeWindowUpdate,
  type ControlFrameWriter,
  type Frame,
  type Headers,
} from './frames.js';

/** Largest DATA frame we send: small enough to interleave streams fairly. */
const MAX_DATA_CHUNK = 32 * 1024;
/** Window credit is returned once this much has been consumed (or the buffer emptied). */
const ACK_THRESHOLD = 16 * 1024;
/** What a frame waiting its turn costs beyond its payload (closures, promise): tiny frames count too. */
const QUEUED_FRAME_OVERHEAD_BYTES = 256;
/** How long a session ended by a protocol error waits for the peer to read our last frames. */
const FAILED_SESSION_LINGER_MS = 2_000;
/** How long an exhausted window waits for a silent peer before flow control is deemed off. */
const SILENT_PEER_GRACE_MS = 250;
/** First size of a chunk's reply buffer (it doubles as needed): most chunks answer with a window update or two. */
const REPLY_BATCH_INITIAL_BYTES = 256;
const NO_REPLIES = Buffer.alloc(0);

/**
 * The replies to one chunk's frames, written in place into one buffer and sent in one write: a
 * chunk of thousands of pings costs one buffer, not a few per pong.
 */
class ReplyBatch {
  /** Allocated at the first reply: most reads (stream data) need none. */
  buf = NO_REPLIES;
  length = 0;
  frames = 0;

  add(bytes: number, write: ControlFrameWriter, id: number, value: number): void {
    if (this.length + bytes > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(REPLY_BATCH_INITIAL_BYTES, 2 * (this.length + bytes)));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    write(this.buf, this.length, id, value);
    this.length += bytes;
    this.frames++;
  }
}

type PeerFlowControl = 'unknown' | 'yes' | 'no';

export interface SpdySessionEvents {
  stream: [stream: SpdyStream];
  /** The session is about to end on this error: last chance to tell the peer on a stream. */
  failure: [err: Error];
  close: [];
}

export class SpdyStream extends Duplex {
  sendWindow: number;
  localClosed: boolean;
  remoteClosed: boolean;
  /** Set when the peer reset the stream: no RST goes back. */
  resetByPeer = false;
  private received = 0;
  private acked = 0;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: Headers,
    flags: number,
    sendWindow: number,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024 });
    // Whoever uses the stream learns of its end from 'close'; an error must never be uncaught.
    this.on('error', () => undefined);
    this.sendWindow = sendWindow;
    this.remoteClosed = (flags & FLAG_FIN) !== 0;
    this.localClosed = (flags & FLAG_UNIDIRECTIONAL) !== 0;
    if (this.remoteClosed) this.push(null);
  }

  /** The `streamType` header Kubernetes clients name their streams with. */
  get streamType(): string {
    return this.headers.get('streamtype') ?? '';
  }

  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase());
  }

  onPeerData(data: Buffer, fin: boolean): void {
    if (this.remoteClosed || this.destroyed) return;
    if (data.length) {
      this.received += data.length;
      if (this.push(data)) this.ackConsumed();
      else this.session.updateInput();
    }
    if (fin) {
      this.remoteClosed = true;
      this.push(null);
      this.session.maybeForget(this);
    }
  }

  /** Returns window credit for what the consumer has taken out of our buffer. */
  ackConsumed(): void {
    const consumed = this.received - this.readableLength - this.acked;
    if (consumed <= 0 || this.remoteClosed) return;
    if (consumed < ACK_THRESHOLD && this.readableLength > 0) return;
    this.acked += consumed;
    this.session.sendWindowUpdate(this.id, consumed);
  }

  override _read(): void {
    // Readable.read() calls _read before it takes the chunk out of the buffer: looked at now,
    // the buffer would still seem full, the socket would stay paused, and with no push to come
    // no _read either (a client sending more than the stream cap at once stalled for good).
    process.nextTick(() => {
      this.ackConsumed();
      this.session.updateInput();
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.session.sendData(this, chunk).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.session.sendFin(this).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.session.onStreamDestroyed(this);
    cb(err);
  }
}

export class SpdySession extends EventEmitter<SpdySessionEvents> {
  private readonly parser = new FrameParser();
  private readonly codec = new HeaderCodec();
  private readonly streams = new Map<number, SpdyStream>();
  /** Every stream not yet destroyed, also those forgotten above once both sides finished: the session's end destroys them all. */
  private readonly live = new Set<SpdyStream>();
  private chain: Promise<void> = Promise.resolve();
  private sessionSendWindow = DEFAULT_WINDOW;
  private initialStreamWindow = DEFAULT_WINDOW;
  private peerFlowControl: PeerFlowControl = 'unknown';
  private readonly windowWaiters = new Set<() => void>();
  private silentPeerTimer: NodeJS.Timeout | undefined;
  private inputPaused = false;
  private readonly capsReported = new Set<string>();
  /** Replies collected while a chunk is handled, written together after it. */
  private batch: ReplyBatch | undefined;
  /** Control frames written and not yet taken by the kernel. */
  private unreadReplies = 0;
  /** Frames parsed and waiting in the chain, and their bytes. */
  private queuedFrames = 0;
  private pendingFrameBytes = 0;
  private lastPeerStreamId = 0;
  private goingAway = false;
  private closed = false;

  constructor(
    private readonly socket: Duplex,
    head: Buffer,
    /** Told of every protocol error and broken cap; `fatal` when the session ends for it. */
    private readonly onProtocolError: (err: Error, fatal: boolean) => void = () => undefined,
  ) {
    super();
    socket.on('data', (c: Buffer) => this.onBytes(c));
    socket.on('end', () => this.teardown());
    socket.on('close', () => this.teardown());
    socket.on('error', () => this.teardown());
    socket.on('drain', () => this.updateInput());
    if (head.length) this.onBytes(head);
  }

  /** Whether the peer was seen to take part in flow control ('unknown' until it shows either way). */
  get flowControl(): PeerFlowControl {
    return this.peerFlowControl;
  }

  /** Ends the session gracefully: GOAWAY, then the socket once written. */
  close(): void {
    if (this.closed) return;
    this.socket.write(goAwayFrame(this.lastPeerStreamId, 0));
    this.socket.end();
    this.teardown();
  }

  /** Drops the connection at once (fatal errors, server shutdown). */
  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    // Replies to this chunk's frames go out as one write: a chunk of tiny requests (pings)
    // must not cost a write request each.
    const batch = new ReplyBatch();
    this.batch = batch;
    try {
      this.parser.push(chunk, this.onFrame);
    } catch (err) {
      // The parser's caps and the protocol errors of handle(): the rest of the chunk is dropped.
      this.fail(err as Error);
    } finally {
      this.batch = undefined;
      if (batch.frames && this.closed) this.unreadReplies -= batch.frames;
      else if (batch.frames) {
        this.socket.write(batch.buf.subarray(0, batch.length), () => {
          this.unreadReplies -= batch.frames;
          this.updateInput();
        });
      }
    }
    this.updateInput();
  }

  private readonly onFrame = (f: Frame): void => {
    if (this.closed) return;
    // Header blocks decompress asynchronously; while one is in flight every later frame
    // waits in the chain, so that frames are handled in arrival order. Otherwise at once.
    if (this.queuedFrames === 0) {
      const async = this.handle(f);
      if (async) this.enqueue(0, () => async);
      return;
    }
    const size = QUEUED_FRAME_OVERHEAD_BYTES + (f.kind === 'data' ? f.data.length : f.kind === 'control' ? f.payload.length : 0);
    this.enqueue(size, () => (this.closed ? undefined : this.handle(f)));
  };

  private enqueue(size: number, run: () => Promise<void> | void): void {
    this.queuedFrames++;
    this.pendingFrameBytes += size;
    this.chain = this.chain
      .then(run)
      .catch((err: unknown) => this.fail(err as Error))
      .finally(() => {
        this.queuedFrames--;
        this.pendingFrameBytes -= size;
        this.updateInput();
      });
  }

  /** Ends the session on a protocol error or a broken cap: 'failure', GOAWAY, then the socket. */
  private fail(err: Error): void {
    if (this.closed) return;
    this.onProtocolError(err, true);
    try {
      this.emit('failure', err);
    } catch {
      // A listener failing must not keep the session open.
    }
    this.write(goAwayFrame(this.lastPeerStreamId, GoAwayStatus.PROTOCOL_ERROR));
    this.socket.end();
    // A peer that does not read gets no longer than this to take our last frames.
    const linger = setTimeout(() => this.socket.destroy(), FAILED_SESSION_LINGER_MS);
    linger.unref();
    this.socket.once('close', () => clearTimeout(linger));
    this.teardown();
  }

  /**
   * Stops reading the socket while any inbound buffer is past its cap or the peer leaves our
   * replies unread; reads again once all are below. Called whenever one of them may have moved.
   */
  updateInput(): void {
    if (this.closed) return;
    const blocked =
      this.pendingFrameBytes > MAX_SPDY_PENDING_FRAME_BYTES ||
      this.unreadReplies >= MAX_UNREAD_REPLIES ||
      this.socket.writableLength > MAX_OUTBOUND_BUFFER_BYTES ||
      this.streamBuffersFull();
    if (blocked === this.inputPaused) return;
    this.inputPaused = blocked;
    if (blocked) this.socket.pause();
    else this.socket.resume();
  }

  private streamBuffersFull(): boolean {
    let total = 0;
    for (const s of this.streams.values()) {
      if (s.readableLength > MAX_SPDY_STREAM_BUFFER_BYTES) return true;
      total += s.readableLength;
    }
    return total > MAX_SPDY_SESSION_BUFFER_BYTES;
  }

  /**
   * Writes `data` and FIN on a stream at once, past flow control: the last words of a failing
   * session (a Status on the error stream), small by construction.
   */
  writeFinal(stream: SpdyStream, data: Buffer): void {
    if (this.closed || stream.localClosed) return;
    stream.localClosed = true;
    this.write(dataFrame(stream.id, data, true));
  }

  /** Reports a stream refused for a cap, once per cap and session: a flood must not flood the log. */
  private refused(err: SpdyCapError): void {
    if (this.capsReported.has(err.cap)) return;
    this.capsReported.add(err.cap);
    this.onProtocolError(err, false);
  }

  /** Handles one frame; returns a promise only when the frame needs its header block inflated. */
  private handle(f: Frame): Promise<void> | void {
    if (f.kind === 'oversized-data') {
      // Its bytes are skipped by the parser; the stream cannot be trusted with the rest.
      this.refused(new SpdyCapError('MAX_SPDY_FRAME_BYTES', `data frame of ${f.length} bytes on stream ${f.streamId} is larger than ${kib(MAX_SPDY_FRAME_BYTES)}; stream reset`));
      const stream = this.streams.get(f.streamId);
      this.reply(STREAM_STATUS_FRAME_BYTES, writeRstStream, f.streamId, RstStatus.FRAME_TOO_LARGE, true);
      if (stream) {
        stream.resetByPeer = true; // the RST is already sent
        stream.destroy();
      }
      return;
    }
    if (f.kind === 'data') {
      const stream = this.streams.get(f.streamId);
      if (!stream) {
        if (f.streamId > this.lastPeerStreamId) this.reply(STREAM_STATUS_FRAME_BYTES, writeRstStream, f.streamId, RstStatus.INVALID_STREAM, true);
        return;
      }
      stream.onPeerData(f.data, (f.flags & FLAG_FIN) !== 0);
      return;
    }
    const p = f.payload;
    const min = MIN_CONTROL_PAYLOAD[f.type];
    if (min !== undefined && p.length < min) {
      throw new SpdyProtocolError(`control frame type ${f.type} with a ${p.length}-byte payload (at least ${min} bytes)`);
    }
    switch (f.type) {
      case FrameType.SYN_STREAM:
        return this.onSynStream(p, f.flags);
      case FrameType.SYN_REPLY:
      case FrameType.HEADERS:
        // Never expected from a client, but decompressing keeps the zlib context in step.
        return this.codec.decompress(p.subarray(4)).then(() => undefined);
      case FrameType.RST_STREAM: {
        const stream = this.streams.get(p.readUInt32BE(0) & 0x7fffffff);
        if (stream) {
          stream.resetByPeer = true;
          stream.destroy();
        }
        return;
      }
      case FrameType.SETTINGS: {
        const size = parseSettings(p).get(SETTINGS_INITIAL_WINDOW_SIZE);
        if (size !== undefined) {
          const delta = size - this.initialStreamWindow;
          this.initialStreamWindow = size;
          for (const s of this.streams.values()) s.sendWindow += delta;
          this.peerDoesFlowControl();
        }
        return;
      }
      case FrameType.PING: {
        const id = p.readUInt32BE(0);
        // Odd ids are the client's pings: echo them. Even ones would answer ours (we send none).
        if (id % 2 === 1) this.reply(PING_FRAME_BYTES, writePing, id, 0, true);
        return;
      }
      case FrameType.GOAWAY:
        this.goingAway = true;
        return;
      case FrameType.WINDOW_UPDATE: {
        const id = p.readUInt32BE(0) & 0x7fffffff;
        const delta = p.readUInt32BE(4) & 0x7fffffff;
        if (id === 0) this.sessionSendWindow += delta;
        else {
          const stream = this.streams.get(id);
          if (stream) stream.sendWindow += delta;
        }
        this.peerDoesFlowControl();
        return;
      }
      default:
        return; // Unknown control frames must be ignored (SPDY/3 section 2.2.1).
    }
  }

  private async onSynStream(p: Buffer, flags: number): Promise<void> {
    const id = p.readUInt32BE(0) & 0x7fffffff;
    const headers = await this.codec.decompress(p.subarray(10));
    if (this.goingAway) {
      this.reply(STREAM_STATUS_FRAME_BYTES, writeRstStream, id, RstStatus.REFUSED_STREAM, true);
      return;
    }
    if (id % 2 === 0 || id <= this.lastPeerStreamId) {
      this.reply(STREAM_STATUS_FRAME_BYTES, writeRstStream, id, RstStatus.PROTOCOL_ERROR, true);
      return;
    }
    this.lastPeerStreamId = id;
    if (this.streams.size >= MAX_SPDY_STREAMS_PER_SESSION) {
      this.refused(new SpdyCapError('MAX_SPDY_STREAMS_PER_SESSION', `stream ${id} refused: ${MAX_SPDY_STREAMS_PER_SESSION} streams already open`));
      this.reply(STREAM_STATUS_FRAME_BYTES, writeRstStream, id, RstStatus.REFUSED_STREAM, true);
      return;
    }
    const stream = new SpdyStream(this, id, headers, flags, this.initialStreamWindow);
    this.streams.set(id, stream);
    this.live.add(stream);
    const reply = await this.codec.compress(
      new Map([
        [':status', '200'],
        [':version', 'HTTP/1.1'],
      ]),
    );
    if (this.closed) {
      stream.destroy();
      return;
    }
    const frame = synReplyFrame(id, reply, false);
    this.reply(frame.length, (b, at) => frame.copy(b, at), 0, 0, false);
    this.emit('stream', stream);
  }

  private peerDoesFlowControl(): void {
    if (this.peerFlowControl !== 'yes') this.peerFlowControl = 'yes';
    this.wakeWindowWaiters();
  }

  private wakeWindowWaiters(): void {
    clearTimeout(this.silentPeerTimer);
    this.silentPeerTimer = undefined;
    const waiters = [...this.windowWaiters];
    this.windowWaiters.clear();
    for (const w of waiters) w();
  }

  /**
   * Writes a control frame of `bytes` bytes (`write` puts it in place: into the chunk's batch
   * while one is handled), counted until the kernel has it: a peer that reads nothing while
   * sending requests for replies (pings, bad stream ids) is bounded by frames, not bytes, since
   * each small write costs far more than its bytes. Past MAX_UNREAD_REPLIES input stops, and
   * `droppable` replies (pongs, resets a reader would need) are not sent at all.
   */
  private reply(bytes: number, write: ControlFrameWriter, id: number, value: number, droppable: boolean): void {
    if (this.closed || (droppable && this.unreadReplies >= MAX_UNREAD_REPLIES)) return;
    this.unreadReplies++;
    if (this.batch) {
      this.batch.add(bytes, write, id, value);
      return;
    }
    const frame = Buffer.allocUnsafe(bytes);
    write(frame, 0, id, value);
    this.socket.write(frame, () => {
      this.unreadReplies--;
      this.updateInput();
    });
    this.updateInput();
  }

  private write(frame: Buffer | Buffer[]): boolean {
    if (this.closed) return false;
    if (Array.isArray(frame)) {
      let ok = true;
      for (const b of frame) ok = this.socket.write(b) && ok;
      return ok;
    }
    return this.socket.write(frame);
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.on('close', done);
    });
  }

  /** Bytes we may send on this stream now; waits while the window is shut. */
  private async allowance(stream: SpdyStream): Promise<number> {
    for (;;) {
      if (this.closed || stream.destroyed || stream.localClosed) throw new Error(`stream ${stream.id} is closed`);
      if (this.peerFlowControl === 'no') return Number.POSITIVE_INFINITY;
      const window = Math.min(stream.sendWindow, this.sessionSendWindow);
      if (window > 0) return window;
      await new Promise<void>((resolve) => {
        this.windowWaiters.add(resolve);
        if (this.peerFlowControl === 'unknown' && !this.silentPeerTimer) {
          this.silentPeerTimer = setTimeout(() => {
            this.peerFlowControl = 'no';
            this.wakeWindowWaiters();
          }, SILENT_PEER_GRACE_MS);
        }
      });
    }
  }

  async sendData(stream: SpdyStream, chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const allowed = await this.allowance(stream);
      const n = Math.min(chunk.length - off, MAX_DATA_CHUNK, allowed);
      stream.sendWindow -= n;
      this.sessionSendWindow -= n;
      const ok = this.write(dataFrame(stream.id, chunk.subarray(off, off + n), false));
      off += n;
      if (!ok) await this.drained();
    }
  }

  async sendFin(stream: SpdyStream): Promise<void> {
    if (stream.localClosed || this.closed) return;
    stream.localClosed = true;
    const ok = this.write(dataFrame(stream.id, Buffer.alloc(0), true));
    this.maybeForget(stream);
    if (!ok) await this.drained();
  }

  sendWindowUpdate(streamId: number, delta: number): void {
    this.reply(STREAM_STATUS_FRAME_BYTES, writeWindowUpdate, streamId, delta, false);
    this.reply(STREAM_STATUS_FRAME_BYTES, writeWindowUpdate, 0, delta, false);
  }

  /** Forgets a stream both sides have finished. */
  maybeForget(stream: SpdyStream): void {
    if (stream.localClosed && stream.remoteClosed) this.streams.delete(stream.id);
  }

  onStreamDestroyed(stream: SpdyStream): void {
    this.live.delete(stream);
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    if (!stream.resetByPeer && !(stream.localClosed && stream.remoteClosed)) {
      this.reply(STREAM_STATUS_FRAME_BYTES, writeRstStream, stream.id, RstStatus.CANCEL, false);
    }
    stream.localClosed = true;
    stream.remoteClosed = true;
    this.updateInput();
    this.wakeWindowWaiters();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeWindowWaiters();
    for (const s of [...this.live]) s.destroy();
    this.streams.clear();
    this.live.clear();
    this.codec.close();
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end();
    this.emit('close');
  }
}
