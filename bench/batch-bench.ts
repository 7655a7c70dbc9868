/**
 * `npm run bench:batch`: batch inference measured against its ceiling, in one run on this machine.
 *
 * 1. Inputs: seeded rows of 256 FP32 features for the `mlp` example, written once (before anything
 *    is timed) as CSV and as Parquet at two sizes, 100k and 1M rows (`--quick`: 20k and 100k).
 * 2. For each file: first the ceiling, onnxruntime-node in this process on batches of the job's
 *    batch size already in memory (batch-baseline.ts), then the same job hand-written against
 *    onnxruntime-node (batch-handwritten.ts), then `modelport batch` on the file as a
 *    child process, started as a user starts it. Rows/s is rows over the child's whole life (node
 *    start-up, model load, input scan, inference, writing and merging the output), and is given as
 *    a ratio to the ceiling measured just before it. Peak RSS is the child's ru_maxrss; the small
 *    and the large file should need the same memory. The first output rows are checked against
 *    the ceiling's outputs for the same rows. The largest files' jobs run once more with
 *    `--instances <cores>` (one single-threaded model instance per core).
 * 3. Online: p50/p99 of `modelport serve` at concurrency 8 alone, with a batch job running beside it
 *    on the same server, and alone again (batch-online.ts).
 *
 * The table goes to stdout and to the `batch` section of bench/README.md (batch-report.ts).
 *
 *   node dist/bench/batch-bench.js [--quick] [--batch-size N] [--partition-rows N]
 *                                  [--data-dir DIR] [--skip-online]
 *
 * --data-dir keeps the generated inputs there and reuses them in later runs (by default they go
 * to a temporary folder removed at the end). The full run needs about 2.7 GB of disk for the
 * inputs and, on two cores, takes a quarter of an hour or more, most of it the two 1M-row jobs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { prepareExamples } from '../scripts/prepare-examples.js';
import { describeMachine } from './bench-report.js';
import { firstBatchOutputs, measureBaseline, openBaseline, type BaselineFigure } from './batch-baseline.js';
import { ensureInputs, FEATURE_NAMES, INPUT_ROW_GROUP_ROWS, type BenchInputs } from './batch-data.js';
import { measureOnline, type OnlineResult } from './batch-online.js';
import { startBatchCli, startHandwritten, type BatchCliOptions, type BatchCliResult } from './batch-process.js';
import { renderBatchReport, type BatchRun, type FileRun, type HandwrittenRun } from './batch-report.js';
import { examplesRepository, repoRoot } from './modelport-process.js';
import { replaceSection } from './readme-sections.js';

export type InputFormat = 'csv' | 'parquet';
const FORMATS: InputFormat[] = ['csv', 'parquet'];
/** Output values per row of `mlp`. */
const OUTPUTS = 10;

interface Settings {
  quick: boolean;
  sizes: [number, number];
  batchSize: number;
  partitionRows: number;
  dataDir: string | undefined;
  skipOnline: boolean;
  baselineWarmupMs: number;
  baselineWindowMs: number;
  onlineWarmupMs: number;
  onlineMeasureMs: number;
}

