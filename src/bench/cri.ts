// The bench's CRI client: one endpoint, every call timed into a Recorder under
// "workload/RPC", failures counted by their gRPC code name.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { loadCri } from '../proto.js';
import type { RuntimeServiceDefinition } from '../generated/runtime/v1/RuntimeService.js';
import type { ImageServiceDefinition } from '../generated/runtime/v1/ImageService.js';
import type { Recorder } from './recorder.js';

type Methods = RuntimeServiceDefinition & ImageServiceDefinition;
/** RPC names of both services (proto-loader's definitions also carry an index signature). */
export type Rpc = keyof { [K in keyof Methods as string extends K ? never : K]: Methods[K] };
export type RequestOf<K extends Rpc> = Methods[K] extends MethodDefinition<infer Q, infer _S, infer _O, infer _R> ? Q : never;
type ResponseOf<K extends Rpc> = Methods[K] extends MethodDefinition<infer _Q, infer _S, infer _O, infer R> ? R : never;

type UnaryFn = (req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** Endpoints are given as unix:///path; a bare absolute path is accepted too. */
export function endpointAddress(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint;
  if (endpoint.startsWith('/')) return `unix://${endpoint}`;
  throw new Error(`unsupported endpoint "${endpoint}" (use unix:///path)`);
}

export function codeName(err: unknown): string {
  const code = (err as Partial<grpc.ServiceError>).code;
  return typeof code === 'number' ? (grpc.status[code] ?? String(code)) : 'CLIENT_ERROR';
}

export class BenchCri {
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;
  recorder: Recorder | undefined;

  constructor(
    readonly name: string,
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    const v1 = loadCri().runtime.v1;
    const creds = grpc.credentials.createInsecure();
    this.runtime = new v1.RuntimeService(endpointAddress(address), creds);
    this.image = new v1.ImageService(endpointAddress(address), creds);
  }

  /** A call that is timed and counted under `workload/rpc` in the current recorder. */
  async timed<K extends Rpc>(workload: string, rpc: K, req: RequestOf<K>): Promise<ResponseOf<K>> {
    const key = `${workload}/${rpc}`;
    const started = performance.now();
    try {
      const res = await this.call(rpc, req);
      this.recorder?.latency(key, performance.now() - started);
      return res;
    } catch (err) {
      this.recorder?.error(key, codeName(err), errorText(err));
      throw err;
    }
  }

  /** An untimed call (setup, checks and cleanup are not part of the figures). */
  call<K extends Rpc>(rpc: K, req: RequestOf<K>): Promise<ResponseOf<K>> {
    const client = rpc in this.imageMethods() ? this.image : this.runtime;
    const fn = (client as unknown as Record<string, UnaryFn>)[rpc];
    return new Promise((resolve, reject) =>
      fn.call(client, req, { deadline: Date.now() + this.timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as ResponseOf<K>))),
    );
  }

  close(): void {
    this.runtime.close();
    this.image.close();
  }

  private imageMethods(): object {
    return loadCri().runtime.v1.ImageService.service;
  }
}

/** "CODE: details" of a gRPC failure (grpc-js repeats the code inside its message). */
export function errorText(err: unknown): string {
  const details = (err as Partial<grpc.ServiceError>).details;
  return `${codeName(err)}: ${details ?? (err as Error).message}`;
}
