// Statistics of the bench: latency summaries per RPC and the spread of a figure across
// rounds, so that a ratio between endpoints is shown with how much it moved run to run.

export interface Summary {
  count: number;
  min: number;
  median: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * The p-th percentile (0..100) of ascending `sorted` values, interpolated linearly between
 * the two nearest ranks (the usual "type 7" definition), so small samples still give a
 * p95 between their two largest values instead of always the maximum.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** percentile() of values in any order. */
export function percentileOf(values: readonly number[], p: number): number {
  return percentile(ascending(values), p);
}

export function median(values: readonly number[]): number {
  return percentileOf(values, 50);
}

export function summarize(values: readonly number[]): Summary {
  const s = ascending(values);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    count: s.length,
    min: s.length ? s[0] : Number.NaN,
    median: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1] : Number.NaN,
    mean: s.length ? sum / s.length : Number.NaN,
  };
}

/** How a per-round figure varied: its median over rounds, extremes, and (max-min)/median. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  relative: number;
  values: number[];
}

export function spread(values: readonly number[]): Spread {
  const finite = values.filter(Number.isFinite);
  const s = ascending(finite);
  const m = percentile(s, 50);
  const min = s.length ? s[0] : Number.NaN;
  const max = s.length ? s[s.length - 1] : Number.NaN;
  return { median: m, min, max, relative: m !== 0 ? (max - min) / Math.abs(m) : Number.NaN, values: [...finite] };
}

/**
 * Ratio of `other` to `base`, round by round (both ran in every round, alternating), so the
 * spread of the ratio shows whether a difference outlives machine drift.
 */
export function ratioSpread(base: readonly number[], other: readonly number[]): Spread {
  const n = Math.min(base.length, other.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) if (base[i] > 0 && Number.isFinite(other[i])) ratios.push(other[i] / base[i]);
  return spread(ratios);
}

function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}