function log(line: string): void {
  process.stderr.write(`[batch] ${line}\n`);
}

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: node dist/bench/batch-bench.js [--quick] [--batch-size N] [--partition-rows N] [--data-dir DIR] [--skip-online]\n`);
  process.exit(2);
}

function readSettings(argv: string[]): Settings {
  let quick = false;
  let batchSize = 128;
  let partitionRows = 10_000;
  let dataDir: string | undefined;
  let skipOnline = false;
  const positive = (flag: string, text: string | undefined): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1) usage(`${flag} expects a positive integer, got '${text}'`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--skip-online') skipOnline = true;
    else if (arg === '--batch-size') batchSize = positive(arg, argv[++i]);
    else if (arg === '--partition-rows') partitionRows = positive(arg, argv[++i]);
    else if (arg === '--data-dir') {
      const dir = argv[++i];
      if (!dir) usage('--data-dir expects a folder');
      dataDir = resolve(dir);
    } else usage(`unknown argument '${arg}'`);
  }
  return {
    quick,
    sizes: quick ? [20_000, 100_000] : [100_000, 1_000_000],
    batchSize,
    partitionRows,
    dataDir,
    skipOnline,
    baselineWarmupMs: quick ? 1000 : 2000,
    baselineWindowMs: quick ? 3000 : 10_000,
    onlineWarmupMs: quick ? 1000 : 2000,
    onlineMeasureMs: quick ? 5000 : 10_000,
  };
}

/** Largest absolute difference between the output file's first rows and the in-process outputs for them. */
async function outputDiff(path: string, format: InputFormat, expected: Float32Array): Promise<number> {
  const rows = expected.length / OUTPUTS;
  const got: number[][] = [];
  if (format === 'csv') {
    const handle = await open(path, 'r');
    try {
      const bytes = Buffer.alloc(1 << 20);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
      const lines = bytes.toString('utf8', 0, bytesRead).split('\n');
      const header = lines[0]!.split(',');
      const first = header.indexOf('output[0]');
      for (const line of lines.slice(1, rows + 1)) got.push(line.split(',').slice(first, first + OUTPUTS).map(Number));
    } finally {
      await handle.close();
    }
  } else {
    const objects = await parquetReadObjects({ file: await asyncBufferFromFile(path), rowStart: 0, rowEnd: rows });
    for (const object of objects) got.push(Array.from({ length: OUTPUTS }, (_, i) => Number((object as Record<string, unknown>)[`output[${i}]`])));
  }
  if (got.length !== rows) return Number.NaN;
  let max = 0;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < OUTPUTS; i++) {
      const diff = Math.abs(got[r]![i]! - expected[r * OUTPUTS + i]!);
      if (!(diff <= max)) max = diff;
    }
  }
  return max;
}

/** The same job hand-written on onnxruntime-node (batch-handwritten.ts), timed like `modelport batch`. */
async function runHandwritten(
  modelPath: string,
  input: string,
  output: string,
  format: InputFormat,
  rows: number,
  batchSize: number,
  statsFile: string,
  expected: Float32Array,
): Promise<HandwrittenRun> {
  const loadBefore = loadavg()[0]!;
  const result = await startHandwritten({ modelPath, input, output, batchSize, statsFile }).result;
  const run: HandwrittenRun = { result, rowsPerSecond: rows / result.wallSeconds, loadBefore, outputDiff: Number.NaN };
  const written = /^rows: (\d+)$/m.exec(result.stdout);
  if (result.exitCode !== 0) run.problem = `exit code ${result.exitCode ?? result.signal}: ${result.stderrTail.split('\n').slice(-3).join(' | ')}`;
  else if (Number(written?.[1]) !== rows) run.problem = `${written?.[1] ?? 'no'} rows written of ${rows}`;
  else {
    run.outputDiff = await outputDiff(output, format, expected).catch(() => Number.NaN);
    if (!(run.outputDiff <= 1e-5)) run.problem = `first outputs differ from in-process by ${run.outputDiff}`;
  }
  log(`  hand-written: ${Math.round(run.rowsPerSecond)} rows/s over ${result.wallSeconds.toFixed(1)} s, peak RSS ${result.peakRssMb.toFixed(0)} MB, CPU ${result.cpuPercent.toFixed(0)}%${run.problem ? `; PROBLEM: ${run.problem}` : ''}`);
  rmSync(output, { force: true });
  return run;
}

function serveHasDataRoot(): boolean {
  try {
    const help = execFileSync(process.execPath, [join(repoRoot, 'bin', 'modelport.js'), 'serve', '--help'], { encoding: 'utf8' });
    return help.includes('--data-root');
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const settings = readSettings(process.argv.slice(2));
  const started = performance.now();
  await prepareExamples(examplesRepository);
  const machine = describeMachine(repoRoot);
  const cores = availableParallelism();
  const modelPath = join(examplesRepository, 'mlp', '1', 'model.onnx');
  const workDir = mkdtempSync(join(tmpdir(), 'modelport-batch-bench-'));
  const dataDir = settings.dataDir ?? join(workDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const outputs = join(workDir, 'outputs');
  mkdirSync(outputs, { recursive: true });
  log(`${machine.cpuModel}, ${cores} cores, Node ${machine.node}; ${settings.quick ? 'quick run, ' : ''}${settings.sizes.join(' and ')} rows, batch size ${settings.batchSize}`);

  try {
    // 1. Inputs, outside every timed part.
    const inputs: BenchInputs[] = [];
    let generatedSeconds = 0;
    for (const rows of settings.sizes) {
      log(`inputs: ${rows} rows (CSV and Parquet) in ${dataDir}`);
      const made = ensureInputs(dataDir, rows);
      generatedSeconds += made.generatedSeconds;
      inputs.push(made);
      log(`  CSV ${(made.csvBytes / 1e6).toFixed(0)} MB, Parquet ${(made.parquetBytes / 1e6).toFixed(0)} MB${made.generatedSeconds > 0 ? `, written in ${made.generatedSeconds.toFixed(1)} s` : ', reused'}`);
    }

    // 2. Each file: the ceiling, then `modelport batch`.
    const baseline = await openBaseline(modelPath, settings.batchSize);
    const expected = await firstBatchOutputs(baseline);
    const map = [`input=${FEATURE_NAMES.join(',')}`];
    const runs: FileRun[] = [];
    try {
      for (const input of inputs) {
        for (const format of FORMATS) {
          const loadBeforeBaseline = loadavg()[0]!;
          const ceiling: BaselineFigure = await measureBaseline(baseline, settings.baselineWarmupMs, settings.baselineWindowMs);
          log(`${format} ${input.rows} rows: in-process ${Math.round(ceiling.rowsPerSecond)} rows/s (batch ${settings.batchSize}, ${ceiling.threads} threads)`);
          const handwritten = await runHandwritten(modelPath, format === 'csv' ? input.csv : input.parquet, join(outputs, `hand-${input.rows}.${format}`), format, input.rows, settings.batchSize, join(workDir, 'exit-stats.json'), expected);
          const output = join(outputs, `out-${input.rows}.${format}`);
          const loadBefore = loadavg()[0]!;
          const job: BatchCliOptions = {
            model: 'mlp',
            input: format === 'csv' ? input.csv : input.parquet,
            output,
            repository: examplesRepository,
            batchSize: settings.batchSize,
            partitionRows: settings.partitionRows,
            idColumn: 'id',
            map,
            statsFile: join(workDir, 'exit-stats.json'),
          };
          const result: BatchCliResult = await startBatchCli(job).result;
          const run: FileRun = {
            format,
            rows: input.rows,
            fileBytes: format === 'csv' ? input.csvBytes : input.parquetBytes,
            baseline: ceiling,
            loadBeforeBaseline,
            loadBefore,
            result,
            rowsPerSecond: input.rows / result.wallSeconds,
            outputDiff: Number.NaN,
            handwritten,
          };
          const problems: string[] = [];
          if (result.exitCode !== 0) problems.push(`exit code ${result.exitCode ?? result.signal}: ${result.stderrTail.split('\n').slice(-3).join(' | ')}`);
          else if (result.summary === undefined) problems.push('no summary on stdout');
          else {
            if (result.summary.rowsOut !== input.rows) problems.push(`${result.summary.rowsOut} rows out of ${input.rows}`);
            if (result.summary.failed > 0) problems.push(`${result.summary.failed} rows failed`);
          }
          if (result.exitCode === 0 && existsSync(output)) {
            run.outputDiff = await outputDiff(output, format, expected).catch(() => Number.NaN);
            if (!(run.outputDiff <= 1e-5)) problems.push(`first outputs differ from in-process by ${run.outputDiff}`);
          }
          if (problems.length > 0) run.problem = problems.join('; ');
          log(
            `  modelport batch: ${Math.round(run.rowsPerSecond)} rows/s over ${result.wallSeconds.toFixed(1)} s ` +
              `(engine ${result.summary?.engineRowsPerSecond ?? '?'} rows/s), ×${(run.rowsPerSecond / ceiling.rowsPerSecond).toFixed(2)} in-process, ` +
              `×${(run.rowsPerSecond / handwritten.rowsPerSecond).toFixed(2)} hand-written, ` +
              `peak RSS ${result.peakRssMb.toFixed(0)} MB, CPU ${result.cpuPercent.toFixed(0)}%${run.problem ? `; PROBLEM: ${run.problem}` : ''}`,
          );
          for (const leftover of [output, `${output}.errors.jsonl`, `${output}.parts`]) rmSync(leftover, { recursive: true, force: true });
          if (input === inputs[inputs.length - 1] && cores > 1) {
            const perCore = await startBatchCli({ ...job, instances: cores }).result;
            run.perCore = { instances: cores, result: perCore, rowsPerSecond: input.rows / perCore.wallSeconds };
            if (perCore.exitCode !== 0) run.perCore.problem = `exit code ${perCore.exitCode ?? perCore.signal}: ${perCore.stderrTail.split('\n').slice(-3).join(' | ')}`;
            else if (perCore.summary?.rowsOut !== input.rows) run.perCore.problem = `${perCore.summary?.rowsOut ?? '?'} rows out of ${input.rows}`;
            else {
              const diff = await outputDiff(output, format, expected).catch(() => Number.NaN);
              if (!(diff <= 1e-5)) run.perCore.problem = `first outputs differ from in-process by ${diff}`;
            }
            log(
              `  modelport batch --instances ${cores}: ${Math.round(run.perCore.rowsPerSecond)} rows/s over ${perCore.wallSeconds.toFixed(1)} s, ` +
                `×${(run.perCore.rowsPerSecond / run.rowsPerSecond).toFixed(2)} the configured instances, peak RSS ${perCore.peakRssMb.toFixed(0)} MB` +
                `${run.perCore.problem ? `; PROBLEM: ${run.perCore.problem}` : ''}`,
            );
            for (const leftover of [output, `${output}.errors.jsonl`, `${output}.parts`]) rmSync(leftover, { recursive: true, force: true });
          }
          runs.push(run);
        }
      }
    } finally {
      await baseline.session.release();
    }

    // 3. Online latency with and without a job beside it.
    let online: OnlineResult | undefined;
    let onlineError: string | undefined;
    if (!settings.skipOnline) {
      log(`online: mlp binary batch-1 requests at concurrency 8, ${settings.onlineWarmupMs / 1000} s warm-up + ${settings.onlineMeasureMs / 1000} s per window`);
      const large = inputs[inputs.length - 1]!;
      try {
        online = await measureOnline({
          dataDir,
          input: large.parquet,
          format: 'parquet',
          batchSize: settings.batchSize,
          partitionRows: settings.partitionRows,
          idColumn: 'id',
          map,
          warmupMs: settings.onlineWarmupMs,
          measureMs: settings.onlineMeasureMs,
          workDir: outputs,
          serveSupportsDataRoot: serveHasDataRoot(),
          log,
        });
      } catch (error) {
        onlineError = (error as Error).message.split('\n')[0];
        log(`  online not measured: ${(error as Error).stack ?? error}`);
      }
    }

    const run: BatchRun = {
      machine,
      quick: settings.quick,
      sizes: settings.sizes,
      batchSize: settings.batchSize,
      partitionRows: settings.partitionRows,
      inputRowGroupRows: INPUT_ROW_GROUP_ROWS,
      baselineWindowSeconds: settings.baselineWindowMs / 1000,
      onlineWindowSeconds: settings.onlineMeasureMs / 1000,
      onlineWarmupSeconds: settings.onlineWarmupMs / 1000,
      generatedSeconds,
      runs,
      durationSeconds: (performance.now() - started) / 1000,
      ...(online !== undefined ? { online } : {}),
      ...(onlineError !== undefined ? { onlineError } : {}),
    };
    const report = renderBatchReport(run);
    process.stdout.write(`${report}\n`);
    const readme = join(repoRoot, 'bench', 'README.md');
    const current = existsSync(readme) ? readFileSync(readme, 'utf8') : '# Modelport benchmarks\n';
    writeFileSync(readme, replaceSection(current, 'batch', report));
    log(`wrote the batch section of ${readme}`);
    const failed = runs.some((r) => r.problem !== undefined || r.handwritten?.problem !== undefined) || onlineError !== undefined || (online?.windows.some((w) => w.load.errors > 0) ?? false);
    if (failed) process.exitCode = 1;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  log(String((error as Error)?.stack ?? error));
  process.exit(1);
});
