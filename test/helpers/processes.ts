// Processes a test counts as bounds: the port-forward helpers the shim spawns.
import { readdirSync, readFileSync } from 'node:fs';

/** Live children of `pid` whose command is nsenter or socat (the port-forward helpers). */
export function helperChildren(pid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z' && (comm === 'socat' || comm === 'nsenter')) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Whether `pid` is a live (not zombie) process. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
