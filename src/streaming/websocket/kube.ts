// The Kubernetes channel protocols over WebSocket: every message starts with a channel byte
// (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds 255 = close a channel). The
// base64 variant sends text messages: the channel as an ASCII digit, then base64 data.
// Port forwarding gives port i the channels 2i (data) and 2i+1 (error), each opened by a
// message carrying the port as two little-endian bytes.
import { Duplex, Readable, Writable } from 'node:stream';
import type { WebSocket, RawData } from 'ws';
import { MAX_WEBSOCKET_MESSAGE_BYTES, MAX_WEBSOCKET_PORTS, kib } from '../limits.js';
import { ResizeQueue, errorChannelPayload, parseSize, type CommandResult, type RemoteCommandIO } from '../remotecommand.js';

export const REMOTE_COMMAND_SUBPROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];
export const PORT_FORWARD_SUBPROTOCOLS = ['v4.portforward.k8s.io', 'portforward.k8s.io'];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

/** Picks the first subprotocol the client offers that we speak (the client's order wins). */
export function pickSubprotocol(offered: Set<string>, supported: string[]): string | false {
  for (const p of offered) if (supported.includes(p)) return p;
  return false;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Sends and receives channel messages in the framing the subprotocol chose. */
class ChannelCodec {
  readonly base64: boolean;

  constructor(private readonly ws: WebSocket) {
    this.base64 = ws.protocol.startsWith('base64.');
  }

  send(channel: number, data: Buffer, cb?: (err?: Error) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      cb?.(new Error('websocket closed'));
      return;
    }
    if (this.base64) this.ws.send(`${channel}${data.toString('base64')}`, cb);
    else this.ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, cb);
  }

  decode(data: RawData, isBinary: boolean): { channel: number; payload: Buffer } | undefined {
    const buf = toBuffer(data);
    if (buf.length === 0) return undefined;
    if (this.base64 && !isBinary) {
      const text = buf.toString('utf8');
      return { channel: Number(text[0]), payload: Buffer.from(text.slice(1), 'base64') };
    }
    return { channel: buf[0], payload: buf.subarray(1) };
  }
}

/** Close code of a message past maxPayload (RFC 6455 "message too big"). */
const CLOSE_TOO_BIG = 1009;
/** Close code of a session ended by a fault of ours in handling a message. */
const CLOSE_INTERNAL = 1011;

/**
 * ws ends a session whose message passes maxPayload with close code 1009 and no reason: the
 * close then names the cap, and `lastWords` may first tell the client on a channel.
 */
function nameMessageCap(ws: WebSocket, lastWords: (message: string) => void): void {
  const close = ws.close.bind(ws);
  ws.close = (code?: number, reason?: string | Buffer) => {
    if (code !== CLOSE_TOO_BIG || reason !== undefined) return close(code, reason);
    const message = `message larger than ${kib(MAX_WEBSOCKET_MESSAGE_BYTES)} (cap MAX_WEBSOCKET_MESSAGE_BYTES)`;
    lastWords(message);
    return close(code, message);
  };
}

/** Runs a message handler; a fault in it ends this session (never the process) with a reason. */
function onMessage(ws: WebSocket, handle: (data: RawData, isBinary: boolean) => void): void {
  ws.on('message', (data, isBinary) => {
    try {
      handle(data, isBinary);
    } catch (err) {
      ws.emit('error', err instanceof Error ? err : new Error(String(err)));
      ws.close(CLOSE_INTERNAL, 'internal error handling a message');
    }
  });
}

/** An output channel as a Writable whose writes complete when the frame is on the socket. */
function channelWriter(codec: ChannelCodec, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      // A client that left must not stall the command's output pump.
      codec.send(channel, chunk, () => cb());
    },
  });
}

