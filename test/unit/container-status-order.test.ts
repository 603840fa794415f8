// containers_statuses (PodSandboxStatus, container events) newest first: the kubelet's evented
// PLEG takes the first status of a container name as its latest attempt.
import { describe, expect, it } from 'vitest';
import { newestFirst } from '../../src/docker/container-status.js';
import type { ContainerStatus } from '../../src/generated/runtime/v1/ContainerStatus.js';

const status = (id: string, attempt: number, createdAt: string, state: ContainerStatus['state']): ContainerStatus => ({
  id,
  metadata: { name: 'sidecar', attempt },
  state,
  created_at: createdAt,
});

describe('newestFirst', () => {
  it('puts a restarted container before its exited earlier attempt, whatever the index order', () => {
    const exited = status('old', 0, '1796162573000000000', 'CONTAINER_EXITED');
    const running = status('new', 1, '1796162630700000000', 'CONTAINER_RUNNING');
    const other = status('httpd', 0, '1796162572000000000', 'CONTAINER_RUNNING');
    expect(newestFirst([exited, other, running]).map((s) => s.id)).toEqual(['new', 'old', 'httpd']);
    expect(newestFirst([running, exited]).map((s) => s.id)).toEqual(['new', 'old']);
  });

  it('compares nanosecond times exactly (beyond Number precision)', () => {
    const a = status('a', 0, '1796162630700000001', 'CONTAINER_RUNNING');
    const b = status('b', 0, '1796162630700000002', 'CONTAINER_RUNNING');
    expect(newestFirst([a, b]).map((s) => s.id)).toEqual(['b', 'a']);
  });
});
