// The SPDY/3.1 framing layer against an independent implementation (spdy-transport, client
// mode) and against a hand-made peer that, like Go's spdystream, never does flow control.
import net from 'node:net';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SPDY3_DICTIONARY } from '../../src/streaming/spdy/dictionary.js';
import { FrameParser, HeaderCodec, SpdyCapError, dataFrame, decodeHeaderBlock, encodeHeaderBlock, type Frame } from '../../src/streaming/spdy/frames.js';
import { SpdySession, type SpdyStream } from '../../src/streaming/spdy/session.js';

const require = createRequire(import.meta.url);
interface ClientStream extends Duplex {
  id: number;
}
interface ClientConnection {
  start(version: number): void;
  request(uri: object, cb: (err: Error | null, s: ClientStream) => void): ClientStream;
  ping(cb: (err: Error | null) => void): void;
}
const transport = require('spdy-transport') as {
  connection: { create(socket: Duplex, opts: { protocol: 'spdy'; isServer: false; windowSize?: number }): ClientConnection };
};
const independentDictionary = (require('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>)[3];

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** A loopback TCP pair: the server end runs our SpdySession. */
async function pair(): Promise<{ session: SpdySession; client: net.Socket; serverSocket: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const serverSocket = await accepted;
  const session = new SpdySession(serverSocket, Buffer.alloc(0));
  cleanups.push(() => {
    client.destroy();
    serverSocket.destroy();
    server.close();
  });
  return { session, client, serverSocket };
}

function open(conn: ClientConnection, headers: Record<string, string>): Promise<ClientStream> {
  return new Promise((resolve, reject) =>
    conn.request({ method: 'POST', path: '/', host: 'localhost', headers, readable: true, writable: true }, (err, s) => (err ? reject(err) : resolve(s))),
  );
}

const nextStream = (session: SpdySession) => new Promise<SpdyStream>((r) => session.once('stream', r));

describe('SPDY framing', () => {
  it('uses the SPDY/3 dictionary byte for byte', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(SPDY3_DICTIONARY.equals(independentDictionary)).toBe(true);
  });

  it('reassembles frames split at any byte', () => {
    const bytes = Buffer.concat([...dataFrame(1, Buffer.from('hello'), false), ...dataFrame(3, Buffer.alloc(0), true), ...dataFrame(5, Buffer.from('x'.repeat(300)), false)]);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const p = new FrameParser();
      const frames: Frame[] = [];
      p.push(bytes.subarray(0, cut), (f) => frames.push(f));
      p.push(bytes.subarray(cut), (f) => frames.push(f));
      expect(frames.map((f) => (f.kind === 'data' ? [f.streamId, f.flags, f.data.length] : []))).toEqual([
        [1, 0, 5],
        [3, 1, 0],
        [5, 0, 300],
      ]);
    }
  });

  it('keeps one zlib context per direction across header blocks', async () => {
    const a = new HeaderCodec();
    const b = new HeaderCodec();
    for (let i = 0; i < 20; i++) {
      const h = new Map([
        ['streamtype', i % 2 ? 'data' : 'error'],
        ['port', String(8000 + i)],
        ['requestid', String(i)],
      ]);
      expect(await b.decompress(await a.compress(h))).toEqual(h);
    }
    a.close();
    b.close();
  });

  it('header blocks: lower-case names, NUL-separated values keep the first', () => {
    const block = encodeHeaderBlock(new Map([['StreamType', 'stdin']]));
    expect(decodeHeaderBlock(block)).toEqual(new Map([['streamtype', 'stdin']]));
  });
});

