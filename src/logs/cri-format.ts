// The CRI container log format the kubelet and critest parse:
//   <RFC3339Nano time> <stdout|stderr> <F|P> <text>\n
// F ends a line, P is a piece of a longer one (the reader joins P pieces up to the next F).

export type LogStream = 'stdout' | 'stderr';
export type LogTag = 'P' | 'F';

/** Longest piece written as one record; longer lines become P records then an F. Docker's own chunk size. */
export const MAX_RECORD_BYTES = 16 * 1024;

const NL = 0x0a;
const CR = 0x0d;

export interface LogEntry {
  tag: LogTag;
  content: Buffer;
  /** RFC3339Nano time of the output that completed this entry. */
  time: string;
}

/** One record of the file, newline included. */
export function formatRecord(stream: LogStream, entry: LogEntry): Buffer {
  return Buffer.concat([Buffer.from(`${entry.time} ${stream} ${entry.tag} `), entry.content, Buffer.from('\n')]);
}

/**
 * Cuts one output stream into CRI records. Bytes are kept until a newline (an F record) or
 * until MAX_RECORD_BYTES pile up without one (a P record), so memory stays bounded whatever
 * the container prints. The line ending ("\n" or a tty's "\r\n") is not part of the text.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** A P record went out and no F has ended its line yet. */
  private lineOpen = false;

  constructor(private readonly maxBytes = MAX_RECORD_BYTES) {}

  push(chunk: Buffer, time: string): LogEntry[] {
    const out: LogEntry[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl < 0 ? chunk.length : nl;
      let piece = chunk.subarray(start, end);
      // Fill the pending record up to the limit; whatever is over starts the next one.
      while (this.pendingBytes + piece.length > this.maxBytes) {
        const room = this.maxBytes - this.pendingBytes;
        this.pending.push(piece.subarray(0, room));
        out.push({ tag: 'P', content: this.take(), time });
        this.lineOpen = true;
        piece = piece.subarray(room);
      }
      if (piece.length > 0) {
        this.pending.push(piece);
        this.pendingBytes += piece.length;
      }
      if (nl < 0) {
        if (this.pendingBytes === this.maxBytes) {
          // A CR ending the record may be the first half of a tty's CRLF: hold it back for the next read.
          const full = this.take();
          const cr = full.length > 1 && full[full.length - 1] === CR;
          out.push({ tag: 'P', content: cr ? full.subarray(0, full.length - 1) : full, time });
          this.lineOpen = true;
          if (cr) {
            this.pending.push(full.subarray(full.length - 1));
            this.pendingBytes = 1;
          }
        }
        break;
      }
      out.push({ tag: 'F', content: stripCr(this.take()), time });
      this.lineOpen = false;
      start = nl + 1;
    }
    return out;
  }

  /**
   * The stream ended: text printed without a final newline is still a complete line. When the
   * last piece went out as a P record (the line filled whole records), an empty F ends it, or
   * readers would wait for the rest of that line.
   */
  end(time: string): LogEntry[] {
    const open = this.pendingBytes > 0 || this.lineOpen;
    this.lineOpen = false;
    return open ? [{ tag: 'F', content: this.take(), time }] : [];
  }

  private take(): Buffer {
    const b = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return b;
  }
}

function stripCr(b: Buffer): Buffer {
  return b.length > 0 && b[b.length - 1] === CR ? b.subarray(0, b.length - 1) : b;
}

const clockBaseNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** Current time as Go's RFC3339Nano (UTC, nanoseconds, trailing zeros trimmed), never going backwards. */
export function nowRfc3339Nano(): string {
  const ns = clockBaseNs + process.hrtime.bigint();
  const secs = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const iso = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  return `${iso}${frac ? `.${frac}` : ''}Z`;
}
