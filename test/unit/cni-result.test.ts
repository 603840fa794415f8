import { describe, expect, it } from 'vitest';
import { convertResult, podIpsFromResult } from '../../src/network/cni/result.js';

const v1 = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0', mac: 'aa' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/proc/1/ns/net' }],
  ips: [
    { interface: 2, address: 'fd00::5/64', gateway: 'fd00::1' },
    { interface: 2, address: '10.88.0.5/24', gateway: '10.88.0.1' },
    { interface: 0, address: '10.88.0.1/24' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
  dns: { nameservers: ['10.96.0.10'] },
};

describe('CNI results across versions', () => {
  it('reads the pod addresses on the sandbox interface, IPv4 first', () => {
    expect(podIpsFromResult(v1, '1.0.0', 'eth0')).toEqual(['10.88.0.5', 'fd00::5']);
  });

  it('reads 0.3.x/0.4.0 results (ips with a version) and 0.2.0 results (ip4/ip6)', () => {
    const v04 = { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.1.0.7/16' }] };
    expect(podIpsFromResult(v04, '0.4.0', 'eth0')).toEqual(['10.1.0.7']);
    const v02 = { cniVersion: '0.2.0', ip4: { ip: '10.2.0.3/24', gateway: '10.2.0.1' }, ip6: { ip: 'fd01::3/64' } };
    expect(podIpsFromResult(v02, '0.2.0', 'eth0')).toEqual(['10.2.0.3', 'fd01::3']);
    // No cniVersion in the result: the list's version says how to read it.
    expect(podIpsFromResult({ ip4: { ip: '10.3.0.2/24' } }, '0.1.0', 'eth0')).toEqual(['10.3.0.2']);
  });

  it('returns a result already in the wanted version as it is', () => {
    expect(convertResult(v1, '1.0.0', '1.0.0')).toBe(v1);
  });

  it('converts 1.0.0 down to 0.4.0 (adds version) and to 0.2.0 (ip4/ip6 with routes)', () => {
    const to04 = convertResult(v1, '1.0.0', '0.4.0');
    expect(to04.cniVersion).toBe('0.4.0');
    expect((to04.ips as Array<{ version: string }>).map((i) => i.version)).toEqual(['6', '4', '4']);
    expect(convertResult(v1, '1.0.0', '0.2.0')).toEqual({
      cniVersion: '0.2.0',
      dns: { nameservers: ['10.96.0.10'] },
      ip4: { ip: '10.88.0.5/24', gateway: '10.88.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0' }] },
    });
  });

  it('converts legacy and 0.4.0 results up to 1.0.0 (drops version)', () => {
    const up = convertResult({ cniVersion: '0.2.0', ip4: { ip: '10.2.0.3/24', gateway: '10.2.0.1', routes: [{ dst: '0.0.0.0/0' }] } }, '0.2.0', '1.0.0');
    expect(up).toEqual({ cniVersion: '1.0.0', interfaces: [], ips: [{ address: '10.2.0.3/24', gateway: '10.2.0.1' }], routes: [{ dst: '0.0.0.0/0' }], dns: {} });
    const from04 = convertResult({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.1.0.7/16', interface: 0 }] }, '0.4.0', '1.0.0');
    expect(from04.ips).toEqual([{ address: '10.1.0.7/16', interface: 0 }]);
  });
});
