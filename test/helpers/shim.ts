// Starts the built shim (dist/main.js) as a real process on a temporary socket and root
// directory, against the machine's dockerd, and hands back a CRI client for it; also as
// systemd starts a socket-activated service.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CriClient } from './cri-client.js';

export const TOP = resolve(import.meta.dirname, '../..');
export const BUSYBOX = 'docker-cri-shim-test/busybox:latest';
export const PAUSE = 'docker-cri-shim/pause:latest';

export interface ShimOptions {
  args?: string[];
  /** Reuse a root directory (restart tests). */
  rootDir?: string;
  socketPath?: string;
  /** Runs this instead of `node dist/main.js` (the single executable, a wrapper); flags follow it. */
  command?: string[];
  /** Extra environment for the shim process. */
  env?: NodeJS.ProcessEnv;
  /** Open fds handed to the shim as fd 3, 4, ... (systemd socket activation). */
  passFds?: number[];
}

export interface RunningShim {
  client: CriClient;
  socketPath: string;
  rootDir: string;
  tmp: string;
  proc: ChildProcess;
  logs(): string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startShim(opts: ShimOptions = {}): Promise<RunningShim> {
  const tmp = mkdtempSync(join(tmpdir(), 'cri-shim-test-'));
  const socketPath = opts.socketPath ?? join(tmp, 'cri.sock');
  const rootDir = opts.rootDir ?? join(tmp, 'root');
  const [file, ...prefix] = opts.command ?? [process.execPath, join(TOP, 'dist/main.js')];
  const args = [
    ...prefix,
    `--container-runtime-endpoint=unix://${socketPath}`,
    `--root-directory=${rootDir}`,
    `--pod-infra-container-image=${PAUSE}`,
    '--log-level=debug',
    // Docker's bridge unless a test asks for CNI (--network-plugin=cni in its args, which come
    // later and win): the shim's default is CNI, and a test machine has no /etc/cni/net.d.
    '--network-plugin=',
    ...(opts.args ?? []),
  ];
  const proc = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.passFds ?? [])],
    env: { ...process.env, ...opts.env },
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));

  const deadline = Date.now() + 20_000;
  // Ready when the shim says it listens: the socket file alone may be a stale or foreign one.
  while (!out.includes('CRI server listening') || !existsSync(socketPath)) {
    if (proc.exitCode !== null) throw new Error(`shim exited early (${proc.exitCode}):\n${out}`);
    if (Date.now() > deadline) throw new Error(`shim did not start listening on ${socketPath}:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const client = new CriClient(socketPath);
  return {
    client,
    socketPath,
    rootDir,
    tmp,
    proc,
    logs: () => out,
    stop: async () => {
      client.close();
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const code = await exited;
      if (!opts.rootDir) rmSync(tmp, { recursive: true, force: true });
      return code;
    },
  };
}

// What systemd does for a .socket unit: bind+listen, put the socket at fd 3, set LISTEN_FDS
// and LISTEN_PID to the pid that exec() keeps, then exec the service.
const ACTIVATE = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(16)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"; os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
`;

/** The shim socket-activated on `socketPath` (python3 binds it and execs the shim with it at fd 3). */
export function startSocketActivatedShim(socketPath: string, opts: Omit<ShimOptions, 'socketPath' | 'command'> = {}): Promise<RunningShim> {
  return startShim({
    ...opts,
    socketPath,
    command: ['python3', '-c', ACTIVATE, socketPath, process.execPath, join(TOP, 'dist/main.js')],
    args: ['--container-runtime-endpoint=fd://', ...(opts.args ?? [])],
  });
}
