/**
 * Runs Triton's perf_analyzer (from the conformance venv, test/conformance/.venv) at one
 * concurrency level and reads its CSV report: throughput and client-side p50/p99 latency. A run
 * that cannot stabilise within the trials is repeated once with the stability check relaxed, and
 * marked, rather than dropped: two shared cores make windows noisy.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PerfResult {
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  /** Set when the measurement needed the relaxed stability check. */
  unstable: boolean;
}

export interface PerfOptions {
  venv: string;
  model: string;
  protocol: 'http' | 'grpc';
  address: string;
  concurrency: number;
  measurementMs: number;
  /** HTTP tensor encoding; perf_analyzer's default is binary. */
  json: boolean;
  /** Input shapes without the batch dimension, for servers whose metadata leaves them dynamic. */
  shapes: string[];
}

export function perfAnalyzerArgs(options: PerfOptions, stability: number): string[] {
  return [
    '-m', options.model,
    '-i', options.protocol,
    '-u', options.address,
    '--concurrency-range', String(options.concurrency),
    '--measurement-interval', String(options.measurementMs),
    '--stability-percentage', String(stability),
    '--max-trials', '6',
    // perf_analyzer's random data holds NaN bit patterns, which JSON cannot carry.
    '--input-data', 'zero',
    ...options.shapes.flatMap((shape) => ['--shape', shape]),
    ...(options.json ? ['--input-tensor-format', 'json', '--output-tensor-format', 'json'] : []),
  ];
}

function run(binary: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(binary, args, { env, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}\n${stderr}` });
    });
  });
}

export async function perfAnalyzer(options: PerfOptions): Promise<PerfResult> {
  const binary = join(options.venv, 'bin', 'perf_analyzer');
  const site = readdirSync(join(options.venv, 'lib')).find((d) => d.startsWith('python3'))!;
  const env = { ...process.env, LD_LIBRARY_PATH: join(options.venv, 'lib', site, 'site-packages', 'nvidia', 'cuda_runtime', 'lib') };
  const dir = mkdtempSync(join(tmpdir(), 'modelport-perf-'));
  try {
    for (const [stability, unstable] of [[25, false], [100, true]] as const) {
      const csv = join(dir, `report-${stability}.csv`);
      const result = await run(binary, [...perfAnalyzerArgs(options, stability), '-f', csv], env);
      if (result.code !== 0) {
        if (!unstable && /stable/i.test(result.output)) continue;
        throw new Error(`perf_analyzer ${options.model} ${options.protocol} c${options.concurrency} exited ${result.code}:\n${result.output.slice(-3000)}`);
      }
      const [header, row] = readFileSync(csv, 'utf8').trim().split('\n').map((line) => line.split(','));
      const column = (name: string) => Number(row![header!.indexOf(name)]);
      return { throughput: column('Inferences/Second'), p50Ms: column('p50 latency') / 1000, p99Ms: column('p99 latency') / 1000, unstable };
    }
    throw new Error('unreachable');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
