// Parsers for the cgroup (v1 and v2) and /proc files the stats are read from. Pure functions on
// file text, so both hierarchies are unit-tested on fixture files whichever this machine runs.

/** One container's (or pod's) resource usage, the same shape for cgroup v1 and v2. */
export interface CgroupSample {
  cpu: {
    /** Cumulative CPU time of all tasks, nanoseconds. */
    usageNs: number;
    userNs: number;
    systemNs: number;
    periods: number;
    throttledPeriods: number;
    throttledNs: number;
  };
  memory: {
    usage: number;
    /** usage minus inactive file pages: what the kubelet evicts on. */
    workingSet: number;
    rss: number;
    cache: number;
    mappedFile: number;
    swap: number;
    pageFaults: number;
    majorPageFaults: number;
    /** undefined when unlimited. */
    limit: number | undefined;
    /** undefined when unlimited or not known. */
    swapLimit: number | undefined;
    /** Times the limit was hit (v1 failcnt, v2 memory.events max). */
    failcnt: number;
    /** OOM kills inside the cgroup (v2 memory.events oom_kill; v1 memory.oom_control oom_kill). */
    oomKills: number;
  };
  /** Number of tasks (pids controller); undefined when the controller is absent. */
  pids: number | undefined;
}

/** A limit at or above this is "no limit" (v1 writes PAGE_COUNTER_MAX rounded to pages). */
const UNLIMITED = 2 ** 62;

/** `key value` lines (memory.stat, cpu.stat, memory.events, cpuacct.stat) into a map. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = Number(line.slice(sp + 1).trim());
    if (!Number.isNaN(v)) out.set(line.slice(0, sp), v);
  }
  return out;
}

/** A single-number file; "max" (v2) means no limit and yields undefined. */
export function parseSingle(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const v = Number(t);
  return Number.isNaN(v) ? undefined : v;
}

export function limitOrUndefined(v: number | undefined): number | undefined {
  return v === undefined || v >= UNLIMITED ? undefined : v;
}

/** Working set as cAdvisor and the kubelet define it: usage minus inactive file cache, never negative. */
export function workingSet(usage: number, inactiveFile: number): number {
  return inactiveFile < usage ? usage - inactiveFile : 0;
}

/** USER_HZ: cpuacct.stat counts in clock ticks, 100 per second on every Linux ABI. */
const TICK_NS = 1e9 / 100;

/** Files of one cgroup v1 container, by name (undefined when a file is missing). */
export interface V1Files {
  'cpuacct.usage'?: string;
  'cpuacct.stat'?: string;
  'cpu.stat'?: string;
  'memory.usage_in_bytes'?: string;
  'memory.limit_in_bytes'?: string;
  'memory.memsw.limit_in_bytes'?: string;
  'memory.failcnt'?: string;
  'memory.stat'?: string;
  'memory.oom_control'?: string;
  'pids.current'?: string;
}

export function sampleFromV1(f: V1Files): CgroupSample {
  const acct = parseFlatKeyed(f['cpuacct.stat'] ?? '');
  const cpuStat = parseFlatKeyed(f['cpu.stat'] ?? '');
  const mem = parseFlatKeyed(f['memory.stat'] ?? '');
  // The total_ keys include child cgroups, which matters for a pod-level cgroup.
  const m = (k: string) => mem.get(`total_${k}`) ?? mem.get(k) ?? 0;
  const usage = parseSingle(f['memory.usage_in_bytes']) ?? 0;
  const limit = limitOrUndefined(parseSingle(f['memory.limit_in_bytes']));
  const memsw = limitOrUndefined(parseSingle(f['memory.memsw.limit_in_bytes']));
  return {
    cpu: {
      usageNs: parseSingle(f['cpuacct.usage']) ?? 0,
      userNs: (acct.get('user') ?? 0) * TICK_NS,
      systemNs: (acct.get('system') ?? 0) * TICK_NS,
      periods: cpuStat.get('nr_periods') ?? 0,
      throttledPeriods: cpuStat.get('nr_throttled') ?? 0,
      throttledNs: cpuStat.get('throttled_time') ?? 0,
    },
    memory: {
      usage,
      workingSet: workingSet(usage, m('inactive_file')),
      rss: m('rss'),
      cache: m('cache'),
      mappedFile: m('mapped_file'),
      swap: m('swap'),
      pageFaults: m('pgfault'),
      majorPageFaults: m('pgmajfault'),
      limit,
      // memsw is memory+swap in v1: the swap allowance is the difference.
      swapLimit: memsw !== undefined && limit !== undefined ? Math.max(0, memsw - limit) : undefined,
      failcnt: parseSingle(f['memory.failcnt']) ?? 0,
      oomKills: parseFlatKeyed(f['memory.oom_control'] ?? '').get('oom_kill') ?? 0,
    },
    pids: parseSingle(f['pids.current']),
  };
}

