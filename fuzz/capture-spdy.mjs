// Records what a real Go SPDY client (moby/spdystream, as the kubelet, kubectl and crictl use
// it: test/go/spdyclient) sends after the upgrade, for the SPDY fuzz corpora. The project's own
// session answers, so the client runs its whole exchange (streams, stdin, resize, FINs).
//
//   node fuzz/capture-spdy.mjs SPDYCLIENT OUT.bin exec stdin|nostdin tty|notty
//   node fuzz/capture-spdy.mjs SPDYCLIENT OUT.bin portforward PORT
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { SpdySession } from '../dist/streaming/spdy/session.js';

const [client, out, mode, ...rest] = process.argv.slice(2);
const protocol = mode === 'exec' ? 'v4.channel.k8s.io' : 'portforward.k8s.io';
const received = [];
const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
  received.push(head);
  socket.on('data', (c) => received.push(c));
  const session = new SpdySession(socket, head);
  const streams = new Map();
  session.on('stream', (s) => {
    s.on('error', () => undefined);
    streams.set(s.streamType, s);
    s.resume();
    if (s.streamType === 'data') s.once('data', () => s.end('reply'));
    if (mode === 'exec' && streams.has('stdout') && streams.has('error')) {
      setTimeout(() => {
        streams.get('stdout').end('hello from the container\n');
        streams.get('stderr')?.end();
        streams.get('error').end();
      }, 300);
    }
    if (mode === 'portforward' && s.streamType === 'error') setTimeout(() => s.end(), 300);
  });
});
server.listen(0, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}/${mode}/token`;
  const args = mode === 'exec' ? ['exec', url, ...rest] : ['portforward', url, rest[0], 'GET / HTTP/1.0\r\n\r\n'];
  const child = spawn(client, args, { stdio: ['pipe', 'ignore', 'inherit'] });
  if (mode === 'exec') child.stdin.end('ls -l /\nexit\n');
  const stop = setTimeout(() => child.kill(), 5000);
  child.on('exit', () => {
    clearTimeout(stop);
    writeFileSync(out, Buffer.concat(received));
    server.close();
    process.exit(0);
  });
});
