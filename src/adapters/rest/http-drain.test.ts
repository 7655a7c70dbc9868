/**
 * Tests of the HTTP drain on a plain node:http server: the request in flight is answered and the
 * drain ends once it is, new connections are refused at connect, and a request sent on a
 * keep-alive connection that was idle when the drain began is answered (with Connection: close)
 * rather than reset. (Answers in flight learn of the drain from their handler: the infer path
 * checks it when it writes.)
 */
import assert from 'node:assert/strict';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { drainHttpServer } from './http-drain.js';

interface Answer {
  status: number;
  connection: string | undefined;
  error?: string;
}

function get(port: number, agent: Agent | false, path = '/'): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, connection: undefined, error: error.code ?? error.message }));
    req.end();
  });
}

async function listen(delayMs: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    setTimeout(() => res.end('ok'), req.url === '/slow' ? delayMs : 0);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

test('answers the request in flight, refuses new connections at connect, ends when all are closed', async () => {
  const { server, port } = await listen(150);
  const agent = new Agent({ keepAlive: true });
  const inFlight = get(port, agent, '/slow');
  await new Promise((resolve) => setTimeout(resolve, 30));
  let drained = false;
  const draining = drainHttpServer(server).then(() => (drained = true));
  const late = await get(port, false);
  assert.equal(late.error, 'ECONNREFUSED');
  assert.equal(drained, false, 'still draining while a request is in flight');
  assert.equal((await inFlight).status, 200);
  await draining;
  agent.destroy();
});

test('a request sent on a keep-alive connection idle when the drain began is answered, not reset', async () => {
  const { server, port } = await listen(0);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  assert.deepEqual(await get(port, agent), { status: 200, connection: 'keep-alive' });
  const draining = drainHttpServer(server);
  // The client reuses its idle connection just as the server starts closing.
  const next = await get(port, agent);
  assert.deepEqual(next, { status: 200, connection: 'close' });
  await draining;
  agent.destroy();
});
