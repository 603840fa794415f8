// Spawning helper processes (CNI plugins, nsenter/socat, systemd-notify) without handing them
// descriptors that are not theirs. Node opens every fd of its own close-on-exec, but the
// sockets systemd passes (fd 3 and up, LISTEN_FDS) arrive without that flag and Node has no
// fcntl(): every child would inherit the CRI listening socket and keep it open after the shim
// stops. spawn()'s stdio array dup2()s onto fds 3..N in the child, so those numbers are taken
// by /dev/null there, and the inherited sockets are gone from the child's table.
import { spawn, type ChildProcessWithoutNullStreams, type SpawnOptions } from 'node:child_process';
import { openSync } from 'node:fs';

/** One past the highest inherited descriptor that children must not see. */
let coverUpTo = 3;
let devNull: number | undefined;

/** Records descriptors (systemd's LISTEN_FDS) that no child may inherit. */
export function coverInheritedFds(fds: number[]): void {
  if (fds.length === 0) return;
  devNull ??= openSync('/dev/null', 'r');
  coverUpTo = Math.max(coverUpTo, ...fds.map((fd) => fd + 1));
}

/** spawn() with stdin, stdout and stderr piped and fds 3..N covered (see above). */
export function spawnPiped(command: string, args: string[], options: Omit<SpawnOptions, 'stdio'> = {}): ChildProcessWithoutNullStreams {
  const covered = devNull === undefined ? [] : Array.from({ length: coverUpTo - 3 }, () => devNull!);
  return spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe', ...covered] }) as ChildProcessWithoutNullStreams;
}
