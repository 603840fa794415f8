// Pods and containers for the container/log tests: unique names per run, a log directory per
// pod, waiting on states, reading the CRI log file back, and cleanup of what a test made;
// shimWithPods() is the usual set-up of a describe block (a shim, a PodFixture on it).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import type { ContainerStatus__Output } from '../../src/generated/runtime/v1/ContainerStatus.js';
import { afterAll, beforeAll } from 'vitest';
import type { DockerProxy } from './docker-proxy.js';
import { BUSYBOX, startShim, type RunningShim, type ShimOptions } from './shim.js';

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function dockerInspect<T = DockerInspect>(id: string): T {
  return (JSON.parse(docker('inspect', id)) as T[])[0];
}

export interface DockerInspect {
  Id: string;
  Name: string;
  Image: string;
  State: { Running: boolean; Status: string; Pid: number; ExitCode: number };
  Config: { Hostname: string; Labels: Record<string, string>; Image: string; User: string; Entrypoint: string[] | null; Cmd: string[] | null };
  HostConfig: Record<string, unknown> & { NetworkMode: string; IpcMode: string; PidMode: string; UTSMode: string; Binds: string[] | null };
  Mounts: Array<{ Source: string; Destination: string; RW: boolean; Propagation: string }>;
}

export interface LogRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  tag: 'P' | 'F';
  text: string;
}

/** Parses a CRI log file strictly: every line must be a well-formed record. */
export function readCriLog(path: string): LogRecord[] {
  const text = readFileSync(path, 'utf8');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`log ${path} does not end with a newline`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/s.exec(line);
      if (!m) throw new Error(`not a CRI log record: ${JSON.stringify(line.slice(0, 200))}`);
      if (Number.isNaN(Date.parse(m[1]))) throw new Error(`bad time in record: ${m[1]}`);
      return { time: m[1], stream: m[2] as LogRecord['stream'], tag: m[3] as LogRecord['tag'], text: m[4] };
    });
}

/** Joins P pieces with their F: the lines the container printed, per stream, in order. */
export function criLines(records: LogRecord[], stream: LogRecord['stream']): string[] {
  const out: string[] = [];
  let partial = '';
  for (const r of records) {
    if (r.stream !== stream) continue;
    partial += r.text;
    if (r.tag === 'F') {
      out.push(partial);
      partial = '';
    }
  }
  return out;
}

/** A command that prints `tick 0`, `tick 1`, ... every `seconds`, and `bye` when it is stopped. */
export const ticker = (seconds: number): string[] => ['sh', '-c', `trap "echo bye; exit 0" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep ${seconds}; done`];

/** What the log of a stopped ticker() holds when no line was lost or doubled: every tick from 0, then `bye`. */
export const tickerLog = (lines: string[]): string[] => [...lines.slice(0, -1).map((_, i) => `tick ${i}`), 'bye'];

export class PodFixture {
  readonly runId = randomBytes(4).toString('hex');
  readonly logDir = mkdtempSync(join(tmpdir(), 'cri-shim-logs-'));
  private seq = 0;
  private readonly pods = new Set<string>();
  private readonly containers = new Set<string>();

  constructor(private readonly shim: () => RunningShim) {}

  podConfig(tag: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
    this.seq += 1;
    const name = `ct-${tag}-${this.runId}-${this.seq}`;
    return {
      metadata: { name, namespace: `ns-${this.runId}`, uid: `uid-${this.runId}-${this.seq}`, attempt: 0 },
      hostname: `h-${this.seq}-${this.runId}`,
      log_directory: join(this.logDir, name),
      labels: { 'test-run': this.runId },
      ...extra,
    };
  }

  async pod(tag: string, extra: Partial<PodSandboxConfig> = {}): Promise<{ id: string; config: PodSandboxConfig }> {
    const config = this.podConfig(tag, extra);
    const { pod_sandbox_id } = await this.shim().client.rt('RunPodSandbox', { config });
    this.pods.add(pod_sandbox_id);
    return { id: pod_sandbox_id, config };
  }

