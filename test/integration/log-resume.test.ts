// Log resume across a shim restart: the shim is killed while a container prints; the next shim
// (same root directory) continues the CRI log file where it ends: no line lost, none twice.
import { appendFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodFixture } from '../helpers/containers.js';
import { stdoutLines, until } from '../helpers/log-wait.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

const COUNTER = ['sh', '-c', 'trap "exit 0" TERM; i=0; while :; do echo "line $i"; i=$((i+1)); sleep 0.02; done'];
const FINITE = ['sh', '-c', 'i=0; while [ $i -lt 150 ]; do echo "line $i"; i=$((i+1)); sleep 0.02; done'];
const contiguous = (xs: unknown[]) => xs.map((_, i) => `line ${i}`);

describe('container logs across a shim restart', () => {
  let shim: RunningShim;
  let firstTmp = '';
  const fx = new PodFixture(() => shim);

  beforeAll(async () => {
    shim = await startShim();
  });
  afterAll(async () => {
    await fx.cleanup();
    await shim?.stop();
    if (firstTmp) rmSync(firstTmp, { recursive: true, force: true });
  });

  it('a running container and one that exits while the shim is down both end up complete', async () => {
    const pod = await fx.pod('resume');
    const runningConfig = fx.containerConfig('counter', { command: COUNTER });
    const exitingConfig = fx.containerConfig('finite', { command: FINITE });
    const running = await fx.run(pod, runningConfig);
    const exiting = await fx.run(pod, exitingConfig);
    const runningPath = fx.logPath(pod.config, runningConfig);
    const exitingPath = fx.logPath(pod.config, exitingConfig);
    await until(() => stdoutLines(runningPath).length >= 20 && stdoutLines(exitingPath).length >= 20, '20 lines each');

    // Killed, not stopped: nothing gets flushed or closed on the way out.
    const rootDir = shim.rootDir;
    firstTmp = shim.tmp;
    shim.proc.kill('SIGKILL');
    await new Promise((r) => shim.proc.once('exit', r));
    shim.client.close();
    const before = stdoutLines(runningPath).length;
    await new Promise((r) => setTimeout(r, 4000)); // both keep printing; "finite" exits
    shim = await startShim({ rootDir });

    await until(() => stdoutLines(runningPath).length > before + 150, 'the running log to go on past the gap');
    await until(() => stdoutLines(exitingPath).length >= 150, 'the exited container to be caught up');
    await shim.client.rt('StopContainer', { container_id: running, timeout: 5 });
    await fx.waitState(running, 'CONTAINER_EXITED');
    const r = stdoutLines(runningPath);
    expect(r).toEqual(contiguous(r));
    expect(stdoutLines(exitingPath)).toEqual(contiguous(Array.from({ length: 150 }, String)));
    expect((await fx.status(exiting)).state).toBe('CONTAINER_EXITED');
  });

  for (const tty of [false, true]) {
    it(`after a rotation left the file empty, resumes from the rotated copy's end: nothing doubled or dropped (tty ${tty})`, async () => {
      const pod = await fx.pod(`rotated-${tty}`);
      const config = fx.containerConfig('rot', { command: COUNTER, tty });
      const id = await fx.run(pod, config);
      const path = fx.logPath(pod.config, config);
      await until(() => stdoutLines(path).length >= 20, '20 lines');
      const rootDir = shim.rootDir;
      const tmp = shim.tmp;
      shim.proc.kill('SIGKILL');
      await new Promise((r) => shim.proc.once('exit', r));
      shim.client.close();
      // The kubelet's rotation: the file moves to <path>.<time>, an empty one takes its place.
      const rotated = `${path}.20261201-120000`;
      renameSync(path, rotated);
      writeFileSync(path, '');
      await new Promise((r) => setTimeout(r, 1000)); // it keeps printing meanwhile
      shim = await startShim({ rootDir });
      await until(() => stdoutLines(path).length >= 60, 'the resumed file to fill');
      await shim.client.rt('StopContainer', { container_id: id, timeout: 5 });
      await fx.waitState(id, 'CONTAINER_EXITED');
      const all = [...stdoutLines(rotated), ...stdoutLines(path)].map((l) => l.replace(/\r$/, ''));
      expect(all).toEqual(contiguous(all));
      rmSync(tmp, { recursive: true, force: true });
    });
  }

  /** Kills the shim (nothing flushed), runs `meanwhile` while the container prints on, starts the next one on the same root. */
  async function restartAround(meanwhile: () => void): Promise<void> {
    const rootDir = shim.rootDir;
    const tmp = shim.tmp;
    shim.proc.kill('SIGKILL');
    await new Promise((r) => shim.proc.once('exit', r));
    shim.client.close();
    meanwhile();
    await new Promise((r) => setTimeout(r, 1000));
    shim = await startShim({ rootDir });
    onStop.push(() => rmSync(tmp, { recursive: true, force: true }));
  }
  const onStop: Array<() => void> = [];
  afterAll(() => onStop.forEach((f) => f()));

  it('a garbled last line (a full disk, another writer) is skipped back to the last dated record: nothing doubled or dropped', async () => {
    const pod = await fx.pod('garbled');
    const config = fx.containerConfig('garb', { command: COUNTER });
    const id = await fx.run(pod, config);
    const path = fx.logPath(pod.config, config);
    await until(() => stdoutLines(path).length >= 20, '20 lines');
    const garbage = 'garbage \u0000\u00ff not a record';
    await restartAround(() => appendFileSync(path, `${garbage}\n`));
    await until(() => readFileSync(path, 'utf8').split(`${garbage}\n`)[1]?.split('\n').length > 40, 'the resumed file to go on past the garbage');
    await shim.client.rt('StopContainer', { container_id: id, timeout: 5 });
    await fx.waitState(id, 'CONTAINER_EXITED');
    // The garbage stays where it was, once; the records around it join up.
    const parts = readFileSync(path, 'utf8').split(`${garbage}\n`);
    expect(parts).toHaveLength(2);
    const copy = `${path}.without-garbage`;
    writeFileSync(copy, parts.join(''));
    const all = stdoutLines(copy);
    rmSync(copy);
    expect(all.length).toBeGreaterThan(60);
    expect(all).toEqual(contiguous(all));
  });

  it('after a rotation whose copy the kubelet gzipped, resumes from the end of the .gz: nothing doubled or dropped', async () => {
    const pod = await fx.pod('rotated-gz');
    const config = fx.containerConfig('rotgz', { command: COUNTER });
    const id = await fx.run(pod, config);
    const path = fx.logPath(pod.config, config);
    await until(() => stdoutLines(path).length >= 20, '20 lines');
    const older = `${path}.20261201-110000.gz`;
    const newest = `${path}.20261201-120000.gz`;
    await restartAround(() => {
      // An older compressed copy (nothing of it may count) and the newest, compressed too.
      writeFileSync(older, gzipSync('2026-12-01T11:00:00.000000000Z stdout F line -1\n'));
      writeFileSync(newest, gzipSync(readFileSync(path)));
      writeFileSync(path, '');
    });
    await until(() => stdoutLines(path).length >= 60, 'the resumed file to fill');
    await shim.client.rt('StopContainer', { container_id: id, timeout: 5 });
    await fx.waitState(id, 'CONTAINER_EXITED');
    const rotated = `${path}.rotated-plain`;
    writeFileSync(rotated, gunzipSync(readFileSync(newest)));
    const all = [...stdoutLines(rotated), ...stdoutLines(path)];
    rmSync(rotated);
    expect(all).toEqual(contiguous(all));
  });
});
