// Exec, Attach, PortForward and ExecSync end to end: pods and containers made through the
// shim's gRPC API, sessions driven by real SPDY (spdy-transport) and WebSocket (ws) clients.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { startShim, type RunningShim } from '../helpers/shim.js';
import { PodFixture, docker } from '../helpers/containers.js';
import { HttpStatusError, collect, spdyConnect, spdyExec, wsConnect, wsExec } from '../helpers/stream-clients.js';

let shim: RunningShim;
const fx = new PodFixture(() => shim);
let pod: { id: string; config: Awaited<ReturnType<PodFixture['pod']>>['config'] };
let cid: string;

const metricsPort = 30000 + Math.floor(Math.random() * 20000);

beforeAll(async () => {
  shim = await startShim({ args: [`--metrics-bind-addr=127.0.0.1:${metricsPort}`] });
  pod = await fx.pod('stream');
  cid = await fx.run(pod, fx.containerConfig('main', { command: ['sleep', '3600'] }));
});

afterAll(async () => {
  await fx.cleanup();
  await shim?.stop();
});

async function execUrl(cmd: string[], opts: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean } = {}, container = cid): Promise<string> {
  const { url } = await shim.client.rt('Exec', {
    container_id: container,
    cmd,
    stdin: opts.stdin ?? false,
    stdout: opts.stdout ?? true,
    stderr: opts.stderr ?? !opts.tty,
    tty: opts.tty ?? false,
  });
  return url;
}

async function execSync(cmd: string[], timeout = 0, container = cid) {
  return shim.client.rt('ExecSync', { container_id: container, cmd, timeout: String(timeout) });
}

function hostProcesses(text: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(text));
}

function streamingConnections(port: number): number {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' }).trim();
  return out ? out.split('\n').length : 0;
}

function openFds(): number {
  return readdirSync(`/proc/${shim.proc.pid}/fd`).length;
}

/** Processes in the main container whose command line matches. */
async function processesMatching(text: string): Promise<string[]> {
  const r = await execSync(['ps', '-o', 'pid,args']);
  return Buffer.from(r.stdout!).toString().split('\n').filter((l) => l.includes(text) && !l.includes('ps -o'));
}

describe('Exec over SPDY/3.1', () => {
  it('returns an absolute http URL on loopback', async () => {
    const url = await execUrl(['true']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{20,}$/);
  });

  it('runs sh -c with stdin, separated stdout and stderr, and reports Success (v4)', async () => {
    const url = await execUrl(['sh', '-c', 'cat; echo to-stderr >&2'], { stdin: true });
    const s = await spdyExec(url, { stdin: true, stderr: true });
    expect(s.client.protocol).toBe('v4.channel.k8s.io');
    s.stdin!.end('hello from stdin\n');
    expect((await s.stdout).toString()).toBe('hello from stdin\n');
    expect((await s.stderr).toString()).toBe('to-stderr\n');
    expect(JSON.parse(await s.error)).toEqual({ metadata: {}, status: 'Success' });
  });

  it('reports a non-zero exit code as NonZeroExitCode with the ExitCode cause', async () => {
    const url = await execUrl(['sh', '-c', 'echo out; exit 7']);
    const s = await spdyExec(url, {});
    expect((await s.stdout).toString()).toBe('out\n');
    const st = JSON.parse(await s.error);
    expect(st.status).toBe('Failure');
    expect(st.reason).toBe('NonZeroExitCode');
    expect(st.details.causes).toEqual([{ reason: 'ExitCode', message: '7' }]);
  });

  it('older protocol versions get plain text on the error stream', async () => {
    const url = await execUrl(['sh', '-c', 'exit 2']);
    const s = await spdyExec(url, {}, ['v2.channel.k8s.io']);
    expect(s.client.protocol).toBe('v2.channel.k8s.io');
    expect(await s.error).toMatch(/non-zero exit code.*2/);
  });

  it('runs an interactive tty and applies resizes (stty size)', async () => {
    const url = await execUrl(['sh'], { stdin: true, tty: true });
    const s = await spdyExec(url, { stdin: true, tty: true });
    s.resize!.write(JSON.stringify({ Width: 123, Height: 45 }));
    await new Promise((r) => setTimeout(r, 300));
    s.stdin!.write('stty size; exit 0\n');
    const out = (await s.stdout).toString();
    expect(out).toContain('45 123');
    expect(JSON.parse(await s.error).status).toBe('Success');
  });

  it('refuses a protocol it does not speak with 403', async () => {
    const url = await execUrl(['true']);
    await expect(spdyConnect(url, ['v9.channel.k8s.io'])).rejects.toMatchObject({ status: 403 });
  });
});

