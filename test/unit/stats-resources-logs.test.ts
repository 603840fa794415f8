// Pure parts of resource updates and log resume: what a CRI resource request becomes in
// Docker's update, which fields are refused, and where a CRI log file ends. The unified and
// hugepage fields the kubelet sends are in kubelet-resources.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LinuxContainerResources__Output } from '../../src/generated/runtime/v1/LinuxContainerResources.js';
import { dockerUpdateOf } from '../../src/services/resources.js';
import { dockerLogConfig } from '../../src/docker/log-config.js';
import { lastRecordTime, sinceAfter } from '../../src/services/log-resume.js';

function res(r: Partial<LinuxContainerResources__Output>): LinuxContainerResources__Output {
  return {
    cpu_period: '0',
    cpu_quota: '0',
    cpu_shares: '0',
    memory_limit_in_bytes: '0',
    oom_score_adj: '0',
    cpuset_cpus: '',
    cpuset_mems: '',
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: '0',
    ...r,
  };
}

describe('dockerUpdateOf', () => {
  it('sets only the fields given; swap follows memory unless asked', () => {
    expect(dockerUpdateOf(res({ cpu_shares: '512' }), 'linux')).toEqual({ CpuShares: 512 });
    expect(dockerUpdateOf(res({ memory_limit_in_bytes: '1000' }), 'linux')).toEqual({ Memory: 1000, MemorySwap: 1000 });
    expect(dockerUpdateOf(res({ memory_limit_in_bytes: '1000', memory_swap_limit_in_bytes: '3000' }), 'linux')).toEqual({
      Memory: 1000,
      MemorySwap: 3000,
    });
    expect(dockerUpdateOf(res({ cpu_quota: '-1', cpu_period: '100000', cpuset_cpus: '0-1', cpuset_mems: '0' }), 'linux')).toEqual({
      CpuQuota: -1,
      CpuPeriod: 100000,
      CpusetCpus: '0-1',
      CpusetMems: '0',
    });
    expect(dockerUpdateOf(res({}), 'linux')).toEqual({});
  });
  it('names the field it refuses', () => {
    expect(() => dockerUpdateOf(res({ cpu_shares: '-2' }), 'linux')).toThrow(/linux\.cpu_shares/);
    expect(() => dockerUpdateOf(res({ memory_limit_in_bytes: '-1' }), 'resources')).toThrow(/resources\.memory_limit_in_bytes/);
  });
  it('takes the swap limit memory.swap.max worked out, and ignores hugepages (written to the cgroup instead)', () => {
    expect(dockerUpdateOf(res({ memory_limit_in_bytes: '1000', memory_swap_limit_in_bytes: '3000' }), 'linux', 1000)).toEqual({ Memory: 1000, MemorySwap: 1000 });
    expect(dockerUpdateOf(res({ hugepage_limits: [{ page_size: '2MB', limit: '4194304' }] }), 'overhead')).toEqual({});
  });
});

describe('log resume position', () => {
  const dir = mkdtempSync(join(tmpdir(), 'log-resume-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('Docker since is one nanosecond after the last record, in unix seconds with nanoseconds', () => {
    expect(sinceAfter('2026-11-25T13:51:08.142101836Z')).toBe(`${Date.parse('2026-11-25T13:51:08Z') / 1000}.142101837`);
    expect(sinceAfter('2026-11-25T13:51:08Z')).toBe(`${Date.parse('2026-11-25T13:51:08Z') / 1000}.000000001`);
    expect(sinceAfter('2026-11-25T13:51:08.999999999+01:00')).toBe(`${Date.parse('2026-11-25T12:51:09Z') / 1000}.000000000`);
    expect(sinceAfter('garbage')).toBeUndefined();
  });
  it('finds the last complete record; an absent file is "absent", an empty one has none', async () => {
    const p = join(dir, '0.log');
    expect(await lastRecordTime(p)).toBe('absent');
    writeFileSync(p, '');
    expect(await lastRecordTime(p)).toBeUndefined();
    const long = 'x'.repeat(16 * 1024);
    writeFileSync(
      p,
      `2026-11-25T13:51:08.1Z stdout F a\n2026-11-25T13:51:08.2Z stdout P ${long}\n2026-11-25T13:51:08.3Z stderr F ${long}\n2026-11-25T13:51:09Z stdout P half-writ`,
    );
    expect(await lastRecordTime(p)).toBe('2026-11-25T13:51:08.3Z');
  });
});

describe('Docker log config', () => {
  it('caps json-file and local; leaves other drivers to the operator', () => {
    expect(dockerLogConfig('json-file')).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } });
    expect(dockerLogConfig('local')).toEqual({ Type: 'local', Config: { 'max-size': '10m', 'max-file': '2' } });
    expect(dockerLogConfig('journald')).toBeUndefined();
    expect(dockerLogConfig(undefined)).toBeUndefined();
  });
});