  containerConfig(name: string, extra: Partial<ContainerConfig> = {}): ContainerConfig {
    return {
      metadata: { name, attempt: 0 },
      image: { image: BUSYBOX },
      log_path: `${name}/0.log`,
      labels: { 'test-run': this.runId },
      ...extra,
    };
  }

  async create(pod: { id: string; config: PodSandboxConfig }, config: ContainerConfig): Promise<string> {
    const { container_id } = await this.shim().client.rt('CreateContainer', {
      pod_sandbox_id: pod.id,
      config,
      sandbox_config: pod.config,
    });
    this.containers.add(container_id);
    return container_id;
  }

  /** Creates and starts; returns the id. */
  async run(pod: { id: string; config: PodSandboxConfig }, config: ContainerConfig): Promise<string> {
    const id = await this.create(pod, config);
    await this.shim().client.rt('StartContainer', { container_id: id });
    return id;
  }

  async status(id: string): Promise<ContainerStatus__Output> {
    return (await this.shim().client.rt('ContainerStatus', { container_id: id, verbose: false })).status!;
  }

  async waitState(id: string, state: string, timeoutMs = 30_000): Promise<ContainerStatus__Output> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.status(id);
      if (st.state === state) return st;
      if (Date.now() > deadline) throw new Error(`container ${id} stayed ${st.state}, wanted ${state}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Runs a container to completion and returns its status and the lines of its log. */
  async runToExit(pod: { id: string; config: PodSandboxConfig }, config: ContainerConfig) {
    const id = await this.run(pod, config);
    const status = await this.waitState(id, 'CONTAINER_EXITED');
    const records = readCriLog(this.logPath(pod.config, config));
    return { id, status, records, stdout: criLines(records, 'stdout'), stderr: criLines(records, 'stderr') };
  }

  /** Stops the container (10 s grace) and returns the stdout lines of its log once it exited. */
  async stopAndRead(id: string, path: string): Promise<string[]> {
    await this.shim().client.rt('StopContainer', { container_id: id, timeout: 10 });
    await this.waitState(id, 'CONTAINER_EXITED');
    return criLines(readCriLog(path), 'stdout');
  }

  logPath(pod: PodSandboxConfig, config: ContainerConfig): string {
    return join(pod.log_directory!, config.log_path!);
  }

  async cleanup(): Promise<void> {
    const ids = [...this.containers, ...this.pods];
    for (const id of ids) {
      try {
        docker('rm', '-f', id);
      } catch {
        // removed by the test already
      }
    }
    const leftovers = docker('ps', '-aq', '--filter', `label=test-run=${this.runId}`);
    if (leftovers) docker('rm', '-f', ...leftovers.split('\n'));
    rmSync(this.logDir, { recursive: true, force: true });
  }
}

/**
 * The set-up of a describe block: a shim started before its tests (behind `proxy` when given,
 * which it starts first, so that a test can cut dockerd off) and a PodFixture on it; after the
 * tests, what they made is removed, the shim stopped and the proxy disposed. `shim` stands for
 * the shim started in beforeAll: it can be handed around at once and used from the tests on.
 */
export function shimWithPods(opts: ShimOptions & { proxy?: DockerProxy } = {}): { shim: RunningShim; fx: PodFixture } {
  const { proxy, ...shimOpts } = opts;
  let started: RunningShim | undefined;
  const current = (): RunningShim => {
    if (!started) throw new Error('the shim starts in beforeAll: use it in a test or a later hook');
    return started;
  };
  const shim: RunningShim = {
    get client() {
      return current().client;
    },
    get socketPath() {
      return current().socketPath;
    },
    get rootDir() {
      return current().rootDir;
    },
    get tmp() {
      return current().tmp;
    },
    get proc() {
      return current().proc;
    },
    logs: () => current().logs(),
    stop: () => current().stop(),
  };
  const fx = new PodFixture(current);
  beforeAll(async () => {
    if (proxy) await proxy.start();
    const args = proxy ? [`--docker-endpoint=${proxy.endpoint}`, ...(shimOpts.args ?? [])] : shimOpts.args;
    started = await startShim({ ...shimOpts, args });
  });
  afterAll(async () => {
    await fx.cleanup();
    await started?.stop();
    proxy?.dispose();
  });
  return { shim, fx };
}
