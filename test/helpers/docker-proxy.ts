// "dockerd went away" without touching dockerd: the shim talks to Docker through a socat unix
// socket proxy that a test can cut (killing socat's whole process group drops open connections,
// the event stream among them) and bring back.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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
