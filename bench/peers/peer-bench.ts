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
 * Environment: PEER_MODELS (default "mlp,text_direction"), PEER_CONCURRENCY (default "1,16,64"),
 * PEER_MEASUREMENT_MS (default 3000), PEER_SERVERS (default "modelport,mlserver,fastapi"), and
 * for the Python peers PEER_MLSERVER_WORKERS (default 0), PEER_ORT_THREADS (default 1) and
 * PEER_ORT_SPINNING (0/1, default onnxruntime's); "default" leaves a setting to the library.
 * Writes the table into bench/README.md between the peers markers and prints it.
 */
import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessSampler } from '../process-sampler.js';
import { MachineLoad } from './machine-load.js';
import { maxAbsDifference, sampleAnswer } from './answer-check.js';
import { perfAnalyzer, perfAnalyzerArgs, type PerfResult } from './perf-analyzer.js';
import {
  describeOrt,
  describeWorkers,
  MLSERVER_MAX_BATCH_SIZE,
  MLSERVER_MAX_BATCH_TIME_S,
  PEER_MODELS,
  startFastapi,
  startMlserver,
  startModelport,
  type PeerModel,
  type PeerTuning,
  type RunningPeer,
} from './peer-servers.js';
import { replaceSection } from '../readme-sections.js';
import { OTHER_LOAD_WARNING, renderPeerReport, type AnswerAgreement, type PeerRow } from './peer-report.js';

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

/**
 * The Python peers' settings, chosen as the fastest of those tried on the 2-core machine (mlp,
 * concurrency 16 and 64, each tried at least twice): MLServer with parallel_workers 0 runs the model
 * in its server process and saves the hop to a worker process, and one intra-op thread keeps
 * onnxruntime's pool from competing for the two cores with the Python event loop and the client.
 * Tried: MLServer 1 (its default), 0 and 2 workers; onnxruntime's default threads, 1 thread,
 * spinning off. MLServer went from ~0.7k to ~1.05k infer/s at concurrency 16, FastAPI ~10% up.
 */
const TUNED: PeerTuning = { mlserverWorkers: 0, ortThreads: 1 };

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
}

/** A numeric setting: unset gives `fallback`, "default" leaves it to the library. */
function setting(name: string, fallback: number | undefined): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  if (value === 'default') return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new Error(`${name}: expected a whole number or "default", got '${value}'`);
  return number;
}

function readTuning(): PeerTuning {
  const spinning = process.env.PEER_ORT_SPINNING;
  return {
    mlserverWorkers: setting('PEER_MLSERVER_WORKERS', TUNED.mlserverWorkers),
    ortThreads: setting('PEER_ORT_THREADS', TUNED.ortThreads),
    ortSpinning: spinning === undefined || spinning === '' || spinning === 'default' ? TUNED.ortSpinning : spinning === '1',
  };
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
): Promise<Measured> {
  const peer = await start();
  const rows: PeerRow[] = [];
  const answers = new Map<string, number[]>();
  try {
    for (const model of models) {
      try {
        answers.set(model.name, await sampleAnswer(peer.http, model));
      } catch (error) {
        log(`${peer.name} ${model.name}: no answer to the check request: ${(error as Error).message}`);
      }
    }
    for (const model of models) {
      for (const variant of variants(peer)) {
        for (const concurrency of concurrencies) {
          log(`${peer.name} ${model.name} ${variant.label} c${concurrency}`);
          const sampler = new ProcessSampler(peer.pid, true);
          const machine = new MachineLoad();
          sampler.start();
          machine.start();
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
          const load = machine.stop();
          if (load.otherCpuPercent > OTHER_LOAD_WARNING) log(`other processes used ${load.otherCpuPercent.toFixed(0)}% CPU during this level`);
          rows.push({ server: peer.name, model: model.name, variant: variant.label, common: variant === COMMON, concurrency, result, error, ...load, ...usage });
        }
      }
    }
  } finally {
    await peer.stop();
  }
  return { server: peer.name, rows, answers };
}

interface Measured {
  server: string;
  rows: PeerRow[];
  /** Each model's answer to the fixed request of answer-check.ts. */
  answers: Map<string, number[]>;
}

