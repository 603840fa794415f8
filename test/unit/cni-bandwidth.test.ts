import { describe, expect, it } from 'vitest';
import { bandwidthFromAnnotations, parseQuantity } from '../../src/network/bandwidth.js';

describe('pod bandwidth annotations', () => {
  it('parses Kubernetes quantities', () => {
    expect(parseQuantity('10M')).toBe(10_000_000);
    expect(parseQuantity('1Mi')).toBe(1_048_576);
    expect(parseQuantity('1.5k')).toBe(1500);
    expect(parseQuantity('2e6')).toBe(2_000_000);
    expect(parseQuantity('100')).toBe(100);
    expect(parseQuantity('1500m')).toBe(2);
    expect(parseQuantity('fast')).toBeUndefined();
    expect(parseQuantity('10 M')).toBeUndefined();
  });

  it('gives CNI bandwidth args with the kubelet burst, only for what is annotated', () => {
    expect(bandwidthFromAnnotations({})).toBeUndefined();
    expect(bandwidthFromAnnotations({ 'kubernetes.io/egress-bandwidth': '1G' })).toEqual({ egressRate: 1e9, egressBurst: 2147483647 });
  });

  it('rejects nonsense and unreasonable rates, naming the annotation', () => {
    expect(() => bandwidthFromAnnotations({ 'kubernetes.io/ingress-bandwidth': 'lots' })).toThrow(/kubernetes\.io\/ingress-bandwidth: "lots" is not a quantity/);
    expect(() => bandwidthFromAnnotations({ 'kubernetes.io/ingress-bandwidth': '10' })).toThrow(/unreasonably small/);
    expect(() => bandwidthFromAnnotations({ 'kubernetes.io/egress-bandwidth': '2P' })).toThrow(/unreasonably large/);
  });
});
