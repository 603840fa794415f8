// Waiting for a condition, and on a CRI log file that a container is still writing to.
import { existsSync } from 'node:fs';
import { criLines, readCriLog } from './containers.js';

/** Polls `check` every `everyMs` until it holds; throws naming `what` after the timeout. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The stdout lines in a CRI log file so far (none when it does not exist). */
export const stdoutLines = (path: string): string[] => (existsSync(path) ? criLines(readCriLog(path), 'stdout') : []);