/** How far each peer's answers are from Modelport's (the first server measured), per model. */
function agreement(measured: Measured[]): AnswerAgreement[] {
  const [reference, ...others] = measured;
  if (!reference) return [];
  return others.flatMap((m) =>
    [...new Set([...reference.answers.keys(), ...m.answers.keys()])].map((model) => {
      const ours = reference.answers.get(model);
      const theirs = m.answers.get(model);
      // NaN: one side gave no answer to compare.
      return { server: m.server, reference: reference.server, model, maxAbsDifference: ours && theirs ? maxAbsDifference(ours, theirs) : Number.NaN };
    }),
  );
}

async function main(): Promise<void> {
  const models = list('PEER_MODELS', 'mlp,text_direction').map((name) => {
    const model = PEER_MODELS[name];
    if (!model) throw new Error(`PEER_MODELS: unknown model '${name}'; known: ${Object.keys(PEER_MODELS).join(', ')}`);
    return model;
  });
  const concurrencies = list('PEER_CONCURRENCY', '1,16,64').map(Number);
  const measurementMs = Number(process.env.PEER_MEASUREMENT_MS ?? 3000);
  const servers = list('PEER_SERVERS', 'modelport,mlserver,fastapi');
  const tuning = readTuning();
  for (const model of models) {
    if (!existsSync(join(repository, model.name, '1', 'model.onnx'))) throw new Error(`${model.name}: model file missing; run npm install`);
  }
  const started = performance.now();
  const measured: Measured[] = [];
  if (servers.includes('modelport')) {
    measured.push(
      await measureServer(
        () => startModelport(repoRoot, repository),
        () => [COMMON, { protocol: 'http', json: false, label: 'REST, binary' }, { protocol: 'grpc', json: false, label: 'gRPC' }],
        models,
        concurrencies,
        measurementMs,
      ),
    );
  }
  if (servers.includes('mlserver')) {
    measured.push(await measureServer(() => startMlserver(peersDir, peersVenv, repository, models, tuning), () => [COMMON], models, concurrencies, measurementMs));
  }
  if (servers.includes('fastapi')) {
    measured.push(await measureServer(() => startFastapi(peersDir, peersVenv, repository, models, tuning), () => [COMMON], models, concurrencies, measurementMs));
  }
  const rows = measured.flatMap((m) => m.rows);
  const report = renderPeerReport({
    rows,
    machine: `${cpus().length} vCPU (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    command: `perf_analyzer ${perfAnalyzerArgs({ venv: '', model: '<model>', protocol: 'http', address: '<host:port>', concurrency: 0, measurementMs, json: true, shapes: ['<input>:<dims>'] }, 25).join(' ').replace('--concurrency-range 0', '--concurrency-range <c>')}`,
    mlserverSettings: `adaptive batching max_batch_size ${MLSERVER_MAX_BATCH_SIZE}, max_batch_time ${MLSERVER_MAX_BATCH_TIME_S} s, ${describeWorkers(tuning)}`,
    ortSettings: describeOrt(tuning),
    versions: versions(),
    answers: agreement(measured),
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
  // A pin may name extras: uvicorn[standard]==0.54.0.
  const pick = (name: string) => new RegExp(`^${name}(?:\\[[^\\]]*\\])?==(.+)$`, 'mi').exec(pins)?.[1] ?? '?';
  const triton = /^tritonclient==(.+)$/m.exec(readFileSync(join(repoRoot, 'test', 'conformance', 'requirements.txt'), 'utf8'))?.[1] ?? '?';
  const python = /^version\s*=\s*(.+)$/m.exec(readFileSync(join(peersVenv, 'pyvenv.cfg'), 'utf8'))?.[1] ?? '?';
  const ortNode = (JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
  return [
    `Modelport with onnxruntime-node ${ortNode}`,
    `Python ${python.trim()}`,
    `MLServer ${pick('mlserver')}`,
    `onnxruntime (Python) ${pick('onnxruntime')}`,
    `FastAPI ${pick('fastapi')}`,
    `uvicorn ${pick('uvicorn')}`,
    `perf_analyzer from tritonclient ${triton}`,
  ].join(', ');
}

main().catch((error: unknown) => {
  log(String((error as Error)?.stack ?? error));
  process.exit(1);
});
