// Turns the rounds of every endpoint into figures (JSON) and the side-by-side table.
import { ratioSpread, median, summarize, type Spread, type Summary } from './stats.js';
import type { EndpointRun } from './runner.js';
import type { Recorder } from './recorder.js';

export interface RpcFigures extends Summary {
  /** Median of each round, for the spread of ratios. */
  roundMedians: number[];
}

export interface ThroughputFigures {
  pods: number;
  seconds: number;
  podsPerSecond: number;
  roundPodsPerSecond: number[];
}

export interface ProcessFigures {
  watch: string[];
  /** Most distinct processes matched in one round (a spec that matched nothing shows here). */
  processes: number;
  cpuSeconds: number;
  /** Highest sum of the watched processes' RSS seen in any round (shared pages counted per process). */
  peakRssBytes: number;
  /** Same with PSS, shared pages split among their sharers: what the path really occupies. */
  peakPssBytes: number;
  roundCpuSeconds: number[];
  roundPeakRssBytes: number[];
  roundPeakPssBytes: number[];
  /** Over the steady workload's polling phase (mean of the rounds), when it ran. */
  polling?: { cpuSecondsPerMinute: number; rssStartBytes: number; rssEndBytes: number };
}

export interface EndpointReport {
  name: string;
  address: string;
  runtime: { name: string; version: string };
  existingPods: number;
  rounds: number;
  rpcs: Record<string, RpcFigures>;
  throughput: Record<string, ThroughputFigures>;
  errors: Record<string, Record<string, number>>;
  /** Items in the last answer of each timed List ("workload/RPC"), the largest over rounds. */
  items: Record<string, number>;
  errorCount: number;
  /** First message per "workload/RPC CODE". */
  errorSamples: Record<string, string>;
  processes: ProcessFigures | null;
  cleanupFailures: string[];
}

export interface RatioReport {
  endpoint: string;
  baseline: string;
  /** other/baseline of each RPC's median, round by round. */
  rpcs: Record<string, Spread>;
  podsPerSecond: Record<string, Spread>;
  cpuSeconds: Spread | null;
  peakRssBytes: Spread | null;
  peakPssBytes: Spread | null;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  interrupted: boolean;
  rounds: number;
  workloads: string[];
  options: Record<string, unknown>;
  endpoints: EndpointReport[];
  ratios: RatioReport[];
}

export function endpointReport(run: EndpointRun): EndpointReport {
  const rpcs: Record<string, RpcFigures> = {};
  for (const key of keysInOrder(run.rounds.map((r) => r.latencies))) {
    const perRound = run.rounds.map((r) => r.latencies.get(key) ?? []);
    rpcs[key] = { ...summarize(perRound.flat()), roundMedians: perRound.map((l) => median(l)) };
  }
  const throughput: Record<string, ThroughputFigures> = {};
  for (const key of keysInOrder(run.rounds.map((r) => r.throughput))) {
    const per = run.rounds.map((r) => r.throughput.get(key) ?? { pods: 0, seconds: 0 });
    const pods = per.reduce((a, t) => a + t.pods, 0);
    const seconds = per.reduce((a, t) => a + t.seconds, 0);
    throughput[key] = { pods, seconds, podsPerSecond: seconds > 0 ? pods / seconds : 0, roundPodsPerSecond: per.map((t) => (t.seconds > 0 ? t.pods / t.seconds : 0)) };
  }
  const items: Record<string, number> = {};
  for (const r of run.rounds) for (const [key, n] of r.items) items[key] = Math.max(items[key] ?? 0, n);
  const errors: Record<string, Record<string, number>> = {};
  const errorSamples: Record<string, string> = {};
  let errorCount = 0;
  for (const r of run.rounds) {
    for (const [key, message] of r.errorSamples) errorSamples[key] ??= message;
    for (const [key, byCode] of r.errors) {
      const into = (errors[key] ??= {});
      for (const [code, n] of byCode) {
        into[code] = (into[code] ?? 0) + n;
        errorCount += n;
      }
    }
  }
  const costs = run.rounds.map((r) => r.cost).filter((c) => c !== undefined);
  const processes: ProcessFigures | null =
    run.spec.watch.length && costs.length
      ? {
          watch: run.spec.watch.map((s) => s.spec),
          processes: Math.max(...costs.map((c) => c.processes)),
          cpuSeconds: costs.reduce((a, c) => a + c.cpuSeconds, 0),
          peakRssBytes: Math.max(...costs.map((c) => c.peakRssBytes)),
          roundCpuSeconds: costs.map((c) => c.cpuSeconds),
          peakPssBytes: Math.max(...costs.map((c) => c.peakPssBytes)),
          roundPeakRssBytes: costs.map((c) => c.peakRssBytes),
          roundPeakPssBytes: costs.map((c) => c.peakPssBytes),
          polling: pollingFigures(run.rounds),
        }
      : null;
  return {
    name: run.spec.name,
    address: run.spec.address,
    runtime: run.runtime,
    existingPods: run.existingPods,
    rounds: run.rounds.length,
    rpcs,
    throughput,
    errors,
    items,
    errorCount,
    errorSamples,
    processes,
    cleanupFailures: run.cleanupFailures,
  };
}

