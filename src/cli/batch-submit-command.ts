/**
 * `modelport batch-submit`: `modelport batch` spread over `modelport worker` processes. Plans the
 * job here (scans the input into partitions, writes the manifest beside the output), records it
 * in Postgres and queues its partitions, then waits with progress aggregated over every worker
 * (or, with --detach, leaves at once: the workers finish and merge the job on their own). The
 * model is loaded here from --model-repository only to describe it: its digest pins the model file
 * every worker must run. Input and output paths must mean the same files on every worker's
 * machine (a shared folder). Exit 0 when the job succeeded, 1 when it failed or could not be
 * submitted or the wait was interrupted, 2 for a bad command line.
 */
import { Option, type Command } from 'commander';
import { isModelportError } from '../core/index.js';
import type { BatchJobSpec, BatchModel, BatchQueue, DistributedJobStatus } from '../jobs/index.js';
import { EXIT_FAILURE, EXIT_USAGE, reportFailure } from './exit.js';
import { DATA_FORMATS, jobSpecFromFlags, type JobSpecFlags, nonNegativeInteger, positiveInteger } from './batch-flags.js';

interface SubmitFlags extends JobSpecFlags {
  registry: string;
  modelRepository: string;
  partitionTimeoutSecs?: string;
  retryLimit?: string;
  resume?: boolean;
  detach?: boolean;
  id?: string;
}

/** Seconds between two progress lines. */
const PROGRESS_SECS = 2;

