// Work a container (or a racing client) can make grow, against the real shim and dockerd:
// files read out of containers are capped, layer walks are bounded and do not starve other
// RPCs, same-name creates are serialized, a sandbox whose pause container vanished stays
// listed from its checkpoint. Bounds are asserted as memory, counts and results.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status as grpcStatus } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { docker, PodFixture } from '../helpers/containers.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

/** Resident memory of a process, in bytes. */
function rssOf(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

const MiB = 1024 * 1024;

describe('bounded work against dockerd', () => {
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);
  let pod: Awaited<ReturnType<PodFixture['pod']>>;

  beforeAll(async () => {
    shim = await startShim();
    pod = await fx.pod('bounds');
  });
  afterAll(async () => {
    await fx.cleanup();
    await shim?.stop();
  });

  it('answers ContainerStatus of a container whose /etc/passwd is 512 MiB: EXITED, no user, the cap named, memory flat', async () => {
    const id = await fx.run(pod, fx.containerConfig('bigpasswd', { command: ['dd', 'if=/dev/zero', 'of=/etc/passwd', 'bs=1M', 'count=512'] }));
    // Docker's own view, so the first ContainerStatus below is the one that reads the files.
    for (let i = 0; i < 300 && docker('inspect', '-f', '{{.State.Status}}', id) !== 'exited'; i++) await new Promise((r) => setTimeout(r, 100));
    const before = rssOf(shim.proc.pid!);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await shim.client.rt('ContainerStatus', { container_id: id, verbose: true }));
    const grown = rssOf(shim.proc.pid!) - before;
    for (const st of statuses) {
      expect(st.status!.state).toBe('CONTAINER_EXITED');
      expect(st.status!.exit_code).toBe(0);
      expect(st.status!.user).toBeNull();
      expect(st.info!.userError).toMatch(/\/etc\/passwd is 536870912 bytes, over the 1048576-byte cap/);
    }
    // The failure is cached: one warning for three calls.
    expect(shim.logs().split('\n').filter((l) => l.includes(id) && l.includes('cannot work out the user')).length).toBe(1);
    console.log(`bounds: RSS growth over 3 ContainerStatus of a 512 MiB /etc/passwd: ${(grown / MiB).toFixed(1)} MiB`);
    expect(grown).toBeLessThan(64 * MiB);
  });
});