describe('SPDY session with spdy-transport as the client', () => {
  it('replies to streams, echoes pings, carries data both ways', async () => {
    const { session, client } = await pair();
    const conn = transport.connection.create(client, { protocol: 'spdy', isServer: false });
    conn.start(3.1);
    const serverSide = nextStream(session);
    const s = await open(conn, { streamtype: 'stdout', port: '80' });
    const srv = await serverSide;
    expect(srv.streamType).toBe('stdout');
    expect(srv.header('Port')).toBe('80');
    await new Promise<void>((resolve, reject) => conn.ping((err) => (err ? reject(err) : resolve())));
    srv.end('from server');
    s.end('from client');
    const got = await new Promise<string>((resolve) => {
      let t = '';
      s.on('data', (d: Buffer) => (t += d));
      s.on('end', () => resolve(t));
    });
    expect(got).toBe('from server');
    let fromClient = '';
    for await (const d of srv) fromClient += d;
    expect(fromClient).toBe('from client');
  });

  it('never sends past the window of a client that stopped reading, and completes once it reads', async () => {
    const { session, client } = await pair();
    let onWire = 0;
    client.on('data', (d: Buffer) => (onWire += d.length));
    const window = 64 * 1024;
    const conn = transport.connection.create(client, { protocol: 'spdy', isServer: false, windowSize: window });
    conn.start(3.1);
    const serverSide = nextStream(session);
    const s = await open(conn, { streamtype: 'stdout' });
    const srv = await serverSide;
    s.pause();
    const total = 2 * 1024 * 1024;
    srv.end(Buffer.alloc(total, 1));
    await new Promise((r) => setTimeout(r, 400));
    // The window plus frame headers and the reply; nowhere near the 2 MiB written.
    expect(onWire).toBeLessThan(window + 4096);
    expect(session.flowControl).toBe('yes');
    let got = 0;
    s.on('data', (d: Buffer) => (got += d.length));
    s.resume();
    await new Promise((r) => s.once('end', r));
    expect(got).toBe(total);
  });

  it('returns window credit as it consumes, so a client can send far more than one window', async () => {
    const { session, client } = await pair();
    const conn = transport.connection.create(client, { protocol: 'spdy', isServer: false });
    conn.start(3.1);
    const serverSide = nextStream(session);
    const s = await open(conn, { streamtype: 'stdin' });
    const srv = await serverSide;
    const total = 3 * 1024 * 1024;
    s.end(Buffer.alloc(total, 2));
    let got = 0;
    for await (const d of srv) got += (d as Buffer).length;
    expect(got).toBe(total);
  });
});

describe('SPDY replies to one read', () => {
  it('answers every ping of a read in one write, ids echoed in order, a reset after them', async () => {
    const writes: Buffer[] = [];
    const socket = new Duplex({
      read() {},
      write(c: Buffer, _e, cb) {
        writes.push(Buffer.from(c));
        cb();
      },
    });
    const session = new SpdySession(socket, Buffer.alloc(0));
    const frames: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const ping = Buffer.alloc(12);
      ping.writeUInt16BE(0x8003, 0);
      ping.writeUInt16BE(6, 2);
      ping.writeUInt32BE(4, 4);
      ping.writeUInt32BE(2 * i + 1, 8);
      frames.push(ping);
    }
    // Data on a stream never opened: INVALID_STREAM, in the same write after the pongs.
    frames.push(...dataFrame(7, Buffer.from('x'), false));
    socket.push(Buffer.concat(frames));
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    const out = writes[0];
    expect(out.length).toBe(500 * 12 + 16);
    for (let i = 0; i < 500; i++) {
      expect(out.subarray(12 * i, 12 * i + 8).toString('hex')).toBe('8003000600000004');
      expect(out.readUInt32BE(12 * i + 8)).toBe(2 * i + 1);
    }
    const rst = out.subarray(500 * 12);
    expect([rst.readUInt16BE(2), rst.readUInt32BE(4), rst.readUInt32BE(8), rst.readUInt32BE(12)]).toEqual([3, 8, 7, 2]);
    session.destroy();
  });
});

