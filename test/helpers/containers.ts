// Pods and containers for the container/log tests: unique names per run, a log directory per
// pod, waiting on states, reading the CRI log file back, and cleanup of what a test made.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import type { ContainerStatus__Output } from '../../src/generated/runtime/v1/ContainerStatus.js';
import { BUSYBOX, type RunningShim } from './shim.js';

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
