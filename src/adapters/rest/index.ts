/** The V2 / Triton REST adapter: an HTTP server that translates the wire protocol to the data plane. */
export {
  createRestServer,
  DEFAULT_BODY_LIMIT,
  type RestAddress,
  type RestResponseInfo,
  type RestServer,
  type RestServerOptions,
} from './rest-server.js';
export type { DriftStatusSource } from './drift-routes.js';
export type { JobsApi } from './job-routes.js';
export { InflightLimit } from './inflight-limit.js';
