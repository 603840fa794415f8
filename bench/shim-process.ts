// A shim process for a bench script: the built shim (or another executable given as `command`)
// on a temporary socket and root dir against the machine's dockerd, a CRI client for it (the
// bench's own, src/bench/cri.ts), and a cleanup that removes every container this run made
// (label bench-run=RUN), stops the shim and deletes its temp dir; Ctrl-C runs it too.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BenchCri } from '../dist/bench/cri.js';

export const TOP = resolve(import.meta.dirname, '..');
export const BUSYBOX = 'docker-cri-shim-test/busybox:latest';
export const PAUSE = 'docker-cri-shim/pause:latest';
/** This run's id: pods carry the label bench-run=RUN, which cleanup removes by. */
export const RUN = randomBytes(4).toString('hex');

/** A free loopback TCP port (for a shim's --metrics-bind-addr). */
export function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

/** A numeric `--name N` flag of the script, `def` when absent. */
export function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

export interface ShimOptions {
  /** Prefix of the temp dir's name. */
  prefix: string;
  /** Executable and its leading arguments; the shim's flags follow. Default: node dist/main.js. */
  command?: string[];
  logLevel?: string;
  /** More flags after the common ones (a later flag wins). */
  args?: string[];
  /** Keep the shim's stdout (its JSON log) for log(); ignored otherwise. */
  captureLog?: boolean;
  /** Return right after spawning, for a script that times the start-up itself. */
  noWait?: boolean;
}

export interface BenchShim {
  rt: BenchCri;
  socket: string;
  tmp: string;
  proc: ChildProcess;
  log(): string;
  /** SIGTERM, wait for the exit, remove the temp dir. */
  stop(): Promise<void>;
  /** Removes this run's containers, then stop(). */
  cleanup(): Promise<void>;
}

const started = new Set<BenchShim>();
let interruptHooked = false;

function removeRunContainers(): void {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=bench-run=${RUN}`], { encoding: 'utf8' }).trim();
  if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
}

/** Removes this run's containers and stops every shim still running (scripts with several). */
export async function cleanupAll(): Promise<void> {
  removeRunContainers();
  await Promise.all([...started].map((shim) => shim.stop()));
}

// Waits for the shims to exit before their temp dirs go: one still shutting down would race
// the removal. A second Ctrl-C (the default action again) ends the script at once.
function onInterrupt(): void {
  void cleanupAll().finally(() => process.exit(130));
}

export async function startBenchShim(opts: ShimOptions): Promise<BenchShim> {
  if (!interruptHooked) process.once('SIGINT', onInterrupt);
  interruptHooked = true;
  const tmp = mkdtempSync(join(tmpdir(), opts.prefix));
  const socket = join(tmp, 'cri.sock');
  const [file, ...prefix] = opts.command ?? [process.execPath, join(TOP, 'dist/main.js')];
  const proc = spawn(
    file,
    [
      ...prefix,
      `--container-runtime-endpoint=unix://${socket}`,
      `--root-directory=${join(tmp, 'root')}`,
      `--pod-infra-container-image=${PAUSE}`,
      `--log-level=${opts.logLevel ?? 'warn'}`,
      '--network-plugin=',
      ...(opts.args ?? []),
    ],
    { stdio: ['ignore', opts.captureLog ? 'pipe' : 'ignore', 'inherit'] },
  );
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const rt = new BenchCri('shim', `unix://${socket}`, 120_000);
  // Once only: Ctrl-C's cleanup and the script's own may both be under way.
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      rt.close();
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
      rmSync(tmp, { recursive: true, force: true });
      started.delete(shim);
    })());
  const shim: BenchShim = {
    rt,
    socket,
    tmp,
    proc,
    log: () => out,
    stop,
    cleanup: async () => {
      removeRunContainers();
      await stop();
    },
  };
  started.add(shim);
  if (opts.noWait) return shim;
  for (let i = 0; !existsSync(socket); i++) {
    if (i > 400 || proc.exitCode !== null) {
      await stop();
      throw new Error(`shim did not start${out ? `:\n${out}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return shim;
}
