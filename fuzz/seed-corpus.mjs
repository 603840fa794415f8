// Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/ (run after npm run
// build; the files are committed, rerun only to change the seeds). Real inputs where there are
// any: fuzz/seeds/spdy/ holds what the Go spdystream client (test/go/spdyclient) sent
// (capture-spdy.mjs), fuzz/seeds/cni/ what Debian's containernetworking-plugins printed
// (bridge with host-local dual stack, ptp, loopback, host-local alone, an error); the rest are
// the forms kubectl, the kubelet, Docker and cri-dockerd's users produce. Each seed is laid out
// as its target's comment describes (a few head bytes, then the peer's bytes).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from '../dist/streaming/spdy/dictionary.js';
import { dataFrame, encodeHeaderBlock, goAwayFrame, pingFrame, rstStreamFrame, windowUpdateFrame } from '../dist/streaming/spdy/frames.js';

const FUZZ = dirname(fileURLToPath(import.meta.url));
const b = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

function write(target, seeds) {
  const dir = join(FUZZ, 'corpus', target);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of seeds) {
    const id = createHash('sha1').update(bytes).digest('hex').slice(0, 12);
    writeFileSync(join(dir, `seed-${name}-${id}`), bytes);
  }
  console.log(`${target}: ${seeds.length} seeds`);
}

