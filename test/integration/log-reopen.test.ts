// ReopenContainerLog against the real dockerd: after the kubelet renamed the log (rotation),
// new output goes to a new file at the path, nothing lost or doubled; a stopped container is
// FailedPrecondition and gets no new file.
import { existsSync, renameSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { shimWithPods } from '../helpers/containers.js';
import { stdoutLines, until } from '../helpers/log-wait.js';

const COUNTER = ['sh', '-c', 'trap "exit 0" TERM; i=0; while :; do echo "line $i"; i=$((i+1)); sleep 0.05; done'];

describe('ReopenContainerLog', () => {
  const { shim, fx } = shimWithPods();

  it('after a rename, new output goes to a new file at the path; nothing is lost or doubled', async () => {
    const pod = await fx.pod('reopen');
    const config = fx.containerConfig('counter', { command: COUNTER });
    const id = await fx.run(pod, config);
    const path = fx.logPath(pod.config, config);
    await until(() => stdoutLines(path).length >= 10, '10 lines');

    renameSync(path, `${path}.1`);
    await shim.client.rt('ReopenContainerLog', { container_id: id });
    await until(() => stdoutLines(path).length >= 10, '10 lines in the new file');
    await shim.client.rt('StopContainer', { container_id: id, timeout: 5 });
    await fx.waitState(id, 'CONTAINER_EXITED');

    const rotated = stdoutLines(`${path}.1`);
    const fresh = stdoutLines(path);
    const all = [...rotated, ...fresh];
    expect(all).toEqual(all.map((_, i) => `line ${i}`));
    expect(fresh[0]).toBe(`line ${rotated.length}`);
  });

  it('a container that is not running is FailedPrecondition and gets no new file', async () => {
    const pod = await fx.pod('reopen-stopped');
    const config = fx.containerConfig('done', { command: ['echo', 'bye'] });
    const { id } = await fx.runToExit(pod, config);
    const path = fx.logPath(pod.config, config);
    renameSync(path, `${path}.1`);
    const e = await expectCode(shim.client.rt('ReopenContainerLog', { container_id: id }), status.FAILED_PRECONDITION);
    expect(e.details).toContain('not running');
    expect(existsSync(path)).toBe(false);
    await expectCode(shim.client.rt('ReopenContainerLog', { container_id: 'f'.repeat(64) }), status.NOT_FOUND);
  });
});
