// Waiting for a condition, and on a CRI log file that a container is still writing to.
import { existsSync } from 'node:fs';
import { expect } from 'vitest';
import { criLines, readCriLog } from './containers.js';

/** Polls `check` every `everyMs` until it holds; throws naming `what` after the timeout. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Expects `pattern` in a process's log, waiting for it first: the log comes through a pipe and
 * may arrive after the reply the test awaited. Fails as expect() does, showing the log.
 */
export async function expectLogShows(logs: () => string, pattern: string | RegExp, timeoutMs = 10_000): Promise<void> {
  const shows = () => (typeof pattern === 'string' ? logs().includes(pattern) : pattern.test(logs()));
  await until(shows, `${String(pattern)} in the log`, timeoutMs).catch(() => undefined);
  if (typeof pattern === 'string') expect(logs()).toContain(pattern);
  else expect(logs()).toMatch(pattern);
}

/** The stdout lines in a CRI log file so far (none when it does not exist). */
export const stdoutLines = (path: string): string[] => (existsSync(path) ? criLines(readCriLog(path), 'stdout') : []);
