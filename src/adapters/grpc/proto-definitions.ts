/**
 * Loads the protobuf definitions in proto/ (the V2 inference service, the model configuration and
 * grpc.health.v1) once, for the server, the reflection service and the gRPC client alike.
 *
 * Conversions chosen here shape every handler: field names stay snake_case as on the wire,
 * int64/uint64 arrive as decimal strings (exact beyond 2^53), enums as their names, unset scalars
 * as their defaults and unset messages as null.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** A request that could not be parsed; handlers answer it with INVALID_ARGUMENT. */
export class MalformedMessage {
  constructor(readonly reason: string) {}
}

/** The bytes of an infer request as grpc-js received them; infer-request-wire.ts checks, then decodes them. */
export class EncodedInferRequest {
  constructor(
    readonly bytes: Buffer,
    readonly decode: (bytes: Buffer) => unknown,
  ) {}
}

let cached: PackageDefinition | undefined;

/** The folder holding the .proto files: `proto/` at the package root, from src/ or dist/src/. */
export function protoDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'grpc_service.proto'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('proto/grpc_service.proto not found above ' + dirname(fileURLToPath(import.meta.url)));
}

export function packageDefinition(): PackageDefinition {
  cached ??= loadSync(['grpc_service.proto', 'health.proto'], {
    includeDirs: [protoDirectory()],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return cached;
}

/**
 * Methods whose requests reach the handler undecoded (an EncodedInferRequest): their size is
 * checked against the request limits on the wire first (infer-request-wire.ts).
 */
const DECODED_BY_HANDLER = new Set(['ModelInfer', 'ModelStreamInfer']);

/**
 * A service's definition whose request deserialisers never throw. grpc-js answers a message that
 * fails to parse with INTERNAL; a malformed request is the client's fault, so it reaches the
 * handler as a MalformedMessage and is answered INVALID_ARGUMENT there. Infer requests are not
 * decoded here at all (DECODED_BY_HANDLER).
 */
export function serviceDefinition(name: string): ServiceDefinition {
  const definition = packageDefinition()[name] as unknown as ServiceDefinition | undefined;
  if (definition === undefined) throw new Error(`service ${name} is not in the proto definitions`);
  const wrapped: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [method, spec] of Object.entries(definition)) {
    const deserialize = spec.requestDeserialize;
    if (DECODED_BY_HANDLER.has(method)) {
      wrapped[method] = { ...spec, requestDeserialize: (bytes: Buffer) => new EncodedInferRequest(bytes, deserialize) };
      continue;
    }
    wrapped[method] = {
      ...spec,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return deserialize(bytes);
        } catch (error) {
          return new MalformedMessage((error as Error).message);
        }
      },
    };
  }
  return wrapped as ServiceDefinition;
}
