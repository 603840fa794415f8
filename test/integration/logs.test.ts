// The CRI log file: every line a container prints reaches log_directory/log_path in the CRI
// format, in order, long lines as P pieces then an F, the last output before exit included.
import { existsSync, statSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PodFixture, shimWithPods, ticker, tickerLog } from '../helpers/containers.js';
import { stdoutLines, until } from '../helpers/log-wait.js';

describe('CRI container logs', () => {
  const { fx } = shimWithPods();
  let pod: Awaited<ReturnType<PodFixture['pod']>>;

  beforeAll(async () => {
    pod = await fx.pod('logs');
  });

  it('creates the (empty) log file at CreateContainer, with its directory', async () => {
    const config = fx.containerConfig('empty', { command: ['true'] });
    await fx.create(pod, config);
    const path = fx.logPath(pod.config, config);
    expect(existsSync(path)).toBe(true);
    expect(statSync(path).size).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  it('writes every stdout and stderr line in order, in the CRI format', async () => {
    const n = 2000;
    const script = `i=0; while [ $i -lt ${n} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`;
    const { records, stdout, stderr, status } = await fx.runToExit(pod, fx.containerConfig('many', { command: ['sh', '-c', script] }));
    expect(status.exit_code).toBe(0);
    expect(stdout).toEqual(Array.from({ length: n }, (_, i) => `out ${i}`));
    expect(stderr).toEqual(Array.from({ length: n }, (_, i) => `err ${i}`));
    expect(records.every((r) => r.tag === 'F')).toBe(true);
    // Times come from Docker per line and never go backwards within a stream.
    const outTimes = records.filter((r) => r.stream === 'stdout').map((r) => r.time);
    expect(outTimes.every((t, i) => i === 0 || t.localeCompare(outTimes[i - 1]) >= 0 || Date.parse(t) >= Date.parse(outTimes[i - 1]))).toBe(true);
  });

  it('writes a 40 KiB line as P pieces then an F, whole and in order', async () => {
    const script = 'echo before; head -c 40960 /dev/zero | tr "\\0" "x"; echo; echo after';
    const { records, stdout } = await fx.runToExit(pod, fx.containerConfig('long', { command: ['sh', '-c', script] }));
    expect(stdout).toEqual(['before', 'x'.repeat(40960), 'after']);
    const tags = records.filter((r) => r.stream === 'stdout').map((r) => r.tag);
    expect(tags[0]).toBe('F');
    expect(tags.slice(1, -1).filter((t) => t === 'P').length).toBeGreaterThanOrEqual(2);
    expect(tags.slice(-2)).toEqual(['F', 'F']);
  });

  it('keeps output printed right before exit, even without a final newline', async () => {
    const { stdout, stderr, status } = await fx.runToExit(
      pod,
      fx.containerConfig('tail', { command: ['sh', '-c', 'echo line; printf "no newline"; printf "bye" >&2; exit 7'] }),
    );
    expect(status.exit_code).toBe(7);
    expect(stdout).toEqual(['line', 'no newline']);
    expect(stderr).toEqual(['bye']);
  });

  it('neither loses nor doubles the last output over repeated runs (Docker 20.10 ends log streams early)', async () => {
    const script = 'echo line; printf "no newline"; printf "bye" >&2; exit 7';
    for (let i = 0; i < 8; i++) {
      const { stdout, stderr } = await fx.runToExit(pod, fx.containerConfig(`rep${i}`, { command: ['sh', '-c', script] }));
      expect({ i, stdout, stderr }).toEqual({ i, stdout: ['line', 'no newline'], stderr: ['bye'] });
    }
  });

  it('writes a tty container output as stdout lines', async () => {
    const { stdout } = await fx.runToExit(pod, fx.containerConfig('tty', { tty: true, command: ['sh', '-c', 'echo one; echo two'] }));
    expect(stdout).toEqual(['one', 'two']);
  });

  it('follows a long-running container until it is stopped', async () => {
    const config = fx.containerConfig('follow', { command: ticker(0.1) });
    const id = await fx.run(pod, config);
    const path = fx.logPath(pod.config, config);
    await until(() => stdoutLines(path).length >= 5, 'output to reach the log', 10_000);
    const lines = await fx.stopAndRead(id, path);
    expect(lines).toEqual(tickerLog(lines));
  });
});
