/**
 * The Prometheus endpoint: GET /metrics on its own port (Triton's 8002), so scraping never queues
 * behind inference traffic and the port can be exposed to a different network than the API.
 * Scrapes need the `read` role like every other read (Prometheus sends `authorization:
 * credentials` or a bearer token file), unless the server runs --insecure.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isModelportError } from '../../core/index.js';
import type { Metrics } from '../../monitoring/index.js';
import { httpsServerOptions, READ, type Gatekeeper, type TlsMaterial } from '../../security/index.js';

export interface MetricsServerOptions {
  gatekeeper?: Gatekeeper;
  /** Serve HTTPS with this certificate; `ca` requires client certificates signed by it. */
  tls?: TlsMaterial;
}

export interface MetricsServer {
  listen(options: { host: string; port: number }): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export function createMetricsServer(metrics: Metrics, options: MetricsServerOptions = {}): MetricsServer {
  const { gatekeeper, tls } = options;
  const serve = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed: use GET\n');
      return;
    }
    metrics.exposition().then(
      (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(request.method === 'HEAD' ? undefined : text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(error as Error).message}\n`),
    );
  };
  const refuse = (response: ServerResponse, error: unknown): void => {
    const kind = isModelportError(error) ? error.kind : 'INTERNAL';
    const status = kind === 'UNAUTHENTICATED' ? 401 : kind === 'PERMISSION_DENIED' ? 403 : kind === 'UNAVAILABLE' ? 503 : 500;
    response
      .writeHead(status, { 'content-type': 'text/plain', ...(status === 401 ? { 'www-authenticate': 'Bearer realm="modelport"' } : {}) })
      .end(`${(error as Error).message}\n`);
  };
  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    if (!gatekeeper) return serve(request, response);
    const apiKey = request.headers['x-api-key'];
    let admitted;
    try {
      admitted = gatekeeper.admit({ authorization: request.headers.authorization, apiKey: Array.isArray(apiKey) ? apiKey[0] : apiKey }, READ);
    } catch (error) {
      refuse(response, error);
      return;
    }
    if (admitted instanceof Promise) admitted.then(() => serve(request, response), (error: unknown) => refuse(response, error));
    else serve(request, response);
  };
  const server = tls
    ? createTlsServer(httpsServerOptions(tls), listener)
    : createServer(listener);
  server.keepAliveTimeout = 65_000;
  return {
    listen({ host, port }) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve({ host, port: (server.address() as AddressInfo).port });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