/** Files of one cgroup v2 container, by name. */
export interface V2Files {
  'cpu.stat'?: string;
  'memory.current'?: string;
  'memory.max'?: string;
  'memory.swap.current'?: string;
  'memory.swap.max'?: string;
  'memory.stat'?: string;
  'memory.events'?: string;
  'pids.current'?: string;
}

export function sampleFromV2(f: V2Files): CgroupSample {
  const cpu = parseFlatKeyed(f['cpu.stat'] ?? '');
  const mem = parseFlatKeyed(f['memory.stat'] ?? '');
  const events = parseFlatKeyed(f['memory.events'] ?? '');
  const usage = parseSingle(f['memory.current']) ?? 0;
  return {
    cpu: {
      usageNs: (cpu.get('usage_usec') ?? 0) * 1000,
      userNs: (cpu.get('user_usec') ?? 0) * 1000,
      systemNs: (cpu.get('system_usec') ?? 0) * 1000,
      periods: cpu.get('nr_periods') ?? 0,
      throttledPeriods: cpu.get('nr_throttled') ?? 0,
      throttledNs: (cpu.get('throttled_usec') ?? 0) * 1000,
    },
    memory: {
      usage,
      workingSet: workingSet(usage, mem.get('inactive_file') ?? 0),
      // v2 has no "rss": anonymous memory is what cAdvisor reports under that name.
      rss: mem.get('anon') ?? 0,
      cache: mem.get('file') ?? 0,
      mappedFile: mem.get('file_mapped') ?? 0,
      swap: parseSingle(f['memory.swap.current']) ?? 0,
      pageFaults: mem.get('pgfault') ?? 0,
      majorPageFaults: mem.get('pgmajfault') ?? 0,
      limit: limitOrUndefined(parseSingle(f['memory.max'])),
      swapLimit: limitOrUndefined(parseSingle(f['memory.swap.max'])),
      failcnt: events.get('max') ?? 0,
      oomKills: events.get('oom_kill') ?? 0,
    },
    pids: parseSingle(f['pids.current']),
  };
}

export interface MountInfoEntry {
  /** Path inside the cgroup hierarchy that is mounted (usually "/"). */
  root: string;
  mountPoint: string;
  fsType: string;
  /** Super options: for cgroup v1, the controllers of the hierarchy (cpu, cpuacct, name=systemd). */
  superOptions: string[];
}

/** The cgroup and cgroup2 mounts from /proc/self/mountinfo. */
export function parseCgroupMounts(mountinfo: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    out.push({ root: unescapeMount(left[3]), mountPoint: unescapeMount(left[4]), fsType, superOptions: (right[2] ?? '').split(',') });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** /proc/<pid>/cgroup: controller (or "" for the v2 unified line) -> path in that hierarchy. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const path = line.slice(second + 1);
    const controllers = line.slice(first + 1, second);
    if (controllers === '') out.set('', path);
    else for (const c of controllers.split(',')) out.set(c, path);
  }
  return out;
}

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** /proc/<pid>/net/dev of a network namespace, loopback left out. */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!name || name === 'lo' || name.includes('|')) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 16 || f.some(Number.isNaN)) continue;
    out.push({
      name,
      rxBytes: f[0],
      rxPackets: f[1],
      rxErrors: f[2],
      rxDropped: f[3],
      txBytes: f[8],
      txPackets: f[9],
      txErrors: f[10],
      txDropped: f[11],
    });
  }
  return out;
}