describe('Exec over WebSocket', () => {
  it('v5: stdin closed by the close message ends cat; stdout/stderr separated; Status on channel 3', async () => {
    const url = await execUrl(['sh', '-c', 'cat; echo e >&2; exit 3'], { stdin: true });
    const r = await wsExec(url, ['v5.channel.k8s.io'], (send) => {
      send(0, 'abc\n');
      send(255, Buffer.from([0]));
    });
    expect(r.protocol).toBe('v5.channel.k8s.io');
    expect(r.stdout.toString()).toBe('abc\n');
    expect(r.stderr.toString()).toBe('e\n');
    const st = JSON.parse(r.error);
    expect(st.reason).toBe('NonZeroExitCode');
    expect(st.details.causes[0]).toEqual({ reason: 'ExitCode', message: '3' });
  });

  it('v4 tty with resize', async () => {
    const url = await execUrl(['sh'], { stdin: true, tty: true });
    const r = await wsExec(url, ['v4.channel.k8s.io'], (send) => {
      send(4, JSON.stringify({ Width: 77, Height: 22 }));
      setTimeout(() => send(0, 'stty size; exit\n'), 300);
    });
    expect(r.stdout.toString()).toContain('22 77');
    expect(JSON.parse(r.error).status).toBe('Success');
  });

  it('base64.channel.k8s.io carries text frames', async () => {
    const url = await execUrl(['echo', 'b64 works']);
    const r = await wsExec(url, ['base64.channel.k8s.io']);
    expect(r.protocol).toBe('base64.channel.k8s.io');
    expect(r.stdout.toString()).toBe('b64 works\n');
  });
});

describe('tokens', () => {
  it('a used token answers 404 (SPDY and WebSocket), an unknown one too, without hanging', async () => {
    const url = await execUrl(['true']);
    const s = await spdyExec(url, {});
    await s.error;
    await expect(spdyConnect(url, ['v4.channel.k8s.io'])).rejects.toMatchObject({ status: 404 });
    await expect(wsConnect(url, ['v4.channel.k8s.io'])).rejects.toMatchObject({ status: 404 });
    const unknown = url.replace(/[^/]+$/, 'AAAAAAAAAAAAAAAAAAAAAAAA');
    await expect(spdyConnect(unknown, ['v4.channel.k8s.io'])).rejects.toBeInstanceOf(HttpStatusError);
    const res = await fetch(unknown);
    expect(res.status).toBe(404);
  });

  it('an exec token is not an attach or port-forward token', async () => {
    const url = await execUrl(['true']);
    await expect(spdyConnect(url.replace('/exec/', '/attach/'), ['v4.channel.k8s.io'])).rejects.toMatchObject({ status: 404 });
    // Still unused for its own kind.
    const s = await spdyExec(url, {});
    expect(JSON.parse(await s.error).status).toBe('Success');
  });
});

