/**
 * `modelport worker`: a worker of distributed batch jobs. Connects to the Postgres database the
 * jobs are queued in (`modelport batch-submit`), loads each job's model from its own
 * --model-repository (the same model file the job was planned with, checked by digest) and runs
 * the partitions it is handed, alongside any number of workers on other machines sharing the
 * input and output folders. Runs until SIGINT/SIGTERM; the partitions it was running then go to
 * other workers. Logs are JSON lines on stdout (pretty on a terminal), one per partition done.
 */
import { Option, type Command } from 'commander';
import type { BatchWorker } from '../jobs/index.js';
import { positiveInteger } from './batch-flags.js';
import { EXIT_FAILURE, EXIT_USAGE, reportFailure } from './exit.js';

interface WorkerFlags {
  registry: string;
  modelRepository: string;
  concurrency?: string;
  batchConcurrency?: string;
  cpuCount?: string;
  id?: string;
  maintenanceIntervalSecs?: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  logFormat?: 'json' | 'pretty';
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run partitions of distributed batch jobs queued in Postgres (see batch-submit)')
    .requiredOption('--registry <url>', 'postgres:// URL of the database the jobs are queued in')
    .requiredOption('--model-repository <dir>', 'load job models from this repository folder')
    .option('--concurrency <n>', 'partitions run at once (default 1)')
    .option('--batch-concurrency <n>', 'inference requests in flight per partition (default: twice the model instances)')
    .option('--cpu-count <n>', 'cores inference may use (default: all)')
    .option('--id <name>', 'name of this worker in job status and logs (default host:pid)')
    .option('--maintenance-interval-secs <secs>', 'how often to look for partitions of dead workers to hand out again (default 5)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
    .addOption(new Option('--log-format <format>', 'json lines or pretty (default: pretty on a terminal)').choices(['json', 'pretty']))
    .action(async (flags: WorkerFlags) => {
      let concurrency: number | undefined;
      let batchConcurrency: number | undefined;
      let cpuCount: number | undefined;
      let maintenanceIntervalSeconds: number | undefined;
      try {
        if (!/^postgres(ql)?:\/\//.test(flags.registry)) throw new Error(`--registry expects a postgres:// URL, got '${flags.registry}'`);
        if (flags.concurrency !== undefined) concurrency = positiveInteger('--concurrency', flags.concurrency);
        if (flags.batchConcurrency !== undefined) batchConcurrency = positiveInteger('--batch-concurrency', flags.batchConcurrency);
        if (flags.cpuCount !== undefined) cpuCount = positiveInteger('--cpu-count', flags.cpuCount);
        if (flags.maintenanceIntervalSecs !== undefined) maintenanceIntervalSeconds = positiveInteger('--maintenance-interval-secs', flags.maintenanceIntervalSecs);
      } catch (error) {
        reportFailure(error, EXIT_USAGE);
        return;
      }
      const { createLogger } = await import('../monitoring/index.js');
      const logger = createLogger({ level: flags.logLevel, format: flags.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json') });
      let worker: BatchWorker | undefined;
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++;
        if (signals > 1 || worker === undefined) process.exit(EXIT_FAILURE);
        logger.info({ signal }, 'signal received');
        worker.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, 'error while stopping');
            process.exit(EXIT_FAILURE);
          },
        );
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const [{ openLocalModel }, { runWorker }] = await Promise.all([import('../app/index.js'), import('../jobs/index.js')]);
        worker = await runWorker({
          url: flags.registry,
          openModel: (model) =>
            openLocalModel({
              modelRepository: flags.modelRepository,
              model,
              logger: logger.child({ model }),
              ...(cpuCount !== undefined ? { cpuCount } : {}),
            }),
          logger,
          ...(flags.id !== undefined ? { id: flags.id } : {}),
          ...(concurrency !== undefined ? { concurrency } : {}),
          ...(batchConcurrency !== undefined ? { batchConcurrency } : {}),
          ...(maintenanceIntervalSeconds !== undefined ? { maintenanceIntervalSeconds } : {}),
        });
      } catch (error) {
        reportFailure(error);
        process.exit(EXIT_FAILURE);
      }
    });
}
