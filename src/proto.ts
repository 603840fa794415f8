// Loads proto/api.proto (runtime.v1) at run time with the same options the generated types
// in src/generated were made with (see the "gen" npm script), so types and wire agree.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/api.js';

export const PROTO_PATH = fileURLToPath(new URL('../proto/api.proto', import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: ProtoGrpcType | undefined;

export function loadCri(): ProtoGrpcType {
  cached ??= grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS)) as unknown as ProtoGrpcType;
  return cached;
}
