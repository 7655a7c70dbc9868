/** The V2 / Triton gRPC adapter: a gRPC server that translates the wire protocol to the data plane, and a client. */
export { createGrpcServer, type GrpcAddress, type GrpcServer, type GrpcServerOptions } from './grpc-server.js';
export { GrpcInferenceClient } from './grpc-client.js';
