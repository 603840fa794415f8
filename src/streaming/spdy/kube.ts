// The Kubernetes stream protocols on top of a SPDY session: remote command (exec/attach,
// streams named by `streamType`) and port forwarding (`data`/`error` pairs per requestID).
import type { Logger } from '../../logger.js';
import { ResizeDecoder, ResizeQueue, errorChannelPayload, type CommandResult, type RemoteCommandIO, type StreamSpec } from '../remotecommand.js';
import type { SpdySession, SpdyStream } from './session.js';

/** How long a client has to open every stream it announced (kubelet uses 30 s too). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

export const REMOTE_COMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
export const PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'];

/** Ends a stream after its buffered writes are out; resolves once done (or it is gone). */
function endStream(stream: SpdyStream | undefined, last?: Buffer): Promise<void> {
  if (!stream || stream.destroyed || stream.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('close', resolve);
    if (last) stream.end(last, resolve);
    else stream.end(resolve);
  });
}

/**
 * Waits for the streams the request asked for, then hands back the session's IO. Rejects when
 * the client does not open them in time or leaves.
 */
export function remoteCommandOverSpdy(session: SpdySession, protocol: string, spec: StreamSpec): Promise<RemoteCommandIO> {
  const wanted = new Set(['error']);
  if (spec.stdin) wanted.add('stdin');
  if (spec.stdout) wanted.add('stdout');
  if (spec.stderr && !spec.tty) wanted.add('stderr');
  // v1 and v2 clients have no resize stream; v3+ clients open one with a TTY.
  if (spec.tty && (protocol.startsWith('v3.') || protocol.startsWith('v4.'))) wanted.add('resize');

  const streams = new Map<string, SpdyStream>();
  const abort = new AbortController();
  session.once('close', () => abort.abort());
  // A session ending on a broken cap says why on the error stream, if the client opened it.
  session.once('failure', (err) => {
    const error = streams.get('error');
    if (error) session.writeFinal(error, errorChannelPayload(protocol, { kind: 'error', message: err.message }) ?? Buffer.from(err.message));
  });

  return new Promise<RemoteCommandIO>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for the client to open its streams (${[...wanted].join(', ')})`)), STREAM_CREATION_TIMEOUT_MS);
    const onClose = () => done(new Error('client went away before opening its streams'));
    const onStream = (s: SpdyStream) => {
      const type = s.streamType;
      if (!wanted.has(type) || streams.has(type)) {
        s.destroy();
        return;
      }
      streams.set(type, s);
      if (streams.size === wanted.size) done();
    };
    const done = (err?: Error) => {
      clearTimeout(timer);
      session.off('stream', onStream);
      session.off('close', onClose);
      if (err) return reject(err);
      resolve(buildIO(session, protocol, streams, abort));
    };
    session.on('stream', onStream);
    session.on('close', onClose);
  });
}

function buildIO(session: SpdySession, protocol: string, streams: Map<string, SpdyStream>, abort: AbortController): RemoteCommandIO {
  const resizes = new ResizeQueue();
  const resize = streams.get('resize');
  if (resize) {
    const decoder = new ResizeDecoder();
    resize.on('data', (d: Buffer) => {
      for (const size of decoder.push(d.toString('utf8'))) resizes.push(size);
    });
  }
  const stdout = streams.get('stdout');
  const stderr = streams.get('stderr');
  // Errors on a stream the client reset are the end of that stream, nothing more.
  for (const s of streams.values()) s.on('error', () => undefined);
  // What the client might send on output streams is nobody's input: keep them flowing.
  stdout?.resume();
  stderr?.resume();
  streams.get('error')?.resume();
  return {
    stdin: streams.get('stdin'),
    stdout,
    stderr,
    resizes,
    signal: abort.signal,
    finish: async (result: CommandResult) => {
      await Promise.all([endStream(stdout), endStream(stderr)]);
      await endStream(streams.get('error'), errorChannelPayload(protocol, result));
      for (const s of streams.values()) s.destroy();
      session.close();
    },
  };
}

export interface PortForwardRequestStreams {
  port: number;
  data: SpdyStream;
  error: SpdyStream;
}

/**
 * Pairs the data and error streams of each port-forward request (by the requestID header;
 * clients before Kubernetes 1.3 had none: their pairs are told apart by stream ids) and
 * calls `onRequest` once both are open.
 */
export function portForwardOverSpdy(session: SpdySession, onRequest: (req: PortForwardRequestStreams) => void, logger: Logger): void {
  const pending = new Map<string, { data?: SpdyStream; error?: SpdyStream; timer: NodeJS.Timeout }>();
  const errorStreams = new Set<SpdyStream>();
  // A session ending on a broken cap says why on every error stream the client has open.
  session.once('failure', (err) => {
    for (const e of errorStreams) session.writeFinal(e, Buffer.from(err.message));
  });
  session.on('stream', (s) => {
    const type = s.streamType;
    if (type !== 'data' && type !== 'error') {
      s.destroy();
      return;
    }
    // Legacy clients open error then data, two ids apart.
    const requestId = s.header('requestid') ?? String(type === 'error' ? s.id : s.id - 2);
    let entry = pending.get(requestId);
    if (!entry) {
      const timer = setTimeout(() => {
        const e = pending.get(requestId);
        pending.delete(requestId);
        e?.data?.destroy();
        e?.error?.destroy();
        logger.debug({ requestId }, 'port-forward request timed out waiting for its stream pair');
      }, STREAM_CREATION_TIMEOUT_MS);
      entry = { timer };
      pending.set(requestId, entry);
    }
    entry[type] = s;
    if (type === 'error') {
      errorStreams.add(s);
      s.once('close', () => errorStreams.delete(s));
    }
    if (!entry.data || !entry.error) return;
    clearTimeout(entry.timer);
    pending.delete(requestId);
    const { data, error } = entry;
    const portText = data.header('port') ?? error.header('port') ?? '';
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
      void endStream(error, Buffer.from(`invalid port "${portText}"`)).then(() => data.destroy());
      return;
    }
    error.resume();
    onRequest({ port, data, error });
  });
  session.once('close', () => {
    for (const e of pending.values()) clearTimeout(e.timer);
    pending.clear();
  });
}

/** Reports a port-forward request's outcome on its error stream and closes the pair. */
export async function finishPortForward(req: PortForwardRequestStreams, error: string | undefined): Promise<void> {
  await endStream(req.data);
  await endStream(req.error, error ? Buffer.from(error) : undefined);
}
