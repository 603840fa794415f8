// Statistics and parsers of the bench on known data.
import { describe, expect, it } from 'vitest';
import { median, percentile, percentileOf, ratioSpread, spread, summarize } from '../../src/bench/stats.js';
import { readFileSync } from 'node:fs';
import { parseSmapsRollup, parseStat, ProcessSpec } from '../../src/bench/procwatch.js';
import { parseCommand } from '../../src/bench/workloads.js';
import { parseBenchArgs } from '../../src/bench/cli.js';
import { endpointReport, ratios } from '../../src/bench/report.js';
import { Recorder } from '../../src/bench/recorder.js';

describe('bench statistics', () => {
  it('median of odd and even counts, unsorted input', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('percentiles interpolate between ranks (type 7)', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(s, 0)).toBe(1);
    expect(percentile(s, 100)).toBe(100);
    expect(percentile(s, 50)).toBeCloseTo(50.5, 10);
    expect(percentile(s, 95)).toBeCloseTo(95.05, 10);
    expect(percentile(s, 99)).toBeCloseTo(99.01, 10);
    expect(percentile([10, 20], 95)).toBeCloseTo(19.5, 10);
    expect(percentileOf([20, 10], 95)).toBeCloseTo(19.5, 10); // any order
  });

  it('summarize gives count, extremes, mean, median, p95, p99', () => {
    const values = [12, 3, 7, 1, 20, 5, 9, 2, 15, 6];
    expect(summarize(values)).toEqual({
      count: 10,
      min: 1,
      median: 6.5,
      p95: expect.closeTo(17.75, 10) as number,
      p99: expect.closeTo(19.55, 10) as number,
      max: 20,
      mean: 8,
    });
    expect(summarize([]).count).toBe(0);
    expect(summarize([]).median).toBeNaN();
  });

  it('spread: median over rounds, extremes, relative width; non-finite rounds dropped', () => {
    const s = spread([10, 12, 8, Number.NaN]);
    expect(s).toMatchObject({ median: 10, min: 8, max: 12, values: [10, 12, 8] });
    expect(s.relative).toBeCloseTo(0.4, 10);
  });

  it('ratioSpread pairs rounds and skips a zero baseline', () => {
    const r = ratioSpread([100, 110, 90, 0], [50, 66, 36, 10]);
    expect(r.values).toEqual([0.5, 0.6, 0.4]);
    expect(r.median).toBeCloseTo(0.5, 10);
    expect(r.min).toBeCloseTo(0.4, 10);
    expect(r.max).toBeCloseTo(0.6, 10);
  });

  it('endpoint figures and ratios from recorded rounds', () => {
    const round = (lat: number[], pods: number, secs: number) => {
      const r = new Recorder();
      for (const v of lat) r.latency('lifecycle/RunPodSandbox', v);
      r.pods('lifecycle', pods, secs);
      return r;
    };
    const base = endpointReport({
      spec: { name: 'a', address: 'unix:///a', watch: [] },
      runtime: { name: 'x', version: '1' },
      existingPods: 0,
      rounds: [round([10, 20, 30], 3, 1), round([20, 40, 60], 3, 2)],
      cleanupFailures: [],
    });
    const errRound = round([5, 10, 15], 3, 0.5);
    errRound.error('lifecycle/CreateContainer', 'UNAVAILABLE');
    errRound.error('lifecycle/CreateContainer', 'UNAVAILABLE');
    const other = endpointReport({
      spec: { name: 'b', address: 'unix:///b', watch: [] },
      runtime: { name: 'y', version: '2' },
      existingPods: 0,
      rounds: [errRound, round([10, 20, 30], 3, 1)],
      cleanupFailures: [],
    });
    expect(base.rpcs['lifecycle/RunPodSandbox']).toMatchObject({ count: 6, median: 25, roundMedians: [20, 40] });
    expect(base.throughput.lifecycle).toMatchObject({ pods: 6, seconds: 3, podsPerSecond: 2, roundPodsPerSecond: [3, 1.5] });
    expect(other.errors).toEqual({ 'lifecycle/CreateContainer': { UNAVAILABLE: 2 } });
    expect(other.errorCount).toBe(2);
    const [r] = ratios([base, other]);
    expect(r.rpcs['lifecycle/RunPodSandbox'].values).toEqual([0.5, 0.5]);
    expect(r.podsPerSecond.lifecycle.values).toEqual([2, 2]);
  });
});

