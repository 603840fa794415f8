// PortForward: one TCP connection to a port inside the pod's network namespace per client
// request, dialled by `nsenter -t <pause pid> -n socat - TCP4:127.0.0.1:<port>` (the way
// dockershim and cri-dockerd do it), so the pod's loopback is reached, not the host's.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Duplex } from 'node:stream';
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
 */
export function forwardPort(netnsPid: number, port: number, client: Duplex): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('nsenter', ['-t', String(netnsPid), '-n', 'socat', '-', `TCP4:127.0.0.1:${port}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
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
    // A client that resets its stream ends the connection: no socat left behind.
    const onClientClose = () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    };
    client.on('close', onClientClose);
    void pumpIn();
    const out = pumpOut();
    child.on('error', (err) => {
      client.off('close', onClientClose);
      resolve(`port forward helper failed: ${err.message}`);
    });
    child.on('close', (code) => {
      client.off('close', onClientClose);
      void out.then(() => {
        if (code === 0 || code === null) resolve(undefined);
        else resolve(errText.trim().replace(/^\S+ \S+ socat\[\d+\] E /m, '') || `socat exited with code ${code}`);
      });
    });
  });
}
