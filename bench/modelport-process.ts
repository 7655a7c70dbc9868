/**
 * Runs `modelport serve` as a separate process for the benchmark, exactly as a user starts it, and
 * talks to it over plain HTTP: readiness of the models under test, one-off infer requests (to
 * capture the answer the HTTP baseline replays and to check outputs) and the statistics endpoint.
 * The server logs at warn so that logging costs nothing during the windows; its port is therefore
 * chosen here rather than read from its info-level start-up line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/bench/ → repository root. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const examplesRepository = join(repoRoot, 'examples', 'models');
const bin = join(repoRoot, 'bin', 'modelport.js');

export interface HttpExchange {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export function httpExchange(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<HttpExchange> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: body ? { ...headers, 'Content-Length': String(body.length) } : headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const flat: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
        resolve({ status: res.statusCode ?? 0, headers: flat, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

export interface ModelportProcess {
  port: number;
  pid: number;
  child: ChildProcess;
  /** SIGTERM, then the exit code (the server answers what is in flight and exits 0). */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  repository?: string;
  /** Models that must be ready before the benchmark starts. */
  models: string[];
  /** Options for node itself, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** More `modelport serve` flags. */
  serveArgs?: string[];
  timeoutMs?: number;
}

export async function startModelport(options: StartOptions): Promise<ModelportProcess> {
  const port = await freePort();
  const args = [
    ...(options.nodeArgs ?? []),
    bin,
    'serve',
    '--model-repository',
    options.repository ?? examplesRepository,
    '--http-port',
    String(port),
    '--grpc-port',
    '0',
    '--metrics-port',
    '0',
    '--host',
    '127.0.0.1',
    '--log-format',
    'json',
    '--log-level',
    'warn',
    // Loopback only; authentication has its own measurements.
    '--insecure',
    ...(options.serveArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let gone = false;
  // A benchmark that fails or is interrupted must not leave a server holding the cores.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => {
    gone = true;
    process.off('exit', killOnExit);
  });

  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  const pending = new Set(options.models);
  while (pending.size > 0) {
    if (gone) throw new Error(`modelport exited with code ${child.exitCode} before its models were ready:\n${output.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`models ${[...pending].join(', ')} not ready within ${options.timeoutMs ?? 90_000} ms:\n${output.trim()}`);
    }
    for (const model of [...pending]) {
      const ready = await httpExchange(port, 'GET', `/v2/models/${model}/ready`).catch(() => undefined);
      if (ready?.status === 200) pending.delete(model);
    }
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 200));
  }

  return {
    port,
    pid: child.pid!,
    child,
    async stop() {
      if (gone) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const [code] = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The counters of Triton's statistics extension the report uses, summed over versions. */
export interface StatsSnapshot {
  inferenceCount: number;
  executionCount: number;
  queue: { count: number; ns: number };
  computeInfer: { count: number; ns: number };
  success: { count: number; ns: number };
}

interface TritonStats {
  model_stats?: Array<{
    inference_count?: number;
    execution_count?: number;
    inference_stats?: Record<string, { count?: number; ns?: number } | undefined>;
  }>;
}

export async function modelStats(port: number, model: string): Promise<StatsSnapshot | undefined> {
  const answer = await httpExchange(port, 'GET', `/v2/models/${model}/stats`).catch(() => undefined);
  if (answer?.status !== 200) return undefined;
  const parsed = JSON.parse(answer.body.toString('utf8')) as TritonStats;
  const snapshot: StatsSnapshot = { inferenceCount: 0, executionCount: 0, queue: { count: 0, ns: 0 }, computeInfer: { count: 0, ns: 0 }, success: { count: 0, ns: 0 } };
  const add = (into: { count: number; ns: number }, from: { count?: number; ns?: number } | undefined) => {
    into.count += Number(from?.count ?? 0);
    into.ns += Number(from?.ns ?? 0);
  };
  for (const entry of parsed.model_stats ?? []) {
    snapshot.inferenceCount += Number(entry.inference_count ?? 0);
    snapshot.executionCount += Number(entry.execution_count ?? 0);
    add(snapshot.queue, entry.inference_stats?.['queue']);
    add(snapshot.computeInfer, entry.inference_stats?.['compute_infer']);
    add(snapshot.success, entry.inference_stats?.['success']);
  }
  return snapshot;
}

export interface ServerWindowStats {
  /** Items per executed batch over the window. */
  avgBatch: number;
  /** Per request: time queued, time of the batch's inference. */
  avgQueueMs: number;
  avgComputeInferMs: number;
  /** Per request: the server's whole handling time (success duration). */
  avgRequestMs: number;
}

export function statsDelta(before: StatsSnapshot | undefined, after: StatsSnapshot | undefined): ServerWindowStats | undefined {
  if (before === undefined || after === undefined) return undefined;
  const per = (b: { count: number; ns: number }, a: { count: number; ns: number }) => (a.count > b.count ? (a.ns - b.ns) / (a.count - b.count) / 1e6 : Number.NaN);
  const executions = after.executionCount - before.executionCount;
  return {
    avgBatch: executions > 0 ? (after.inferenceCount - before.inferenceCount) / executions : Number.NaN,
    avgQueueMs: per(before.queue, after.queue),
    avgComputeInferMs: per(before.computeInfer, after.computeInfer),
    avgRequestMs: per(before.success, after.success),
  };
}
