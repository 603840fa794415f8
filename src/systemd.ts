// systemd integration: socket activation (LISTEN_FDS) for `--container-runtime-endpoint fd://`,
// as cri-dockerd's units use it, and readiness/stopping reports (sd_notify) for Type=notify.
import { coverInheritedFds, spawnPiped } from './child-process.js';
import type { Logger } from './logger.js';

/** First passed fd, as sd_listen_fds(3) defines it. */
const SD_LISTEN_FDS_START = 3;

/**
 * The listening sockets systemd passed to this process. Like sd_listen_fds(unset=1), the
 * variables are removed so child processes never mistake the sockets for theirs.
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env): number[] {
  const pid = env.LISTEN_PID;
  const count = env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pid === undefined || count === undefined) {
    throw new Error(
      '--container-runtime-endpoint fd:// needs a socket passed by systemd, but LISTEN_FDS/LISTEN_PID are not set ' +
        '(start the shim through docker-cri-shim.socket, or use unix:///path)',
    );
  }
  if (Number(pid) !== process.pid) {
    throw new Error(`--container-runtime-endpoint fd://: LISTEN_PID=${pid} is not this process (${process.pid}); the passed sockets belong to another process`);
  }
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--container-runtime-endpoint fd://: LISTEN_FDS="${count}" passes no socket`);
  const fds = Array.from({ length: n }, (_, i) => SD_LISTEN_FDS_START + i);
  // Passed without close-on-exec: CNI plugins and socat would hold the CRI socket open.
  coverInheritedFds(fds);
  return fds;
}

/**
 * Sends one sd_notify state ("READY=1", "STOPPING=1") when systemd asked for it (NOTIFY_SOCKET).
 *
 * NOTIFY_SOCKET is a unix *datagram* socket and Node has no unix datagram sockets; the npm
 * packages that add them are native addons (install scripts, a compiler on every target).
 * systemd's own `systemd-notify` does it in one exec: it waits until systemd has read the
 * message (sd_notify_barrier), so the short-lived sender is still attributable, and the unit
 * sets NotifyAccess=all because the sender is a child of the main process.
 */
export function notify(state: string, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve();
  return new Promise((resolve) => {
    const child = spawnPiped('systemd-notify', [`--pid=${process.pid}`, state], { env, timeout: 10_000 });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.end();
    let settled = false;
    const done = (why: string | undefined) => {
      if (settled) return;
      settled = true;
      if (why) logger.warn({ state, err: (stderr || why).trim() }, 'could not notify systemd (is systemd-notify installed?)');
      else logger.debug({ state }, 'notified systemd');
      resolve();
    };
    child.once('error', (err) => done(err.message));
    child.once('close', (code, signal) => done(code === 0 ? undefined : signal ? `killed by ${signal}` : `exit status ${code}`));
  });
}
