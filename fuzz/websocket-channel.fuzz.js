// The Kubernetes channel protocols over WebSocket, as a client sends them: remote command
// (v5/v4/v1/base64 channel.k8s.io: stdin, resize, close-channel messages in any order) and
// port forwarding (data messages on any channel), with the consumer the streaming server
// uses (stdin pumped with for-await, as pumpStdin does; port data read and errors listened).
// Properties: nothing escapes to the process whatever the message order (e.g. stdin after
// stdin was closed); resizes delivered are positive integers; every forwarded port gets its
// own channel bytes (no two ports share a channel); bytes of a port's channel reach only it.
import { EventEmitter } from 'node:events';
import { PORT_FORWARD_SUBPROTOCOLS, REMOTE_COMMAND_SUBPROTOCOLS, portForwardOverWebSocket, remoteCommandOverWebSocket } from '../dist/streaming/websocket/kube.js';
import { EscapeWatch, assert, settle } from './lib.js';

const watch = new EscapeWatch();

class FakeWebSocket extends EventEmitter {
  OPEN = 1;
  readyState = 1;
  sent = [];
  constructor(protocol) {
    super();
    this.protocol = protocol;
  }
  send(data, opts, cb) {
    const done = typeof opts === 'function' ? opts : cb;
    this.sent.push(Buffer.isBuffer(data) ? data : Buffer.from(String(data)));
    if (done) queueMicrotask(() => done());
  }
  pause() {}
  resume() {}
  close() {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    queueMicrotask(() => this.emit('close'));
  }
}

/** Messages: [bit 0: binary][length][length bytes, the first being the channel], repeated. */
function messages(bytes) {
  const out = [];
  for (let off = 0; off + 2 <= bytes.length && out.length < 64; ) {
    const binary = (bytes[off] & 1) === 1;
    const len = bytes[off + 1];
    out.push({ binary, data: bytes.subarray(off + 2, off + 2 + len) });
    off += 2 + len;
  }
  return out;
}

/** As pumpStdin: for-await over stdin, a reset stdin being its end. */
async function pump(stdin) {
  try {
    for await (const _ of stdin);
  } catch {
    // the client reset its stdin
  }
}

async function remoteCommand(head, bytes) {
  const protocols = [...REMOTE_COMMAND_SUBPROTOCOLS, ''];
  const ws = new FakeWebSocket(protocols[(head >> 1) % protocols.length]);
  const spec = { stdin: (head & 0x10) !== 0, stdout: (head & 0x20) !== 0, stderr: (head & 0x40) !== 0, tty: (head & 0x80) !== 0 };
  const io = remoteCommandOverWebSocket(ws, spec);
  io.resizes.on('resize', (size) => {
    assert(Number.isInteger(size.width) && size.width > 0 && Number.isInteger(size.height) && size.height > 0, `resize ${JSON.stringify(size)}`);
  });
  const all = messages(bytes);
  // The server starts pumping stdin only once Docker's exec exists (and, with a TTY, the first
  // size is applied): messages before that find nobody reading. The pump starts half-way.
  let pumped = Promise.resolve();
  for (const [i, m] of all.entries()) {
    if (i === Math.floor(all.length / 2) && io.stdin) pumped = pump(io.stdin);
    ws.emit('message', m.data, m.binary);
    await settle(1);
  }
  if (all.length === 0 && io.stdin) pumped = pump(io.stdin);
  io.stdout?.write(Buffer.from('out'));
  await io.finish({ kind: 'exit', code: 1 });
  await settle();
  await pumped;
}

async function portForward(head, count, bytes) {
  const ws = new FakeWebSocket(PORT_FORWARD_SUBPROTOCOLS[(head >> 1) % PORT_FORWARD_SUBPROTOCOLS.length]);
  const ports = Array.from({ length: count }, (_, i) => 1 + ((i * 7919) % 65535));
  const received = new Map();
  portForwardOverWebSocket(ws, ports, (p) => {
    received.set(p.port, []);
    p.data.on('error', () => undefined);
    p.data.on('data', (c) => received.get(p.port).push(c));
  });
  // The two announcements per port (data, error channel) carry the channel byte first.
  const channels = ws.sent.slice(0, 2 * count).map((b) => b[0]);
  assert(new Set(channels).size === channels.length, `${count} ports need ${channels.length} channels, only ${new Set(channels).size} distinct channel bytes announced`);
  for (const m of messages(bytes)) {
    ws.emit('message', m.data, true);
    await settle(1);
  }
  ws.close();
  await settle();
}

// Input: a head byte (bit 0: port forwarding; bits 1-3: subprotocol; bits 4-7: stdin, stdout,
// stderr, tty), for port forwarding a byte of port count - 1, then the client's messages.
export async function fuzz(data) {
  if (data.length < 1) return;
  const head = data[0];
  if (head & 1) await portForward(head, 1 + (data[1] ?? 0), data.subarray(2));
  else await remoteCommand(head, data.subarray(1));
  await settle();
  watch.check('the WebSocket session');
}
