/**
 * The node:http server under fastify, with the limits that protect it from slow and greedy
 * clients: header size (431), header and whole-request time (408, slow-loris), and the number of
 * open connections (503 on every request of a connection beyond it, then close). The infer fast
 * path (infer-fast-path.ts) sees requests before fastify, after the connection check.
 *
 * Timeouts, as Node 20 applies them (measured, and in node_http_parser.cc): headersTimeout runs
 * from the first byte of each request, not from the end of the previous one, so an idle
 * keep-alive connection never eats into it and it may be far shorter than keepAliveTimeout (the
 * old advice to keep it above keepAliveTimeout dates from Node 12, which timed it from the
 * connection). A connection that never sends a byte is closed once headersTimeout has passed.
 * Node checks expiry every connectionsCheckingInterval; 30 s by default, far too coarse for a
 * 15 s headers limit, so it is set here.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { httpsServerOptions, type TlsMaterial } from '../../security/index.js';
import { errorBody } from './error-status.js';

export interface HttpListenerOptions {
  /** fastify's request handler. */
  handler: (request: IncomingMessage, response: ServerResponse) => void;
  /** Answers what it recognises (returns true) before fastify sees it. */
  fastPath?: ((request: IncomingMessage, response: ServerResponse) => boolean) | undefined;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxHeaderBytes: number;
  /** 0: no limit. */
  maxConnections: number;
  /** Serve HTTPS (TLS 1.2 at least) with this PEM certificate and key; `ca` requires client certificates signed by it. */
  tls?: TlsMaterial;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 15_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** Node's own default. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 4096;

/** How often Node looks for requests past their time. */
const TIMEOUT_CHECK_MS = 1_000;

export function createHttpListener(options: HttpListenerOptions): Server {
  const { handler, fastPath, maxConnections } = options;
  // Sockets accepted beyond maxConnections: each request on them is refused, then they close.
  const excess = new WeakSet<Socket>();
  let open = 0;
  const settings: ServerOptions = {
    maxHeaderSize: options.maxHeaderBytes,
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, options.headersTimeoutMs),
  };
  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    if (excess.has(request.socket)) {
      refuseConnection(request, response, maxConnections);
      return;
    }
    if (fastPath?.(request, response)) return;
    handler(request, response);
  };
  const tls = options.tls;
  const server: Server = tls
    ? createTlsServer({ ...settings, ...httpsServerOptions(tls) }, listener)
    : createServer(settings, listener);
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  server.headersTimeout = options.headersTimeoutMs;
  server.requestTimeout = options.requestTimeoutMs;
  if (maxConnections > 0) {
    // Over TLS the request's socket is the TLS socket, which 'secureConnection' hands out.
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      open += 1;
      if (open > maxConnections) excess.add(socket);
      socket.once('close', () => {
        open -= 1;
      });
    });
  }
  return server;
}

function refuseConnection(request: IncomingMessage, response: ServerResponse, maxConnections: number): void {
  const body = Buffer.from(errorBody(`too many open connections: this server takes at most ${maxConnections} (maxConnections, --max-connections); retry on a new connection`), 'utf8');
  response.shouldKeepAlive = false;
  response.writeHead(503, STATUS_CODES[503], { 'content-type': 'application/json', 'content-length': body.length, 'retry-after': '1', connection: 'close' });
  response.end(body);
  request.resume();
}

/**
 * Answers malformed or over-limit HTTP, which never reaches the routes, in the same error shape
 * (naming the limit where one was hit), then closes: the connection's framing can no longer be
 * trusted.
 */
export function clientErrorAnswer(limits: Pick<HttpListenerOptions, 'maxHeaderBytes' | 'headersTimeoutMs' | 'requestTimeoutMs'>) {
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    let status = 400;
    let message = STATUS_CODES[400]!;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      message = `the request headers exceed ${limits.maxHeaderBytes} bytes (maxHeaderBytes, --max-header-bytes)`;
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      message =
        `the request did not arrive in time: its headers must arrive within ${limits.headersTimeoutMs} ms of its first byte (headersTimeoutMs, --headers-timeout-ms) ` +
        `and the whole request within ${limits.requestTimeoutMs} ms (requestTimeoutMs, --request-timeout-ms)`;
    }
    const body = errorBody(message);
    if (!socket.writable) {
      socket.destroy(error);
      return;
    }
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
}
