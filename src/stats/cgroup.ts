// Finds a container's cgroup from its init process and reads its usage straight from the cgroup
// filesystem (v1 or v2, detected once from /proc/self/mountinfo). Docker's stats endpoint samples
// for about a second per container; these reads take microseconds.
//
// The files are read synchronously on purpose: they are kernel-generated in memory, a read
// never waits on a disk, and a thread-pool round trip per file would cost more than the read.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import {
  parseCgroupMounts,
  parseProcCgroup,
  sampleFromV1,
  sampleFromV2,
  type CgroupSample,
  type MountInfoEntry,
  type V1Files,
  type V2Files,
} from './cgroup-parse.js';
import type { CgroupWrite } from '../docker/resource-limits.js';

export type CgroupVersion = 'v1' | 'v2';

/** Directories holding one cgroup's files: per controller on v1, one directory on v2. */
export type CgroupDirs =
  | { version: 'v1'; cpu?: string; cpuacct?: string; memory?: string; pids?: string; hugetlb?: string }
  | { version: 'v2'; dir: string };

const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'hugetlb'] as const;
/** Every v1 file name starts with its controller's name. */
type V1Controller = (typeof V1_CONTROLLERS)[number];

export function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    // Gone (the container exited between listing and reading) or absent on this kernel.
    return undefined;
  }
}

export class CgroupReader {
  readonly version: CgroupVersion;
  private readonly v1Mounts = new Map<string, MountInfoEntry>();
  private readonly v2Mount: MountInfoEntry | undefined;

  constructor(private readonly procRoot = '/proc') {
    const mounts = parseCgroupMounts(readOptional(join(procRoot, 'self/mountinfo')) ?? '');
    for (const m of mounts) {
      if (m.fsType !== 'cgroup') continue;
      for (const opt of m.superOptions) if (!this.v1Mounts.has(opt)) this.v1Mounts.set(opt, m);
    }
    // Hybrid hosts mount an empty cgroup2 beside the v1 controllers: v1 wins when it has memory.
    this.v2Mount = mounts.find((m) => m.fsType === 'cgroup2');
    this.version = this.v1Mounts.has('memory') || !this.v2Mount ? 'v1' : 'v2';
  }

  /** The cgroup of a running process (a container's init), or undefined when it is gone. */
  dirsOfPid(pid: number): CgroupDirs | undefined {
    if (!pid) return undefined;
    const text = readOptional(join(this.procRoot, String(pid), 'cgroup'));
    if (text === undefined) return undefined;
    const paths = parseProcCgroup(text);
    if (this.version === 'v2') {
      const p = paths.get('');
      return p === undefined || !this.v2Mount ? undefined : { version: 'v2', dir: onDisk(this.v2Mount, p) };
    }
    const dirs: CgroupDirs = { version: 'v1' };
    for (const c of V1_CONTROLLERS) {
      const p = paths.get(c);
      const mount = this.v1Mounts.get(c);
      if (p !== undefined && mount) dirs[c] = onDisk(mount, p);
    }
    return dirs;
  }

  /**
   * Reads one cgroup; undefined when it no longer exists. `metrics` adds the files only the
   * cAdvisor-style metrics use (CPU split and throttling, memory failures, OOM kills); the
   * kubelet's stats calls skip them, being the hot path.
   */
  read(dirs: CgroupDirs, detail: 'stats' | 'metrics' = 'stats'): CgroupSample | undefined {
    if (dirs.version === 'v2') {
      const f: V2Files = {};
      for (const name of V2_FILES) if (detail === 'metrics' || !V2_METRICS_ONLY.has(name)) f[name] = readOptional(join(dirs.dir, name));
      return f['cpu.stat'] === undefined && f['memory.current'] === undefined ? undefined : sampleFromV2(f);
    }
    const f: V1Files = {};
    for (const name of V1_FILES) {
      if (detail !== 'metrics' && V1_METRICS_ONLY.has(name)) continue;
      const dir = dirs[name.slice(0, name.indexOf('.')) as V1Controller];
      if (dir) f[name] = readOptional(join(dir, name));
    }
    return f['cpuacct.usage'] === undefined && f['memory.usage_in_bytes'] === undefined ? undefined : sampleFromV1(f);
  }
}

const V1_FILES: (keyof V1Files)[] = [
  'cpuacct.usage',
  'cpuacct.stat',
  'cpu.stat',
  'memory.usage_in_bytes',
  'memory.limit_in_bytes',
  'memory.memsw.limit_in_bytes',
  'memory.failcnt',
  'memory.stat',
  'memory.oom_control',
  'pids.current',
];
const V2_FILES: (keyof V2Files)[] = [
  'cpu.stat',
  'memory.current',
  'memory.max',
  'memory.swap.current',
  'memory.swap.max',
  'memory.stat',
  'memory.events',
  'pids.current',
];

/** Process ids in a cgroup (any one v1 controller lists them all). */
export function procsOf(dirs: CgroupDirs): number[] {
  const dir = dirs.version === 'v2' ? dirs.dir : (dirs.pids ?? dirs.memory ?? dirs.cpu);
  const text = dir ? readOptional(join(dir, 'cgroup.procs')) : undefined;
  return (text ?? '').split('\n').filter(Boolean).map(Number);
}

/** The directory holding a cgroup file: the one v2 directory, or on v1 its controller's. */
function dirOfFile(dirs: CgroupDirs, file: string): string | undefined {
  if (dirs.version === 'v2') return dirs.dir;
  const controller = file.slice(0, file.indexOf('.'));
  return (V1_CONTROLLERS as readonly string[]).includes(controller) ? dirs[controller as V1Controller] : undefined;
}

/**
 * Writes planned cgroup files (resource-limits.ts) into a running container's cgroup. Nothing
 * here fails the caller: a file the container's cgroup lacks (controller not enabled) or one the
 * kernel refuses becomes a warning naming it, except optional writes, which are skipped quietly.
 */
export function applyCgroupWrites(dirs: CgroupDirs, writes: readonly CgroupWrite[]): string[] {
  const warnings: string[] = [];
  for (const w of writes) {
    const dir = dirOfFile(dirs, w.file);
    if (!dir || !existsSync(join(dir, w.file))) {
      if (!w.optional) warnings.push(`${w.file} = "${w.value}" not applied: the container's cgroup has no such file (controller not enabled)`);
      continue;
    }
    try {
      writeFileSync(join(dir, w.file), w.value);
    } catch (err) {
      warnings.push(`${w.file} = "${w.value}" not applied: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return warnings;
}

const V1_METRICS_ONLY = new Set<keyof V1Files>(['cpuacct.stat', 'cpu.stat', 'memory.failcnt', 'memory.oom_control']);
const V2_METRICS_ONLY = new Set<keyof V2Files>(['memory.events']);

/** The parent cgroup (a pod's cgroup, seen from one of its containers). */
export function parentDirs(dirs: CgroupDirs): CgroupDirs {
  if (dirs.version === 'v2') return { version: 'v2', dir: dirname(dirs.dir) };
  const out: CgroupDirs = { version: 'v1' };
  for (const c of V1_CONTROLLERS) if (dirs[c]) out[c] = dirname(dirs[c]);
  return out;
}

/** Where a hierarchy path is on disk, given the mount (whose root may be a sub-path, in a container). */
function onDisk(mount: MountInfoEntry, cgroupPath: string): string {
  const rel = mount.root !== '/' && cgroupPath.startsWith(mount.root) ? cgroupPath.slice(mount.root.length) : cgroupPath;
  return posix.join(mount.mountPoint, rel);
}
