/**
 * `modelport batch`: offline inference over a file of rows (JSONL, CSV or Parquet). Without --url
 * the model is loaded in this process from --model-repository (the server's runtime and dynamic
 * batcher, no listeners); with --url the rows go to a running server. The job runs in resumable
 * partitions (see src/jobs/batch-engine.ts): after a crash or Ctrl-C, the same command with
 * --resume redoes only what was not finished. Progress goes to stderr (a bar on a terminal, a line
 * every few seconds otherwise), the summary to stdout. Exit 0 when the job ran, even if some rows
 * failed (they are in the errors file); 1 when it could not run or was interrupted; 2 for a bad
 * command line.
 */
import { Option, type Command } from 'commander';
import type { SingleBar } from 'cli-progress';
import type { LocalModel } from '../app/index.js';
import { isModelportError, runOnSpareCpu, type BackgroundPriority } from '../core/index.js';
import type { BatchInferencer, BatchJobSpec, BatchProgress, BatchSummary } from '../jobs/index.js';
import { EXIT_FAILURE, EXIT_USAGE, reportFailure } from './exit.js';
import { DATA_FORMATS, jobSpecFromFlags, type JobSpecFlags, positiveInteger } from './batch-flags.js';

// The engine, its file formats and the progress bar are loaded when `batch` runs, not on every
// start of the command line: the other subcommands have no use for them.
const loadJobs = () => import('../jobs/index.js');
const loadProgressBar = async () => (await import('cli-progress')).SingleBar;

interface BatchFlags extends JobSpecFlags {
  modelRepository?: string;
  url?: string;
  token?: string;
  resume?: boolean;
  concurrency?: string;
  instances?: string;
  cpuCount?: string;
  cpuPriority?: 'idle' | 'normal';
}

/** Seconds between progress lines when stderr is not a terminal. */
const PLAIN_PROGRESS_SECS = 5;