/** Every endpoint against the first one. */
export function ratios(endpoints: EndpointReport[]): RatioReport[] {
  const [base, ...others] = endpoints;
  if (!base) return [];
  return others.map((e) => {
    const rpcs: Record<string, Spread> = {};
    for (const key of Object.keys(e.rpcs)) if (base.rpcs[key]) rpcs[key] = ratioSpread(base.rpcs[key].roundMedians, e.rpcs[key].roundMedians);
    const podsPerSecond: Record<string, Spread> = {};
    for (const key of Object.keys(e.throughput)) {
      if (base.throughput[key]) podsPerSecond[key] = ratioSpread(base.throughput[key].roundPodsPerSecond, e.throughput[key].roundPodsPerSecond);
    }
    const both = base.processes && e.processes;
    return {
      endpoint: e.name,
      baseline: base.name,
      rpcs,
      podsPerSecond,
      cpuSeconds: both ? ratioSpread(base.processes!.roundCpuSeconds, e.processes!.roundCpuSeconds) : null,
      peakRssBytes: both ? ratioSpread(base.processes!.roundPeakRssBytes, e.processes!.roundPeakRssBytes) : null,
      peakPssBytes: both ? ratioSpread(base.processes!.roundPeakPssBytes, e.processes!.roundPeakPssBytes) : null,
    };
  });
}

