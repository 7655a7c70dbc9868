/**
 * The gRPC server: inference.GRPCInferenceService (Triton's and KServe's V2 service), the standard
 * grpc.health.v1.Health service and server reflection (so grpcurl works without .proto files), on
 * @grpc/grpc-js. Message size limits follow the HTTP body limit, so both protocols accept the same
 * requests. close() refuses new calls, answers every call in flight and ends open streams.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { silentLogger, type Logger } from '../../core/index.js';
import type { DataPlaneApi } from '../../dataplane/index.js';
import type { Gatekeeper, TlsMaterial } from '../../security/index.js';
import { guardedService, metadataCredentials } from './guarded-service.js';
import { HealthService } from './health-service.js';
import { inferenceService } from './inference-service.js';
import { HEALTH_SERVICE, INFERENCE_SERVICE, packageDefinition, serviceDefinition } from './proto-definitions.js';
import { StreamSessions } from './stream-session.js';

/** Triton's MAX_GRPC_MESSAGE_SIZE, the largest length a gRPC frame can declare. */
const MAX_GRPC_MESSAGE_BYTES = 2 ** 31 - 1;

export interface GrpcServerOptions {
  dataPlane: DataPlaneApi;
  logger?: Logger;
  /** Largest request message in bytes; larger ones get RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
  /** How long close() waits for calls in flight before cutting them off. */
  closeTimeoutMs?: number;
  /** Admits every call of the inference service (health and reflection stay open); absent = all allowed. */
  gatekeeper?: Gatekeeper;
  /** Serve over TLS with this certificate; `ca` requires client certificates signed by it. */
  tls?: TlsMaterial;
}

export interface GrpcAddress {
  host: string;
  port: number;
}

export interface GrpcServer {
  listen(options: { host: string; port: number }): Promise<GrpcAddress>;
  close(): Promise<void>;
}

export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const logger = options.logger ?? silentLogger;
  const server = new Server({
    'grpc.max_receive_message_length': Math.min(options.maxMessageBytes ?? MAX_GRPC_MESSAGE_BYTES, MAX_GRPC_MESSAGE_BYTES),
    'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  });
  const gatekeeper = options.gatekeeper;
  const streams = new StreamSessions(
    options.dataPlane,
    gatekeeper ? (call, model) => gatekeeper.admit(metadataCredentials(call.metadata), { need: 'infer', model }) : undefined,
  );
  const health = new HealthService(options.dataPlane);
  const service = inferenceService(options.dataPlane, streams);
  server.addService(serviceDefinition(INFERENCE_SERVICE), gatekeeper ? guardedService(service, gatekeeper, ['ModelStreamInfer']) : service);
  const tls = options.tls;
  const credentials = tls
    ? ServerCredentials.createSsl(tls.ca ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], tls.ca !== undefined)
    : ServerCredentials.createInsecure();
  server.addService(serviceDefinition(HEALTH_SERVICE), health.implementation());
  new ReflectionService(packageDefinition()).addToServer(server);

  let closing: Promise<void> | undefined;
  return {
    listen({ host, port }) {
      return new Promise((resolve, reject) => {
        server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, credentials, (error, boundPort) => {
          if (error) reject(error);
          else resolve({ host, port: boundPort });
        });
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ timeoutMs: options.closeTimeoutMs ?? 30000 }, 'gRPC calls still open at shutdown: cancelling them');
          server.forceShutdown();
          resolve();
        }, options.closeTimeoutMs ?? 30000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
        streams.drainAll();
        health.close();
      });
      return closing;
    },
  };
}