export function registerBatchSubmit(program: Command): void {
  program
    .command('batch-submit')
    .description('run a batch job on the modelport workers sharing a Postgres queue (see worker)')
    .argument('<model>', 'model name')
    .requiredOption('--registry <url>', 'postgres:// URL of the database the workers take jobs from')
    .requiredOption('--model-repository <dir>', 'repository holding the same model file as the workers (to plan the job)')
    .option('--model-version <version>', 'model version (default: the latest ready)')
    .requiredOption('--input <file>', 'input rows: .jsonl/.ndjson/.json, .csv or .parquet, at a path every worker sees')
    .requiredOption('--output <file>', 'output rows, at a path every worker sees')
    .addOption(new Option('--format <format>', 'input format (default: from the extension)').choices([...DATA_FORMATS]))
    .addOption(new Option('--output-format <format>', "output format (default: from the output's extension, else the input's)").choices([...DATA_FORMATS]))
    .option('--map <input=fields>', 'model input ← comma-separated fields or columns, in order, repeatable', collect)
    .option('--batch-size <n>', "rows per inference request (default: the model's max_batch_size)")
    .option('--id-column <column>', 'field or column holding each row id (default: the row index)')
    .option('--errors <file>', 'refused rows with their reasons, JSONL (default: <output>.errors.jsonl)')
    .option('--partition-rows <n>', 'rows per partition, the unit workers take (default 10000)')
    .option('--partition-timeout-secs <secs>', 'a partition held longer goes to another worker (its worker is presumed dead) (default 900)')
    .option('--retry-limit <n>', 'tries of a partition after the first before the job fails (default 10)')
    .option('--resume', 'keep the finished partitions of an earlier run of this job')
    .option('--detach', 'submit and exit without waiting')
    .option('--id <id>', 'job id (default: a new UUID)')
    .action(async (model: string, flags: SubmitFlags) => {
      let spec: BatchJobSpec;
      let partitionTimeoutSecs: number | undefined;
      let retryLimit: number | undefined;
      try {
        if (!/^postgres(ql)?:\/\//.test(flags.registry)) throw new Error(`--registry expects a postgres:// URL, got '${flags.registry}'`);
        spec = jobSpecFromFlags(model, flags);
        if (flags.partitionTimeoutSecs !== undefined) partitionTimeoutSecs = positiveInteger('--partition-timeout-secs', flags.partitionTimeoutSecs);
        if (flags.retryLimit !== undefined) retryLimit = nonNegativeInteger('--retry-limit', flags.retryLimit);
      } catch (error) {
        reportFailure(error, EXIT_USAGE);
        return;
      }

      let queue: BatchQueue | undefined;
      const controller = new AbortController();
      const onSignal = (): void => {
        if (controller.signal.aborted) process.exit(EXIT_FAILURE);
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let jobId: string | undefined;
      try {
        const described = await describeModel(flags.modelRepository, model, spec.version);
        const { BatchQueue } = await import('../jobs/index.js');
        queue = await BatchQueue.open({ url: flags.registry });
        const submitted = await queue.submit(spec, described, {
          resume: flags.resume === true,
          ...(flags.id !== undefined ? { id: flags.id } : {}),
          ...(partitionTimeoutSecs !== undefined ? { partitionTimeoutSecs } : {}),
          ...(retryLimit !== undefined ? { retryLimit } : {}),
        });
        jobId = submitted.id;
        process.stderr.write(`batch-submit: job ${submitted.id}: ${submitted.rowsTotal} rows in ${submitted.partitionsTotal} partitions queued\n`);
        if (flags.detach) {
          process.stdout.write(`${submitted.id}\n`);
          return;
        }
        let lastLine = 0;
        const final = await queue.wait(submitted.id, {
          signal: controller.signal,
          onProgress: (status) => {
            if (Date.now() - lastLine < PROGRESS_SECS * 1000) return;
            lastLine = Date.now();
            process.stderr.write(progressLine(status));
          },
        });
        process.stdout.write(formatStatus(final));
        if (final.state !== 'succeeded') process.exitCode = EXIT_FAILURE;
      } catch (error) {
        if (controller.signal.aborted && jobId !== undefined) {
          reportFailure(new Error(`stopped waiting; job ${jobId} goes on on the workers`));
        } else {
          reportFailure(error, isModelportError(error) && error.code === 'MP_ERR_JOB_INVALID' ? EXIT_USAGE : EXIT_FAILURE);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await queue?.close().catch(() => undefined);
      }
    });
}

/** The model as the workers will load it: loaded here once, described (digest included), closed. */
async function describeModel(modelRepository: string, model: string, version: string | undefined): Promise<BatchModel> {
  const [{ openLocalModel }, { InProcessInferencer }] = await Promise.all([import('../app/index.js'), import('../jobs/index.js')]);
  const local = await openLocalModel({ modelRepository, model, cpuCount: 1 });
  try {
    const described = await new InProcessInferencer(local.dataPlane, {
      model,
      ...(version !== undefined ? { version } : {}),
      digest: (v) => local.digest(v),
    }).describe();
    // Instances are this process's; each worker sizes its own concurrency.
    const { instances: _instances, ...batchModel } = described;
    return batchModel;
  } finally {
    await local.close();
  }
}

function progressLine(status: DistributedJobStatus): string {
  const percent = status.rowsTotal > 0 ? Math.floor((status.rowsDone * 100) / status.rowsTotal) : 0;
  return (
    `batch: ${status.rowsDone}/${status.rowsTotal} rows (${percent}%), ${status.rowsFailed} failed, ` +
    `${status.partitionsDone}/${status.partitionsTotal} partitions, ${status.workers.length} workers busy, ${status.state}\n`
  );
}

function formatStatus(status: DistributedJobStatus): string {
  const seconds = status.elapsedMs / 1000;
  const lines = [
    `job:          ${status.id}`,
    `state:        ${status.state}${status.error ? ` (${status.error})` : ''}`,
    `rows in:      ${status.rowsTotal}`,
    `rows out:     ${status.rowsDone - status.rowsFailed}`,
    `failed rows:  ${status.rowsFailed}`,
    `partitions:   ${status.partitionsDone}/${status.partitionsTotal}${status.retries > 0 ? ` (${status.retries} redone)` : ''}`,
    `throughput:   ${seconds > 0 ? Math.round(status.rowsDone / seconds) : 0} rows/s`,
    `elapsed:      ${seconds.toFixed(1)} s`,
    `output:       ${status.output}`,
    `errors file:  ${status.errors}`,
  ];
  return `${lines.join('\n')}\n`;
}




function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
