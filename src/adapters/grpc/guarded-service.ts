/**
 * Puts the Gatekeeper in front of every method of inference.GRPCInferenceService, with the same
 * rules as REST (route-access.ts there): ServerLive/ServerReady are open; model metadata, config
 * and readiness are per model; ModelInfer needs `infer` on its model; statistics and the
 * repository index need `read`; load/unload and the settings RPCs need `admin`. Credentials come
 * from the `authorization` (Bearer) or `x-api-key` metadata. A message that does not parse still
 * needs a valid credential before it is told so. ModelStreamInfer admits each request on the
 * stream by its model (stream-session.ts), since one stream may carry several models.
 */
import type { Metadata, sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { ADMIN, ANY, OPEN, READ, type Access, type Credentials, type Gatekeeper } from '../../security/index.js';
import { serviceError } from './grpc-status.js';
import { EncodedInferRequest, MalformedMessage } from './proto-definitions.js';
import type { ModelInferRequestMessage, NameVersionMessage } from './proto-types.js';

type UnaryHandler = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

const ACCESS: Record<string, (request: unknown) => Access> = {
  ServerLive: () => OPEN,
  ServerReady: () => OPEN,
  ServerMetadata: () => ANY,
  ModelReady: (m) => ({ need: 'model', model: (m as NameVersionMessage).name }),
  ModelMetadata: (m) => ({ need: 'model', model: (m as NameVersionMessage).name }),
  ModelConfig: (m) => ({ need: 'model', model: (m as NameVersionMessage).name }),
  ModelInfer: (m) => ({ need: 'infer', model: m instanceof EncodedInferRequest ? modelNameOf(m.bytes) : (m as ModelInferRequestMessage).model_name }),
  ModelStatistics: () => READ,
  RepositoryIndex: () => READ,
};

export function metadataCredentials(metadata: Metadata): Credentials {
  const text = (key: string): string | undefined => {
    const value = metadata.get(key)[0];
    return typeof value === 'string' ? value : undefined;
  };
  return { authorization: text('authorization'), apiKey: text('x-api-key') };
}

/** The service with every unary method admitted first; streaming methods are left as they are. */
export function guardedService(service: UntypedServiceImplementation, gatekeeper: Gatekeeper, streaming: readonly string[]): UntypedServiceImplementation {
  const guarded: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(service)) {
    if (streaming.includes(method)) {
      guarded[method] = handler;
      continue;
    }
    const accessOf = ACCESS[method] ?? (() => ADMIN);
    const unary = handler as UnaryHandler;
    guarded[method] = ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const request = call.request;
      const access = request instanceof MalformedMessage ? ANY : accessOf(request);
      let admitted;
      try {
        admitted = gatekeeper.admit(metadataCredentials(call.metadata), access);
      } catch (error) {
        callback(serviceError(error));
        return;
      }
      if (admitted instanceof Promise) admitted.then(() => unary(call, callback), (error: unknown) => callback(serviceError(error)));
      else unary(call, callback);
    }) as UnaryHandler;
  }
  return guarded;
}

/**
 * `model_name` (field 1) of ModelInferRequest bytes, read without decoding the message: the
 * handler decodes it only after the wire check (infer-request-wire.ts), once admitted. Bytes that
 * do not parse give '', and the handler then refuses them as malformed.
 */
export function modelNameOf(bytes: Uint8Array): string {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= bytes.length) return -1;
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    return -1;
  };
  while (at < bytes.length) {
    const key = varint();
    if (key < 0) return '';
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      if (varint() < 0) return '';
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const length = varint();
      if (length < 0 || at + length > bytes.length) return '';
      if (field === 1) return Buffer.from(bytes.buffer, bytes.byteOffset + at, length).toString('utf8');
      at += length;
    } else return '';
  }
  return '';
}
