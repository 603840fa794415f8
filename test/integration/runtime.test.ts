import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

describe('runtime RPCs against dockerd', () => {
  let shim: RunningShim;
  beforeAll(async () => {
    shim = await startShim();
  });
  afterAll(async () => {
    await shim?.stop();
  });

  it('Version names docker, its version and CRI v1', async () => {
    const v = await shim.client.rt('Version', { version: 'v1' });
    const dockerVersion = execFileSync('docker', ['version', '--format', '{{.Server.Version}}']).toString().trim();
    expect(v.runtime_name).toBe('docker');
    expect(v.runtime_version).toBe(dockerVersion);
    expect(v.runtime_api_version).toBe('v1');
  });

  it('Status reports RuntimeReady and NetworkReady', async () => {
    const s = await shim.client.rt('Status', { verbose: false });
    const byType = Object.fromEntries(s.status!.conditions.map((c) => [c.type, c.status]));
    expect(byType).toEqual({ RuntimeReady: true, NetworkReady: true });
  });

  it('RuntimeConfig reports Docker cgroup driver', async () => {
    const driver = execFileSync('docker', ['info', '--format', '{{.CgroupDriver}}']).toString().trim();
    const rc = await shim.client.rt('RuntimeConfig', {});
    expect(rc.linux?.cgroup_driver).toBe(driver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS');
  });

  it('UpdateRuntimeConfig keeps the pod CIDR', async () => {
    await shim.client.rt('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.244.0.0/24' } } });
    const s = await shim.client.rt('Status', { verbose: true });
    expect(JSON.parse(s.info.config).podCidr).toBe('10.244.0.0/24');
  });

  it('answers UNIMPLEMENTED for RPCs no issue has landed yet', async () => {
    const e = await expectCode(shim.client.rt('CheckpointContainer', { container_id: 'x' }), status.UNIMPLEMENTED);
    expect(e.details).toContain('CheckpointContainer');
  });

  it('serves a socket that is not world-writable', () => {
    const mode = statSync(shim.socketPath).mode & 0o777;
    expect(mode & 0o002).toBe(0);
  });
});

describe('socket lifecycle', () => {
  it('replaces a stale socket, refuses a live one, removes it on SIGTERM', async () => {
    const first = await startShim();
    await expect(startShim({ socketPath: first.socketPath })).rejects.toThrow(/in use/);
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));
    // The killed shim left its socket file behind: a new one must take it over.
    const second = await startShim({ socketPath: first.socketPath });
    const v = await second.client.rt('Version', {});
    expect(v.runtime_name).toBe('docker');
    expect(await second.stop()).toBe(0);
    expect(() => statSync(first.socketPath)).toThrow();
  });
});
