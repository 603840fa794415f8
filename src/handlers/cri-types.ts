// Typed shapes of the CRI handlers, derived from the generated service definitions so a
// handler states only its logic: (request) -> response, no grpc-js callback plumbing.
import type { MethodDefinition } from '@grpc/proto-loader';
import type { RuntimeServiceDefinition } from '../generated/runtime/v1/RuntimeService.js';
import type { ImageServiceDefinition } from '../generated/runtime/v1/ImageService.js';
import type { Logger } from '../logger.js';

type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : K]: T[K] };

/** The server-streaming RPCs of runtime.v1 (all others are unary). */
export const STREAMING_RPCS = new Set([
  'StreamPodSandboxes',
  'StreamContainers',
  'StreamContainerStats',
  'StreamPodSandboxStats',
  'StreamPodSandboxMetrics',
  'GetContainerEvents',
  'StreamImages',
]);

export interface CallContext {
  method: string;
  logger: Logger;
  /** Aborted when the client cancels the call or its deadline passes. */
  signal: AbortSignal;
}

export interface ResponseStream<Res> {
  /**
   * Sends (or queues) a message. False when the transport's buffer is full (the client reads
   * slower than we write): a producer that can outpace it waits for onceDrained.
   */
  write(message: Res): boolean;
  /** Calls `listener` once, when the transport's buffer has room again. */
  onceDrained(listener: () => void): void;
}

type StreamingName =
  | 'StreamPodSandboxes'
  | 'StreamContainers'
  | 'StreamContainerStats'
  | 'StreamPodSandboxStats'
  | 'StreamPodSandboxMetrics'
  | 'GetContainerEvents'
  | 'StreamImages';

type Impl<Name, M> =
  M extends MethodDefinition<infer _Req, infer Res, infer ReqOut, infer _ResOut>
    ? Name extends StreamingName
      ? (req: ReqOut, stream: ResponseStream<Res>, ctx: CallContext) => Promise<void>
      : (req: ReqOut, ctx: CallContext) => Promise<Res>
    : never;

export type RuntimeHandlers = {
  [K in KnownKeys<RuntimeServiceDefinition>]: Impl<K, RuntimeServiceDefinition[K]>;
};
export type ImageHandlers = {
  [K in KnownKeys<ImageServiceDefinition>]: Impl<K, ImageServiceDefinition[K]>;
};

/** What each domain module (server/runtime, server/sandbox, ...) contributes. */
export type HandlerSet = Partial<RuntimeHandlers> & Partial<ImageHandlers>;

export type RequestOf<K extends keyof RuntimeHandlers> = Parameters<RuntimeHandlers[K]>[0];
