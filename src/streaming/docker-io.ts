// Moving bytes between Docker's hijacked exec/attach connections and a client session, with
// backpressure both ways: nothing here buffers more than one chunk per direction.
import type { Readable, Writable } from 'node:stream';

/** Resolves when `dest` can take more (or is gone: a vanished client must not block the pump). */
function drained(dest: Writable): Promise<void> {
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
 * Payloads are passed on as they arrive, even split across chunks: nothing is copied whole.
 */
export async function pumpDockerOutput(source: Readable, tty: boolean, stdout?: Writable, stderr?: Writable): Promise<void> {
  if (tty) {
    for await (const chunk of source) await writeTo(stdout, chunk as Buffer);
    return;
  }
  let header: Buffer = Buffer.alloc(0);
  let remaining = 0;
  let target: Writable | undefined;
  for await (const data of source) {
    const chunk = data as Buffer;
    let off = 0;
    while (off < chunk.length) {
      if (remaining === 0) {
        const take = Math.min(8 - header.length, chunk.length - off);
        header = Buffer.concat([header, chunk.subarray(off, off + take)]);
        off += take;
        if (header.length < 8) break;
        target = header[0] === 2 ? stderr : stdout;
        remaining = header.readUInt32BE(4);
        header = Buffer.alloc(0);
        continue;
      }
      const n = Math.min(remaining, chunk.length - off);
      await writeTo(target, chunk.subarray(off, off + n));
      off += n;
      remaining -= n;
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
