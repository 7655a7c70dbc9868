/**
 * Settings of a benchmark run, from the environment: window lengths (BENCH_WARMUP and
 * BENCH_SECONDS, in seconds), BENCH_QUICK=1 for a smoke run with 1 s windows, BENCH_CONCURRENCY
 * and BENCH_MODELS to narrow a run, BENCH_PROFILE=1 for a CPU-profiling run instead of the table.
 * The defaults keep a whole run within about four minutes on a small machine.
 */
import { availableParallelism } from 'node:os';
import { BENCH_MODELS, type BenchModel, type Encoding } from './bench-payloads.js';

export interface BenchConfig {
  quick: boolean;
  profile: boolean;
  warmupMs: number;
  measureMs: number;
  /** Sub-windows of the measurement window, for perf_analyzer's ±10% stability check. */
  subWindowMs: number;
  concurrencies: number[];
  encodings: Encoding[];
  models: BenchModel[];
  /** Time per batch size for the in-process sweep (batch 1 gets twice this). */
  inProcessBudgetMs: number;
  /** Intra-op thread counts tried in-process: one, and one per core. */
  threadCounts: number[];
}

/** Milliseconds from a variable given in seconds. */
function seconds(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of seconds, got '${raw}'`);
  return value * 1000;
}

function list(name: string): string[] | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw.split(',').map((part) => part.trim()).filter(Boolean);
}

export function readBenchConfig(): BenchConfig {
  const quick = process.env['BENCH_QUICK'] === '1';
  const warmupMs = seconds('BENCH_WARMUP', quick ? 1 : 2);
  const measureMs = seconds('BENCH_SECONDS', quick ? 1 : 5);
  if (measureMs <= 0) throw new Error('BENCH_SECONDS must be above 0');

  const concurrencies = (list('BENCH_CONCURRENCY') ?? ['1', '16', '64']).map((text) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new Error(`BENCH_CONCURRENCY must list whole numbers ≥ 1, got '${text}'`);
    return value;
  });
  const names = list('BENCH_MODELS');
  const models = names === undefined ? BENCH_MODELS : names.map((name) => {
    const model = BENCH_MODELS.find((m) => m.name === name);
    if (model === undefined) throw new Error(`BENCH_MODELS: unknown model '${name}' (known: ${BENCH_MODELS.map((m) => m.name).join(', ')})`);
    return model;
  });
  const cores = availableParallelism();
  return {
    quick,
    profile: process.env['BENCH_PROFILE'] === '1',
    warmupMs,
    measureMs,
    subWindowMs: Math.max(200, measureMs / 5),
    concurrencies,
    encodings: ['binary', 'json'],
    models,
    inProcessBudgetMs: quick ? 150 : 500,
    threadCounts: cores > 1 ? [1, cores] : [1],
  };
}
