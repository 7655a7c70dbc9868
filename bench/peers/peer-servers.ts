/**
 * Starts the servers the peer benchmark compares, one at a time, on free loopback ports: Modelport,
 * MLServer with the custom onnxruntime runtime in mlserver_runtime.py (adaptive batching on) and
 * the FastAPI app in fastapi_app.py. Each is ready when its health endpoint answers 200 and stops
 * on SIGTERM (SIGKILL after a grace period).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunningPeer {
  name: string;
  pid: number;
  /** host:port of the REST endpoint. */
  http: string;
  /** host:port of a gRPC endpoint perf_analyzer can drive, when there is one. */
  grpc?: string;
  stop(): Promise<void>;
}

export interface PeerModel {
  name: string;
  /** Python class in mlserver_runtime.py that serves it. */
  mlserverClass: string;
  /** perf_analyzer --shape values (the FastAPI app reads shapes from the ONNX file, where some are dynamic). */
  shapes: string[];
  inputs: Array<{ name: string; datatype: string; shape: number[] }>;
  outputs: Array<{ name: string; datatype: string; shape: number[] }>;
}

export const PEER_MODELS: Record<string, PeerModel> = {
  mlp: {
    name: 'mlp',
    mlserverClass: 'MlpModel',
    shapes: ['input:256'],
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 256] }],
    outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 10] }],
  },
  text_direction: {
    name: 'text_direction',
    mlserverClass: 'TextDirectionModel',
    shapes: ['x:3,48,192'],
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, 192] }],
    outputs: [{ name: 'softmax_0.tmp_0', datatype: 'FP32', shape: [-1, 2] }],
  },
};

/** MLServer's adaptive batching: as large as Modelport's text_direction batches, waiting at most 2 ms. */
export const MLSERVER_MAX_BATCH_SIZE = 64;
export const MLSERVER_MAX_BATCH_TIME_S = 0.002;

/**
 * How the Python peers run onnxruntime and MLServer's worker pool. Unset fields keep the
 * library's default (onnxruntime: one intra-op thread per core, spinning; MLServer: one worker).
 */
export interface PeerTuning {
  mlserverWorkers?: number;
  ortThreads?: number;
  ortSpinning?: boolean;
}

/** MLServer's worker pool as the report states it. */
export function describeWorkers(tuning: PeerTuning): string {
  return tuning.mlserverWorkers === undefined
    ? 'parallel_workers 1 (its default)'
    : `parallel_workers ${tuning.mlserverWorkers}${tuning.mlserverWorkers === 0 ? ' (inference in the server process)' : ''}`;
}

/** The Python peers' onnxruntime session settings as the report states them. */
export function describeOrt(tuning: PeerTuning): string {
  const threads = tuning.ortThreads === undefined ? 'default intra-op threads (one per core)' : `${tuning.ortThreads} intra-op thread${tuning.ortThreads === 1 ? '' : 's'}`;
  const spinning = tuning.ortSpinning === undefined ? '' : tuning.ortSpinning ? ', spinning on' : ', spinning off';
  return threads + spinning;
}

function ortExtra(tuning: PeerTuning): Record<string, number | boolean> {
  return {
    ...(tuning.ortThreads !== undefined ? { intra_op_num_threads: tuning.ortThreads } : {}),
    ...(tuning.ortSpinning !== undefined ? { allow_spinning: tuning.ortSpinning } : {}),
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function waitReady(child: ChildProcess, url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited with code ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(url);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

function stopper(child: ChildProcess, cleanup?: () => void): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    cleanup?.();
  };
}

function logTail(child: ChildProcess): () => string {
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
}

export async function startModelport(repoRoot: string, repository: string): Promise<RunningPeer> {
  const [http, grpc] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin', 'modelport.js'), 'serve', '--model-repository', repository, '--host', '127.0.0.1', '--http-port', String(http), '--grpc-port', String(grpc), '--metrics-port', '0', '--log-format', 'json', '--log-level', 'warn', '--insecure'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const tail = logTail(child);
  try {
    await waitReady(child, `http://127.0.0.1:${http}/v2/health/ready`);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${tail()}`);
  }
  return { name: 'Modelport', pid: child.pid!, http: `127.0.0.1:${http}`, grpc: `127.0.0.1:${grpc}`, stop: stopper(child) };
}

export async function startMlserver(peersDir: string, venv: string, repository: string, models: PeerModel[], tuning: PeerTuning): Promise<RunningPeer> {
  const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'modelport-peer-mlserver-'));
  writeFileSync(
    join(dir, 'settings.json'),
    JSON.stringify({
      debug: false,
      host: '127.0.0.1',
      http_port: http,
      grpc_port: grpc,
      metrics_port: metrics,
      ...(tuning.mlserverWorkers !== undefined ? { parallel_workers: tuning.mlserverWorkers } : {}),
      load_models_at_startup: true,
    }),
  );
  for (const model of models) {
    mkdirSync(join(dir, model.name));
    writeFileSync(
      join(dir, model.name, 'model-settings.json'),
      JSON.stringify({
        name: model.name,
        implementation: `mlserver_runtime.${model.mlserverClass}`,
        max_batch_size: MLSERVER_MAX_BATCH_SIZE,
        max_batch_time: MLSERVER_MAX_BATCH_TIME_S,
        inputs: model.inputs,
        outputs: model.outputs,
        parameters: { uri: join(repository, model.name, '1', 'model.onnx'), extra: ortExtra(tuning) },
      }),
    );
  }
  const child = spawn(join(venv, 'bin', 'mlserver'), ['start', dir], {
    cwd: dir,
    env: { ...process.env, PYTHONPATH: peersDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = logTail(child);
  try {
    for (const model of models) await waitReady(child, `http://127.0.0.1:${http}/v2/models/${model.name}/ready`);
  } catch (error) {
    await stopper(child)();
    throw new Error(`${(error as Error).message}\n${tail()}`);
  }
  return { name: 'MLServer', pid: child.pid!, http: `127.0.0.1:${http}`, stop: stopper(child, () => rmSync(dir, { recursive: true, force: true })) };
}

export async function startFastapi(peersDir: string, venv: string, repository: string, models: PeerModel[], tuning: PeerTuning): Promise<RunningPeer> {
  const http = await freePort();
  const child = spawn(join(venv, 'bin', 'uvicorn'), ['fastapi_app:app', '--host', '127.0.0.1', '--port', String(http), '--workers', '1', '--log-level', 'warning', '--no-access-log'], {
    cwd: peersDir,
    env: {
      ...process.env,
      MODEL_REPOSITORY: repository,
      MODELS: models.map((m) => m.name).join(','),
      ORT_INTRA_OP_THREADS: tuning.ortThreads !== undefined ? String(tuning.ortThreads) : '',
      ORT_ALLOW_SPINNING: tuning.ortSpinning !== undefined ? (tuning.ortSpinning ? '1' : '0') : '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = logTail(child);
  try {
    await waitReady(child, `http://127.0.0.1:${http}/v2/health/ready`);
  } catch (error) {
    await stopper(child)();
    throw new Error(`${(error as Error).message}\n${tail()}`);
  }
  return { name: 'FastAPI', pid: child.pid!, http: `127.0.0.1:${http}`, stop: stopper(child) };
}
