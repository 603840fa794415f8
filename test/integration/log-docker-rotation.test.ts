// The CRI log writer on the real dockerd's follow stream while Docker's own json-file rotates.
// dockerd 20.10's follower, after each rotation, reads the first message of the new file, takes
// the file for a truncated one (it is smaller than the old one was) and reads it again from its
// start: `docker logs -f` then shows that line twice. A 1 KiB max-size makes every few lines a
// rotation; the shim's own containers get 10 MB files, where a slow writer meets the same.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerodeEngine } from '../../src/docker/dockerode-engine.js';
import { createLogger } from '../../src/logger.js';
import { ContainerLog } from '../../src/logs/container-log.js';
import { criLines, docker, readCriLog } from '../helpers/containers.js';

const LINES = 40;
const dir = mkdtempSync(join(tmpdir(), 'crilog-rotation-'));
const started: string[] = [];

afterAll(() => {
  for (const id of started) docker('rm', '-f', id);
  rmSync(dir, { recursive: true, force: true });
});

describe('CRI log file while Docker rotates its own log under a slow writer', () => {
  for (const tty of [false, true]) {
    it(`writes each line once, none lost (tty ${tty})`, async () => {
      const script = `i=0; while [ $i -lt ${LINES} ]; do echo line-$i-padding-padding-padding; i=$((i+1)); sleep 0.05; done`;
      const id = docker('run', '-d', ...(tty ? ['-t'] : []), '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', 'docker-cri-shim-test/busybox:latest', 'sh', '-c', script);
      started.push(id);
      const path = join(dir, `${tty}.log`);
      const log = new ContainerLog({
        docker: new DockerodeEngine({ endpoint: '/var/run/docker.sock', logger: createLogger('silent') }),
        containerId: id,
        path,
        tty,
        logger: createLogger('silent'),
      });
      await log.done;
      const lines = criLines(readCriLog(path), 'stdout').map((l) => l.replace(/\r$/, ''));
      expect(lines).toEqual(Array.from({ length: LINES }, (_, i) => `line-${i}-padding-padding-padding`));
    });
  }
});
