// A standalone kubelet (no API server, no --kubeconfig) against the shim: its configuration,
// its process, static pod manifests and its own HTTP API (read-only port for /pods and
// /stats/summary, the secure port for /containerLogs, /exec and /portForward).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../helpers/registry.js';

export const NODE_NAME = 'kubelet-shim-test';
export const NAMESPACE = 'default';
/** Cgroup under which the kubelet builds its kubepods tree: its own, so it can be removed after. */
const CGROUP_ROOT = '/docker-cri-shim-kubelet-test';
const CGROUP_V1 = '/sys/fs/cgroup';

export interface KubeletOptions {
  bin: string;
  dir: string;
  criSocket: string;
  featureGates?: Record<string, boolean>;
}

// The kubelet's setupNode sets these kernel tunables when protectKernelDefaults is false (and
// refuses to start when it is true and they differ): kept here and written back afterwards, so
// the machine is left as it was found.
const KERNEL_TUNABLES = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

export function saveKernelTunables(): () => void {
  const saved = KERNEL_TUNABLES.map((k) => [k, readFileSync(`/proc/sys/${k}`, 'utf8').trim()] as const);
  return () => {
    for (const [k, v] of saved) {
      try {
        writeFileSync(`/proc/sys/${k}`, v);
      } catch {
        /* best effort: reported by the caller's diff if it matters */
      }
    }
  };
}

function cgroupSubsystems(): string[] {
  return readdirSync(CGROUP_V1).filter((d) => {
    try {
      return statSync(join(CGROUP_V1, d)).isDirectory() && d !== 'unified';
    } catch {
      return false;
    }
  });
}

/** The kubelet requires cgroupRoot to exist in every hierarchy. */
export function createCgroupRoot(): void {
  for (const ss of cgroupSubsystems()) mkdirSync(join(CGROUP_V1, ss, CGROUP_ROOT), { recursive: true });
}

/** Removes the kubelet's cgroup tree (rmdir depth-first: cgroup dirs only go when empty). */
export function removeCgroupRoot(): string[] {
  const left: string[] = [];
  const rm = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch (err) {
      left.push(`${dir}: ${(err as Error).message}`);
    }
  };
  for (const ss of cgroupSubsystems()) {
    const root = join(CGROUP_V1, ss, CGROUP_ROOT);
    if (existsSync(root)) rm(root);
  }
  return left;
}

/** Unmounts every mount point under dir, deepest first; returns what could not be unmounted. */
export function unmountUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  const left: string[] = [];
  for (const m of points) {
    try {
      execFileSync('umount', [m], { stdio: 'pipe' });
    } catch (err) {
      left.push(`mount left: ${m}: ${(err as Error).message}`);
    }
  }
  return left;
}

export class Kubelet {
  readonly manifests: string;
  readonly podLogsDir: string;
  readonly rootDir: string;
  port = 0;
  readOnlyPort = 0;
  healthzPort = 0;
  private proc: ChildProcess | undefined;
  private out = '';
  private earlier = '';
  private exited: Promise<number | null> | undefined;

  constructor(private readonly opts: KubeletOptions) {
    this.manifests = join(opts.dir, 'manifests');
    this.podLogsDir = join(opts.dir, 'pod-logs');
    this.rootDir = join(opts.dir, 'root');
    for (const d of [this.manifests, this.podLogsDir, this.rootDir]) mkdirSync(d, { recursive: true });
  }

  logs(): string {
    return this.out;
  }

  /** Every kubelet process's log of this run (the kubelet is restarted by the tests). */
  allLogs(): string {
    return this.earlier + this.out;
  }

  /** The last lines of the kubelet's log, for failure messages. */
  tail(n = 40): string {
    return this.out.split('\n').slice(-n).join('\n');
  }