describe('bad requests', () => {
  it('Exec/Attach/ExecSync errors come before any URL', async () => {
    await expectCode(shim.client.rt('Exec', { container_id: cid, cmd: [], stdout: true }), status.INVALID_ARGUMENT);
    await expectCode(shim.client.rt('Exec', { container_id: 'f'.repeat(64), cmd: ['true'], stdout: true }), status.NOT_FOUND);
    await expectCode(shim.client.rt('Exec', { container_id: cid, cmd: ['true'], tty: true, stderr: true, stdout: true }), status.INVALID_ARGUMENT);
    await expectCode(shim.client.rt('ExecSync', { container_id: cid, cmd: [] }), status.INVALID_ARGUMENT);
    await expectCode(shim.client.rt('ExecSync', { container_id: 'nope', cmd: ['true'] }), status.NOT_FOUND);
    await expectCode(shim.client.rt('PortForward', { pod_sandbox_id: 'nope', port: [80] }), status.NOT_FOUND);
    const stopped = await fx.create(pod, fx.containerConfig('never-started', { command: ['true'] }));
    const e = await expectCode(execSync(['true'], 0, stopped), status.FAILED_PRECONDITION);
    expect(e.details).toContain('not running');
    await expectCode(shim.client.rt('Attach', { container_id: stopped, stdout: true }), status.FAILED_PRECONDITION);
  });
});

describe('ExecSync', () => {
  it('returns stdout, stderr and the exit code', async () => {
    const r = await execSync(['sh', '-c', 'echo out; echo err >&2; exit 4']);
    expect(Buffer.from(r.stdout!).toString()).toBe('out\n');
    expect(Buffer.from(r.stderr!).toString()).toBe('err\n');
    expect(r.exit_code).toBe(4);
  });

  it('times out with DeadlineExceeded and kills the process', async () => {
    const started = Date.now();
    await expectCode(execSync(['sh', '-c', 'sleep 31; echo never'], 1), status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await processesMatching('sleep 31')).toEqual([]);
  });

  it('caps each stream so that both fit the 16 MiB the kubelet takes', async () => {
    const r = await execSync(['sh', '-c', 'head -c 20000000 /dev/zero; echo small >&2']);
    expect(Buffer.from(r.stdout!).length).toBe(8 * 1024 * 1024 - 1024);
    expect(Buffer.from(r.stderr!).toString()).toBe('small\n');
    expect(r.exit_code).toBe(0);
  });
});

