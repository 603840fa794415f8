// Moving bytes between Docker's hijacked exec/attach connections and a client session, with
// backpressure both ways: nothing here buffers more than one chunk per direction.
import type { Readable, Writable } from 'node:stream';

/** Resolves when `dest` can take more (or is gone: a vanished client must not block the pump). */
export function drained(dest: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      dest.off('drain', done);
      dest.off('close', done);
      dest.off('error', done);
      resolve();
    };
    dest.on('drain', done);
    dest.on('close', done);
    dest.on('error', done);
  });
}

export async function writeTo(dest: Writable | undefined, chunk: Buffer): Promise<void> {
  if (!dest || dest.destroyed || dest.writableEnded) return;
  if (!dest.write(chunk)) await drained(dest);
}

/**
 * Copies Docker's output to stdout/stderr until Docker ends it. Without a TTY Docker frames
 * the output: 8-byte headers (byte 0 = 1 stdout / 2 stderr, bytes 4-7 = big-endian length).
 */
export async function pumpDockerOutput(source: Readable, tty: boolean, stdout?: Writable, stderr?: Writable): Promise<void> {
  if (tty) {
    for await (const chunk of source) await writeTo(stdout, chunk as Buffer);
    return;
  }
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of source) {
    pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const payload = pending.subarray(8, 8 + size);
      await writeTo(pending[0] === 2 ? stderr : stdout, payload);
      pending = pending.subarray(8 + size);
    }
  }
}

/** Copies the client's stdin to Docker; stdin's end half-closes Docker's side (a `cat` then ends). */
export async function pumpStdin(stdin: Readable, dockerSide: Writable): Promise<void> {
  try {
    for await (const chunk of stdin) await writeTo(dockerSide, chunk as Buffer);
  } catch {
    // The client reset its stdin: that ends input just the same.
  }
  if (!dockerSide.destroyed && !dockerSide.writableEnded) dockerSide.end();
}