// --- SPDY: real client sessions, plus the control frames Go's client never sends.
const captures = readdirSync(join(FUZZ, 'seeds/spdy')).map((f) => [f.replace(/\.bin$/, ''), readFileSync(join(FUZZ, 'seeds/spdy', f))]);
function control(type, flags, payload) {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE((((flags & 0xff) << 24) | payload.length) >>> 0, 4);
  return b(h, payload);
}
function synStream(id, headers, flags = 0) {
  const z = zlib.deflateSync(encodeHeaderBlock(new Map(Object.entries(headers))), { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const p = Buffer.alloc(10);
  p.writeUInt32BE(id, 0);
  return control(1, flags, b(p, z));
}
const settings = (() => {
  const p = Buffer.alloc(12);
  p.writeUInt32BE(1, 0);
  p.writeUInt32BE(7, 4); // SETTINGS_INITIAL_WINDOW_SIZE
  p.writeUInt32BE(1 << 20, 8);
  return control(4, 0, p);
})();
const synthetic = [
  ['settings-window-ping', b(settings, pingFrame(1), synStream(1, { streamtype: 'error' }), windowUpdateFrame(1, 4096), windowUpdateFrame(0, 4096))],
  ['rst-and-data-after', b(synStream(1, { streamtype: 'stdin' }), rstStreamFrame(1, 5), ...dataFrame(1, Buffer.from('late'), false), ...dataFrame(9, Buffer.from('x'), true))],
  ['headers-goaway-syn', b(synStream(1, { streamtype: 'data', port: '80', requestid: '0' }), control(8, 0, b([0, 0, 0, 1], [0, 0, 0, 0])), goAwayFrame(1, 0), synStream(3, { streamtype: 'error' }))],
  ['unknown-control', b(control(0x42, 0xff, Buffer.from('ignored')), synStream(1, { streamtype: 'stdout' }, 2))],
  // One header whose value inflates past the 256 KiB cap of issue 11 from a few hundred bytes.
  ['inflates-300k', synStream(1, { streamtype: 'error', big: 'a'.repeat(300 * 1024) })],
];
const spdy = [...captures, ...synthetic].flatMap(([name, bytes]) => [
  [`${name}-one-read`, b([0, 0], bytes)],
  [`${name}-reads-of-1-and-7`, b([1, 7], bytes)],
]);
write('spdy-frames', [...spdy, ['header-block', b([0, 0], encodeHeaderBlock(new Map([[':status', '200'], [':version', 'HTTP/1.1'], ['x', 'a\0b']])))]]);
write('spdy-session', spdy);

// --- WebSocket channel protocols, as kubectl (v5, v4) and older clients (base64) send them.
const msg = (binary, channel, data) => {
  const body = b([channel], data);
  return b([binary ? 1 : 0, body.length], body);
};
const textMsg = (text) => b([0, Buffer.byteLength(text)], text);
const head = (protocolIndex, { stdin, stdout, stderr, tty }) => (protocolIndex << 1) | (stdin ? 0x10 : 0) | (stdout ? 0x20 : 0) | (stderr ? 0x40 : 0) | (tty ? 0x80 : 0);
write('websocket-channel', [
  ['v5-exec-tty', b([head(0, { stdin: true, stdout: true, tty: true })], msg(1, 4, '{"Width":80,"Height":24}'), msg(1, 0, 'ls -l /\n'), msg(1, 4, '{"Width":120,"Height":40}'), msg(1, 0, 'exit\n'), msg(1, 255, [0]))],
  ['v5-exec-notty', b([head(0, { stdin: true, stdout: true, stderr: true })], msg(1, 0, 'echo hi\n'), msg(1, 255, [0]))],
  // Issue 11: closing stdin (channel 255) and then sending more stdin took the process down.
  ['v5-stdin-after-close', b([head(0, { stdin: true, stdout: true })], msg(1, 0, 'a'), msg(1, 255, [0]), msg(1, 0, 'after close'))],
  ['v4-exec', b([head(1, { stdin: true, stdout: true, stderr: true })], msg(1, 0, 'date\n'), msg(1, 4, '{"Width":0,"Height":-1}'))],
  ['base64-exec', b([head(3, { stdin: true, stdout: true })], textMsg(`0${Buffer.from('ls\n').toString('base64')}`), textMsg('4eyJXaWR0aCI6ODAsIkhlaWdodCI6MjR9'), textMsg('9!!'))],
  ['portforward-one', b([1 | (0 << 1), 0], msg(1, 0, 'GET / HTTP/1.0\r\n\r\n'), msg(1, 1, 'err'), msg(1, 0, [0x50, 0x00]))],
  ['portforward-two', b([1 | (1 << 1), 1], msg(1, 2, 'second port'), msg(1, 0, 'first'))],
  // Issue 11: port index 128 and above wrapped the channel byte onto another port's channels.
  ['portforward-200-ports', b([1, 199], msg(1, 0, 'first port'), msg(1, 0xff, 'channel 255'))],
]);

// --- CRI logs: Docker's multiplexed frames with timestamps=1, raw tty output.
const T = '2026-12-01T21:28:05.123456789Z';
const dockerFrame = (kind, text) => {
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt32BE(Buffer.byteLength(text), 4);
  return b(h, text);
};
const criLog = (cut, cap, time, bytes) => b([cut, cap, Buffer.byteLength(time)], time, bytes);
write('cri-log', [
  ['docker-frames', criLog(0, 62, T, b(dockerFrame(1, `${T} hello\n`), dockerFrame(2, `2026-12-01T21:28:05.2Z oops\n`), dockerFrame(1, `2026-12-01T21:28:06Z no newline`)))],
  ['docker-frames-split', criLog(5, 10, '2026-12-01T21:28:05+01:00', b(dockerFrame(1, `${T} ${'x'.repeat(40)}\n`), dockerFrame(0, 'stdin')))],
  ['tty-crlf', criLog(3, 6, '1970-01-01T00:00:00Z', 'total 4\r\ndrwxr-xr-x 2 root root\r\n\r\nprompt# ')],
  ['long-line', criLog(7, 14, '2026-02-29T00:00:00.000000001Z', `${'y'.repeat(100)}\n${'z'.repeat(28)}`)],
  ['pre-epoch', criLog(0, 20, '0001-01-01T00:00:00Z', 'a\n')],
]);

// --- CRI log files as resume reads them (the kubelet's format, rotated or cut mid-record).
const rec = (time, stream, tag, text) => `${time} ${stream} ${tag} ${text}\n`;
write('log-resume', [
  ['records', Buffer.from(rec(T, 'stdout', 'F', 'hello') + rec('2026-12-01T21:28:06.5Z', 'stderr', 'P', 'part') + rec('2026-12-01T21:28:06.6Z', 'stderr', 'F', 'rest'))],
  ['cut-mid-record', Buffer.from(`${rec(T, 'stdout', 'F', 'done')}2026-12-01T21:28:07.1Z stdout F trunc`)],
  ['empty', Buffer.alloc(0)],
  ['offset-time', Buffer.from(rec('2026-12-01T22:28:05.000000001+01:00', 'stdout', 'F', 'x'))],
  ['time-only', Buffer.from(`${T}\n`)],
]);

// --- CNI results: what the plugins printed, legacy shapes and malformed ones.
const cni = readdirSync(join(FUZZ, 'seeds/cni')).map((f) => [f.replace(/\.json$/, ''), readFileSync(join(FUZZ, 'seeds/cni', f))]);
const cniSeed = (from, to, ifIndex, json) => b([from, to, ifIndex], json);
write('cni-result', [
  ...cni.flatMap(([name, json]) => [
    [`${name}-as-1.0.0`, cniSeed(5, 4, 0, json)],
    [`${name}-to-0.2.0`, cniSeed(4, 1, 1, json)],
  ]),
  ['legacy-0.2.0', cniSeed(1, 5, 0, '{"cniVersion":"0.2.0","ip4":{"ip":"10.2.0.3/24","gateway":"10.2.0.1","routes":[{"dst":"0.0.0.0/0"}]},"ip6":{"ip":"fd01::3/64"},"dns":{"nameservers":["10.96.0.10"]}}')],
  ['no-version', cniSeed(3, 1, 0, '{"ips":[{"version":"6","address":"fd00::5/64"},{"version":"4","address":"10.0.0.5/8","interface":0}],"interfaces":[{"name":"eth0","sandbox":"/proc/1/ns/net"}]}')],
]);

// --- Image references as pod specs and crictl write them.
const refs = [
  'busybox', 'busybox:1.36', 'library/busybox:latest', 'docker.io/library/busybox', 'index.docker.io/library/busybox:1',
  'registry.k8s.io/pause:3.10', 'docker-cri-shim/pause', 'docker-cri-shim-test/busybox:latest', '127.0.0.1:5000/docker-cri-shim-test/busybox:v1',
  'localhost/app', 'localhost:5000/team/app:v2.0-rc.1', '[::1]:5000/a/b:c', 'gcr.io/k8s-minikube/storage-provisioner:v5',
  'quay.io/coreos/etcd@sha256:0f3d2c3bfd3bd2e1c8db5ae3dd1ef7fa2cc1e5fbea3a0f3a6f0f8e57a0e7e0ff',
  'nginx:1.27@sha256:0f3d2c3bfd3bd2e1c8db5ae3dd1ef7fa2cc1e5fbea3a0f3a6f0f8e57a0e7e0ff',
  'sha256:0f3d2c3bfd3bd2e1c8db5ae3dd1ef7fa2cc1e5fbea3a0f3a6f0f8e57a0e7e0ff', '0f3d2c3bfd3bd2e1c8db5ae3dd1ef7fa2cc1e5fbea3a0f3a6f0f8e57a0e7e0ff',
  'Upper/Case', 'a__b/c--d/e.f_g', 'host:notaport/x', ':tag', 'x@sha256:short', '',
];
write('image-ref', refs.map((r, i) => [`ref${i}`, Buffer.from(r)]));

// --- Flag values: cri-dockerd's forms on the command line and in a --config file.
const values = ['2m0s', '0', '90s', '1h30m', '500ms', '1.5h', '10us', '3µs', '-1s', ':9100', '127.0.0.1:9100', '9100', '[::1]:10010', '0.0.0.0:0', 'localhost', '127.0.0.1'];
const argv = [
  ['--container-runtime-endpoint', 'unix:///var/run/cri-dockerd.sock', '--network-plugin=cni', '--pod-infra-container-image=registry.k8s.io/pause:3.10'],
  ['--runtime-request-timeout=0', '--image-pull-progress-deadline', '1m', '--metrics-bind-addr=9100', '--streaming-bind-addr', '127.0.0.1:10010'],
  ['-log-level=debug', '--ipv6-dual-stack', '--network-plugin-mtu=1450', '--hairpin-mode', 'hairpin-veth', '--cni-bin-dir=/opt/cni/bin,/usr/lib/cni'],
  ['--cri-dockerd-root-directory=/var/lib/cri-dockerd', '--runtime-cgroups=/system.slice/cri-docker.service', '--pod-cidr=10.244.0.0/16,fd00::/64'],
  ['--version'], ['--help=false', '--h'], ['--unknown'], ['stray'], ['--network-plugin-mtu', '-5'],
];
const yamlConfig = 'container-runtime-endpoint: unix:///var/run/docker-cri-shim.sock\nruntime-request-timeout: 2m0s\nipv6-dual-stack: true\nnetwork-plugin-mtu: 1450\nmetrics-bind-addr: "127.0.0.1:9100"\n';
const jsonConfig = '{"network-plugin":"cni","cni-conf-dir":"/etc/cni/net.d","image-pull-progress-deadline":"0"}';
write('flags', [
  ...values.map((v, i) => [`value${i}`, b([0], v)]),
  ['config-yaml', b([1, 0], yamlConfig)],
  ['config-json', b([1, 1], jsonConfig)],
  ['config-yaml-anchors', b([1, 0], 'a: &x [1, 2]\nb: *x\n')],
  ...argv.map((a, i) => [`argv${i}`, b([2], a.join('\0'))]),
]);


// --- Files out of a container for ContainerStatus: User/GroupAdd, /etc/passwd, /etc/group, and a
// tar as Docker's archive API returns one file.
const passwd = 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/bin/sh\n';
const group = 'root:x:0:\ndaemon:x:1:\nwheel:x:10:app,root\nnogroup:x:65534:\napp:x:1000:\n';
function tarOf(name, content) {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${Buffer.byteLength(content).toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('0', 156);
  h.fill(' ', 148, 156);
  h.write(`${h.reduce((a, c) => a + c, 0).toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.from(content);
  return b(h, body, Buffer.alloc((512 - (body.length % 512)) % 512), Buffer.alloc(1024));
}
const userSeed = (user, groupAdd, pw, gr) => Buffer.from([user, groupAdd, pw, gr].join('\0'));
write('container-user', [
  ['name', userSeed('app', '', passwd, group)],
  ['uid-gid-groupadd', userSeed('1000:10', 'wheel,5', passwd, group)],
  ['root-default', userSeed('', '', passwd, group)],
  ['name-group', userSeed('app:wheel', '', passwd, group)],
  ['busybox', userSeed('nobody', '', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n# comment\n', 'root:x:0:\nnogroup:x:65534:\n')],
  ['tar-passwd', tarOf('passwd', passwd)],
]);
