// Inputs the fuzz targets (fuzz/spdy-frames, spdy-session, websocket-channel .fuzz.js) found
// breaking the SPDY and WebSocket code in src/streaming, each written as the behaviour issue 11
// asks for: a peer's bytes end its session with the session's own error, never a TypeError or
// RangeError from a Buffer read, never an exception that escapes to the process, and never a
// buffer past its cap. The fixes live with the streaming work; these tests hold them.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { SPDY3_DICTIONARY } from '../../src/streaming/spdy/dictionary.js';
import { HeaderCodec, dataFrame, encodeHeaderBlock, parseSettings } from '../../src/streaming/spdy/frames.js';
import { SpdySession, type SpdyStream } from '../../src/streaming/spdy/session.js';
import { portForwardOverWebSocket, remoteCommandOverWebSocket } from '../../src/streaming/websocket/kube.js';

const HEADER_BLOCK_CAP = 256 * 1024;
const tick = () => new Promise((r) => setTimeout(r, 20));

/** Waits (up to 2 s) until `done` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await tick();
}

/** A Buffer read past the end (RangeError, ERR_OUT_OF_RANGE...) or a TypeError is not an error a parser meant. */
function isForeign(err: unknown): boolean {
  return err instanceof RangeError || err instanceof TypeError || /^ERR_/.test(String((err as { code?: unknown })?.code ?? ''));
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE((((flags & 0xff) << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

function synStream(id: number, headers: Record<string, string>, flags = 0): Buffer {
  const block = zlib.deflateSync(encodeHeaderBlock(new Map(Object.entries(headers))), {
    dictionary: SPDY3_DICTIONARY,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  const head = Buffer.alloc(10);
  head.writeUInt32BE(id, 0);
  return control(1, flags, Buffer.concat([head, block]));
}

/** Feeds a client's bytes to a server session; returns what came out of it. */
async function runSession(bytes: Buffer) {
  const socket = new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });
  socket.on('error', () => undefined);
  const protocolErrors: Error[] = [];
  const streams: SpdyStream[] = [];
  const session = new SpdySession(socket, Buffer.alloc(0), (err) => protocolErrors.push(err));
  session.on('stream', (s) => {
    streams.push(s);
    s.on('error', () => undefined);
    s.resume();
  });
  let closed = false;
  session.once('close', () => (closed = true));
  socket.push(bytes);
  await until(() => closed || streams.length > 0 || protocolErrors.length > 0);
  await tick();
  return { session, socket, protocolErrors, streams };
}

describe('fuzz regressions (streaming): SPDY frames with short payloads', () => {
  it('parseSettings of fewer than 4 bytes does not read past the payload', () => {
    // fuzz/spdy-frames: RangeError "Attempt to access memory outside buffer bounds" at frames.ts parseSettings.
    for (let n = 0; n < 4; n++) {
      try {
        parseSettings(Buffer.alloc(n));
      } catch (err) {
        expect(isForeign(err), `parseSettings(${n} bytes): ${String(err)}`).toBe(false);
      }
    }
  });

  // fuzz/spdy-session: each of these reached the session's error path as a RangeError from a
  // Buffer read (session.ts onSynStream, RST_STREAM, SETTINGS via parseSettings, PING, WINDOW_UPDATE).
  const shortFrames: Array<[string, number, number]> = [
    ['SYN_STREAM', 1, 10],
    ['RST_STREAM', 3, 8],
    ['SETTINGS', 4, 4],
    ['PING', 6, 4],
    ['WINDOW_UPDATE', 9, 8],
  ];
  for (const [name, type, minLength] of shortFrames) {
    it(`a ${name} shorter than ${minLength} bytes ends the session with its own error, not a RangeError`, async () => {
      for (let n = 0; n < minLength; n++) {
        const { session, protocolErrors } = await runSession(control(type, 0, Buffer.alloc(n)));
        for (const err of protocolErrors) expect(isForeign(err), `${name} of ${n} bytes: ${String(err)}`).toBe(false);
        session.destroy();
      }
    });
  }
});

describe('fuzz regressions (streaming): SPDY header block cap', () => {
  it('a SYN_STREAM whose header block inflates past 256 KiB opens no stream', async () => {
    // fuzz/spdy-session seed inflates-300k: 379 bytes on the wire, a 300 KiB header reached the stream.
    const frame = synStream(1, { streamtype: 'error', big: 'a'.repeat(300 * 1024) });
    expect(frame.length).toBeLessThan(1024);
    const { session, streams, protocolErrors } = await runSession(frame);
    for (const s of streams) {
      let bytes = 0;
      for (const [k, v] of s.headers) bytes += k.length + v.length;
      expect(bytes).toBeLessThanOrEqual(HEADER_BLOCK_CAP);
    }
    for (const err of protocolErrors) expect(isForeign(err)).toBe(false);
    session.destroy();
  });
});

describe('fuzz regressions (streaming): SPDY teardown', () => {
  it('destroys a stream the peer opened unidirectional and then finished, when the session goes', async () => {
    // fuzz/spdy-session "every stream is destroyed with its session": such a stream is forgotten
    // by the session (both sides closed) but never destroyed, so its 'close' never comes.
    const { session, streams } = await runSession(Buffer.concat([synStream(1, { streamtype: 'data' }, 0x02), ...dataFrame(1, Buffer.alloc(0), true)]));
    expect(streams).toHaveLength(1);
    session.destroy();
    await tick();
    expect(streams[0].destroyed).toBe(true);
  });
});

describe('fuzz regressions (streaming): a header block in flight when the session ends', () => {
  // fuzz/spdy-session timeout-7e1071314cc9 (libFuzzer's 5 s timeout): a SYN_STREAM whose header
  // block is corrupt (bad zlib header), then a control frame over MAX_SPDY_FRAME_BYTES. The
  // second ends the session (teardown closes the zlib contexts) while the first block is still
  // being inflated; Node's zlib, once closed, neither emits the block's error nor calls back, so
  // the promise of that frame, and the session's frame chain behind it, never settled. Under
  // Jazzer the two frames came in separate reads; in one read it happens every time.
  const corruptBlock = Buffer.from('7878f9e3c6a7c2626060600400', 'hex');
  const settles = (p: Promise<unknown>) =>
    Promise.race([p.then(() => 'settled', () => 'settled'), new Promise((r) => setTimeout(() => r('pending after 2 s'), 2000))]);

  it('closing a header codec refuses the block it is inflating', async () => {
    const codec = new HeaderCodec();
    const inflating = codec.decompress(corruptBlock);
    codec.close();
    expect(await settles(inflating)).toBe('settled');
    await expect(inflating).rejects.toThrow(/closed/);
    await expect(codec.decompress(corruptBlock)).rejects.toThrow(/closed/);
  });

  it("a session ended by a frame cap while a block inflates drains its frame chain", async () => {
    const oversized = Buffer.alloc(8);
    oversized.writeUInt16BE(0x8003, 0);
    oversized.writeUInt16BE(1, 2);
    oversized.writeUInt32BE(2 * 1024 * 1024, 4);
    const head = Buffer.alloc(10);
    head.writeUInt32BE(1, 0);
    const { session, streams, protocolErrors } = await runSession(Buffer.concat([control(1, 0, Buffer.concat([head, corruptBlock])), oversized]));
    // The frame chain is the session's own; the fuzz target awaits it the same way.
    expect(await settles((session as unknown as { chain: Promise<void> }).chain)).toBe('settled');
    expect(streams).toHaveLength(0);
    expect(protocolErrors.map((e) => e.message).join()).toContain('cap MAX_SPDY_FRAME_BYTES');
    session.destroy();
  });
});

class FakeWebSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  readonly sent: Buffer[] = [];
  constructor(readonly protocol: string) {
    super();
  }
  send(data: Buffer | string, opts?: unknown, cb?: (err?: Error) => void): void {
    const done = typeof opts === 'function' ? (opts as (err?: Error) => void) : cb;
    this.sent.push(Buffer.isBuffer(data) ? data : Buffer.from(data));
    if (done) queueMicrotask(() => done());
  }
  pause(): void {}
  resume(): void {}
  close(): void {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    queueMicrotask(() => this.emit('close'));
  }
}

describe('fuzz regressions (streaming): WebSocket channels', () => {
  it('stdin after the client closed stdin (channel 255) does not raise an error nobody listens to', async () => {
    // fuzz/websocket-channel seed v5-stdin-after-close: "stream.push() after EOF" escaped to the
    // process from kube.ts (ERR_STREAM_PUSH_AFTER_EOF) when stdin was not being read yet.
    const escaped: unknown[] = [];
    const record = (err: unknown) => escaped.push(err);
    process.on('uncaughtException', record);
    try {
      const ws = new FakeWebSocket('v5.channel.k8s.io');
      const io = remoteCommandOverWebSocket(ws as unknown as WebSocket, { stdin: true, stdout: true, stderr: false, tty: false });
      ws.emit('message', Buffer.from([0, 0x61]), true);
      ws.emit('message', Buffer.from([255, 0]), true);
      ws.emit('message', Buffer.from('\x00after close'), true);
      await tick();
      const read: Buffer[] = [];
      try {
        for await (const chunk of io.stdin!) read.push(chunk as Buffer);
      } catch {
        // a reset stdin is an end too (pumpStdin reads it so); what came before close must be there
      }
      expect(Buffer.concat(read).toString()).toBe('a');
    } finally {
      process.off('uncaughtException', record);
    }
    expect(escaped).toEqual([]);
  });

  it('port forwarding never puts two ports on one channel byte (port index 128 and above)', () => {
    // fuzz/websocket-channel seed portforward-200-ports: 200 ports announced on 256 channel bytes,
    // port 128 on port 0's channels. Either the ports are refused or each keeps its own channels.
    const ws = new FakeWebSocket('v4.portforward.k8s.io');
    const ports = Array.from({ length: 200 }, (_, i) => 1000 + i);
    let refused = false;
    try {
      portForwardOverWebSocket(ws as unknown as WebSocket, ports, (p) => p.data.on('error', () => undefined));
    } catch {
      refused = true;
    }
    if (refused || ws.readyState !== 1) return;
    const channels = ws.sent.slice(0, 2 * ports.length).map((b) => b[0]);
    expect(new Set(channels).size).toBe(channels.length);
  });
});

describe('SPDY inbound cap: a stream past its buffer cap resumes once read', () => {
  it('2 MiB sent at once on one stream (more than the 1 MiB cap, no flow control) all reaches a for-await reader', async () => {
    // The property the crictl walk's `exec -i` of 2 MiB checks end to end (where the stall it
    // found shows: this in-memory socket's synchronous write callbacks happen to resume input).
    const payload = Buffer.alloc(2 * 1024 * 1024, 7);
    const frames = [synStream(1, { streamtype: 'stdin' })];
    for (let off = 0; off < payload.length; off += 32 * 1024) frames.push(...dataFrame(1, payload.subarray(off, off + 32 * 1024), off + 32 * 1024 >= payload.length));
    const socket = new Duplex({
      read() {},
      write(_c, _e, cb) {
        cb();
      },
    });
    socket.on('error', () => undefined);
    const session = new SpdySession(socket, Buffer.alloc(0), () => undefined);
    let received = 0;
    const done = new Promise<void>((resolve) => {
      session.on('stream', (s) => {
        void (async () => {
          await tick(); // the consumer comes late, as Docker's exec does
          for await (const chunk of s) received += (chunk as Buffer).length;
          resolve();
        })();
      });
    });
    // What a paused socket holds back is queued in its readable side, as a TCP socket's is.
    socket.push(Buffer.concat(frames));
    await Promise.race([done, new Promise((r) => setTimeout(r, 5_000))]);
    expect(received).toBe(payload.length);
    session.destroy();
  });
});
