/**
 * Graceful close of the HTTP listener that loses no request. Two races lose requests when a
 * node:http server is simply closed under load, and this closes it in the order that avoids both:
 * - A connection the kernel has accepted but Node has not yet taken from the listen backlog is
 *   reset when the listener closes, request and all. So the listener closes first, at once:
 *   clients that connect afterwards are refused at connect (ECONNREFUSED), before they send.
 * - A keep-alive connection that looks idle may carry a request already on its way (a client
 *   sends its next request the moment the last answer arrives); closing it resets that request.
 *   So from now on every answer says `Connection: close`, and idle connections are closed only
 *   after a short linger, in which a request arriving on one is still answered (and then closes it).
 * Resolves when every connection has ended, i.e. every request in flight has been answered.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';

/** Longer than a client's turnaround between an answer and its next request on the same connection. */
export const IDLE_LINGER_MS = 100;

export async function drainHttpServer(server: Server, lingerMs = IDLE_LINGER_MS): Promise<void> {
  server.on('request', closeAfterAnswer);
  const drained = new Promise<void>((resolve) => server.once('close', () => resolve()));
  // net.Server's close stops accepting but, unlike http.Server's, leaves idle keep-alive
  // connections open for the linger below.
  NetServer.prototype.close.call(server);
  await new Promise((resolve) => setTimeout(resolve, lingerMs));
  server.closeIdleConnections();
  // Connections whose last answer predates the drain go idle later; close them as they do.
  const sweep = setInterval(() => server.closeIdleConnections(), 25);
  try {
    await drained;
  } finally {
    clearInterval(sweep);
    server.off('request', closeAfterAnswer);
  }
}

function closeAfterAnswer(_request: IncomingMessage, response: ServerResponse): void {
  response.shouldKeepAlive = false;
}
