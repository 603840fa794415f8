// Ending an exec'd process: Docker has no call to kill an exec, but its inspect gives the
// host PID, and the shim runs in the host's PID namespace as root.
import { readdir, readFile } from 'node:fs/promises';

async function parentOf(pid: string): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return undefined;
  }
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

/** SIGKILLs a process and its descendants; returns how many were signalled. */
export async function killProcessTree(root: number): Promise<number> {
  if (!Number.isInteger(root) || root <= 1) return 0;
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
