// Encoded bytes of the CRI messages that answers repeat call after call (a pod, a container,
// an image, a status), kept per message object. The services hand out one object per record
// version (toPodSandbox, toContainer, ... memoize per index record), so a relist encodes only
// what changed since the last one; encoding every item anew (proto-loader's fromObject, then
// protobufjs' encode) was the largest part of a List call's CPU. A protobuf message is the
// concatenation of its fields' encodings, in any order, a repeated field possibly in several
// pieces: the cached pieces are spliced before the encoding of the rest of the response.
import type * as grpc from '@grpc/grpc-js';

/** Per method, the response fields (a message or a repeated message) whose values are cached. */
const CACHED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ListPodSandbox: ['items'],
  StreamPodSandboxes: ['pod_sandboxes'],
  ListContainers: ['containers'],
  StreamContainers: ['containers'],
  ListImages: ['images'],
  StreamImages: ['images'],
  PodSandboxStatus: ['status', 'containers_statuses'],
  ContainerStatus: ['status'],
  ImageStatus: ['image'],
};

/** The service with the listed methods' responses encoded through the per-object cache. */
export function withCachedEncoding(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => {
      const fields = CACHED_FIELDS[name];
      return [name, fields ? { ...method, responseSerialize: cachingSerializer(method.responseSerialize as Serialize, fields) } : method];
    }),
  );
}

type Serialize = (value: unknown) => Buffer;

/**
 * A serializer that encodes each value of `fields` once per object (as the response holding
 * only that value: field tag, length and message) and the rest of the response as usual. The
 * objects must not change after they were first answered; a fresh object per call is merely
 * not reused (the cache holds it weakly).
 */
export function cachingSerializer(serialize: Serialize, fields: readonly string[]): Serialize {
  const caches = fields.map((field) => ({ field, bytes: new WeakMap<object, Buffer>() }));
  const piece = (field: string, cache: WeakMap<object, Buffer>, value: object, repeated: boolean): Buffer => {
    let bytes = cache.get(value);
    if (!bytes) {
      bytes = serialize({ [field]: repeated ? [value] : value });
      cache.set(value, bytes);
    }
    return bytes;
  };
  return (response: unknown) => {
    if (response === null || typeof response !== 'object') return serialize(response);
    const source = response as Record<string, unknown>;
    const rest: Record<string, unknown> = { ...source };
    const pieces: Buffer[] = [];
    for (const { field, bytes } of caches) {
      const value = source[field];
      if (Array.isArray(value)) {
        if (!value.every(isObject)) return serialize(response);
        for (const item of value) pieces.push(piece(field, bytes, item, true));
        rest[field] = [];
      } else if (isObject(value)) {
        pieces.push(piece(field, bytes, value, false));
        rest[field] = null;
      }
    }
    if (pieces.length === 0) return serialize(response);
    pieces.push(serialize(rest));
    return Buffer.concat(pieces);
  };
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}
