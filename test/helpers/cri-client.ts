// A real gRPC client of the CRI, built from the same proto, with typed promise calls.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { loadCri } from '../../src/proto.js';
import type { RuntimeServiceDefinition } from '../../src/generated/runtime/v1/RuntimeService.js';
import type { ImageServiceDefinition } from '../../src/generated/runtime/v1/ImageService.js';

type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : K]: T[K] };
type Req<M> = M extends MethodDefinition<infer R, infer _A, infer _B, infer _C> ? R : never;
type Res<M> = M extends MethodDefinition<infer _A, infer _B, infer _C, infer R> ? R : never;

type RtName = KnownKeys<RuntimeServiceDefinition>;
type ImName = KnownKeys<ImageServiceDefinition>;

export class CriClient {
  readonly runtime: grpc.Client;
  readonly image: grpc.Client;

  constructor(readonly socketPath: string) {
    const cri = loadCri().runtime.v1;
    const creds = grpc.credentials.createInsecure();
    // The kubelet accepts CRI responses up to 16 MiB; so does this client.
    const kubeletLimits = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    this.runtime = new cri.RuntimeService(`unix://${socketPath}`, creds, kubeletLimits);
    this.image = new cri.ImageService(`unix://${socketPath}`, creds);
  }

  rt<K extends RtName>(method: K, req: Req<RuntimeServiceDefinition[K]>, timeoutMs = 120_000): Promise<Res<RuntimeServiceDefinition[K]>> {
    return unary(this.runtime, method, req, timeoutMs);
  }

  im<K extends ImName>(method: K, req: Req<ImageServiceDefinition[K]>, timeoutMs = 120_000): Promise<Res<ImageServiceDefinition[K]>> {
    return unary(this.image, method, req, timeoutMs);
  }

  /** Collects every message of a server-streaming RPC. */
  rtStream<K extends RtName>(method: K, req: Req<RuntimeServiceDefinition[K]>): Promise<Res<RuntimeServiceDefinition[K]>[]> {
    return collect(this.runtime, method, req);
  }

  imStream<K extends ImName>(method: K, req: Req<ImageServiceDefinition[K]>): Promise<Res<ImageServiceDefinition[K]>[]> {
    return collect(this.image, method, req);
  }

  close(): void {
    this.runtime.close();
    this.image.close();
  }
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;

function unary<T>(client: grpc.Client, method: string, req: unknown, timeoutMs: number): Promise<T> {
  const fn = (client as unknown as Record<string, (r: unknown, o: grpc.CallOptions, cb: Callback) => void>)[method];
  return new Promise((resolve, reject) =>
    fn.call(client, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}

function collect<T>(client: grpc.Client, method: string, req: unknown): Promise<T[]> {
  const fn = (client as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<T>>)[method];
  const stream = fn.call(client, req);
  const out: T[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

/** Expects a gRPC failure with the given code; returns the error for more checks. */
export async function expectCode(p: Promise<unknown>, code: grpc.status): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code !== code) throw new Error(`expected gRPC ${grpc.status[code]}, got ${grpc.status[e.code]}: ${e.details}`);
    return e;
  }
  throw new Error(`expected gRPC ${grpc.status[code]}, but the call succeeded`);
}