export function remoteCommandOverWebSocket(ws: WebSocket, spec: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): RemoteCommandIO {
  const codec = new ChannelCodec(ws);
  const abort = new AbortController();
  const resizes = new ResizeQueue();
  const stdin = spec.stdin
    ? new Readable({
        read() {
          ws.resume();
        },
      })
    : undefined;
  let finished = false;
  // Input after the client closed stdin (or left) is dropped: pushing past EOF would fail the stream.
  let stdinOpen = stdin !== undefined;
  const endStdin = () => {
    if (!stdinOpen) return;
    stdinOpen = false;
    stdin?.push(null);
  };
  stdin?.on('error', () => endStdin());
  nameMessageCap(ws, (message) => {
    const payload = errorChannelPayload(ws.protocol || 'channel.k8s.io', { kind: 'error', message });
    if (payload) codec.send(ERROR, payload);
  });
  onMessage(ws, (data, isBinary) => {
    const msg = codec.decode(data, isBinary);
    if (!msg) return;
    switch (msg.channel) {
      case STDIN:
        if (stdin && stdinOpen && !stdin.destroyed && !stdin.push(msg.payload)) ws.pause();
        return;
      case RESIZE: {
        const size = parseSize(msg.payload.toString('utf8'));
        if (size) resizes.push(size);
        return;
      }
      case CLOSE:
        if (msg.payload[0] === STDIN) endStdin();
        return;
      default:
        return;
    }
  });
  ws.on('close', () => {
    if (!finished) abort.abort();
    endStdin();
  });
  ws.on('error', () => undefined);
  return {
    stdin,
    stdout: spec.stdout ? channelWriter(codec, STDOUT) : undefined,
    stderr: spec.stderr && !spec.tty ? channelWriter(codec, STDERR) : undefined,
    resizes,
    signal: abort.signal,
    finish: async (result: CommandResult) => {
      finished = true;
      const payload = errorChannelPayload(ws.protocol || 'channel.k8s.io', result);
      if (payload) await new Promise<void>((resolve) => codec.send(ERROR, payload, () => resolve()));
      ws.close(1000);
    },
  };
}

export interface WebSocketPortStreams {
  port: number;
  /** Client bytes in, connection bytes out. */
  data: Duplex;
  /** Reports an error on the port's error channel. */
  fail(message: string): void;
}

/**
 * Opens the channels of every port and calls `onPort` for each, as the client connects. More
 * ports than channel bytes can address end the session at once: port i's channels are 2i and
 * 2i+1, and a port past MAX_WEBSOCKET_PORTS would wrap onto another port's channel.
 */
export function portForwardOverWebSocket(ws: WebSocket, ports: number[], onPort: (p: WebSocketPortStreams) => void): void {
  ws.on('error', () => undefined);
  if (ports.length > MAX_WEBSOCKET_PORTS) {
    ws.close(1008, `${ports.length} ports, more than the ${MAX_WEBSOCKET_PORTS} channels can address`);
    return;
  }
  const codec = new ChannelCodec(ws);
  const inputs = new Map<number, Duplex>();
  nameMessageCap(ws, (message) => {
    for (let i = 0; i < ports.length; i++) codec.send(2 * i + 1, Buffer.from(message));
  });
  ports.forEach((port, i) => {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    codec.send(2 * i, portBytes);
    codec.send(2 * i + 1, portBytes);
    const data = new Duplex({
      read() {
        ws.resume();
      },
      write(chunk: Buffer, _enc, cb) {
        codec.send(2 * i, chunk, () => cb());
      },
    });
    data.on('error', () => undefined);
    inputs.set(2 * i, data);
    onPort({ port, data, fail: (message) => codec.send(2 * i + 1, Buffer.from(message)) });
  });
  onMessage(ws, (data, isBinary) => {
    const msg = codec.decode(data, isBinary);
    const input = msg && inputs.get(msg.channel);
    // A connection already gone takes no more input (and must not stall the others).
    if (!input || input.destroyed || input.readableEnded) return;
    if (!input.push(msg.payload)) ws.pause();
  });
  ws.on('close', () => {
    for (const input of inputs.values()) input.destroy();
  });
}
