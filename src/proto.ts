// Loads proto/api.proto (runtime.v1) at run time with the same options the generated types
// in src/generated were made with (see the "gen" npm script), so types and wire agree.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/api.js';

// The single-executable build (packaging/sea) embeds the parsed proto as JSON: it has no
// proto/ directory beside it.
declare const __DOCKER_CRI_SHIM_PROTO_JSON__: Parameters<typeof protoLoader.fromJSON>[0] | undefined;

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: ProtoGrpcType | undefined;

export function loadCri(): ProtoGrpcType {
  cached ??= grpc.loadPackageDefinition(
    typeof __DOCKER_CRI_SHIM_PROTO_JSON__ === 'undefined'
      ? protoLoader.loadSync(fileURLToPath(new URL('../proto/api.proto', import.meta.url)), LOADER_OPTIONS)
      : protoLoader.fromJSON(__DOCKER_CRI_SHIM_PROTO_JSON__, LOADER_OPTIONS),
  ) as unknown as ProtoGrpcType;
  return cached;
}