describe('SPDY session with a peer that does no flow control (like Go spdystream)', () => {
  it('stops honouring the 64 KiB window after a short grace and delivers everything', async () => {
    const { session, client } = await pair();
    // Hand-made SYN_STREAM: headers compressed with zlib primed by the independent dictionary.
    const deflate = zlib.createDeflate({ dictionary: independentDictionary });
    const headerBlock = Buffer.concat([
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 10]),
      Buffer.from('streamtype'),
      Buffer.from([0, 0, 0, 6]),
      Buffer.from('stdout'),
    ]);
    const compressed = await new Promise<Buffer>((resolve) => {
      const out: Buffer[] = [];
      deflate.on('data', (d: Buffer) => out.push(d));
      deflate.write(headerBlock);
      deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out)));
    });
    const body = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), compressed]);
    const head = Buffer.from([0x80, 3, 0, 1, 0, 0, 0, 0]);
    head.writeUInt32BE(body.length, 4);
    const serverSide = nextStream(session);
    client.write(Buffer.concat([head, body]));
    const srv = await serverSide;
    expect(srv.streamType).toBe('stdout');
    const total = 512 * 1024;
    srv.end(Buffer.alloc(total, 3));
    // Count DATA payload bytes for stream 1 until its FIN (parsed by hand, not by our parser).
    let pending = Buffer.alloc(0);
    let got = 0;
    await new Promise<void>((resolve) => {
      client.on('data', (d: Buffer) => {
        pending = Buffer.concat([pending, d]);
        while (pending.length >= 8 && pending.length >= 8 + (pending.readUInt32BE(4) & 0xffffff)) {
          const len = pending.readUInt32BE(4) & 0xffffff;
          const isData = (pending[0] & 0x80) === 0;
          if (isData && pending.readUInt32BE(0) === 1) {
            got += len;
            if (pending[4] & 1) resolve();
          }
          pending = pending.subarray(8 + len);
        }
      });
    });
    expect(got).toBe(total);
    expect(session.flowControl).toBe('no');
    deflate.close();
  });
});

describe('SPDY caps', () => {
  it('skips a data frame past the frame cap as it arrives, split anywhere, and parses what follows', () => {
    const parser = new FrameParser(1024);
    const big = Buffer.concat([...dataFrame(3, Buffer.alloc(5000, 1), false), ...dataFrame(5, Buffer.from('after'), true)]);
    const frames: Frame[] = [];
    for (let i = 0; i < big.length; i += 700) parser.push(big.subarray(i, i + 700), (f) => frames.push(f));
    expect(frames).toEqual([
      { kind: 'oversized-data', streamId: 3, length: 5000 },
      { kind: 'data', streamId: 5, flags: 1, data: Buffer.from('after') },
    ]);
  });

  it('refuses a control frame past the frame cap, naming the cap', () => {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8003, 0);
    h.writeUInt16BE(1, 2);
    h.writeUInt32BE(2 * 1024 * 1024, 4);
    expect(() => new FrameParser().push(h, () => undefined)).toThrow(/cap MAX_SPDY_FRAME_BYTES/);
  });

  it('stops inflating a header block at the cap: a 64 KB bomb of 64 MiB is refused, the codec unusable after', async () => {
    const block = encodeHeaderBlock(new Map([['x', 'a'.repeat(64 * 1024 * 1024)]]));
    const bomb = zlib.deflateSync(block, { dictionary: SPDY3_DICTIONARY, level: 9 });
    expect(bomb.length).toBeLessThan(128 * 1024);
    const codec = new HeaderCodec();
    const err = await codec.decompress(bomb).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpdyCapError);
    expect((err as SpdyCapError).cap).toBe('MAX_SPDY_HEADER_BLOCK_BYTES');
    await expect(codec.decompress(bomb)).rejects.toThrow(/MAX_SPDY_HEADER_BLOCK_BYTES/);
    codec.close();
  });

  it('a block just under the cap still inflates', async () => {
    const codec = new HeaderCodec();
    const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
    const out: Buffer[] = [];
    deflate.on('data', (c: Buffer) => out.push(c));
    deflate.write(encodeHeaderBlock(new Map([['x', 'b'.repeat(200 * 1024)]])));
    await new Promise<void>((r) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    expect((await codec.decompress(Buffer.concat(out))).get('x')).toHaveLength(200 * 1024);
    codec.close();
  });
});
