// PortForward: one TCP connection to a port inside the pod's network namespace per client
// request, dialled by `nsenter -t <pause pid> -n socat - TCP4:127.0.0.1:<port>` (the way
// dockershim and cri-dockerd do it), so the pod's loopback is reached, not the host's.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { spawnPiped } from '../child-process.js';
import { writeTo } from './docker-io.js';

export const PORT_FORWARD_HELPERS = ['nsenter', 'socat'] as const;

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** The port-forward helpers missing on this node (empty when all are there). */
export function missingHelpers(): string[] {
  return PORT_FORWARD_HELPERS.filter((h) => !onPath(h));
}

/**
 * Pipes `client` to `port` inside the network namespace of `netnsPid`. Resolves with an error
 * text for the port's error stream (connection refused, ...) or undefined after a clean end.
 * The helper runs in its own process group, killed whole when the client's stream closes or
 * `session` aborts; a client already gone by the time we get here spawns nothing.
 */
export function forwardPort(netnsPid: number, port: number, client: Duplex, session: AbortSignal): Promise<string | undefined> {
  if (session.aborted || client.destroyed) return Promise.resolve('client went away before the connection was made');
  return new Promise((resolve) => {
    const child = spawnPiped('nsenter', ['-t', String(netnsPid), '-n', 'socat', '-', `TCP4:127.0.0.1:${port}`], { detached: true });
    let errText = '';
    child.stderr.on('data', (d: Buffer) => {
      if (errText.length < 4096) errText += d.toString();
    });
    const pumpIn = async () => {
      try {
        for await (const chunk of client) await writeTo(child.stdin, chunk as Buffer);
      } catch {
        // client reset: end input all the same
      }
      child.stdin.end();
    };
    const pumpOut = async () => {
      try {
        for await (const chunk of child.stdout) await writeTo(client, chunk as Buffer);
      } catch {
        // socat gone
      }
    };
    child.stdin.on('error', () => undefined);
    child.stdout.on('error', () => undefined);
    child.stderr.on('error', () => undefined);
    // A client that resets its stream, or a session that ends, ends the connection: no socat left behind.
    const kill = () => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    client.on('close', kill);
    session.addEventListener('abort', kill, { once: true });
    const cleanup = () => {
      client.off('close', kill);
      session.removeEventListener('abort', kill);
    };
    void pumpIn();
    const out = pumpOut();
    child.on('error', (err) => {
      cleanup();
      resolve(`port forward helper failed: ${err.message}`);
    });
    child.on('close', (code) => {
      cleanup();
      void out.then(() => {
        if (code === 0 || code === null) resolve(undefined);
        else resolve(errText.trim().replace(/^\S+ \S+ socat\[\d+\] E /m, '') || `socat exited with code ${code}`);
      });
    });
  });
}
