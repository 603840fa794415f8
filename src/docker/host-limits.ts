// What this host lets the containers we create have. Some machines (these VMs among them) run
// root without CAP_SYS_RESOURCE: runc then fails to start any container whose oom_score_adj is
// below what its parent already has, and Docker 20.10 fails `Privileged`/`CapAdd: ALL` because it
// asks for every capability it knows. Reading the limits once and clamping beats failing starts.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.js';

/** Linux capability numbers (include/uapi/linux/capability.h), in Docker's CAP_ naming. */
const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** The kernel's floor for oom_score_adj, allowed to a process holding CAP_SYS_RESOURCE. */
const OOM_SCORE_ADJ_MIN = -1000;
const OOM_SCORE_ADJ_MAX = 1000;

export interface HostLimits {
  /** Capability names (CAP_...) in this process's bounding set, in kernel order. */
  readonly boundingSet: readonly string[];
  /** Lowest oom_score_adj a container started here may get without runc failing. */
  readonly minOomScoreAdj: number;
  /** Highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap); -1 when unreadable. */
  readonly capLastCap: number;
}

/** Decodes a /proc/<pid>/status capability mask (hex) into names, ignoring bits this table lacks. */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  return CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/**
 * Reads the limits from /proc: CapBnd gives the bounding set; without CAP_SYS_RESOURCE nobody
 * on this host (dockerd, containerd, runc included) may go below the oom_score_adj they inherited,
 * which is ours too (we descend from the same init), so that becomes the floor.
 */
export function readHostLimits(
  procStatus = '/proc/self/status',
  procOomScoreAdj = '/proc/self/oom_score_adj',
  procCapLastCap = '/proc/sys/kernel/cap_last_cap',
): HostLimits {
  const status = readFileSync(procStatus, 'utf8');
  const bnd = /^CapBnd:\s*([0-9a-fA-F]+)$/m.exec(status)?.[1] ?? '0';
  const boundingSet = capabilitiesFromMask(bnd);
  let minOomScoreAdj = OOM_SCORE_ADJ_MIN;
  if (!boundingSet.includes('CAP_SYS_RESOURCE')) {
    const own = Number(readFileSync(procOomScoreAdj, 'utf8').trim());
    minOomScoreAdj = Number.isInteger(own) ? Math.max(own, OOM_SCORE_ADJ_MIN) : 0;
  }
  let capLastCap = -1;
  try {
    const last = Number(readFileSync(procCapLastCap, 'utf8').trim());
    if (Number.isInteger(last)) capLastCap = last;
  } catch {
    // Kernels before 3.2 have no such file; privileged checks then trust Docker.
  }
  return { boundingSet, minOomScoreAdj, capLastCap };
}

let shared: HostLimits | undefined;

/** The limits of the running host, read once per process. */
export function hostLimits(): HostLimits {
  shared ??= readHostLimits();
  return shared;
}

const clampWarned = new WeakSet<Logger>();

/**
 * Clamps a wanted oom_score_adj into what this host allows; the first clamp is logged once per
 * logger so an operator learns why pods do not get the score they asked for.
 */
export function clampOomScoreAdj(wanted: number, logger: Logger, limits: HostLimits = hostLimits()): number {
  const value = Math.min(Math.max(wanted, limits.minOomScoreAdj), OOM_SCORE_ADJ_MAX);
  if (value !== wanted && !clampWarned.has(logger)) {
    clampWarned.add(logger);
    logger.warn(
      { wanted, applied: value, min: limits.minOomScoreAdj },
      'this host does not allow that oom_score_adj (no CAP_SYS_RESOURCE); clamping, and not saying so again',
    );
  }
  return value;
}

/** Directories of /dev that hold no devices of the host's own (runc's HostDevices skips the same). */
const NOT_HOST_DEVICES = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/**
 * Character and block devices under `root` (symlinks not followed), the list a privileged
 * container gets. /dev/console is the container's own terminal, never the host's.
 */
export function hostDevices(root = '/dev'): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // vanished or unreadable (a hot-unplugged device's directory)
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (!NOT_HOST_DEVICES.has(e.name)) walk(path);
      } else if ((e.isCharacterDevice() || e.isBlockDevice()) && e.name !== 'console') {
        out.push(path);
      }
    }
  };
  walk(root);
  return out;
}
