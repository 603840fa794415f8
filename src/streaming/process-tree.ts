// Ending an exec'd process: Docker has no call to kill an exec, but its inspect gives the
// host PID, and the shim runs in the host's PID namespace as root.
import { readdir, readFile } from 'node:fs/promises';

/** Fields of /proc/PID/stat after the command name (which is in parentheses and may hold spaces). */
async function statFields(pid: number | string): Promise<string[] | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

async function parentOf(pid: string): Promise<number | undefined> {
  const f = await statFields(pid);
  return f ? Number(f[1]) : undefined;
}

/** Start time of a process (clock ticks since boot): with the PID, it names the process uniquely. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  return (await statFields(pid))?.[19];
}

/** The PID and all its descendants, found through /proc. */
export async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n));
  await Promise.all(
    pids.map(async (p) => {
      const ppid = await parentOf(p);
      if (ppid === undefined) return;
      const list = children.get(ppid) ?? [];
      list.push(Number(p));
      children.set(ppid, list);
    }),
  );
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * SIGKILLs a process and its descendants; returns how many were signalled. With `startTime`,
 * a PID that now names another process (reused) is left alone.
 */
export async function killProcessTree(root: number, startTime?: string): Promise<number> {
  if (!Number.isInteger(root) || root <= 1) return 0;
  if (startTime !== undefined && (await processStartTime(root)) !== startTime) return 0;
  let killed = 0;
  // Stop the root first so it cannot fork more while the children go.
  for (const pid of await processTree(root)) {
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // Already gone.
    }
  }
  return killed;
}
