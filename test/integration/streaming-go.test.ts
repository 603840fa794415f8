// The streaming server against moby/spdystream, the Go SPDY library of the kubelet, kubectl
// and crictl (test/go/spdyclient, built here from Debian's golang-go and
// golang-github-docker-spdystream-dev, which .ci/run installs). spdystream does no flow
// control, so this is also the path where the server must not wait for window updates.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOP, startShim, type RunningShim } from '../helpers/shim.js';
import { PodFixture } from '../helpers/containers.js';

const GOPATH = '/usr/share/gocode';
const haveGo = (() => {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return existsSync(join(GOPATH, 'src/github.com/moby/spdystream'));
  } catch {
    return false;
  }
})();
if (!haveGo) console.warn('streaming-go: go or spdystream sources missing (apt-get install golang-go golang-github-docker-spdystream-dev); skipped');

let shim: RunningShim;
const fx = new PodFixture(() => shim);
const bin = join(mkdtempSync(join(tmpdir(), 'spdyclient-')), 'spdyclient');
let pod: Awaited<ReturnType<PodFixture['pod']>>;
let cid: string;

function run(args: string[], stdin = ''): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: err, code }));
    p.stdin.end(stdin);
  });
}

describe.skipIf(!haveGo)('streaming with Go spdystream (the kubelet/kubectl SPDY library)', () => {
  beforeAll(async () => {
    execFileSync('go', ['build', '-o', bin, '.'], {
      cwd: join(TOP, 'test/go/spdyclient'),
      env: { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: join(tmpdir(), 'spdyclient-gocache') },
      stdio: 'inherit',
    });
    shim = await startShim();
    pod = await fx.pod('gostream');
    cid = await fx.run(pod, fx.containerConfig('main', { command: ['httpd', '-f', '-p', '8080', '-h', '/var/www'] }));
  });

  afterAll(async () => {
    await fx.cleanup();
    await shim?.stop();
    rmSync(join(bin, '..'), { recursive: true, force: true });
  });

  const execUrl = async (cmd: string[], stdin: boolean, tty: boolean) =>
    (await shim.client.rt('Exec', { container_id: cid, cmd, stdin, stdout: true, stderr: !tty, tty })).url;

  it('exec with stdin, separate stdout/stderr and a non-zero exit code', async () => {
    const r = await run(['exec', await execUrl(['sh', '-c', 'cat; echo err >&2; exit 3'], true, false), 'stdin', 'notty'], 'from go\n');
    expect(r.stdout.toString()).toBe('from go\n');
    expect(r.stderr).toContain('err\n');
    const status = JSON.parse(/STATUS: (.*)/.exec(r.stderr)![1]);
    expect(status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });

  it('tty exec sees the size sent on the resize stream', async () => {
    const r = await run(['exec', await execUrl(['sh', '-c', 'sleep 0.5; stty size'], false, true), 'nostdin', 'tty']);
    expect(r.stdout.toString()).toContain('19 91');
    expect(r.stderr).toContain('"status":"Success"');
  });

  it('moves 20 MB to a client that never sends WINDOW_UPDATE', async () => {
    const size = 20 * 1024 * 1024;
    const r = await run(['exec', await execUrl(['head', '-c', String(size), '/dev/zero'], false, false), 'nostdin', 'notty']);
    expect(r.stdout.length).toBe(size);
    expect(r.stderr).toContain('"status":"Success"');
  });

  it('port-forwards to httpd in the pod, and reports a refused port on the error stream', async () => {
    const url = async () => (await shim.client.rt('PortForward', { pod_sandbox_id: pod.id, port: [] })).url;
    const ok = await run(['portforward', await url(), '8080', 'GET /index.html HTTP/1.0\r\n\r\n']);
    expect(ok.stdout.toString()).toMatch(/^HTTP\/1\.[01] 200/);
    expect(ok.stdout.toString()).toMatch(/ERROR: \n$/);
    const refused = await run(['portforward', await url(), '9', '']);
    expect(refused.stdout.toString()).toMatch(/ERROR: .*9.*refused/i);
  });
});