export function registerBatch(program: Command): void {
  program
    .command('batch')
    .description('run every row of a JSONL, CSV or Parquet file through a model and write one output row per input row')
    .argument('<model>', 'model name')
    .option('--model-repository <dir>', 'load the model in this process from this repository folder')
    .option('--url <url>', 'send the rows to a running server instead (e.g. http://127.0.0.1:8000)')
    .option('--token <token>', 'with --url: API key or JWT to send (default: $MODELPORT_TOKEN)')
    .option('--model-version <version>', 'model version (default: the latest ready; with --url, the stable one)')
    .requiredOption('--input <file>', 'input rows: .jsonl/.ndjson/.json, .csv or .parquet')
    .requiredOption('--output <file>', 'output rows, keyed by input row id and index')
    .addOption(new Option('--format <format>', 'input format (default: from the extension)').choices([...DATA_FORMATS]))
    .addOption(new Option('--output-format <format>', "output format (default: from the output's extension, else the input's)").choices([...DATA_FORMATS]))
    .option('--map <input=fields>', 'model input ← comma-separated fields or columns, in order, repeatable (default: the field named like the input)', collect)
    .option('--batch-size <n>', "rows per inference request (default: the model's max_batch_size)")
    .option('--id-column <column>', 'field or column holding each row id (default: the row index)')
    .option('--errors <file>', 'refused rows with their reasons, JSONL (default: <output>.errors.jsonl)')
    .option('--resume', 'continue an interrupted job from its finished partitions')
    .option('--partition-rows <n>', 'rows per partition, the unit of resumption (default 10000)')
    .option('--concurrency <n>', 'inference requests in flight (default: four per model instance)')
    .option('--cpu-count <n>', 'without --url: cores inference may use (default: all)')
    .option('--instances <n>', "without --url: model instances, sharing those cores (default: the model's instance_group); for a small model, one per core runs more rows/s than one using all cores")
    .addOption(
      new Option('--cpu-priority <priority>', 'idle: this process runs on spare CPU only, so a server on the same machine keeps its cores (default with --url); normal: it competes (default without)').choices(['idle', 'normal']),
    )
    .action(async (model: string, flags: BatchFlags) => {
      let spec: BatchJobSpec;
      let concurrency: number | undefined;
      let cpuCount: number | undefined;
      let instances: number | undefined;
      try {
        if (flags.url !== undefined && flags.modelRepository !== undefined) throw new Error('give either --model-repository or --url, not both');
        if (flags.url === undefined && flags.modelRepository === undefined) {
          throw new Error('give --model-repository DIR to run the model here, or --url URL to use a running server');
        }
        spec = jobSpecFromFlags(model, flags);
        if (flags.concurrency !== undefined) concurrency = positiveInteger('--concurrency', flags.concurrency);
        if (flags.cpuCount !== undefined) cpuCount = positiveInteger('--cpu-count', flags.cpuCount);
        if (flags.instances !== undefined) {
          if (flags.url !== undefined) throw new Error('--instances sizes a model run in this process; a server keeps its own (drop --url or --instances)');
          instances = positiveInteger('--instances', flags.instances);
        }
      } catch (error) {
        reportFailure(error, EXIT_USAGE);
        return;
      }

      const { BatchEngine, InProcessInferencer, RemoteInferencer } = await loadJobs();
      const progress = createProgress(process.stderr.isTTY === true ? await loadProgressBar() : undefined);
      const controller = new AbortController();
      let signals = 0;
      const onSignal = (): void => {
        signals++;
        if (signals > 1) process.exit(EXIT_FAILURE);
        process.stderr.write('\nmodelport: stopping after the batches in flight (again to quit at once)…\n');
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let local: LocalModel | undefined;
      let inferencer: BatchInferencer | undefined;
      // Before the job starts its threads: on Linux a new thread inherits the scheduling class.
      const priority = (flags.cpuPriority ?? (flags.url !== undefined ? 'idle' : 'normal')) === 'idle' ? await runOnSpareCpu() : 'unchanged';
      try {
        if (flags.url !== undefined) {
          const token = flags.token ?? process.env.MODELPORT_TOKEN;
          inferencer = new RemoteInferencer({ url: flags.url, model, ...(spec.version !== undefined ? { version: spec.version } : {}), ...(token ? { token } : {}) });
        } else {
          const { openLocalModel } = await import('../app/index.js');
          local = await openLocalModel({
            modelRepository: flags.modelRepository!,
            model,
            ...(cpuCount !== undefined ? { cpuCount } : {}),
            ...(instances !== undefined ? { instances } : {}),
          });
          const opened = local;
          inferencer = new InProcessInferencer(local.dataPlane, {
            model,
            ...(spec.version !== undefined ? { version: spec.version } : {}),
            digest: (version) => opened.digest(version),
          });
        }
        const summary = await new BatchEngine().run(spec, inferencer, {
          resume: flags.resume === true,
          signal: controller.signal,
          onProgress: progress.update,
          ...(concurrency !== undefined ? { concurrency } : {}),
        });
        progress.stop();
        process.stdout.write(formatSummary(summary, priority));
      } catch (error) {
        progress.stop();
        if (controller.signal.aborted && isModelportError(error) && error.kind === 'CANCELLED') {
          const last = progress.last();
          const done = last ? ` (${last.partitionsDone} of ${last.partitionsTotal ?? '?'} partitions done)` : '';
          reportFailure(new Error(`interrupted${done}; run the same command with --resume to continue`));
        } else {
          reportFailure(error, isModelportError(error) && error.code === 'MP_ERR_JOB_INVALID' ? EXIT_USAGE : EXIT_FAILURE);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await inferencer?.close?.();
        await local?.close();
      }
    });
}

interface ProgressView {
  update: (progress: BatchProgress) => void;
  stop: () => void;
  last: () => BatchProgress | undefined;
}

/** A bar with rows/s and ETA on a terminal; a plain line every few seconds otherwise (logs, CI). */
function createProgress(Bar: typeof SingleBar | undefined): ProgressView {
  let last: BatchProgress | undefined;
  let bar: SingleBar | undefined;
  let lastDraw = 0;
  let lastLine = performance.now();
  // rows/s over the last few seconds, from (time, rowsDone) samples.
  const samples: Array<[number, number]> = [];
  const rate = (now: number, rows: number): number => {
    samples.push([now, rows]);
    while (samples.length > 2 && now - samples[0]![0] > 5000) samples.shift();
    const [t0, r0] = samples[0]!;
    return now > t0 ? ((rows - r0) * 1000) / (now - t0) : 0;
  };
  return {
    update(progress) {
      last = progress;
      const now = performance.now();
      const total = progress.rowsTotal ?? 0;
      const finished = progress.rowsDone >= total;
      if (now - lastDraw < 100 && !finished) return;
      lastDraw = now;
      const rowsPerSecond = rate(now, progress.rowsDone);
      if (Bar !== undefined) {
        if (bar === undefined) {
          bar = new Bar({
            format: ' {bar} {percentage}% | {value}/{total} rows | {rate} rows/s | {failed} failed | ETA {eta_formatted}',
            stream: process.stderr,
            hideCursor: true,
            etaBuffer: 50,
            clearOnComplete: false,
          });
          bar.start(total, progress.rowsDone, { rate: 0, failed: progress.rowsFailed });
        }
        bar.update(progress.rowsDone, { rate: Math.round(rowsPerSecond), failed: progress.rowsFailed });
      } else if (now - lastLine >= PLAIN_PROGRESS_SECS * 1000) {
        lastLine = now;
        const left = rowsPerSecond > 0 ? `, ETA ${formatDuration(((total - progress.rowsDone) * 1000) / rowsPerSecond)}` : '';
        const percent = total > 0 ? ` (${Math.floor((progress.rowsDone * 100) / total)}%)` : '';
        process.stderr.write(
          `batch: ${progress.rowsDone}/${total} rows${percent}, ${progress.rowsFailed} failed, ${Math.round(rowsPerSecond)} rows/s${left}\n`,
        );
      }
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
    last: () => last,
  };
}

const PRIORITY_TEXT: Record<BackgroundPriority, string> = {
  idle: 'spare CPU only (SCHED_IDLE)',
  nice: 'lowered (nice 19; SCHED_IDLE not available)',
  unchanged: 'normal',
};

function formatSummary(summary: BatchSummary, priority: BackgroundPriority): string {
  const lines = [
    `rows in:      ${summary.rowsIn}`,
    `rows out:     ${summary.rowsOut}`,
    `failed rows:  ${summary.rowsFailed}${summary.rowsFailed > 0 ? ` (reasons in ${summary.errors})` : ''}`,
    `throughput:   ${Math.round(summary.rowsPerSecond)} rows/s`,
    `elapsed:      ${formatDuration(summary.elapsedMs)}`,
    `output:       ${summary.output}`,
    `errors file:  ${summary.errors}`,
    `cpu priority: ${PRIORITY_TEXT[priority]}`,
  ];
  if (summary.partitionsResumed > 0) lines.push(`resumed:      ${summary.partitionsResumed} of ${summary.partitionsTotal} partitions were already done`);
  return `${lines.join('\n')}\n`;
}

function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s} s`;
}



function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