describe('bench parsers', () => {
  it('/proc/PID/stat with spaces and parens in the name', () => {
    const fields = ['S', ...Array.from({ length: 49 }, (_, i) => String(i + 4))];
    fields[11] = '250'; // utime (field 14)
    fields[12] = '50'; // stime (15)
    fields[19] = '12345'; // starttime (22)
    expect(parseStat(`42 (my (odd) name) ${fields.join(' ')}`)).toEqual({ cpuTicks: 300, startTicks: 12345 });
    expect(parseStat(undefined)).toBeUndefined();
  });

  it('/proc/PID/smaps_rollup Rss and Pss', () => {
    const text = '55d4c0a00000-7ffd1e5fe000 ---p 00000000 00:00 0    [rollup]\nRss:               11264 kB\nPss:                3072 kB\nPss_Anon:           1024 kB\n';
    expect(parseSmapsRollup(text)).toEqual({ rssBytes: 11264 * 1024, pssBytes: 3072 * 1024 });
    expect(parseSmapsRollup(undefined)).toEqual({ rssBytes: 0, pssBytes: 0 });
    const own = parseSmapsRollup(readFileSync('/proc/self/smaps_rollup', 'utf8'));
    expect(own.rssBytes).toBeGreaterThan(0);
    expect(own.pssBytes).toBeGreaterThan(0);
    expect(own.pssBytes).toBeLessThanOrEqual(own.rssBytes);
  });

  it('watch specs: pid, name, name~cmdline', () => {
    expect(new ProcessSpec('123').pid).toBe(123);
    expect(new ProcessSpec('containerd~cri-bench')).toMatchObject({ comm: 'containerd', cmdline: 'cri-bench' });
    expect(new ProcessSpec(String(process.pid)).matches(process.pid)).toBe(true);
    expect(() => new ProcessSpec('~x')).toThrow(/empty process name/);
  });

  it('--command as words or a JSON array', () => {
    expect(parseCommand('sleep 3600')).toEqual(['sleep', '3600']);
    expect(parseCommand('["sh","-c","a b"]')).toEqual(['sh', '-c', 'a b']);
    expect(() => parseCommand('[1]')).toThrow(/JSON array of strings/);
  });

  it('flags: endpoints, watch, workloads, sizes, refusals of bad input', () => {
    const { options, output } = parseBenchArgs([
      '--endpoint', 'shim=unix:///run/a.sock', '--endpoint', 'ctrd=unix:///run/b.sock',
      '--image', 'img', '--watch', 'ctrd=containerd~b.sock,42', '--pods', '3', '--rounds', '2', '--output', '-',
      '--pull-image', 'localhost:5000/x:1',
    ]);
    expect(output).toBe('-');
    expect(options.endpoints.map((e) => [e.name, e.address, e.watch.map((w) => w.spec)])).toEqual([
      ['shim', 'unix:///run/a.sock', []],
      ['ctrd', 'unix:///run/b.sock', ['containerd~b.sock', '42']],
    ]);
    expect(options.workloads).toEqual(['lifecycle', 'parallel', 'steady', 'exec', 'image']);
    expect(options.rounds).toBe(2);
    expect(options.workload.pods).toBe(3);
    expect(options.workload.command[0]).toBe('sh');
    expect(() => parseBenchArgs(['--image', 'x'])).toThrow(/at least one --endpoint/);
    expect(() => parseBenchArgs(['--endpoint', 'a=unix:///x'])).toThrow(/--image is required/);
    expect(() => parseBenchArgs(['--endpoint', 'a=tcp://x:1', '--image', 'i'])).toThrow(/only unix/);
    expect(() => parseBenchArgs(['--endpoint', 'a=unix:///x', '--image', 'i', '--workloads', 'nope'])).toThrow(/unknown workload/);
    expect(() => parseBenchArgs(['--endpoint', 'a=unix:///x', '--image', 'i', '--watch', 'b=1'])).toThrow(/--watch/);
    expect(() => parseBenchArgs(['--endpoint', 'a=unix:///x', '--image', 'i', '--pods', '-1'])).toThrow(/--pods/);
    expect(() => parseBenchArgs(['--endpoint', 'a=unix:///x', '--workloads', 'image'])).toThrow(/--pull-image/);
  });
});