  config(featureGates: Record<string, boolean>): Record<string, unknown> {
    const endpoint = `unix://${this.opts.criSocket}`;
    return {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      // Loopback only, on ports of this run (another kubelet may hold the defaults).
      address: '127.0.0.1',
      port: this.port,
      readOnlyPort: this.readOnlyPort,
      healthzBindAddress: '127.0.0.1',
      healthzPort: this.healthzPort,
      staticPodPath: this.manifests,
      // Manifests are re-read every second, so adding or removing one acts at once.
      fileCheckFrequency: '1s',
      syncFrequency: '5s',
      podLogsDir: this.podLogsDir,
      containerRuntimeEndpoint: endpoint,
      imageServiceEndpoint: endpoint,
      cgroupDriver: 'cgroupfs',
      // Kubelet 1.35+ refuses cgroup v1 unless told; these machines are v1.
      failCgroupV1: false,
      // No swap here, but the kubelet checks /proc/swaps; stay out of its way either way.
      failSwapOn: false,
      // Its own cgroup root, created beforehand and removed after. cgroupsPerQOS stays on (the
      // default): the summary API's pod-level CPU and memory come from the pod cgroup the kubelet
      // makes under kubepods, and CgroupParent is what a node really sends the shim.
      cgroupRoot: CGROUP_ROOT,
      cgroupsPerQOS: true,
      // Node allocatable is enforced on the kubepods cgroup (the default): works as root here.
      enforceNodeAllocatable: ['pods'],
      // Nothing to authenticate against standalone: anonymous requests, all allowed, as the
      // real-clients notes say; the secure port then serves /exec, /portForward, /containerLogs.
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false }, x509: {} },
      authorization: { mode: 'AlwaysAllow' },
      // Small logs and a short monitor interval (its minimum is 3s), so rotation happens in seconds.
      containerLogMaxSize: '16Ki',
      containerLogMaxFiles: 20,
      containerLogMonitorInterval: '3s',
      // Never garbage-collect the loaded test images, and no eviction on a disk shared with
      // other runs: a test pod is not to be evicted because someone else filled it.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
      // Root here lacks CAP_SYS_RESOURCE: the kubelet's own oom_score_adj -999 and its RLIMIT_NOFILE
      // raise fail and are only logged (nothing to configure).
      featureGates,
    };
  }

  async start(featureGates: Record<string, boolean> = this.opts.featureGates ?? {}): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      this.readOnlyPort = await freePort();
      this.healthzPort = await freePort();
    }
    const configFile = join(this.opts.dir, 'kubelet-config.yaml');
    writeFileSync(configFile, stringify(this.config(featureGates)));
    this.earlier += this.out;
    this.out = '';
    this.proc = spawn(
      this.opts.bin,
      [
        `--config=${configFile}`,
        `--root-dir=${this.rootDir}`,
        `--cert-dir=${join(this.opts.dir, 'pki')}`,
        `--hostname-override=${NODE_NAME}`,
        '--v=2',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    const proc = this.proc;
    this.exited = new Promise((res) => proc.once('exit', (code) => res(code)));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`kubelet exited (${proc.exitCode}) at start:\n${this.tail(60)}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.healthzPort}/healthz`);
        if (r.ok) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`kubelet /healthz did not answer in 90 s:\n${this.tail(60)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc?.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(t);
  }

  writeManifest(name: string, pod: Record<string, unknown>): void {
    // Written aside and renamed in, so the kubelet never reads half a file.
    const tmp = join(this.opts.dir, `.${name}.yaml`);
    writeFileSync(tmp, stringify(pod));
    renameSync(tmp, join(this.manifests, `${name}.yaml`));
  }

  removeManifest(name: string): void {
    rmSync(join(this.manifests, `${name}.yaml`), { force: true });
  }

  /** Static pods are named <manifest name>-<node name>. */
  static podName(name: string): string {
    return `${name}-${NODE_NAME}`;
  }

  async readOnly<T>(path: string): Promise<T> {
    const r = await fetch(`http://127.0.0.1:${this.readOnlyPort}${path}`);
    if (!r.ok) throw new Error(`kubelet GET ${path}: HTTP ${r.status}: ${await r.text()}`);
    return (await r.json()) as T;
  }

  /** GET on the secure port (self-signed certificate of a standalone kubelet). */
  secure(path: string): Promise<{ status: number; body: string }> {
    return new Promise((res, rej) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: this.port, path, method: 'GET', rejectUnauthorized: false },
        (resp) => {
          let body = '';
          resp.setEncoding('utf8');
          resp.on('data', (d: string) => (body += d));
          resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
        },
      );
      req.on('error', rej);
      req.setTimeout(30_000, () => req.destroy(new Error(`kubelet GET ${path}: no answer in 30 s`)));
      req.end();
    });
  }

  async pods(): Promise<PodInfo[]> {
    return (await this.readOnly<{ items: PodInfo[] }>('/pods')).items ?? [];
  }

  async pod(name: string): Promise<PodInfo | undefined> {
    return (await this.pods()).find((p) => p.metadata.name === Kubelet.podName(name));
  }
}

export interface ContainerStatusInfo {
  name: string;
  ready: boolean;
  restartCount: number;
  containerID?: string;
  state: { running?: { startedAt: string }; waiting?: { reason: string; message?: string }; terminated?: { reason: string; exitCode: number } };
}

export interface PodInfo {
  metadata: { name: string; namespace: string; uid: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: ContainerStatusInfo[];
  };
}

/** Polls `probe` until it returns a value (not undefined) or the time is up; `describe` says what was last seen. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  describe: () => Promise<string> | string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const seen = await describe();
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}\n${seen}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