describe('Attach', () => {
  it('streams a running container output over SPDY and WebSocket; a container without stdin is output only', async () => {
    const ticker = await fx.run(pod, fx.containerConfig('ticker', { command: ['sh', '-c', 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done'] }));
    // stdin asked for, but the container was created without it: output still flows.
    const { url } = await shim.client.rt('Attach', { container_id: ticker, stdin: true, stdout: true, stderr: true, tty: false });
    const s = await spdyExec(url, { stdin: true });
    const seen = await new Promise<string>((resolve) => {
      let text = '';
      s.stdoutStream!.on('data', (d: Buffer) => {
        text += d.toString();
        if (/tick\d+\n.*tick\d+\n/s.test(text)) resolve(text);
      });
    });
    expect(seen).toMatch(/tick\d+/);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/docker_cri_shim_streaming_sessions\{kind="attach"\} 1\b/);
    s.client.close();

    const { url: wsUrl } = await shim.client.rt('Attach', { container_id: ticker, stdin: false, stdout: true, stderr: true, tty: false });
    const ws = await wsConnect(wsUrl, ['v4.channel.k8s.io']);
    const text = await new Promise<string>((resolve) => {
      let t = '';
      ws.on('message', (d: Buffer) => {
        if (d[0] === 1) t += d.subarray(1).toString();
        if (t.includes('tick')) resolve(t);
      });
    });
    expect(text).toContain('tick');
    ws.close();
  });

  it('attaches stdin and a tty to an interactive container and applies resizes to it', async () => {
    const shell = await fx.run(pod, fx.containerConfig('shell', { command: ['sh'], stdin: true, tty: true }));
    const { url } = await shim.client.rt('Attach', { container_id: shell, stdin: true, stdout: true, stderr: false, tty: true });
    const s = await spdyExec(url, { stdin: true, tty: true });
    s.resize!.write(JSON.stringify({ Width: 66, Height: 33 }));
    await new Promise((r) => setTimeout(r, 300));
    s.stdin!.write('stty size; exit\n');
    expect((await s.stdout).toString()).toContain('33 66');
    expect(JSON.parse(await s.error).status).toBe('Success');
  });

  it('ends the session with Success when the attached container exits', async () => {
    const short = await fx.run(pod, fx.containerConfig('short', { command: ['sh', '-c', 'sleep 1; echo bye'] }));
    const { url } = await shim.client.rt('Attach', { container_id: short, stdin: false, stdout: true, stderr: true, tty: false });
    const s = await spdyExec(url, {});
    expect((await s.stdout).toString()).toContain('bye');
    expect(JSON.parse(await s.error).status).toBe('Success');
  });

  it('an exec whose container stops mid-session ends cleanly', async () => {
    const victim = await fx.run(pod, fx.containerConfig('victim', { command: ['sleep', '3600'] }));
    // The pod shares one PID namespace (CRI's default POD mode): the exec'd process would
    // outlive its container if the shim did not end it.
    const url = await execUrl(['sh', '-c', 'echo started; sleep 613'], {}, victim);
    const s = await spdyExec(url, {});
    await new Promise<void>((resolve) => s.stdoutStream!.once('data', () => resolve()));
    await shim.client.rt('StopContainer', { container_id: victim, timeout: '0' });
    const st = JSON.parse(await s.error);
    expect(st.status).toBe('Failure');
    expect(st.message).toContain('stopped');
    expect(hostProcesses('sleep 613')).toEqual([]);
  });
});

describe('disconnects', () => {
  it('a client vanishing mid-stream leaves no exec process, connection or descriptor behind (SPDY and WebSocket)', async () => {
    const fdsBefore = openFds();
    const url = await execUrl(['sh', '-c', 'while true; do echo spdy-vanish; done']);
    const port = Number(new URL(url).port);
    const s = await spdyExec(url, {});
    await new Promise<void>((resolve) => s.stdoutStream!.once('data', () => resolve()));
    s.client.socket.destroy();

    const wsUrl = await execUrl(['sh', '-c', 'while true; do echo ws-vanish; done']);
    const ws = await wsConnect(wsUrl, ['v5.channel.k8s.io']);
    await new Promise<void>((resolve) => ws.once('message', () => resolve()));
    ws.terminate();

    const deadline = Date.now() + 10_000;
    let left = [...(await processesMatching('spdy-vanish')), ...(await processesMatching('ws-vanish'))];
    while (left.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = [...(await processesMatching('spdy-vanish')), ...(await processesMatching('ws-vanish'))];
    }
    if (left.length) console.log(shim.logs().split('\n').filter((l) => !l.includes('ExecSync')).slice(-40).join('\n'));
    expect(left).toEqual([]);
    // The shim's side of both sessions is gone too: no streaming connection, no Docker hijack.
    while ((streamingConnections(port) > 0 || openFds() > fdsBefore + 2) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(streamingConnections(port)).toBe(0);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore + 2);
  });

  it('20 concurrent exec sessions each moving 10 MB all finish', async () => {
    const size = 10 * 1024 * 1024;
    const runs = Array.from({ length: 20 }, async (_, i) => {
      const url = await execUrl(['head', '-c', String(size), '/dev/zero']);
      if (i % 2 === 0) {
        const s = await spdyExec(url, {});
        const [out, err] = await Promise.all([s.stdout, s.error]);
        return { bytes: out.length, status: JSON.parse(err).status };
      }
      const r = await wsExec(url, ['v5.channel.k8s.io']);
      return { bytes: r.stdout.length, status: JSON.parse(r.error).status };
    });
    const results = await Promise.all(runs);
    expect(results).toEqual(Array.from({ length: 20 }, () => ({ bytes: size, status: 'Success' })));
  });
});

describe('PortForward', () => {
  let web: { id: string; config: Awaited<ReturnType<PodFixture['pod']>>['config'] };

  beforeAll(async () => {
    web = await fx.pod('web');
    await fx.run(web, fx.containerConfig('httpd', { command: ['httpd', '-f', '-p', '8080', '-h', '/var/www'] }));
    // httpd listens only inside the pod's network namespace; give it a moment to bind.
    await new Promise((r) => setTimeout(r, 500));
  });

  async function pfUrl(ports: number[] = []): Promise<string> {
    return (await shim.client.rt('PortForward', { pod_sandbox_id: web.id, port: ports })).url;
  }

  function httpGet(data: import('node:stream').Duplex): Promise<string> {
    data.write('GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n');
    return collect(data).then((b) => b.toString());
  }

  it('fetches a page from busybox httpd in the pod over SPDY, several connections at once, and survives a refused port', async () => {
    const page = docker('run', '--rm', 'docker-cri-shim-test/busybox:latest', 'cat', '/var/www/index.html');
    const client = await spdyConnect(await pfUrl([8080]), ['portforward.k8s.io']);
    expect(client.protocol).toBe('portforward.k8s.io');
    const request = async (requestId: number, port: number) => {
      const error = await client.open({ streamtype: 'error', port: String(port), requestid: String(requestId) });
      const data = await client.open({ streamtype: 'data', port: String(port), requestid: String(requestId) });
      const errText = collect(error).then((b) => b.toString());
      return { data, errText };
    };
    const conns = await Promise.all([0, 1, 2].map((i) => request(i, 8080)));
    const pages = await Promise.all(conns.map((c) => httpGet(c.data)));
    for (const p of pages) {
      expect(p).toMatch(/^HTTP\/1\.[01] 200/);
      expect(p).toContain(page.trim());
    }
    // A port nobody listens on: the error goes to that request's error stream only.
    const refused = await request(3, 9);
    refused.data.end();
    expect(await refused.errText).toMatch(/9.*(refused|Connection)/i);
    const again = await request(4, 8080);
    expect(await httpGet(again.data)).toContain(page.trim());
    client.close();
  });

  it('forwards in a host-network pod too (its namespace is the node\'s)', async () => {
    const hostPod = await fx.pod('hostnet', { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } });
    const port = 20000 + Math.floor(Math.random() * 20000);
    await fx.run(hostPod, fx.containerConfig('httpd', { command: ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/var/www'] }));
    await new Promise((r) => setTimeout(r, 500));
    const { url } = await shim.client.rt('PortForward', { pod_sandbox_id: hostPod.id, port: [port] });
    const client = await spdyConnect(url, ['portforward.k8s.io']);
    const error = await client.open({ streamtype: 'error', port: String(port), requestid: '0' });
    const data = await client.open({ streamtype: 'data', port: String(port), requestid: '0' });
    const errText = collect(error);
    expect(await httpGet(data)).toMatch(/^HTTP\/1\.[01] 200/);
    expect((await errText).toString()).toBe('');
    client.close();
  });

  it('fetches a page over WebSocket (v4.portforward.k8s.io)', async () => {
    const got: Record<number, Buffer[]> = { 0: [], 1: [] };
    const ports: Record<number, number> = {};
    let resolveBody: (text: string) => void = () => undefined;
    const body = new Promise<string>((resolve) => (resolveBody = resolve));
    const ws = await wsConnect(`${await pfUrl([8080])}?ports=8080`, ['v4.portforward.k8s.io'], (d: Buffer, _binary, socket) => {
      const ch = d[0];
      // The first message of each channel carries the port (little-endian).
      if (!(ch in ports)) {
        ports[ch] = d.readUInt16LE(1);
        if (Object.keys(ports).length === 2) socket.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET /index.html HTTP/1.0\r\n\r\n')]));
        return;
      }
      got[ch]?.push(d.subarray(1));
      const text = Buffer.concat(got[0]).toString();
      if (text.includes('\r\n\r\n')) resolveBody(text);
    });
    expect(ws.protocol).toBe('v4.portforward.k8s.io');
    const closed = new Promise<number>((r) => ws.once('close', (code: number) => r(code)));
    expect(await body).toMatch(/^HTTP\/1\.[01] 200/);
    expect(ports).toEqual({ 0: 8080, 1: 8080 });
    // httpd closed the connection: with every port's connection done, the session ends.
    expect(await closed).toBe(1000);
  });
});
