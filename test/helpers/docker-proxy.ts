// "dockerd went away" without touching dockerd: the shim talks to Docker through a socat unix
// socket proxy that a test can cut (killing socat's whole process group drops open connections,
// the event stream among them) and bring back.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class DockerProxy {
  private readonly dir = mkdtempSync(join(tmpdir(), 'cri-shim-docker-proxy-'));
  readonly path = join(this.dir, 'docker.sock');
  private proc: ChildProcess | undefined;

  get endpoint(): string {
    return `unix://${this.path}`;
  }

  async start(): Promise<void> {
    this.proc = spawn('socat', [`UNIX-LISTEN:${this.path},fork,unlink-early,backlog=256`, 'UNIX-CONNECT:/var/run/docker.sock'], {
      detached: true,
      stdio: 'ignore',
    });
    const deadline = Date.now() + 10_000;
    while (!existsSync(this.path)) {
      if (Date.now() > deadline) throw new Error('socat did not create its socket');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  cut(): void {
    if (this.proc?.pid && this.proc.exitCode === null) process.kill(-this.proc.pid, 'SIGKILL');
    this.proc = undefined;
    rmSync(this.path, { force: true });
  }

  dispose(): void {
    this.cut();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A dockerd that accepts and never answers, on demand: until stall() it passes connections to
 * the real dockerd; after it, every connection is accepted and held without a byte in reply
 * (the ones already open are cut, so that kept-alive connections cannot get around it). A test
 * sees when the shim gives up on a held request: its connection closes.
 */
export class StallingDockerProxy {
  private readonly dir = mkdtempSync(join(tmpdir(), 'cri-shim-docker-stall-'));
  readonly path = join(this.dir, 'docker.sock');
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private stalled = false;
  /** Held connections: the request line, when each was accepted and, once the shim dropped it, closed. */
  readonly held: Array<{ request: string; acceptedAt: number; closedAt?: number }> = [];

  constructor() {
    this.server = createServer((conn) => {
      this.open.add(conn);
      conn.on('error', () => undefined);
      conn.once('close', () => this.open.delete(conn));
      if (this.stalled) {
        const entry: { request: string; acceptedAt: number; closedAt?: number } = { request: '', acceptedAt: Date.now() };
        this.held.push(entry);
        conn.once('data', (d: Buffer) => (entry.request = d.toString('latin1').split('\r\n')[0]));
        conn.once('close', () => (entry.closedAt = Date.now()));
        conn.resume();
        return;
      }
      const upstream = connect('/var/run/docker.sock');
      upstream.on('error', () => conn.destroy());
      conn.once('close', () => upstream.destroy());
      upstream.once('close', () => conn.destroy());
      conn.pipe(upstream).pipe(conn);
    });
  }

  get endpoint(): string {
    return `unix://${this.path}`;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  /** From now on nothing is answered. */
  stall(): void {
    this.stalled = true;
    for (const c of this.open) c.destroy();
  }

  async dispose(): Promise<void> {
    for (const c of this.open) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
