// The one place that decides gRPC status codes. Services throw CriError (or let Docker
// errors through); the per-RPC wrapper turns whatever was thrown into a status here.
import { status as Code } from '@grpc/grpc-js';

export { Code };

export class CriError extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CriError';
  }
}

export const invalidArgument = (msg: string) => new CriError(Code.INVALID_ARGUMENT, msg);
export const notFound = (msg: string) => new CriError(Code.NOT_FOUND, msg);
export const alreadyExists = (msg: string) => new CriError(Code.ALREADY_EXISTS, msg);
export const failedPrecondition = (msg: string) => new CriError(Code.FAILED_PRECONDITION, msg);
export const unavailable = (msg: string) => new CriError(Code.UNAVAILABLE, msg);
export const deadlineExceeded = (msg: string) => new CriError(Code.DEADLINE_EXCEEDED, msg);
export const unimplemented = (msg: string) => new CriError(Code.UNIMPLEMENTED, msg);
export const internal = (msg: string) => new CriError(Code.INTERNAL, msg);
export const resourceExhausted = (msg: string) => new CriError(Code.RESOURCE_EXHAUSTED, msg);

/** Shape of the errors docker-modem raises: an HTTP status and Docker's JSON message. */
interface DockerHttpError {
  statusCode: number;
  json?: { message?: string } | null;
  reason?: string;
  message?: string;
}

// EAGAIN: connect() on a unix socket whose listen backlog is full (dockerd swamped); retryable.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ETIMEDOUT', 'EACCES', 'EAGAIN']);

export function isDockerHttpError(err: unknown): err is DockerHttpError {
  return typeof err === 'object' && err !== null && typeof (err as DockerHttpError).statusCode === 'number';
}

export function isDockerNotFound(err: unknown): boolean {
  return isDockerHttpError(err) && err.statusCode === 404;
}

export function isDockerConflict(err: unknown): boolean {
  return isDockerHttpError(err) && err.statusCode === 409;
}

/** 304: the container is already started (or stopped). */
export function isDockerNotModified(err: unknown): boolean {
  return isDockerHttpError(err) && err.statusCode === 304;
}

/** Docker's own explanation of an HTTP error, without docker-modem's prefix. */
export function dockerMessage(err: unknown): string {
  if (isDockerHttpError(err)) {
    const m = err.json?.message ?? (typeof err.json === 'string' ? err.json : undefined);
    // Streamed requests (pull, logs) get no parsed body: docker-modem puts Docker's text in
    // the message after "(HTTP code N) <reason> - ".
    const streamed = err.message ? /^\(HTTP code \d+\) [^-]* - ([\s\S]+)$/.exec(err.message)?.[1] : undefined;
    return (m ?? streamed ?? err.reason ?? err.message ?? `HTTP ${err.statusCode}`).trim();
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * True for a failure to reach dockerd (or to hear back from it in time), raw or already made a
 * CriError by the Docker gateway (which keeps the transport error as its cause): loops that
 * wait for dockerd to come back retry on these.
 */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof CriError) return err.cause !== undefined && isConnectionError(err.cause);
  const code = (err as { code?: string } | null)?.code;
  return typeof code === 'string' && CONNECTION_CODES.has(code);
}

/** Maps anything thrown below a handler to a CriError; `what` says which operation failed. */
export function toCriError(err: unknown, what?: string): CriError {
  if (err instanceof CriError) return err;
  const prefix = what ? `${what}: ` : '';
  if (isConnectionError(err)) {
    return new CriError(Code.UNAVAILABLE, `${prefix}cannot reach dockerd (${(err as Error).message})`, { cause: err });
  }
  if (isDockerHttpError(err)) {
    const msg = `${prefix}${dockerMessage(err)}`;
    switch (err.statusCode) {
      case 400:
        return invalidArgument(msg);
      case 404:
        return notFound(msg);
      case 409:
        return alreadyExists(msg);
      case 401:
      case 403:
        return new CriError(Code.PERMISSION_DENIED, msg);
      case 503:
        return unavailable(msg);
      default:
        return new CriError(Code.UNKNOWN, msg);
    }
  }
  if ((err as { name?: string } | null)?.name === 'TimeoutError' || (err as { code?: string } | null)?.code === 'ETIMEDOUT') {
    return deadlineExceeded(`${prefix}${(err as Error).message}`);
  }
  return new CriError(Code.UNKNOWN, `${prefix}${err instanceof Error ? err.message : String(err)}`);
}