export function formatTable(report: BenchReport): string {
  const eps = report.endpoints;
  const header = ['', ...eps.map((e) => `${e.name} (${e.runtime.name} ${e.runtime.version})`), ...report.ratios.map((r) => `${r.endpoint}/${r.baseline} [min-max]`)];
  const rows: string[][] = [];
  const section = (title: string) => rows.push([title, ...header.slice(1).map(() => '')]);

  section('latency ms: median / p95 / p99 (n)');
  for (const key of keysInOrder(eps.map((e) => new Map(Object.entries(e.rpcs))))) {
    rows.push([
      key,
      ...eps.map((e) => {
        const f = e.rpcs[key];
        return f ? `${ms(f.median)} / ${ms(f.p95)} / ${ms(f.p99)} (${f.count})` : '-';
      }),
      ...report.ratios.map((r) => ratioCell(r.rpcs[key])),
    ]);
  }
  const itemKeys = keysInOrder(eps.map((e) => new Map(Object.entries(e.items))));
  if (itemKeys.length) {
    // A List's latency depends on how much it answers: the endpoints may hold different images.
    section('items in the last answer');
    for (const key of itemKeys) rows.push([key, ...eps.map((e) => String(e.items[key] ?? '-')), ...report.ratios.map(() => '')]);
  }
  section('throughput');
  for (const key of keysInOrder(eps.map((e) => new Map(Object.entries(e.throughput))))) {
    rows.push([
      `${key} pods/s`,
      ...eps.map((e) => (e.throughput[key] ? `${e.throughput[key].podsPerSecond.toFixed(2)} (${e.throughput[key].pods} pods)` : '-')),
      ...report.ratios.map((r) => ratioCell(r.podsPerSecond[key])),
    ]);
  }
  section('cost');
  rows.push(['errors', ...eps.map((e) => errorCell(e)), ...report.ratios.map(() => '')]);
  if (eps.some((e) => e.processes)) {
    rows.push(['CPU seconds (watched)', ...eps.map((e) => (e.processes ? e.processes.cpuSeconds.toFixed(2) : '-')), ...report.ratios.map((r) => ratioCell(r.cpuSeconds ?? undefined))]);
    rows.push([
      'peak RSS MiB (watched)',
      ...eps.map((e) => (e.processes ? (e.processes.peakRssBytes / 2 ** 20).toFixed(1) : '-')),
      ...report.ratios.map((r) => ratioCell(r.peakRssBytes ?? undefined)),
    ]);
    rows.push([
      'peak PSS MiB (watched)',
      ...eps.map((e) => (e.processes ? (e.processes.peakPssBytes / 2 ** 20).toFixed(1) : '-')),
      ...report.ratios.map((r) => ratioCell(r.peakPssBytes ?? undefined)),
    ]);
    if (eps.some((e) => e.processes?.polling)) {
      const p = (e: EndpointReport) => e.processes?.polling;
      rows.push(['steady polling CPU s/min (watched)', ...eps.map((e) => (p(e) ? p(e)!.cpuSecondsPerMinute.toFixed(2) : '-')), ...report.ratios.map(() => '')]);
      rows.push([
        'steady polling RSS MiB start -> end',
        ...eps.map((e) => (p(e) ? `${(p(e)!.rssStartBytes / 2 ** 20).toFixed(1)} -> ${(p(e)!.rssEndBytes / 2 ** 20).toFixed(1)}` : '-')),
        ...report.ratios.map(() => ''),
      ]);
    }
    rows.push(['processes (watched)', ...eps.map((e) => (e.processes ? String(e.processes.processes) : '-')), ...report.ratios.map(() => '')]);
  }
  const widths = header.map((_, c) => Math.max(header[c].length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  const notes = [`${report.rounds} round(s), endpoints alternating; ratio = round-by-round ${'other/baseline'} of the median (lower latency ratio = faster)`];
  for (const e of eps) if (e.processes) notes.push(`watched for ${e.name}: ${e.processes.watch.join(', ')}`);
  if (report.interrupted) notes.push('INTERRUPTED: figures cover the completed rounds only');
  for (const e of eps) for (const [key, message] of Object.entries(e.errorSamples)) notes.push(`${e.name}: ${key}: ${message}`);
  return [line(header), ...rows.map(line), '', ...notes].join('\n');
}

function ratioCell(s: Spread | undefined): string {
  if (!s || !Number.isFinite(s.median)) return '-';
  return `${s.median.toFixed(2)}x [${s.min.toFixed(2)}-${s.max.toFixed(2)}]`;
}

function errorCell(e: EndpointReport): string {
  if (e.errorCount === 0) return '0';
  const byCode: Record<string, number> = {};
  for (const codes of Object.values(e.errors)) for (const [code, n] of Object.entries(codes)) byCode[code] = (byCode[code] ?? 0) + n;
  return `${e.errorCount} (${Object.entries(byCode)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ')})`;
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function keysInOrder(maps: ReadonlyMap<string, unknown>[]): string[] {
  const keys = new Set<string>();
  for (const m of maps) for (const k of m.keys()) keys.add(k);
  return [...keys];
}

function pollingFigures(rounds: readonly Recorder[]): ProcessFigures['polling'] {
  const polls = rounds.map((r) => r.polling).filter((p) => p !== undefined && p.seconds > 0);
  if (polls.length === 0) return undefined;
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  return {
    cpuSecondsPerMinute: mean(polls.map((p) => (p!.cpuSeconds / p!.seconds) * 60)),
    rssStartBytes: mean(polls.map((p) => p!.rssStartBytes)),
    rssEndBytes: mean(polls.map((p) => p!.rssEndBytes)),
  };
}
