/**
 * Handlers of inference.GRPCInferenceService. Each one is a translation to a data-plane call and
 * back; there is no logic of its own here, so gRPC and REST answer the same requests the same way.
 */
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { DEFAULT_REQUEST_LIMITS, mpError } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import { callContext } from './call-context.js';
import { serviceError, unimplemented } from './grpc-status.js';
import { decodeModelInferRequest, encodeModelInferResponse } from './infer-codec.js';
import { readInferRequest } from './infer-request-wire.js';
import { MalformedMessage, type EncodedInferRequest } from './proto-definitions.js';
import type {
  NameVersionMessage,
  RepositoryIndexRequestMessage,
  RepositoryModelMessage,
} from './proto-types.js';
import type { StreamSessions } from './stream-session.js';

type Handler<Req, Res> = (request: Req, call: ServerUnaryCall<unknown, unknown>) => Res | Promise<Res>;

/** Wraps a handler: malformed messages and thrown errors become gRPC statuses. */
function unary<Req, Res>(handler: Handler<Req, Res>) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    const request = call.request;
    if (request instanceof MalformedMessage) {
      callback(serviceError(request));
      return;
    }
    let result: Res | Promise<Res>;
    try {
      result = handler(request as Req, call);
    } catch (error) {
      callback(serviceError(error));
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => callback(null, value),
        (error: unknown) => callback(serviceError(error)),
      );
    } else {
      callback(null, result);
    }
  };
}

function versionOf(message: NameVersionMessage): string | undefined {
  return message.version === '' ? undefined : message.version;
}

function checkRepositoryName(name: string): void {
  if (name !== '') {
    throw mpError('MP_ERR_REQUEST_PARAMETER', `repository_name '${name}' is not supported: this server has one model repository; leave it empty`);
  }
}

function loadOptions(message: RepositoryModelMessage): { config?: string } {
  const options: { config?: string } = {};
  for (const [key, parameter] of Object.entries(message.parameters)) {
    if (key === 'config' && parameter.parameter_choice === 'string_param') {
      options.config = parameter.string_param!;
    } else if (key.startsWith('file:')) {
      throw mpError('MP_ERR_REQUEST_PARAMETER', `load parameter '${key}': loading model files sent with the request is not supported; place them in the model repository`);
    } else {
      throw mpError('MP_ERR_REQUEST_PARAMETER', `unknown load parameter '${key}'; supported: 'config' (a JSON model configuration, as string_param)`);
    }
  }
  return options;
}

export function inferenceService(dataPlane: DataPlaneApi, streams: StreamSessions): UntypedServiceImplementation {
  const notSupported = (what: string) => (_call: unknown, callback: sendUnaryData<unknown>) => callback(unimplemented(what));
  return {
    ServerLive: unary(() => ({ live: dataPlane.isLive() })),
    ServerReady: unary(() => ({ ready: dataPlane.isReady() })),
    ModelReady: unary((m: NameVersionMessage) => ({ ready: dataPlane.isModelReady(m.name, versionOf(m)) })),
    ServerMetadata: unary(() => dataPlane.serverMetadata()),
    ModelMetadata: unary((m: NameVersionMessage) => dataPlane.modelMetadata(m.name, versionOf(m))),
    ModelConfig: unary((m: NameVersionMessage) => ({ config: dataPlane.modelConfig(m.name, versionOf(m)) })),
    ModelStatistics: unary((m: NameVersionMessage) => dataPlane.modelStatistics(m.name === '' ? undefined : m.name, versionOf(m))),
    RepositoryIndex: unary((m: RepositoryIndexRequestMessage) => {
      checkRepositoryName(m.repository_name);
      return { models: dataPlane.repositoryIndex(m.ready) };
    }),
    RepositoryModelLoad: unary(async (m: RepositoryModelMessage) => {
      checkRepositoryName(m.repository_name);
      await dataPlane.loadModel(m.model_name, loadOptions(m));
      return {};
    }),
    RepositoryModelUnload: unary(async (m: RepositoryModelMessage) => {
      checkRepositoryName(m.repository_name);
      await dataPlane.unloadModel(m.model_name);
      return {};
    }),
    ModelInfer: unary(async (encoded: EncodedInferRequest, call) => {
      const limits = dataPlane.limits ?? DEFAULT_REQUEST_LIMITS;
      const response = await dataPlane.infer(decodeModelInferRequest(readInferRequest(encoded, limits), limits), callContext(call));
      return encodeModelInferResponse(response);
    }),
    ModelStreamInfer: streams.handler,
    SystemSharedMemoryStatus: notSupported('system shared memory'),
    SystemSharedMemoryRegister: notSupported('system shared memory'),
    SystemSharedMemoryUnregister: notSupported('system shared memory'),
    CudaSharedMemoryStatus: notSupported('CUDA shared memory'),
    CudaSharedMemoryRegister: notSupported('CUDA shared memory'),
    CudaSharedMemoryUnregister: notSupported('CUDA shared memory'),
    TraceSetting: notSupported('TraceSetting'),
    LogSettings: notSupported('LogSettings'),
  };
}
