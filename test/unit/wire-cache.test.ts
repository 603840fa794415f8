// Responses encoded through the per-object cache decode to what the plain encoder's bytes
// decode to, and an object met again is not encoded again.
import { describe, expect, it } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { loadCri } from '../../src/proto.js';
import { cachingSerializer, withCachedEncoding } from '../../src/handlers/wire-cache.js';

const runtime = loadCri().runtime.v1.RuntimeService.service as grpc.ServiceDefinition;

function pod(n: number) {
  return {
    id: `${n}`.repeat(64).slice(0, 64),
    metadata: { name: `pod-${n}`, namespace: 'ns', uid: `uid-${n}`, attempt: n },
    state: n % 2 ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    created_at: '1764633600123456789',
    labels: { app: `a${n}` },
    annotations: { 'kubernetes.io/config.seen': 'x' },
    runtime_handler: '',
  };
}

function containerStatus(n: number) {
  return {
    id: `c${n}`,
    metadata: { name: 'main', attempt: 0 },
    state: 'CONTAINER_RUNNING',
    created_at: '1764633600123456789',
    started_at: '1764633601123456789',
    finished_at: '0',
    exit_code: 0,
    image: { image: 'busybox', user_specified_image: 'busybox' },
    labels: {},
    annotations: {},
    mounts: [{ host_path: '/a', container_path: '/b', readonly: true, propagation: 'PROPAGATION_PRIVATE', selinux_relabel: false }],
    resources: { linux: { oom_score_adj: '-997', memory_limit_in_bytes: '0' } },
    user: { linux: { uid: '0', gid: '0', supplemental_groups: ['10'] } },
  };
}

const plain = (method: string) => runtime[method].responseSerialize as (v: unknown) => Buffer;
const cached = (method: string) => withCachedEncoding(runtime)[method].responseSerialize as (v: unknown) => Buffer;
const decode = (method: string, bytes: Buffer) => runtime[method].responseDeserialize(bytes);

describe('cached response encoding', () => {
  it('ListPodSandbox: the same bytes as the plain encoder, reused per item object', () => {
    const items = [pod(1), pod(2), pod(3)];
    const ser = cached('ListPodSandbox');
    const first = ser({ items });
    expect(first.equals(plain('ListPodSandbox')({ items }))).toBe(true);
    // A fresh object is encoded; the others come from the cache (same bytes as before).
    const changed = [items[0], { ...items[1], state: 'SANDBOX_READY' }, items[2]];
    expect(decode('ListPodSandbox', ser({ items: changed }))).toEqual(decode('ListPodSandbox', plain('ListPodSandbox')({ items: changed })));
    expect(ser({ items: [] }).length).toBe(0);
  });

  it('PodSandboxStatus: cached status and container statuses beside per-call info and timestamp', () => {
    const response = {
      status: { ...pod(4), network: { ip: '10.0.0.4', additional_ips: [{ ip: 'fd00::4' }] }, linux: { namespaces: { options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '' } } } },
      info: { info: '{"pid":4}' },
      containers_statuses: [containerStatus(1), containerStatus(2)],
      timestamp: '1764633609000000000',
    };
    const ser = cached('PodSandboxStatus');
    const want = decode('PodSandboxStatus', plain('PodSandboxStatus')(response));
    expect(decode('PodSandboxStatus', ser(response))).toEqual(want);
    const later = { ...response, timestamp: '1764633619000000000', info: {} };
    expect(decode('PodSandboxStatus', ser(later))).toEqual(decode('PodSandboxStatus', plain('PodSandboxStatus')(later)));
  });

  it('encodes an object once, however many responses carry it', () => {
    let calls = 0;
    const base = plain('ContainerStatus');
    const ser = cachingSerializer((v) => {
      calls++;
      return base(v);
    }, ['status']);
    const status = containerStatus(7);
    ser({ status, info: {} });
    ser({ status, info: {} });
    // Per response: the rest (info) once; the status only the first time.
    expect(calls).toBe(3);
    expect(decode('ContainerStatus', ser({ status, info: { a: 'b' } }))).toEqual(decode('ContainerStatus', base({ status, info: { a: 'b' } })));
    expect(decode('ContainerStatus', ser({ status: null, info: {} }))).toEqual(decode('ContainerStatus', base({ status: null, info: {} })));
  });
});
