/**
 * The `batch` section of bench/README.md, from one run of the batch benchmark: throughput and
 * peak memory of `modelport batch` per input file against the in-process ceiling, the memory of
 * the small file against the large one, online latency with and without a job beside it, the
 * issue's goals, and the notes that say how each figure was taken.
 */
import type { MachineInfo } from './bench-report.js';
import type { BaselineFigure } from './batch-baseline.js';
import type { OnlineResult } from './batch-online.js';
import { ONLINE_CONCURRENCY } from './batch-online.js';
import type { BatchCliResult } from './batch-process.js';

export interface FileRun {
  format: 'csv' | 'parquet';
  rows: number;
  fileBytes: number;
  /** The ceiling measured just before this run. */
  baseline: BaselineFigure;
  loadBeforeBaseline: number;
  loadBefore: number;
  result: BatchCliResult;
  /** rows ÷ the child's wall time. */
  rowsPerSecond: number;
  /** Max abs difference of the first batch of output rows from the in-process outputs. */
  outputDiff: number;
  problem?: string;
  /** The same job written directly against onnxruntime-node (batch-handwritten.ts), just before. */
  handwritten?: HandwrittenRun;
  /** The largest inputs only: the same job again with one single-threaded instance per core, just after. */
  perCore?: PerCoreRun;
}

export interface PerCoreRun {
  instances: number;
  result: BatchCliResult;
  /** rows ÷ the child's wall time. */
  rowsPerSecond: number;
  problem?: string;
}

export interface HandwrittenRun {
  result: BatchCliResult;
  /** rows ÷ the child's wall time. */
  rowsPerSecond: number;
  loadBefore: number;
  outputDiff: number;
  problem?: string;
}

export interface BatchRun {
  machine: MachineInfo;
  quick: boolean;
  sizes: [number, number];
  batchSize: number;
  partitionRows: number;
  inputRowGroupRows: number;
  baselineWindowSeconds: number;
  onlineWarmupSeconds: number;
  onlineWindowSeconds: number;
  generatedSeconds: number;
  runs: FileRun[];
  online?: OnlineResult;
  onlineError?: string;
  durationSeconds: number;
}

/** The throughput goal: Modelport's rows/s over in-process rows/s at the same batch size. */
export const THROUGHPUT_GOAL = 0.9;
/** The memory goal: peak RSS at the large size within this fraction of the small size's. */
export const MEMORY_GOAL = 0.1;

const FORMAT_NAME = { csv: 'CSV', parquet: 'Parquet' } as const;

