// CPU seconds and peak RSS of the processes behind an endpoint, read from /proc while the
// bench drives that endpoint, so each path's whole cost shows (shim + dockerd + containerd +
// shims, against containerd + its shims), not only the latency a client sees.
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;
const SAMPLE_MS = 200;
/** Scanning /proc for names costs CPU of its own: re-resolve names less often than sampling. */
const RESOLVE_EVERY = 5;
/** smaps_rollup makes the kernel walk page tables: memory is read once a second. */
const MEMORY_EVERY = 5;
/** Length of /proc/PID/comm (TASK_COMM_LEN - 1). */
const COMM_MAX = 15;

export interface ProcessCost {
  cpuSeconds: number;
  /** Highest sum of RSS seen: pages shared by several watched processes count once each. */
  peakRssBytes: number;
  /** Highest sum of PSS seen (shared pages split among their sharers): the path's real footprint. */
  peakPssBytes: number;
  /** Distinct processes seen while watching. */
  processes: number;
}

/**
 * One watch spec: a pid, a process name (as in /proc/PID/comm), or `name~text` to keep only
 * the processes of that name whose command line contains text (two containerds run here).
 */
export class ProcessSpec {
  readonly pid: number | undefined;
  readonly comm: string | undefined;
  readonly cmdline: string | undefined;

  constructor(readonly spec: string) {
    if (/^\d+$/.test(spec)) {
      this.pid = Number(spec);
    } else {
      const [comm, cmdline] = spec.split('~', 2);
      if (!comm) throw new Error(`--watch: empty process name in "${spec}"`);
      this.comm = comm;
      this.cmdline = cmdline;
    }
  }

  matches(pid: number): boolean {
    if (this.pid !== undefined) return pid === this.pid;
    const name = this.comm!;
    const comm = readProc(pid, 'comm')?.trim();
    // The kernel keeps 15 characters of a name (containerd-shim-runc-v2 -> containerd-shim):
    // a longer name is checked against the program's own name in argv[0].
    if (comm !== name && !(name.length > COMM_MAX && comm === name.slice(0, COMM_MAX))) return false;
    const argv = (readProc(pid, 'cmdline') ?? '').split('\0');
    if (comm !== name && basename(argv[0]) !== name) return false;
    return this.cmdline === undefined || argv.join(' ').includes(this.cmdline);
  }
}

interface Seen {
  firstTicks: number;
  lastTicks: number;
}

export class ProcessWatch {
  private timer: NodeJS.Timeout | undefined;
  private seen = new Map<number, Seen>();
  private pids: number[] = [];
  private samples = 0;
  private peakRss = 0;
  private peakPss = 0;
  private bootTicksAtStart = 0;

  constructor(private readonly specs: readonly ProcessSpec[]) {}

  /** Pids that match now; used to fail early on a spec that names nothing. */
  static resolve(specs: readonly ProcessSpec[]): number[] {
    const all = listPids();
    return all.filter((pid) => specs.some((s) => s.matches(pid)));
  }

  start(): void {
    this.seen.clear();
    this.samples = 0;
    this.peakRss = 0;
    this.peakPss = 0;
    this.bootTicksAtStart = uptimeTicks();
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): ProcessCost {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    let ticks = 0;
    for (const s of this.seen.values()) ticks += s.lastTicks - s.firstTicks;
    return { cpuSeconds: ticks / TICKS_PER_SECOND, peakRssBytes: this.peakRss, peakPssBytes: this.peakPss, processes: this.seen.size };
  }

  /** CPU used since start() and the RSS now: a workload marks its phases with two of these. */
  snapshot(): { cpuSeconds: number; rssBytes: number } {
    const rss = this.sample(true);
    let ticks = 0;
    for (const s of this.seen.values()) ticks += s.lastTicks - s.firstTicks;
    return { cpuSeconds: ticks / TICKS_PER_SECOND, rssBytes: rss };
  }

  /** Returns the summed RSS when memory was read this time, else 0. */
  private sample(forceMemory = false): number {
    const n = this.samples++;
    if (n % RESOLVE_EVERY === 0) this.pids = ProcessWatch.resolve(this.specs);
    const memory = forceMemory || n % MEMORY_EVERY === 0 || !this.timer;
    let rss = 0;
    let pss = 0;
    for (const pid of this.pids) {
      const stat = parseStat(readProc(pid, 'stat'));
      if (!stat) continue; // exited since the last resolve
      const known = this.seen.get(pid);
      if (known) {
        known.lastTicks = stat.cpuTicks;
      } else {
        // A process born while we watch (a containerd shim, say) counts from zero.
        const first = stat.startTicks >= this.bootTicksAtStart ? 0 : stat.cpuTicks;
        this.seen.set(pid, { firstTicks: first, lastTicks: stat.cpuTicks });
      }
      if (memory) {
        const m = parseSmapsRollup(readProc(pid, 'smaps_rollup'));
        rss += m.rssBytes;
        pss += m.pssBytes;
      }
    }
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakPss = Math.max(this.peakPss, pss);
    return rss;
  }
}

function listPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

interface Stat {
  cpuTicks: number;
  startTicks: number;
}

/** /proc/PID/stat: the command name may hold spaces and parens, so split after the last ')'. */
export function parseStat(text: string | undefined): Stat | undefined {
  if (!text) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
  return { cpuTicks: Number(fields[11]) + Number(fields[12]), startTicks: Number(fields[19]) };
}

/** Rss and Pss (kB) of /proc/PID/smaps_rollup; zero for a process gone or a kernel thread. */
export function parseSmapsRollup(text: string | undefined): { rssBytes: number; pssBytes: number } {
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text ?? '')?.[1] ?? 0) * 1024;
  return { rssBytes: kb('Rss'), pssBytes: kb('Pss') };
}

function uptimeTicks(): number {
  return Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * TICKS_PER_SECOND);
}
