// What exec and attach see of a client session, whichever wire protocol (SPDY or WebSocket)
// carries it: stdin/stdout/stderr as Node streams, terminal resizes, and the final status
// on the error channel in the form the negotiated protocol version expects.
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

/** How the command ended, as the error channel reports it. */
export type CommandResult = { kind: 'success' } | { kind: 'exit'; code: number } | { kind: 'error'; message: string };

/** The streams a session was asked for (from the CRI request the token was issued for). */
export interface StreamSpec {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Terminal sizes announced by the client; remembers the latest for late subscribers. */
export class ResizeQueue extends EventEmitter<{ resize: [size: TerminalSize] }> {
  latest: TerminalSize | undefined;

  push(size: TerminalSize): void {
    this.latest = size;
    this.emit('resize', size);
  }
}

export interface RemoteCommandIO {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resizes: ResizeQueue;
  /** Aborted when the client goes away before finish(). */
  signal: AbortSignal;
  /** Reports the result on the error channel and closes the session. */
  finish(result: CommandResult): Promise<void>;
}

/** Protocol versions that carry a JSON Status on the error channel (older ones carry text). */
export function statusIsJson(protocol: string): boolean {
  return protocol.startsWith('v4.') || protocol.startsWith('v5.');
}

interface KubeStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: Array<{ reason?: string; message: string }> };
}

export function kubeStatus(result: CommandResult): KubeStatus {
  switch (result.kind) {
    case 'success':
      return { metadata: {}, status: 'Success' };
    case 'exit':
      return {
        metadata: {},
        status: 'Failure',
        message: `command terminated with non-zero exit code: exit status ${result.code}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(result.code) }] },
      };
    case 'error':
      return { metadata: {}, status: 'Failure', message: result.message, reason: 'InternalError', details: { causes: [{ message: result.message }] } };
  }
}

/** The bytes to write on the error channel; undefined when an old protocol has nothing to say. */
export function errorChannelPayload(protocol: string, result: CommandResult): Buffer | undefined {
  if (statusIsJson(protocol)) return Buffer.from(JSON.stringify(kubeStatus(result)));
  if (result.kind === 'success') return undefined;
  return Buffer.from(kubeStatus(result).message ?? '');
}

/**
 * Decodes the resize channel: a stream of JSON objects {"Width":w,"Height":h}, possibly split
 * across or packed into frames.
 */
export class ResizeDecoder {
  private pending = '';

  push(text: string): TerminalSize[] {
    this.pending += text;
    const out: TerminalSize[] = [];
    let depth = 0;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const c = this.pending[i];
      if (c === '{') {
        if (depth === 0) start = i;
        depth++;
      } else if (c === '}' && depth > 0) {
        depth--;
        if (depth === 0) {
          const size = parseSize(this.pending.slice(start, i + 1));
          if (size) out.push(size);
          consumed = i + 1;
        }
      }
    }
    this.pending = this.pending.slice(consumed);
    if (this.pending.length > 4096) this.pending = ''; // garbage: never grow without bound
    return out;
  }
}

export function parseSize(json: string): TerminalSize | undefined {
  try {
    const v = JSON.parse(json) as { Width?: unknown; Height?: unknown };
    const width = Number(v.Width);
    const height = Number(v.Height);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) return undefined;
    return { width, height };
  } catch {
    return undefined;
  }
}