function whole(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—';
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

function rowsLabel(rows: number): string {
  return rows >= 1_000_000 && rows % 1_000_000 === 0 ? `${rows / 1_000_000}M` : rows >= 1000 && rows % 1000 === 0 ? `${rows / 1000}k` : String(rows);
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

function find(run: BatchRun, format: FileRun['format'], rows: number): FileRun | undefined {
  return run.runs.find((r) => r.format === format && r.rows === rows);
}

/** The alone window with the lower p99: the machine's drift between the two must not flatter a job. */
function quietestAlone(online: OnlineResult): OnlineResult['windows'][number] | undefined {
  const alone = online.windows.filter((w) => w.job === undefined && Number.isFinite(w.load.latencyMs.p99));
  return alone.reduce<OnlineResult['windows'][number] | undefined>((best, w) => (best === undefined || w.load.latencyMs.p99 < best.load.latencyMs.p99 ? w : best), undefined);
}

export function renderBatchReport(run: BatchRun): string {
  const { machine } = run;
  const [small, large] = run.sizes;
  const out: string[] = [];
  out.push('## Batch inference');
  out.push('');
  out.push(
    `\`npm run bench:batch\`${run.quick ? ' `--quick` (a smoke run: 20k and 100k rows, short windows)' : ''} on ${machine.cores} vCPU (${machine.cpuModel}), ` +
      `${machine.memoryGiB.toFixed(0)} GiB, Node ${machine.node}, onnxruntime-node ${machine.onnxruntime}; ${machine.date}, whole run ${Math.round(run.durationSeconds)} s.`,
  );
  out.push(
    `\`mlp\` (256 FP32 features → 10 FP32 outputs) over ${rowsLabel(small)} and ${rowsLabel(large)} seeded rows from CSV and from Parquet; ` +
      `batch size ${run.batchSize} for Modelport and for the in-process ceiling alike, partitions of ${whole(run.partitionRows)} rows. ` +
      `Goals: ≥ ${THROUGHPUT_GOAL}× the in-process rows/s; peak RSS at ${rowsLabel(large)} rows within ${MEMORY_GOAL * 100}% of that at ${rowsLabel(small)}.`,
  );
  out.push('');

  out.push('### Throughput and memory: `modelport batch` against in-process onnxruntime-node');
  out.push('');
  const rows = run.runs.map((r) => [
    `${FORMAT_NAME[r.format]}${r.problem ? ' ⚠' : ''}`,
    whole(r.rows),
    whole(r.fileBytes / 1e6),
    `**${whole(r.rowsPerSecond)}**`,
    whole(r.result.summary?.engineRowsPerSecond ?? Number.NaN),
    whole(r.baseline.rowsPerSecond),
    `**${fixed(r.rowsPerSecond / r.baseline.rowsPerSecond, 2)}×**`,
    `${whole(r.handwritten?.rowsPerSecond ?? Number.NaN)}${r.handwritten?.problem ? ' ⚠' : ''}`,
    `**${fixed(r.rowsPerSecond / (r.handwritten?.rowsPerSecond ?? Number.NaN), 2)}×**`,
    whole(r.result.peakRssMb),
    r.result.rssAlongMb.map(whole).join(' / '),
    whole(r.result.cpuPercent),
    fixed(r.result.wallSeconds, 1),
    `${fixed(r.loadBeforeBaseline, 2)} / ${fixed(r.loadBefore, 2)}`,
  ]);
  out.push(
    table(
      ['input', 'rows', 'file MB', 'rows/s', 'engine rows/s', 'in-process rows/s', '× in-process', 'hand-written rows/s', '× hand-written', 'peak RSS MB', 'RSS at ¼ / ½ / ¾ of the run, MB', 'CPU %', 'wall s', 'load avg before (ceiling / job)'],
      rows,
    ),
  );
  const problems = run.runs.filter((r) => r.problem !== undefined || r.handwritten?.problem !== undefined);
  if (problems.length > 0) {
    out.push('');
    for (const r of problems) {
      if (r.problem) out.push(`⚠ ${FORMAT_NAME[r.format]} ${whole(r.rows)} rows: ${r.problem}`);
      if (r.handwritten?.problem) out.push(`⚠ ${FORMAT_NAME[r.format]} ${whole(r.rows)} rows, hand-written job: ${r.handwritten.problem}`);
    }
  }
  out.push('');

  const perCore = run.runs.filter((r) => r.perCore !== undefined);
  if (perCore.length > 0) {
    const instances = perCore[0]!.perCore!.instances;
    out.push(`### One instance per core: \`modelport batch --instances ${instances}\``);
    out.push('');
    out.push(
      `The model's configuration runs one instance that spreads each batch over every core; \`--instances ${instances}\` runs ${instances} instances of one ` +
        'intra-op thread each instead (the same job, run just after the one above).',
    );
    out.push('');
    out.push(
      table(
        ['input', 'rows', 'rows/s, configured instances', `rows/s, --instances ${instances}`, 'ratio', '× in-process', '× hand-written', 'peak RSS MB, configured / per core'],
        perCore.map((r) => {
          const p = r.perCore!;
          return [
            `${FORMAT_NAME[r.format]}${p.problem ? ' ⚠' : ''}`,
            whole(r.rows),
            whole(r.rowsPerSecond),
            `**${whole(p.rowsPerSecond)}**`,
            `${fixed(p.rowsPerSecond / r.rowsPerSecond, 2)}×`,
            `${fixed(p.rowsPerSecond / r.baseline.rowsPerSecond, 2)}×`,
            `${fixed(p.rowsPerSecond / (r.handwritten?.rowsPerSecond ?? Number.NaN), 2)}×`,
            `${whole(r.result.peakRssMb)} / ${whole(p.result.peakRssMb)}`,
          ];
        }),
      ),
    );
    for (const r of perCore) if (r.perCore!.problem) out.push(`\n⚠ ${FORMAT_NAME[r.format]} ${whole(r.rows)} rows, --instances: ${r.perCore!.problem}`);
    out.push('');
  }

  out.push(`### Peak memory: ${rowsLabel(small)} against ${rowsLabel(large)} rows`);
  out.push('');
  const memoryRows: string[][] = [];
  for (const format of ['csv', 'parquet'] as const) {
    const a = find(run, format, small);
    const b = find(run, format, large);
    if (!a || !b) continue;
    const ratio = b.result.peakRssMb / a.result.peakRssMb;
    memoryRows.push([
      FORMAT_NAME[format],
      whole(a.result.peakRssMb),
      whole(b.result.peakRssMb),
      `${fixed(ratio, 2)}×`,
      Math.abs(ratio - 1) <= MEMORY_GOAL ? 'yes' : '**no**',
    ]);
  }
  out.push(table(['input', `peak RSS at ${rowsLabel(small)}, MB`, `peak RSS at ${rowsLabel(large)}, MB`, `${rowsLabel(large)} ÷ ${rowsLabel(small)}`, `within ${MEMORY_GOAL * 100}%`], memoryRows));
  out.push('');
  const readings = memoryReadings(run, small, large);
  if (readings.length > 0) {
    out.push(...readings);
    out.push('');
  }

  out.push(`### Online latency beside a batch job (mlp, binary batch-1 requests, concurrency ${ONLINE_CONCURRENCY})`);
  out.push('');
  const online = run.online;
  if (online) {
    const alone = quietestAlone(online);
    const onlineRows = online.windows.map((w) => [
      w.label,
      whole(w.load.requestsPerSecond),
      fixed(w.load.latencyMs.p50, 2),
      `**${fixed(w.load.latencyMs.p99, 2)}**`,
      alone && w.job ? `${fixed(w.load.latencyMs.p99 / alone.load.latencyMs.p99, 2)}×` : '—',
      whole(w.server.cpuPercent),
      w.job ? `${whole(w.job.rowsPerSecond)}${w.job.coveredWindow ? '' : ' (job ended inside the window ⚠)'}` : '—',
      w.job?.clientCpuPercent !== undefined ? whole(w.job.clientCpuPercent) : '—',
      String(w.load.errors),
      fixed(w.loadAverage, 2),
    ]);
    out.push(
      table(
        ['online traffic', 'req/s', 'p50 ms', 'p99 ms', 'p99 ÷ lower alone p99', 'server CPU %', 'batch rows/s in the window', 'batch client CPU %', 'errors', 'load avg before'],
        onlineRows,
      ),
    );
    out.push('');
    const routes = online.windows.flatMap((w) => (w.job ? [w.job.route] : []));
    const described: string[] = [];
    if (routes.includes('jobs API')) {
      described.push('"jobs API": `POST /v1/jobs` on the same server (`--data-root`), the server reading, mapping and writing the rows itself at batch priority');
    }
    if (routes.includes('modelport batch --url')) {
      described.push('"modelport batch --url": the CLI reads and maps the rows in its own process and sends binary batch requests marked offline; the server only infers them');
    }
    out.push(
      `Jobs beside the traffic, one after the other, each on the ${rowsLabel(large)}-row Parquet file and stopped after its window: ${described.join('; ')}` +
        `${online.routeNote ? ` (jobs API not measured: ${online.routeNote})` : ''}. ` +
        `Each window: ${run.onlineWarmupSeconds} s warm-up, ${run.onlineWindowSeconds} s measured, the serving benchmark's closed-loop raw-socket client in its own process; ` +
        'a job\'s window starts once its batches reach the server. A job\'s p99 is compared with the lower p99 of the two windows without a job. "batch rows/s in the window" is the model\'s inference count over the window (statistics API) minus the online requests answered in it.',
    );
  } else {
    out.push(run.onlineError ? `Not measured: ${run.onlineError}` : 'Not measured (`--skip-online`).');
  }
  out.push('');

  out.push('### Goals');
  out.push('');
  const goalRows: string[][] = [];
  for (const format of ['csv', 'parquet'] as const) {
    const r = find(run, format, large);
    if (!r) continue;
    const ratio = r.rowsPerSecond / r.baseline.rowsPerSecond;
    goalRows.push([
      `${FORMAT_NAME[format]}, ${rowsLabel(large)} rows: rows/s ÷ in-process`,
      `${fixed(ratio, 2)} (${whole(r.rowsPerSecond)} ÷ ${whole(r.baseline.rowsPerSecond)})`,
      `≥ ${THROUGHPUT_GOAL}`,
      ratio >= THROUGHPUT_GOAL ? 'met' : '**not met**',
    ]);
  }
  for (const format of ['csv', 'parquet'] as const) {
    const r = find(run, format, large);
    if (!r?.handwritten) continue;
    const ratio = r.rowsPerSecond / r.handwritten.rowsPerSecond;
    goalRows.push([
      `${FORMAT_NAME[format]}, ${rowsLabel(large)} rows: rows/s ÷ the same job hand-written on onnxruntime-node`,
      `${fixed(ratio, 2)} (${whole(r.rowsPerSecond)} ÷ ${whole(r.handwritten.rowsPerSecond)})`,
      `≥ ${THROUGHPUT_GOAL}`,
      ratio >= THROUGHPUT_GOAL ? 'met' : '**not met**',
    ]);
  }
  for (const format of ['csv', 'parquet'] as const) {
    const a = find(run, format, small);
    const b = find(run, format, large);
    if (!a || !b) continue;
    const ratio = b.result.peakRssMb / a.result.peakRssMb;
    goalRows.push([
      `${FORMAT_NAME[format]}: peak RSS ${rowsLabel(large)} ÷ ${rowsLabel(small)}`,
      `${fixed(ratio, 2)} (${whole(b.result.peakRssMb)} ÷ ${whole(a.result.peakRssMb)} MB)`,
      `within ±${MEMORY_GOAL * 100}%`,
      Math.abs(ratio - 1) <= MEMORY_GOAL ? 'met' : '**not met**',
    ]);
  }
  if (online) {
    const alone = quietestAlone(online);
    for (const withJob of online.windows.filter((w) => w.job !== undefined)) {
      if (!alone) break;
      goalRows.push([
        `online p99 at concurrency ${ONLINE_CONCURRENCY}, with a job (${withJob.job!.route}) ÷ lower alone p99`,
        `${fixed(withJob.load.latencyMs.p99 / alone.load.latencyMs.p99, 2)} (${fixed(withJob.load.latencyMs.p99, 2)} ÷ ${fixed(alone.load.latencyMs.p99, 2)} ms)`,
        'reported (no target set)',
        '—',
      ]);
    }
  }
  out.push(table(['goal', 'value', 'target', 'status'], goalRows));
  out.push('');

  const diffs = run.runs.map((r) => r.outputDiff).filter((d) => Number.isFinite(d));
  const threads = run.runs[0]?.baseline.threads ?? machine.cores;
  out.push('Notes:');
  out.push('');
  out.push(
    `- rows/s: input rows ÷ wall time of the \`modelport batch\` process, spawn to exit (Node start-up, model load, the input scan, inference, writing the ` +
      'output in the input\'s format, merging the partitions). "engine rows/s" is what the CLI itself reports (from describing the model to the merged output). ' +
      `Command: \`modelport batch mlp --model-repository examples/models --input F --output F' --map input=f0,…,f255 --id-column id --batch-size ${run.batchSize} --partition-rows ${run.partitionRows}\` ` +
      '(defaults otherwise: all cores, batches in flight = four per model instance).',
  );
  out.push(
    `- In-process ceiling: onnxruntime-node in the benchmark process with Modelport's session options and ${threads} intra-op threads (one per core), ` +
      `batches of ${run.batchSize} rows cycled over the input's first 8,192 rows, already Float32Arrays, one run at a time; ` +
      `${run.baselineWindowSeconds} s window after a warm-up, measured just before each job, which is compared with it. Nothing is read, parsed or written.`,
  );
  out.push(
    '- Hand-written: the same job (file in, `id` and the 10 outputs per row out, in the input\'s format) as a script written directly against ' +
      'onnxruntime-node the way the libraries document it (bench/batch-handwritten.ts), run as its own process just before `modelport batch` and timed the same way, spawn to exit: ' +
      `the same session options and intra-op threads as the ceiling, batches of ${run.batchSize}, one at a time (read, run, write, in turn); CSV through csv-parse and Number() per cell, ` +
      'output lines joined by hand; Parquet through hyparquet a row group at a time (its decoded columns), the outputs held in memory and written at the end with hyparquet-writer. ' +
      'It has none of the engine\'s duties: no partitions, resume, errors file or progress; a bad row would end it.',
  );
  const sampled = run.runs.filter((r) => r.result.peakRssFrom === 'sampled').map((r) => `${FORMAT_NAME[r.format]} ${rowsLabel(r.rows)}`);
  out.push(
    '- Peak RSS: ru_maxrss of the `modelport batch` process (all its threads) read at its exit by a preloaded hook (bench/batch-exit-stats.ts)' +
      `${sampled.length > 0 ? ` (the hook wrote nothing for ${sampled.join(', ')}: VmHWM sampled from /proc every 200 ms instead)` : ''}; ` +
      'the RSS column beside it is VmRSS sampled at a quarter, half and three quarters of the run. CPU %: user+system time ÷ wall time (200% = both cores).',
  );
  out.push(
    `- Inputs: an \`id\` column and f0…f255; values are multiples of 1/1000 in [-1, 1) (short decimals in CSV). Parquet: \`id\` UTF-8, each feature a FLOAT column, ` +
      `PLAIN encoding (what real-valued features get), snappy, row groups of ${whole(run.inputRowGroupRows)} rows${small < run.inputRowGroupRows ? ` (the ${rowsLabel(small)} file is one group of ${rowsLabel(small)})` : ''}, ` +
      "hyparquet-writer's defaults otherwise (pages up to 1 MB, so each FLOAT column chunk is a single page; offset indexes). " +
      `Generated before anything is timed${run.generatedSeconds > 0 ? ` (${Math.round(run.generatedSeconds)} s this run)` : ' (reused from --data-dir)'}.`,
  );
  out.push(
    `- Output check: each job's first ${run.batchSize} output rows against the in-process outputs for the same rows: max abs difference ${diffs.length > 0 ? Math.max(...diffs).toExponential(1) : '—'}.`,
  );
  out.push(
    `- Load: the 1-minute load average read before each measurement is in the tables; on ${machine.cores} vCPU the benchmark's own processes make up to ~${machine.cores} of it, anything above is other work on the machine.`,
  );
  return out.join('\n');
}

/**
 * Whether a miss on the memory goal is growth with rows or a short run ending early: for each
 * format whose ratio misses, the RSS samples of both runs. A short run still climbing from ½ to ¾
 * while the long one is flat from ¼ on has not yet reached the steady size the long run keeps.
 */
function memoryReadings(run: BatchRun, small: number, large: number): string[] {
  const lines: string[] = [];
  for (const format of ['csv', 'parquet'] as const) {
    const a = find(run, format, small);
    const b = find(run, format, large);
    if (!a || !b || Math.abs(b.result.peakRssMb / a.result.peakRssMb - 1) <= MEMORY_GOAL) continue;
    const [a1, a2, a3] = a.result.rssAlongMb;
    const [b1, , b3] = b.result.rssAlongMb;
    const shortClimbs = a3 > a2 * 1.05;
    const longFlat = b3 <= b1 * 1.1;
    const samples =
      `${FORMAT_NAME[format]}: RSS at ¼ / ½ / ¾ of the ${rowsLabel(small)} run ${whole(a1)} / ${whole(a2)} / ${whole(a3)} MB (${fixed(a.result.wallSeconds, 1)} s), ` +
      `of the ${rowsLabel(large)} run ${b.result.rssAlongMb.map(whole).join(' / ')} MB (${fixed(b.result.wallSeconds, 1)} s)`;
    lines.push(
      shortClimbs && longFlat
        ? `${samples}: the ${rowsLabel(small)} run was still climbing when it ended, while the ${rowsLabel(large)} run stayed within 10% of its size at ¼ from then on. ` +
            `The ${rowsLabel(large)} run does not grow with its rows; the ${rowsLabel(small)} run ends before the process reaches the size a longer job settles at.`
        : `${samples}.`,
    );
  }
  return lines;
}
