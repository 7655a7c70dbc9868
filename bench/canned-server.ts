/**
 * Baseline B of the benchmark: a bare node:http server in its own child process that answers infer
 * requests with canned bytes, the very headers and body Modelport returned for the same request.
 * It reads each request body to the end (as any server must) and writes the canned answer, doing
 * no decoding, scheduling or inference, so driven by the same load client it shows what HTTP alone
 * costs on this machine: the protocol limit that Modelport's throughput is held against.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

export interface CannedResponse {
  path: string;
  /** Answers requests that use the binary tensor extension (they carry Inference-Header-Content-Length). */
  binary: boolean;
  headers: Record<string, string>;
  bodyBase64: string;
}

export interface CannedServer {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export function startCannedServer(responses: CannedResponse[]): Promise<CannedServer> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.once('message', (message) => {
      const { port } = message as { port: number };
      resolve({
        port,
        pid: child.pid!,
        async stop() {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
    child.once('exit', (code) => reject(new Error(`canned server exited with code ${code} before listening`)));
    child.send(responses);
  });
}

function serve(responses: CannedResponse[]): void {
  const table = new Map<string, { headers: Record<string, string>; body: Buffer }>();
  for (const response of responses) {
    const body = Buffer.from(response.bodyBase64, 'base64');
    table.set(`${response.binary ? 'b' : 'j'} ${response.path}`, { headers: { ...response.headers, 'Content-Length': String(body.length) }, body });
  }
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      const binary = req.headers['inference-header-content-length'] !== undefined;
      const canned = table.get(`${binary ? 'b' : 'j'} ${req.url}`);
      if (canned === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, canned.headers);
      res.end(canned.body);
    });
  });
  // Keep-alive connections must outlive the gaps of a closed-loop client at any concurrency.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send!({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
  // A benchmark that dies must not leave its baseline server behind.
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  process.once('message', (responses: CannedResponse[]) => serve(responses));
}
