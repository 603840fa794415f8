import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCgroupMounts, parseNetDev, parseProcCgroup, sampleFromV1, sampleFromV2, workingSet } from '../../src/stats/cgroup-parse.js';
import { CgroupReader, parentDirs } from '../../src/stats/cgroup.js';
import { CpuRateTracker } from '../../src/stats/cpu-rate.js';
import { WritableLayerUsage } from '../../src/stats/fs-usage.js';
import { BASE_LABEL_KEYS, MetricWriter, metricDescriptors } from '../../src/stats/cadvisor-metrics.js';
import { sumSamples } from '../../src/services/stats.js';

const FIX = resolve(import.meta.dirname, 'fixtures/stats');
const fixture = (p: string) => readFileSync(join(FIX, p), 'utf8');
const files = (dir: string) => Object.fromEntries(readdirSync(join(FIX, dir)).map((f) => [f, fixture(join(dir, f))]));

const tmp = mkdtempSync(join(tmpdir(), 'stats-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A fake /proc and cgroup mount: mountinfo points at a temp dir holding the fixture files. */
function fakeHost(version: 'v1' | 'v2'): { proc: string; cg: string } {
  const root = mkdtempSync(join(tmp, `${version}-`));
  const proc = join(root, 'proc');
  const cg = join(root, 'cg');
  mkdirSync(join(proc, 'self'), { recursive: true });
  mkdirSync(join(proc, '42'), { recursive: true });
  const mountinfo = fixture(`${version}/mountinfo`).replaceAll(' /sys/fs/cgroup', ` ${cg}`);
  writeFileSync(join(proc, 'self/mountinfo'), mountinfo);
  writeFileSync(join(proc, '42/cgroup'), fixture(`${version}/proc-cgroup`));
  const cgPath = [...parseProcCgroup(fixture(`${version}/proc-cgroup`)).values()].find((p) => p.length > 1)!;
  const dirs = version === 'v2' ? [cg] : ['cpu,cpuacct', 'memory', 'pids'].map((c) => join(cg, c));
  for (const d of dirs) {
    mkdirSync(join(d, cgPath), { recursive: true });
    for (const f of readdirSync(join(FIX, version))) {
      if (f !== 'mountinfo' && f !== 'proc-cgroup') cpSync(join(FIX, version, f), join(d, cgPath, f));
    }
  }
  return { proc, cg };
}

describe('cgroup v2 parsing (fixture files)', () => {
  const s = sampleFromV2(files('v2'));
  it('reads CPU in nanoseconds from cpu.stat microseconds', () => {
    expect(s.cpu).toEqual({ usageNs: 2.5e9, userNs: 2e9, systemNs: 0.5e9, periods: 120, throttledPeriods: 7, throttledNs: 350e6 });
  });
  it('working set = memory.current - inactive_file; rss = anon; max is a limit, "max" is none', () => {
    expect(s.memory.usage).toBe(104857600);
    expect(s.memory.workingSet).toBe(104857600 - 20971520);
    expect(s.memory.rss).toBe(73400320);
    expect(s.memory.cache).toBe(31457280);
    expect(s.memory.mappedFile).toBe(4194304);
    expect(s.memory.limit).toBe(268435456);
    expect(s.memory.swapLimit).toBeUndefined();
    expect(s.memory.pageFaults).toBe(25000);
    expect(s.memory.majorPageFaults).toBe(12);
    expect(s.memory.failcnt).toBe(3);
    expect(s.memory.oomKills).toBe(1);
    expect(s.pids).toBe(4);
  });
  it('is detected and read through mountinfo and /proc/<pid>/cgroup', () => {
    const { proc, cg } = fakeHost('v2');
    const reader = new CgroupReader(proc);
    expect(reader.version).toBe('v2');
    const dirs = reader.dirsOfPid(42)!;
    expect(dirs).toEqual({ version: 'v2', dir: join(cg, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/docker-abc.scope') });
    expect(reader.read(dirs, 'metrics')).toEqual(s);
    expect(parentDirs(dirs)).toEqual({ version: 'v2', dir: join(cg, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice') });
    expect(reader.dirsOfPid(43)).toBeUndefined();
  });
});

describe('cgroup v1 parsing (fixture files)', () => {
  const s = sampleFromV1(files('v1'));
  it('reads cpuacct usage and USER_HZ user/system ticks', () => {
    expect(s.cpu).toEqual({ usageNs: 3e9, userNs: 2.5e9, systemNs: 0.5e9, periods: 10, throttledPeriods: 2, throttledNs: 123456789 });
  });
  it('working set subtracts total_inactive_file; a 50 MiB tmpfs file counts, unlimited is undefined', () => {
    expect(s.memory.usage).toBe(62914560);
    expect(s.memory.workingSet).toBe(62914560 - 1503232);
    expect(s.memory.rss).toBe(57344);
    expect(s.memory.limit).toBeUndefined();
    expect(s.memory.swapLimit).toBeUndefined();
    expect(s.pids).toBe(2);
  });
  it('finds each controller in a hybrid host (v1 controllers + empty cgroup2) and reads them', () => {
    const { proc, cg } = fakeHost('v1');
    const reader = new CgroupReader(proc);
    expect(reader.version).toBe('v1');
    const dirs = reader.dirsOfPid(42)!;
    expect(dirs).toEqual({
      version: 'v1',
      cpu: join(cg, 'cpu,cpuacct/kubepods/besteffort/pod1234/abc'),
      cpuacct: join(cg, 'cpu,cpuacct/kubepods/besteffort/pod1234/abc'),
      memory: join(cg, 'memory/kubepods/besteffort/pod1234/abc'),
      pids: join(cg, 'pids/kubepods/besteffort/pod1234/abc'),
    });
    expect(reader.read(dirs, 'metrics')).toEqual(s);
    // The stats hot path skips what only metrics use.
    const light = reader.read(dirs)!;
    expect(light.memory).toMatchObject({ usage: s.memory.usage, workingSet: s.memory.workingSet });
    expect(light.cpu.usageNs).toBe(s.cpu.usageNs);
    expect(light.cpu.periods).toBe(0);
  });
  it('a cgroup that vanished reads as undefined', () => {
    const reader = new CgroupReader(fakeHost('v1').proc);
    expect(reader.read({ version: 'v1', memory: join(tmp, 'nope'), cpuacct: join(tmp, 'nope') })).toBeUndefined();
  });
});

describe('helpers', () => {
  it('working set never goes negative', () => {
    expect(workingSet(100, 150)).toBe(0);
    expect(workingSet(100, 30)).toBe(70);
  });
  it('parses mountinfo escapes and /proc/<pid>/cgroup with joined controllers', () => {
    const m = parseCgroupMounts('32 31 0:29 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,cpu,cpuacct\n');
    expect(m).toEqual([{ root: '/', mountPoint: '/sys/fs/cgroup/with space', fsType: 'cgroup', superOptions: ['rw', 'cpu', 'cpuacct'] }]);
    const p = parseProcCgroup('11:cpu,cpuacct:/a\n0::/b\n');
    expect(p.get('cpu')).toBe('/a');
    expect(p.get('cpuacct')).toBe('/a');
    expect(p.get('')).toBe('/b');
  });
  it('parses /proc/net/dev without loopback', () => {
    expect(parseNetDev(fixture('net-dev'))).toEqual([
      { name: 'eth0', rxBytes: 395980878, rxPackets: 10684, rxErrors: 1, rxDropped: 2, txBytes: 1011772, txPackets: 7523, txErrors: 3, txDropped: 4 },
    ]);
  });
  it('CPU rate: first sample averages since start, later ones use a window of at least 1 s', () => {
    const r = new CpuRateTracker();
    const s = 1e9;
    expect(r.rate('a', 1 * s, 10 * s, 8 * s)).toBe(0.5e9);
    // 2 ms later: too short a window to be a new baseline; measured from the start instead.
    expect(r.rate('a', 1.001 * s, 10.002 * s, 8 * s)).toBe(Math.round((1.001 / 2.002) * 1e9));
    expect(r.rate('a', 3 * s, 12 * s, 8 * s)).toBe(1e9);
    // A restart resets the counter.
    expect(r.rate('a', 0.1 * s, 13 * s, 12.9 * s)).toBe(1e9);
    r.forget('a');
    expect(r.size).toBe(0);
  });
  it('sums container samples for a pod without its own cgroup', () => {
    const a = sampleFromV1(files('v1'));
    const b = sampleFromV2(files('v2'));
    const sum = sumSamples([a, b]);
    expect(sum.cpu.usageNs).toBe(5.5e9);
    expect(sum.memory.workingSet).toBe(a.memory.workingSet + b.memory.workingSet);
    expect(sum.memory.limit).toBeUndefined();
    expect(sum.pids).toBe(6);
  });
  it('measures a writable layer like du, caches it, and forgets a removed container', async () => {
    const d = mkdtempSync(join(tmp, 'du-'));
    mkdirSync(join(d, 'sub'));
    writeFileSync(join(d, 'sub/f'), Buffer.alloc(64 * 1024, 1));
    const layers = new WritableLayerUsage();
    const m = (await layers.get('c1', d))!;
    expect(m.inodes).toBe(3);
    expect(m.bytes).toBeGreaterThanOrEqual(64 * 1024);
    writeFileSync(join(d, 'g'), 'x');
    expect((await layers.get('c1', d))!.inodes).toBe(3);
    layers.forget('c1');
    expect(layers.size).toBe(0);
    expect(await layers.get('c2', join(d, 'missing'))).toBeUndefined();
  });
  it('metrics carry cAdvisor names and one label value per declared key', () => {
    const descs = metricDescriptors();
    const names = descs.map((d) => d.name);
    for (const n of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_network_receive_bytes_total', 'container_fs_usage_bytes']) {
      expect(names).toContain(n);
    }
    const w = new MetricWriter({ container: 'c', id: 'i', image: 'im', name: 'n', namespace: 'ns', pod: 'p' });
    w.cgroup(sampleFromV2(files('v2')));
    w.network(parseNetDev(fixture('net-dev')));
    const byName = new Map(descs.map((d) => [d.name, d]));
    for (const m of w.out) expect(m.label_values!.length).toBe(byName.get(m.name!)!.label_keys!.length);
    const cpu = w.out.find((m) => m.name === 'container_cpu_usage_seconds_total')!;
    expect(cpu.label_values).toEqual(['c', 'i', 'im', 'n', 'ns', 'p', 'total']);
    expect(cpu.value).toEqual({ value: 2 });
    expect(BASE_LABEL_KEYS).toEqual(['container', 'id', 'image', 'name', 'namespace', 'pod']);
  });
});
